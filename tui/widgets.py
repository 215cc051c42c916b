"""Widgets that only render what the app gives them and report what the user did.

None of them reads or writes the store: the app owns the state and pushes it in with `show`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.document._document import DocumentBase
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Label, Markdown, OptionList, ProgressBar, Static, TextArea, Tree
from textual.widgets.option_list import Option
from textual.widgets.tree import TreeNode

from magicmarkup.browse import FileSummary, first_line, tag_color
from magicmarkup.documents import language_for
from magicmarkup.model import Status, Tag
from tui.geometry import DocMap
from tui.text import shown

if TYPE_CHECKING:
    from tree_sitter import Query

HIGHLIGHT_MARGIN = 150  # rows highlighted above and below the view

STATUS_GLYPH: dict[Status, str] = {
    Status.ANCHORED: "●",
    Status.MOVED: "→",
    Status.CHANGED: "~",
    Status.NEEDS_REVIEW: "?",
    Status.ORPHANED: "✗",
}

# Textual's TextArea ships highlight queries for these (with the `textual[syntax]` grammars).
TEXTAREA_LANGUAGES = {
    "python",
    "javascript",
    "go",
    "java",
    "rust",
    "json",
    "toml",
    "yaml",
    "markdown",
    "bash",
    "css",
    "html",
    "sql",
    "xml",
    "regex",
}
EXTRA_EXTENSIONS = {
    ".json": "json",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".md": "markdown",
    ".sh": "bash",
    ".bash": "bash",
    ".css": "css",
    ".html": "html",
    ".htm": "html",
    ".sql": "sql",
    ".xml": "xml",
}
# Close enough to highlight usefully when the exact grammar has no TextArea query.
FALLBACK_LANGUAGES = {"typescript": "javascript", "tsx": "javascript"}


def textarea_language(path: str) -> str | None:
    """The TextArea language for a path, or None for plain text (never an error)."""
    lang = language_for(path) or EXTRA_EXTENSIONS.get(PurePosixPath(path).suffix.lower())
    lang = FALLBACK_LANGUAGES.get(lang or "", lang)
    if lang not in TEXTAREA_LANGUAGES:
        return None
    from textual._tree_sitter import get_language  # the grammar package may be missing

    return lang if get_language(lang) is not None else None


# Property directives (`#set!`, `#is?`, `#is-not?`) mean nothing to TextArea's highlighter, and
# py-tree-sitter 0.26 crashes the process (heap corruption) compiling Textual's json and
# javascript queries that use them. So every query is compiled without them.
_PROPERTY_CLAUSES = re.compile(r"\(#(?:set!|is\?|is-not\?)[^()]*\)")


@cache
def safe_highlight_query(language: str) -> str:
    return _PROPERTY_CLAUSES.sub("", TextArea._get_builtin_highlight_query(language))


class SafeTextArea(TextArea):
    """A TextArea whose built-in languages use `safe_highlight_query`."""

    def _set_document(self, text: str, language: str | None) -> None:
        if language and language in TEXTAREA_LANGUAGES and language not in self._languages:
            from textual._tree_sitter import get_language

            grammar = get_language(language)
            if grammar is None:
                language = None
            else:
                self.register_language(language, grammar, safe_highlight_query(language))
        super()._set_document(text, language)


def parse_color(value: str, fallback: str) -> Color:
    try:
        return Color.parse(value)
    except Exception:
        return Color.parse(fallback)


def status_content(tag: Tag) -> Content:
    color = tag_color(tag) if tag.status.placed else None
    glyph = STATUS_GLYPH[tag.status]
    style = f"bold {color}" if color and _is_color(color) else "bold"
    if tag.status is Status.NEEDS_REVIEW:
        style = "bold $warning"
    elif tag.status is Status.ORPHANED:
        style = "bold $error"
    return Content.styled(glyph, style)


def _is_color(value: str) -> bool:
    try:
        Color.parse(value)
    except Exception:
        return False
    return True


class CodeView(SafeTextArea):
    """The document, read-only, with syntax highlighting and every tagged span drawn in its
    tag's colour (the selected tag stronger). Tag backgrounds are painted under the selection
    and the syntax colours, so both stay visible."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            read_only=True,
            show_line_numbers=True,
            soft_wrap=False,
            **kwargs,  # type: ignore[arg-type]
        )
        self.cursor_blink = False
        self.docmap = DocMap("")
        self._rows: dict[int, list[tuple[int, int | None, Style]]] = {}
        self._tags: list[Tag] = []
        self._selected: str | None = None
        self.path: str | None = None
        self.first_paint: float | None = None  # perf_counter() when a document was first drawn
        self._generation = 0  # which loaded document a background parse belongs to
        self._highlight_window: tuple[int, int] | None = None

    def show(
        self,
        path: str | None,
        text: str,
        tags: Sequence[Tag],
        selected: str | None,
        docmap: DocMap | None = None,
    ) -> None:
        """Load a document (only if it changed) and paint its tags. The text is drawn at once,
        plain; the syntax tree is parsed in a thread and its colours arrive a moment later, so
        a big file opens without waiting for tree-sitter. The text is drawn as `shown` makes
        it (control characters visible, same offsets)."""
        text = shown(text)
        if path != self.path or text != self.text:
            self.path = path
            self.docmap = docmap if docmap is not None else DocMap(text)
            self._generation += 1
            self.set_reactive(TextArea.language, None)
            self.load_text(text)
            language = textarea_language(path) if path else None
            if language is not None:
                self._parse_in_thread(text, language, self._generation)
        self.paint(tags, selected)

    @work(thread=True, exclusive=True, group="syntax", exit_on_error=False)
    def _parse_in_thread(self, text: str, language: str, generation: int) -> None:
        from textual._tree_sitter import get_language
        from textual.document._syntax_aware_document import SyntaxAwareDocument

        grammar = get_language(language)
        if grammar is None:
            return
        document = SyntaxAwareDocument(text, grammar)
        query = document.prepare_query(safe_highlight_query(language))
        if self.app.is_running:
            self.app.call_from_thread(self._install_syntax, document, query, language, generation)

    def _install_syntax(
        self, document: DocumentBase, query: Query | None, language: str, generation: int
    ) -> None:
        """Swap in the parsed document (same text, so wrapping, cursor and scroll stay)."""
        if generation != self._generation or document.text != self.text:
            return
        self.document = document
        self.wrapped_document.document = document
        self.set_reactive(TextArea.language, language)
        self._highlight_query = query
        self._build_highlight_map()
        self.refresh()

    def _build_highlight_map(self) -> None:
        """Highlights are computed for the rows around the view only (tree-sitter queries a
        point range), and again when scrolling leaves that window."""
        self._line_cache.clear()
        self._highlights.clear()
        self._highlight_window = None
        self._ensure_highlights()

    def _ensure_highlights(self) -> None:
        if not self._highlight_query:
            return
        top = self.scroll_offset.y
        bottom = top + max(self.size.height, 50)
        window = self._highlight_window
        if window is not None and window[0] <= top and bottom <= window[1]:
            return
        first, last = max(0, top - HIGHLIGHT_MARGIN), bottom + HIGHLIGHT_MARGIN
        highlights = self._highlights
        highlights.clear()
        captures = self.document.query_syntax_tree(self._highlight_query, (first, 0), (last, 0))
        for name, nodes in captures.items():
            for node in nodes:
                (start_row, start_col), (end_row, end_col) = node.start_point, node.end_point
                if start_row == end_row:
                    highlights[start_row].append((start_col, end_col, name))
                    continue
                highlights[start_row].append((start_col, None, name))
                for row in range(max(start_row + 1, first), min(end_row, last + 1)):
                    highlights[row].append((0, None, name))
                highlights[end_row].append((0, end_col, name))
        self._highlight_window = (first, last)
        self._line_cache.clear()

    def paint(self, tags: Sequence[Tag], selected: str | None) -> None:
        self._tags = [t for t in tags if t.status is not Status.ORPHANED]
        self._selected = selected
        self._rebuild()

    def _rebuild(self) -> None:
        background = self._background()
        rows: dict[int, list[tuple[int, int | None, Style]]] = {}
        # Wider spans first, so a tag nested inside another stays visible on top of it.
        ordered = sorted(self._tags, key=lambda t: (t.id == self._selected, -(t.span.end - t.span.start)))
        for tag in ordered:
            color = parse_color(tag_color(tag), "#888888")
            strong = tag.id == self._selected
            bg = background.blend(color, 0.55 if strong else 0.28)
            style = Style(bgcolor=bg.rich_color, underline=strong)
            for row, start, end in self.docmap.row_segments(tag.span.start, tag.span.end):
                rows.setdefault(row, []).append((start, end, style))
        self._rows = rows
        self._line_cache.clear()
        self.refresh()

    def _background(self) -> Color:
        theme = self._theme
        if theme and theme.base_style and theme.base_style.bgcolor:
            return Color.from_rich_color(theme.base_style.bgcolor)
        try:
            return Color.parse(self.app.current_theme.background or "#000000")
        except Exception:
            return Color(0, 0, 0)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._ensure_highlights()
        lines = super().render_lines(crop)
        if self.first_paint is None and self.path is not None:
            self.first_paint = time.perf_counter()
        return lines

    def on_resize(self) -> None:
        self._line_cache.clear()

    def _app_theme_changed(self) -> None:
        super()._app_theme_changed()
        self._rebuild()

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        for start, end, style in self._rows.get(line_index, ()):
            line.stylize(style, start, len(line) if end is None else end)
        return line

    def reveal(self, start: int, end: int) -> None:
        """Put the cursor on a span and scroll it to the upper third of the view."""
        location = self.docmap.location(start)
        self.move_cursor(location, center=False)
        row = location[0]
        self.scroll_to(y=max(0, row - max(1, self.size.height // 3)), animate=False)

    def selected_span(self) -> tuple[int, int] | None:
        """The selection as document offsets, or None when nothing is selected."""
        start, end = sorted(self.selection)
        if start == end:
            return None
        return self.docmap.offset(start), self.docmap.offset(end)

    def cursor_offset(self) -> int:
        return self.docmap.offset(self.selection.end)


class FileTree(Tree[str]):
    """Annotated files by folder, each with its tag count and a mark when tags need a human."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("files", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        self._shown: list[FileSummary] | None = None

    def show(self, files: Sequence[FileSummary], current: str | None) -> None:
        files = list(files)
        if files == self._shown:
            self._select_path(current)
            return
        self._shown = files
        self.clear()
        folders: dict[str, TreeNode[str]] = {}
        for summary in files:
            parts = summary.path.split("/")
            parent = self.root
            for depth in range(1, len(parts)):
                key = "/".join(parts[:depth])
                if key not in folders:
                    folders[key] = parent.add(Text(shown(parts[depth - 1]) + "/"), expand=True)
                parent = folders[key]
            parent.add_leaf(self._label(parts[-1], summary), data=summary.path)
        self.root.expand()
        self._select_path(current)

    def _label(self, name: str, s: FileSummary) -> Text:
        theme = self.app.current_theme
        label = Text(shown(name))
        label.append(f" {s.tags}", style="dim")
        if s.needs_review:
            label.append(f" ?{s.needs_review}", style=f"bold {theme.warning or 'yellow'}")
        if s.orphaned:
            label.append(f" ✗{s.orphaned}", style=f"bold {theme.error or 'red'}")
        return label

    def _select_path(self, path: str | None) -> None:
        if path is None:
            return
        for node in self._walk(self.root):
            if node.data == path:
                if self.cursor_node is not node:
                    self.move_cursor(node)
                return

    def _walk(self, node: TreeNode[str]) -> Iterable[TreeNode[str]]:
        for child in node.children:
            yield child
            yield from self._walk(child)


class TagList(OptionList):
    """Tags as one line each: status mark, confidence, line, first line of the note."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._ids: list[str] = []

    def show(self, tags: Sequence[Tag], lines: dict[str, int], selected: str | None, with_path: bool) -> None:
        ids = [t.id for t in tags]
        options = []
        for tag in tags:
            where = (
                f"{PurePosixPath(tag.path).name}:{lines.get(tag.id, '?')}"
                if with_path
                else f"L{lines.get(tag.id, '?')}"
            )
            summary = first_line(tag.note) or first_line(tag.anchor.text)
            prompt = Content.assemble(
                status_content(tag),
                Content.styled(f" {tag.confidence:.2f} ", "dim"),
                Content.styled(shown(where), "$text-accent"),
                " ",
                Content(shown(summary)),
            )
            options.append(Option(prompt, id=tag.id))
        self.clear_options()
        self.add_options(options)
        self._ids = ids
        self.select_id(selected)

    def select_id(self, tag_id: str | None) -> None:
        if tag_id in self._ids:
            index = self._ids.index(tag_id)
            if self.highlighted != index:
                with self.prevent(OptionList.OptionHighlighted):
                    self.highlighted = index
            self.scroll_to_highlight()


class TagDetail(VerticalScroll):
    """One tag: its note as Markdown, then its metadata and its history. Places come from the
    app as text (`path:line:col-line:col`, see magicmarkup.positions): the widget only renders."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="detail-head")
        yield Markdown(id="detail-note")
        yield Static(id="detail-meta")
        yield Static(id="detail-history")

    def show(self, tag: Tag | None, place: str = "", moves: Sequence[tuple[str, str]] = ()) -> None:
        """`place`: where the tag is (or was last, for an orphan); `moves`: (from, to) places
        of its history events, oldest first."""
        head = self.query_one("#detail-head", Static)
        note = self.query_one("#detail-note", Markdown)
        meta = self.query_one("#detail-meta", Static)
        history = self.query_one("#detail-history", Static)
        if tag is None or tag.id != self._shown_id:
            self.scroll_home(animate=False)  # another tag: read it from its top
        self._shown_id = tag.id if tag is not None else None
        if tag is None:
            head.update(Content.styled("No tag selected. Select code and press a to add one.", "dim"))
            note.update("")
            meta.update("")
            history.update("")
            return
        head.update(
            Content.assemble(
                status_content(tag),
                " ",
                Content.styled(tag.status.value, "bold"),
                Content.styled(f"  {tag.confidence:.2f} by {shown(tag.method)}  ", "dim"),
                Content.styled(shown(place or tag.path), "$text-accent"),
                "  ",
                Content.styled(tag.id, "dim italic"),
            )
        )
        note.update(shown(tag.note) or "*(no note)*")
        extra = {k: v for k, v in tag.metadata.items() if k != "note"}
        meta.update(
            Content.assemble(
                Content.styled("metadata ", "bold"),
                Content(shown(", ".join(f"{k}={v}" for k, v in sorted(extra.items()))) or "-"),
            )
        )
        lines: list[Content | str] = [Content.styled("history", "bold")]
        if not tag.history:
            lines.append(Content.styled(f"\n  created {tag.created_at:%Y-%m-%d %H:%M}, never moved", "dim"))
        recent = list(zip(tag.history, moves, strict=False))[-12:]
        for event, (old, new) in recent:
            lines.append(
                Content(
                    shown(
                        f"\n  {event.at:%Y-%m-%d %H:%M}  {old} → {new}  "
                        f"{event.status.value} by {event.method} ({event.confidence:.2f})"
                        + (f"  {event.reason}" if event.reason else "")
                        + (f"  renamed from {event.old_path}" if event.old_path else "")
                    )
                )
            )
        history.update(Content.assemble(*lines))


class StatusLine(Horizontal):
    """A one-line message and, while a retag runs, its progress."""

    def compose(self) -> ComposeResult:
        yield Label(id="status-message")
        yield ProgressBar(id="status-progress", show_eta=False)

    def message(self, text: str | Content) -> None:
        self.query_one("#status-message", Label).update(
            Content(shown(text)) if isinstance(text, str) else text
        )

    def progress(self, done: int | None, total: int | None) -> None:
        """Show progress (None hides the bar)."""
        bar = self.query_one("#status-progress", ProgressBar)
        bar.display = done is not None
        if done is not None:
            bar.update(total=total, progress=done)
