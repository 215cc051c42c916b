"""Modal screens: confirm, edit a tag, repair a tag, search, tours. Each returns the user's decision
through `dismiss`; the app carries it out with the library API."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import JsonValue
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from magicmarkup.browse import first_line, search_tags
from magicmarkup.model import Status, Tag
from magicmarkup.tours import PlacedTour
from tui.text import shown
from tui.widgets import SafeTextArea, status_content, textarea_language


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no to a destructive action."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False, priority=True),
    ]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Confirm"
            yield Static(Content(shown(self.message)))
            with Horizontal(classes="buttons"):
                yield Button("Yes \\[y]", id="yes", variant="error", compact=True)
                yield Button("No \\[n]", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


@dataclass(frozen=True)
class TagEdit:
    note: str
    metadata: dict[str, JsonValue]  # everything but the note
    unset: list[str]


class TagEditorScreen(ModalScreen[TagEdit | None]):
    """Edit a note in a Markdown editor, its colour, and the rest of its metadata as JSON."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),  # the note editor would take it
    ]

    def __init__(self, title: str, tag: Tag | None, excerpt: str) -> None:
        super().__init__()
        self.heading = title
        self.tag = tag
        self.excerpt = excerpt

    def compose(self) -> ComposeResult:
        meta = dict(self.tag.metadata) if self.tag else {}
        note = meta.pop("note", "")
        color = meta.pop("color", "")
        with Vertical(classes="dialog editor") as box:
            box.border_title = shown(self.heading)
            yield Static(
                Content.styled(shown(first_line(self.excerpt, 200)) or "(empty)", "italic"), id="excerpt"
            )
            yield Label("Note (Markdown)")
            yield SafeTextArea(
                shown(note if isinstance(note, str) else json.dumps(note)),
                language="markdown",
                id="note",
                soft_wrap=True,
                tab_behavior="indent",
            )
            with Horizontal(classes="row"):
                yield Label("Color ")
                yield Input(
                    shown(str(color or "")),
                    placeholder="orange, #ff8800 (empty: by status)",
                    id="color",
                    compact=True,
                )
            yield Label("Other metadata (a JSON object)")
            yield SafeTextArea(
                shown(json.dumps(meta, indent=2, ensure_ascii=False)), language="json", id="meta"
            )
            yield Label("", id="editor-error")
            with Horizontal(classes="buttons"):
                yield Button("Save \\[ctrl+s]", id="save", variant="primary", compact=True)
                yield Button("Cancel \\[esc]", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        note = self.query_one("#note", TextArea)
        note.move_cursor(note.document.end)  # ready to continue the note
        note.focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        error = self.query_one("#editor-error", Label)
        try:
            meta = json.loads(self.query_one("#meta", TextArea).text or "{}")
        except json.JSONDecodeError as exc:
            error.update(f"metadata: invalid JSON at line {exc.lineno}: {exc.msg}")
            return
        if not isinstance(meta, dict):
            error.update('metadata: must be a JSON object, like {"author": "ana"}')
            return
        meta.pop("note", None)
        color = self.query_one("#color", Input).value.strip()
        if color:
            meta["color"] = color
        before = set(self.tag.metadata) if self.tag else set()
        unset = sorted(k for k in before - set(meta) if k != "note")
        note = self.query_one("#note", TextArea).text
        self.dismiss(TagEdit(note=note, metadata=meta, unset=unset))

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


RepairKind = Literal["candidate", "accept", "reject", "select"]


@dataclass(frozen=True)
class RepairChoice:
    kind: RepairKind
    start: int = 0
    end: int = 0


class RepairScreen(ModalScreen[RepairChoice | None]):
    """A needs_review or orphaned tag: the text it was anchored to beside the places the engine
    considered; accept one, confirm or reject the guess, or go and select new text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "take", "Accept candidate"),
        Binding("p", "accept_placement", "Accept placement"),
        Binding("x", "reject", "Reject (orphan)"),
        Binding("s", "select_text", "Re-attach to selection"),
        Binding("escape", "close", "Close", priority=True),
    ]

    def __init__(
        self,
        tag: Tag,
        guess: str | None,
        short_id: str = "",
        place: str = "",
        places: list[str] | None = None,
    ) -> None:
        """`place`: where the tag is (or was last); `places`: each candidate's line:col span."""
        super().__init__()
        self.tag = tag
        self.guess = guess
        self.short_id = short_id or tag.id
        self.place = place or tag.path
        self.places = places if places is not None else ["" for _ in tag.candidates]

    def compose(self) -> ComposeResult:
        tag = self.tag
        with Vertical(classes="dialog repair") as box:
            box.border_title = shown(f"Repair {self.short_id}  {self.place}")
            yield Static(
                Content.assemble(
                    status_content(tag),
                    shown(f" {tag.status.value}  confidence {tag.confidence:.2f} by {tag.method}   "),
                    Content.styled(shown(first_line(tag.note, 60)), "italic"),
                ),
                id="repair-head",
            )
            with Horizontal(id="repair-body"):
                with Vertical(id="repair-old"):
                    yield Label("Anchored text (before the change)", classes="pane-title")
                    old = SafeTextArea(
                        shown(tag.anchor.text),
                        read_only=True,
                        language=textarea_language(tag.path),
                        id="old-text",
                        soft_wrap=True,
                    )
                    old.cursor_blink = False
                    yield old
                with Vertical(id="repair-candidates"):
                    yield Label("Candidates in the current file", classes="pane-title")
                    options = [
                        Option(
                            Content.assemble(
                                Content.styled(shown(f"{c.score:.2f} {c.method:<8}"), "bold"),
                                Content.styled(f" {shown(place)}\n", "dim"),
                                Content(shown(_clip(c.text))),
                            ),
                            id=str(i),
                        )
                        for i, (c, place) in enumerate(zip(tag.candidates, self.places, strict=False))
                    ]
                    yield OptionList(*options, id="candidates")
                    if not options:
                        yield Static(Content.styled("The engine found no candidate.", "dim"))
            if tag.status is Status.NEEDS_REVIEW and self.guess is not None:
                yield Static(
                    Content.assemble(
                        Content.styled("Current guess: ", "bold"), Content(shown(_clip(self.guess, 3)))
                    ),
                    id="repair-guess",
                )
        yield Footer()

    def on_mount(self) -> None:
        candidates = self.query_one("#candidates", OptionList)
        if self.tag.candidates:
            candidates.highlighted = 0
        candidates.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("accept_placement", "reject"):
            return self.tag.status is Status.NEEDS_REVIEW
        if action == "take":
            return bool(self.tag.candidates)
        return True

    def action_take(self) -> None:
        index = self.query_one("#candidates", OptionList).highlighted
        if index is None or not self.tag.candidates:
            return
        c = self.tag.candidates[index]
        self.dismiss(RepairChoice("candidate", c.start, c.end))

    @on(OptionList.OptionSelected, "#candidates")
    def _chosen(self) -> None:
        self.action_take()

    def action_accept_placement(self) -> None:
        self.dismiss(RepairChoice("accept"))

    def action_reject(self) -> None:
        self.dismiss(RepairChoice("reject"))

    def action_select_text(self) -> None:
        self.dismiss(RepairChoice("select"))

    def action_close(self) -> None:
        self.dismiss(None)


def _clip(text: str, lines: int = 4) -> str:
    parts = text.splitlines() or [""]
    out = "\n".join(p[:200] for p in parts[:lines])
    return out + ("\n…" if len(parts) > lines else "")


class SearchScreen(ModalScreen[str | None]):
    """Type words; tags whose note, text, metadata or path contain them all are listed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", priority=True),
        Binding("down", "to_results", "Results", show=False),
    ]

    def __init__(self, tags: list[Tag], query: str = "", place: Callable[[Tag], str] | None = None) -> None:
        """`place` writes where a tag is (`path:line:col-line:col`); default: its path."""
        super().__init__()
        self.tags = tags
        self.query_text = query
        self.place = place or (lambda tag: tag.path)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog search") as box:
            box.border_title = "Search notes and tagged text"
            yield Input(self.query_text, placeholder="words to find…", id="search-input")
            yield OptionList(id="search-results")
            yield Label("", id="search-count")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()
        self._search(self.query_text)

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    @on(Input.Submitted, "#search-input")
    def _submitted(self) -> None:
        results = self.query_one("#search-results", OptionList)
        if results.option_count:
            self.dismiss(results.get_option_at_index(results.highlighted or 0).id)

    def _search(self, query: str) -> None:
        hits = search_tags(self.tags, query)
        results = self.query_one("#search-results", OptionList)
        results.clear_options()
        results.add_options(
            Option(
                Content.assemble(
                    status_content(h.tag),
                    " ",
                    Content.styled(shown(self.place(h.tag)), "$text-accent"),
                    Content.styled(f" [{shown(h.field)}] ", "dim"),
                    Content(shown(first_line(h.tag.note, 80) or first_line(h.tag.anchor.text, 80))),
                ),
                id=h.tag.id,
            )
            for h in hits
        )
        if hits:
            results.highlighted = 0
        count = self.query_one("#search-count", Label)
        count.update(f"{len(hits)} tag{'' if len(hits) == 1 else 's'}" if query.strip() else "")

    @on(OptionList.OptionSelected, "#search-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_to_results(self) -> None:
        self.query_one("#search-results", OptionList).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class TourScreen(ModalScreen[str | None]):
    """The tours of the store; choosing one lists its steps in order, and choosing a step with a
    tag returns the tag's id (the app opens it). Text steps are shown, not chosen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", priority=True),
    ]

    def __init__(
        self, tours: list[PlacedTour], problems: list[str], place: Callable[[Tag], str] | None = None
    ) -> None:
        super().__init__()
        self.tours = tours
        self.problems = problems
        self.place = place or (lambda tag: tag.path)
        self.open_tour: PlacedTour | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog search") as box:
            box.border_title = "Tours"
            yield OptionList(id="tour-list")
            yield Label("", id="tour-info")
        yield Footer()

    def on_mount(self) -> None:
        if len(self.tours) == 1:
            self.show_steps(self.tours[0])
        else:
            self.show_tours()

    def show_tours(self) -> None:
        self.open_tour = None
        self.query_one(".dialog").border_title = "Tours"
        options = self.query_one("#tour-list", OptionList)
        options.clear_options()
        options.add_options(
            Option(
                Content.assemble(
                    Content.styled(t.tour.title, "bold"),
                    Content.styled(f"  {t.name}, {len(t.steps)} steps", "dim"),
                ),
                id=f"tour:{t.name}",
            )
            for t in self.tours
        )
        info = "; ".join(self.problems) if self.problems else ""
        if not self.tours:
            info = (
                "No tours yet: `magicmarkup add PATH ... --tour NAME` or `magicmarkup import --codetour FILE`. "
                + info
            )
        self.query_one("#tour-info", Label).update(Content(info))
        options.focus()

    def show_steps(self, tour: PlacedTour) -> None:
        self.open_tour = tour
        self.query_one(".dialog").border_title = f"Tour: {tour.tour.title}"
        options = self.query_one("#tour-list", OptionList)
        options.clear_options()
        for ps in tour.steps:
            head = Content.styled(f"{ps.number:>3}. ", "bold")
            title = Content.styled(f"{first_line(ps.step.title)}: ", "bold") if ps.step.title else Content("")
            if ps.tag is not None:
                options.add_option(
                    Option(
                        Content.assemble(
                            head,
                            status_content(ps.tag),
                            " ",
                            Content.styled(self.place(ps.tag), "$text-accent"),
                            "  ",
                            title,
                            Content(first_line(ps.tag.note, 80) or first_line(ps.tag.anchor.text, 80)),
                        ),
                        id=ps.tag.id,
                    )
                )
            else:
                where = next(
                    (f"[{k}: {v}] " for k in ("directory", "file", "uri") if (v := getattr(ps.step, k))), ""
                )
                text = "(its tag was removed)" if ps.missing else first_line(ps.step.text or "", 80)
                options.add_option(
                    Option(
                        Content.assemble(head, Content.styled(where, "dim"), title, Content(text)),
                        disabled=True,
                    )
                )
        self.query_one("#tour-info", Label).update(
            Content(first_line(tour.tour.description or "", 100) + "  (enter: open a step, escape: back)")
        )
        options.focus()

    @on(OptionList.OptionSelected, "#tour-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        chosen = event.option.id or ""
        if chosen.startswith("tour:"):
            self.show_steps(next(t for t in self.tours if t.name == chosen[len("tour:") :]))
        elif chosen:
            self.dismiss(chosen)

    def action_back(self) -> None:
        if self.open_tour is not None and len(self.tours) > 1:
            self.show_tours()
        else:
            self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key of the app (from the same table as the footer and the command palette)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", priority=True),
    ]

    def compose(self) -> ComposeResult:
        from tui.commands import ACTIONS, key_label

        rows: list[Content | str] = []
        width = max(len(key_label(k)) for k, *_ in ACTIONS)
        for key, _action, _label, help_text, _show, _prio in ACTIONS:
            rows.append(
                Content.assemble(
                    Content.styled(f"{key_label(key):>{width}}", "bold $accent"), f"  {help_text}\n"
                )
            )
        general = [
            ("ctrl+p", "Command palette: every action by name"),
            ("tab", "Move the focus to the next pane (shift+tab: back)"),
            ("escape", "Close a dialog, this help or the command palette"),
            ("ctrl+q", "Quit"),
        ]
        rows.append("\n")
        for key, text in general:
            rows.append(Content.assemble(Content.styled(f"{key:>{width}}", "bold $accent"), f"  {text}\n"))
        rows.append(
            Content.styled(
                "\nPlaces are path:line:col-line:col (1-based; the end is the last character).", "dim"
            )
        )
        with VerticalScroll(classes="dialog help") as box:
            box.border_title = "Keys"
            yield Static(Content.assemble(*rows), id="help-keys")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
