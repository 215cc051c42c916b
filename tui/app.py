"""The Magic Markup terminal UI: browse annotated files, read and edit tags, repair the ones the
engine was unsure about, and re-anchor the working tree.

All state lives here (store, tags, current file, selection, undo); the widgets only render it.
Every change goes through the library API (`magicmarkup.tags`, `magicmarkup.browse`,
`magicmarkup.retag`), so the TUI can run beside the CLI, the watcher and git hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.theme import Theme
from textual.widgets import Footer, Header, OptionList, TextArea, Tree

from magicmarkup import browse
from magicmarkup import tags as tagapi
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Status, Tag
from magicmarkup.positions import Positions, short_ids, where
from magicmarkup.retag import RetagReport, retag_worktree
from magicmarkup.store import Store
from tui.commands import ACTIONS, MagicMarkupCommands
from tui.geometry import DocMap
from tui.screens import (
    ConfirmScreen,
    HelpScreen,
    RepairChoice,
    RepairScreen,
    SearchScreen,
    TagEdit,
    TagEditorScreen,
    TourScreen,
)
from tui.text import shown
from tui.widgets import CodeView, FileTree, StatusLine, TagDetail, TagList

T = TypeVar("T")
Mode = Literal["file", "review"]

DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"


@dataclass(frozen=True)
class UndoEntry:
    """How to take back one change: restore `previous`, or remove `tag_id` when it was added."""

    label: str
    tag_id: str
    previous: Tag | None


class MagicMarkupApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Magic Markup"
    COMMANDS = App.COMMANDS | {MagicMarkupCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, action, label, show=show, priority=priority)
        for (key, action, label, _help, show, priority) in ACTIONS
    ]

    def __init__(
        self,
        store: Store,
        open_path: str | None = None,
        *,
        use_llm: bool = True,
        poll_interval: float = 1.0,
        dark: bool = True,
    ) -> None:
        super().__init__()
        self.store = store
        self.use_llm = use_llm
        self.poll_interval = poll_interval
        self.initial_path = open_path
        self.initial_dark = dark
        self.all_tags: list[Tag] = []
        self.by_path: dict[str, list[Tag]] = {}
        self.current_path: str | None = None
        self.text = ""
        self.docmap = DocMap("")
        self.selected: str | None = None
        self.mode: Mode = "file"
        self.undo_stack: list[UndoEntry] = []
        self.reattach_pending: str | None = None
        self.retag_running = False
        self.last_report: RetagReport | None = None
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()
        self._doc_stamp: tuple[int, int] | None = None
        self._docmaps: dict[str, tuple[tuple[int, int] | None, DocMap]] = {}
        self._histories_read: set[str] = set()  # documents whose tags' histories are loaded
        self.short: dict[str, str] = {}  # id -> the shortest unique prefix people are shown
        self.positions = Positions("")  # the open document, for path:line:col places
        self._snapshot_positions: dict[str, Positions | None] = {}
        self._positions: dict[str, tuple[tuple[int, int] | None, Positions]] = {}

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                tree = FileTree(id="files")
                tree.border_title = "Files"
                yield tree
                tag_list = TagList(id="tags")
                tag_list.border_title = "Tags"
                yield tag_list
            with Vertical(id="main"):
                code = CodeView(id="code")
                code.border_title = "No file"
                yield code
                detail = TagDetail(id="detail")
                detail.border_title = "Tag"
                yield detail
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.theme = DARK_THEME if self.initial_dark else LIGHT_THEME
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._theme_changed(self.current_theme)
        self.sub_title = shown(self.store.root.name)
        self.query_one(StatusLine).progress(None, None)
        self.reload()
        path = self.initial_path or (self.by_path and next(iter(sorted(self.by_path)))) or None
        if path:
            self.open_file(path)
        self.query_one("#tags" if self.current_path else "#files").focus()
        if self.poll_interval > 0:
            self.set_interval(self.poll_interval, self.poll_store)

    def _theme_changed(self, theme: Theme) -> None:
        self.query_one(CodeView).theme = "vscode_dark" if theme.dark else "github_light"

    # -- state -----------------------------------------------------------------------------

    @property
    def code(self) -> CodeView:
        return self.query_one(CodeView)

    def selected_tag(self) -> Tag | None:
        return next((t for t in self.all_tags if t.id == self.selected), None)

    def reload(self) -> None:
        """Read the store again and redraw everything from it."""
        try:
            self._fingerprint = browse.store_fingerprint(self.store)
            tags = tagapi.list_tags(self.store)
        except MagicMarkupError as exc:
            self.status(str(exc), error=True)
            return
        self.all_tags = tags
        self.short = short_ids(t.id for t in tags)
        self._histories_read = set()
        self.by_path = {}
        for tag in tags:
            self.by_path.setdefault(tag.path, []).append(tag)
        if self.selected is not None and self.selected_tag() is None:
            self.selected = None
        self.query_one(FileTree).show(browse.summarize(tags), self.current_path)
        self.refresh_views(reveal=False)

    def open_file(self, path: str, select: str | None = None) -> None:
        """Show a document and its tags; `select` a tag in it (else keep or pick the first)."""
        try:
            rel = self.store.check_relpath(path)
        except MagicMarkupError as exc:
            self.status(str(exc), error=True)
            return
        self.current_path = rel
        self._doc_stamp = browse.document_stamp(self.store, rel)
        try:
            self.text = self.store.read_document(rel)
        except MagicMarkupError as exc:
            self.text = ""
            self.status(str(exc), error=True)
        self.docmap = DocMap(self.text)
        self.positions = Positions(self.text)
        self._docmaps[rel] = (self._doc_stamp, self.docmap)
        tags = self.by_path.get(rel, [])
        if select is not None:
            self.selected = select
        elif self.selected not in {t.id for t in tags}:
            self.selected = tags[0].id if tags else None
        self.code.show(rel, self.text, tags, self.selected, self.docmap)
        self.code.border_title = shown(rel)
        self.query_one(FileTree).show(browse.summarize(self.all_tags), rel)
        self.refresh_views(reveal=True)

    def visible_tags(self) -> list[Tag]:
        if self.mode == "review":
            return browse.needing_review(self.all_tags)
        return self.by_path.get(self.current_path or "", [])

    def line_of(self, tag: Tag) -> int | None:
        docmap = self._docmap_for(tag.path)
        return docmap.location(tag.span.start)[0] + 1 if docmap else None

    def sid(self, tag_id: str) -> str:
        """The id as people are shown it: its shortest unique prefix (the CLI takes it too)."""
        return self.short.get(tag_id, tag_id)

    def place(self, tag: Tag) -> str:
        """`path:line:col-line:col` of a placed or guessed tag; an orphan's last known place."""
        if tag.status is Status.ORPHANED:
            snap = self._snapshot(tag.anchor.snapshot)
            start = tag.anchor.start
            if snap is None or start is None or start + len(tag.anchor.text) > len(snap.text):
                return f"{tag.path} (orphaned)"
            return f"{where(tag.path, snap.region(start, start + len(tag.anchor.text)))} (last known)"
        doc = self._positions_for(tag.path)
        if doc is None or tag.span.end > len(doc.text):
            return tag.path
        return doc.where(tag.path, tag.span.start, tag.span.end)

    def moves(self, tag: Tag) -> list[tuple[str, str]]:
        """(from, to) places of each history event, in the texts the event refers to."""
        out = []
        for ev in tag.history:
            old = self._event_place(ev.old_path or tag.path, ev.from_snapshot, ev.old_span)
            new = self._event_place(tag.path, ev.to_snapshot, ev.new_span) if ev.new_span else "-"
            out.append((old, new))
        return out

    def _event_place(self, path: str, sha: str | None, span: object) -> str:
        from magicmarkup.model import Span

        assert isinstance(span, Span)
        snap = self._snapshot(sha)
        if snap is None or span.end > len(snap.text):
            return f"{path} (offsets {span.start}:{span.end})"
        return snap.where(path, span.start, span.end)

    def _positions_for(self, path: str) -> Positions | None:
        if path == self.current_path:
            return self.positions
        stamp = browse.document_stamp(self.store, path)
        cached = self._positions.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        if stamp is None:
            return None
        try:
            doc = Positions(self.store.read_document(path))
        except MagicMarkupError:
            return None
        self._positions[path] = (stamp, doc)
        return doc

    def _snapshot(self, sha: str | None) -> Positions | None:
        if sha is None:
            return None
        if sha not in self._snapshot_positions:
            try:
                self._snapshot_positions[sha] = Positions(self.store.get_snapshot(sha))
            except MagicMarkupError:
                self._snapshot_positions[sha] = None
        return self._snapshot_positions[sha]

    def show_detail(self, tag: Tag | None) -> None:
        tag = self._with_history(tag)
        if tag is None:
            self.query_one(TagDetail).show(None)
        else:
            self.query_one(TagDetail).show(tag, self.place(tag), self.moves(tag))

    def _docmap_for(self, path: str) -> DocMap | None:
        if path == self.current_path:
            return self.docmap
        stamp = browse.document_stamp(self.store, path)
        cached = self._docmaps.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        if stamp is None:
            return None
        try:
            docmap = DocMap(self.store.read_document(path))
        except MagicMarkupError:
            return None
        self._docmaps[path] = (stamp, docmap)
        return docmap

    def refresh_views(self, reveal: bool) -> None:
        """Push the current state into the widgets."""
        visible = self.visible_tags()
        lines = {t.id: line for t in visible if (line := self.line_of(t)) is not None}
        tag_list = self.query_one(TagList)
        tag_list.border_title = (
            f"Needs review ({len(visible)})" if self.mode == "review" else f"Tags ({len(visible)})"
        )
        tag_list.show(visible, lines, self.selected, with_path=self.mode == "review")
        if self.current_path is not None:
            self.code.show(
                self.current_path, self.text, self.by_path.get(self.current_path, []), self.selected
            )
        tag = self.selected_tag()
        self.show_detail(tag)
        if reveal and tag is not None and tag.path == self.current_path and tag.status is not Status.ORPHANED:
            self.code.reveal(tag.span.start, tag.span.end)
        self.refresh_bindings()

    def _with_history(self, tag: Tag | None) -> Tag | None:
        """`tag` with its history for the detail pane: the bulk load skips the history logs, so
        a document's log is read when one of its tags is first shown (once per reload)."""
        if tag is None or tag.path in self._histories_read:
            return tag
        self._histories_read.add(tag.path)
        try:
            logged = {t.id: t.history for t in self.store.load(tag.path)}
        except MagicMarkupError as exc:
            self.status(str(exc), error=True)
            return tag
        for other in self.by_path.get(tag.path, []):
            other.history = logged.get(other.id, other.history)
        return tag

    def select(self, tag_id: str | None, reveal: bool = True) -> None:
        tag = next((t for t in self.all_tags if t.id == tag_id), None)
        if tag is None:
            return
        self.selected = tag.id
        if tag.path != self.current_path:
            self.open_file(tag.path, select=tag.id)
            return
        self.code.paint(self.by_path.get(tag.path, []), tag.id)
        self.query_one(TagList).select_id(tag.id)
        self.show_detail(tag)
        if reveal and tag.status is not Status.ORPHANED:
            self.code.reveal(tag.span.start, tag.span.end)
        self.refresh_bindings()

    def status(self, message: str, error: bool = False) -> None:
        self.query_one(StatusLine).message(
            Content.styled(shown(message), "bold $error") if error else Content(shown(message))
        )
        if error:
            self.notify(shown(message), severity="error", timeout=6, markup=False)

    def attempt(self, what: Callable[[], T]) -> T | None:
        """Run a library call; an expected failure becomes a message, not a crash."""
        try:
            return what()
        except MagicMarkupError as exc:
            self.status(str(exc), error=True)
            return None

    # -- watching the store ------------------------------------------------------------------

    def poll_store(self) -> None:
        """Reload when another process (CLI, watcher, git hook) changed the store or the file."""
        fingerprint = browse.store_fingerprint(self.store)
        doc_changed = (
            self.current_path is not None
            and browse.document_stamp(self.store, self.current_path) != self._doc_stamp
        )
        if fingerprint != self._fingerprint:
            self.reload()
            if doc_changed and self.current_path:
                self.open_file(self.current_path)
            self.status("store changed on disk: reloaded")
        elif doc_changed and self.current_path:
            self.open_file(self.current_path)
            self.status(f"{self.current_path} changed on disk: press g to re-anchor its tags")

    # -- events from the widgets -------------------------------------------------------------

    @on(Tree.NodeSelected, "#files")
    def _file_chosen(self, event: Tree.NodeSelected[str]) -> None:
        if event.node.data:
            if self.mode == "review":
                self.mode = "file"
            self.open_file(event.node.data)

    @on(OptionList.OptionHighlighted, "#tags")
    def _tag_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.selected:
            self.select(event.option.id)

    @on(OptionList.OptionSelected, "#tags")
    def _tag_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.select(event.option.id)
            tag = self.selected_tag()
            if tag and tag.status in browse.REVIEW_STATUSES:
                self.action_repair()
            else:
                self.code.focus()

    @on(TextArea.SelectionChanged, "#code")
    def _cursor_moved(self, event: TextArea.SelectionChanged) -> None:
        """Moving the cursor onto a tag selects it (the innermost one under the cursor)."""
        if self.current_path is None or not isinstance(event.text_area, CodeView):
            return
        offset = event.text_area.cursor_offset()
        under = [
            t
            for t in self.by_path.get(self.current_path, [])
            if t.status is not Status.ORPHANED and t.span.start <= offset < t.span.end
        ]
        if not under or any(t.id == self.selected for t in under):
            return
        inner = min(under, key=lambda t: t.span.end - t.span.start)
        self.select(inner.id, reveal=False)

    # -- actions -----------------------------------------------------------------------------

    def action_next_tag(self, step: int = 1) -> None:
        tags = self.visible_tags()
        if not tags:
            self.status("no tags here")
            return
        ids = [t.id for t in tags]
        if self.selected in ids:
            index = (ids.index(self.selected) + step) % len(ids)
        else:
            cursor = self.code.cursor_offset() if self.mode == "file" else 0
            after = [i for i, t in enumerate(tags) if t.span.start > cursor]
            index = after[0] if step > 0 and after else (len(tags) - 1 if step < 0 else 0)
        self.select(ids[index])

    def action_prev_tag(self) -> None:
        self.action_next_tag(-1)

    def action_toggle_review(self) -> None:
        self.mode = "file" if self.mode == "review" else "review"
        if self.mode == "review":
            queue = browse.needing_review(self.all_tags)
            self.status(f"{len(queue)} tags need review or are orphaned" if queue else "nothing needs review")
            if queue and self.selected not in {t.id for t in queue}:
                self.select(queue[0].id)
        self.refresh_views(reveal=False)
        self.query_one(TagList).focus()

    def action_add_tag(self) -> None:
        if self.current_path is None:
            self.status("open a file first", error=True)
            return
        span = self.code.selected_span()
        if span is None:
            self.status("select the code to tag first (shift+arrows or the mouse)", error=True)
            return
        path = self.current_path
        excerpt = self.text[span[0] : span[1]]

        def done(edit: TagEdit | None) -> None:
            if edit is None:
                return
            meta = dict(edit.metadata)
            tag = self.attempt(
                lambda: tagapi.add_tag(self.store, path, span=span, note=edit.note, metadata=meta)
            )
            if tag is not None:
                self.undo_stack.append(UndoEntry("add", tag.id, None))
                self.selected = tag.id
                self.reload()
                self.select(tag.id, reveal=False)
                self.status(f"added tag {self.sid(tag.id)} at {self.place(tag)}")

        self.push_screen(TagEditorScreen("New tag", None, excerpt), done)

    def action_edit_tag(self) -> None:
        tag = self.selected_tag()
        if tag is None:
            self.status("no tag selected", error=True)
            return

        def done(edit: TagEdit | None) -> None:
            if edit is None:
                return
            pinned = self.attempt(lambda: self.store.find(tag.id))  # undo restores the pin, not the view
            changed = self.attempt(
                lambda: tagapi.edit_tag(
                    self.store, tag.id, note=edit.note, metadata=dict(edit.metadata), unset=edit.unset
                )
            )
            if changed is not None and pinned is not None:
                self.undo_stack.append(UndoEntry("edit", tag.id, pinned))
                self.reload()
                self.status(f"saved tag {self.sid(tag.id)}")

        self.push_screen(TagEditorScreen(f"Edit tag {self.sid(tag.id)}", tag, tag.anchor.text), done)

    def action_delete_tag(self) -> None:
        tag = self.selected_tag()
        if tag is None:
            self.status("no tag selected", error=True)
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            removed = self.attempt(lambda: tagapi.remove_tag(self.store, tag.id))
            if removed is not None:
                self.undo_stack.append(UndoEntry("delete", tag.id, removed))
                self.selected = None
                self.reload()
                self.status(f"deleted tag {self.sid(tag.id)} at {place}: press u to undo")

        place = self.place(tag)
        label = browse.first_line(tag.note, 60) or browse.first_line(tag.anchor.text, 60)
        self.push_screen(ConfirmScreen(f"Delete the tag at {place}?\n\n  {label}"), done)

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.status("nothing to undo")
            return
        entry = self.undo_stack.pop()
        if entry.previous is None:
            done = self.attempt(lambda: tagapi.remove_tag(self.store, entry.tag_id))
        else:
            previous = entry.previous
            done = self.attempt(lambda: browse.revert_tag(self.store, previous))
        if done is not None:
            self.reload()
            if entry.previous is not None:
                self.select(entry.tag_id)
            self.status(f"undid {entry.label} of tag {self.sid(entry.tag_id)}")

    def action_repair(self) -> None:
        tag = self.selected_tag()
        if tag is None:
            self.status("no tag selected", error=True)
            return
        if tag.status not in browse.REVIEW_STATUSES:
            self.status(f"tag {self.sid(tag.id)} is {tag.status.value}: nothing to repair (t re-attaches it)")
            return
        guess = None
        if tag.status is Status.NEEDS_REVIEW and tag.path == self.current_path:
            guess = self.text[tag.span.start : tag.span.end]

        def done(choice: RepairChoice | None) -> None:
            if choice is None:
                return
            if choice.kind == "select":
                self.reattach_pending = tag.id
                if tag.path != self.current_path:
                    self.open_file(tag.path, select=tag.id)
                self.code.focus()
                self.status("select the new text for this tag, then press t")
                return
            self._repair(tag, choice)

        doc = self._positions_for(tag.path)
        places = [
            doc.where(None, c.start, c.end) if doc is not None and c.end <= len(doc.text) else "?"
            for c in tag.candidates
        ]
        self.push_screen(RepairScreen(tag, guess, self.sid(tag.id), self.place(tag), places), done)

    def _repair(self, tag: Tag, choice: RepairChoice) -> None:
        actions: dict[str, Callable[[], Tag]] = {
            "candidate": lambda: tagapi.reattach_tag(
                self.store, tag.id, choice.start, choice.end, "candidate"
            ),
            "accept": lambda: tagapi.accept_placement(self.store, tag.id),
            "reject": lambda: browse.reject_placement(self.store, tag.id),
        }
        pinned = self.attempt(lambda: self.store.find(tag.id))
        result = self.attempt(actions[choice.kind])
        if result is not None and pinned is not None:
            self.undo_stack.append(UndoEntry(choice.kind, tag.id, pinned))
            self.reload()
            self.select(tag.id)
            self.status(f"tag {self.sid(tag.id)} is now {result.status.value} at {self.place(result)}")

    def action_reattach(self) -> None:
        tag_id = self.reattach_pending or self.selected
        tag = next((t for t in self.all_tags if t.id == tag_id), None)
        if tag is None:
            self.status("no tag selected", error=True)
            return
        if tag.path != self.current_path:
            self.status(f"tag {self.sid(tag.id)} belongs to {tag.path}: open it and select there", error=True)
            return
        span = self.code.selected_span()
        if span is None:
            self.status("select the new text for the tag first", error=True)
            return
        pinned = self.attempt(lambda: self.store.find(tag.id))
        result = self.attempt(lambda: tagapi.reattach_tag(self.store, tag.id, span[0], span[1]))
        if result is not None and pinned is not None:
            self.reattach_pending = None
            self.undo_stack.append(UndoEntry("re-attach", tag.id, pinned))
            self.reload()
            self.select(tag.id, reveal=False)
            self.status(f"re-attached tag {self.sid(tag.id)} to {self.positions.where(tag.path, *span)}")

    def action_search(self) -> None:
        def done(tag_id: str | None) -> None:
            if tag_id:
                if self.mode == "review" and tag_id not in {t.id for t in self.visible_tags()}:
                    self.mode = "file"
                self.select(tag_id)
                self.refresh_views(reveal=True)

        self.push_screen(SearchScreen(self.all_tags, place=self.place), done)

    def action_tours(self) -> None:
        from magicmarkup.tours import load_tours, place_tour

        def done(tag_id: str | None) -> None:
            if tag_id and tag_id in {t.id for t in self.all_tags}:
                if self.mode == "review" and tag_id not in {t.id for t in self.visible_tags()}:
                    self.mode = "file"
                self.select(tag_id)
                self.refresh_views(reveal=True)

        found = self.attempt(lambda: load_tours(self.store))
        if found is None:
            return
        tours, problems = found
        by_id = {t.id: t for t in self.all_tags}
        placed = [place_tour(name, tour, by_id) for name, tour in tours.items()]
        self.push_screen(TourScreen(placed, problems, place=self.place), done)

    def action_open_file(self) -> None:
        from textual.command import SimpleCommand

        annotated = set(self.by_path)
        files = sorted(set(browse.repo_files(self.store)) | annotated)
        self.search_commands(
            [
                SimpleCommand(
                    shown(rel),
                    lambda rel=rel: self._open_from_palette(rel),
                    f"{len(self.by_path[rel])} tags" if rel in annotated else "no tags yet",
                )
                for rel in files
            ],
            placeholder="Open a file…",
        )

    def _open_from_palette(self, rel: str) -> None:
        self.mode = "file"
        self.open_file(rel)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.reload()
        if self.current_path:
            self.open_file(self.current_path)
        self.status("reloaded")

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.current_theme.dark else DARK_THEME

    def action_retag(self) -> None:
        if self.retag_running:
            self.status("a retag is already running")
            return
        self.retag_running = True
        self.query_one(StatusLine).progress(0, None)
        self.status("re-anchoring the working tree…")
        self._retag_worker()

    @work(thread=True, exclusive=True, group="retag", exit_on_error=False)
    def _retag_worker(self) -> None:
        """Runs off the UI thread: the cascade (and maybe the LLM) can take a while."""
        from magicmarkup.session import Session

        began = time.perf_counter()
        try:
            session = Session.open(self.store.dir, no_llm=not self.use_llm)
            with session.resolver() as (resolver, note):
                report = retag_worktree(
                    self.store,
                    None,
                    resolver,
                    session.thresholds,
                    progress=lambda done, total: self.call_from_thread(self._retag_progress, done, total),
                )
        except MagicMarkupError as exc:
            self.call_from_thread(self._retag_failed, str(exc))
            return
        except Exception as exc:  # a bug must not leave the UI thinking a retag still runs
            self.call_from_thread(self._retag_failed, f"retag failed: {type(exc).__name__}: {exc}")
            return
        if not self.use_llm:
            note = "cheap stages only"
        self.call_from_thread(self._retag_done, report, note, time.perf_counter() - began)

    def _retag_progress(self, done: int, total: int) -> None:
        self.query_one(StatusLine).progress(done, total)

    def _retag_failed(self, message: str) -> None:
        self.retag_running = False
        self.query_one(StatusLine).progress(None, None)
        self.status(message, error=True)

    def _retag_done(self, report: RetagReport, note: str, seconds: float) -> None:
        self.retag_running = False
        self.last_report = report
        self.query_one(StatusLine).progress(None, None)
        counts = ", ".join(f"{v} {k}" for k, v in report.counts.items() if v) or "nothing to do"
        message = f"retag: {report.tags} tags in {report.documents} files: {counts} ({seconds:.1f} s; {note})"
        self.reload()
        if self.current_path:
            self.open_file(self.current_path)
        self.status(message)
        self.notify(shown(message), title="Retag finished", timeout=6, markup=False)
        for err in report.errors:
            self.notify(shown(err), severity="warning", timeout=8, markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what cannot be done right now from the footer, so it fits in 80 columns."""
        needs_tag = {"edit_tag", "delete_tag", "repair", "reattach"}
        if action in needs_tag and self.selected is None:
            return False
        if action == "repair":
            tag = self.selected_tag()
            return bool(tag and tag.status in browse.REVIEW_STATUSES)
        return not (action == "undo" and not self.undo_stack)


def run(path: Path | None = None, *, use_llm: bool = True, dark: bool = True) -> None:
    """Open the TUI on the store containing `path` (a directory or a file to open)."""
    start = (path or Path.cwd()).resolve()
    store = Store.discover(start if start.is_dir() else start.parent)
    open_path = store.relpath(start) if start.is_file() else None
    MagicMarkupApp(store, open_path, use_llm=use_llm, dark=dark).run()
