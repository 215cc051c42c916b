"""What the language server shows of a tag: hover Markdown, inlay-hint and code-lens labels,
diagnostic messages, symbol names. Pure functions over tags.

Everything in a tag may come from a stranger's clone (its note, metadata, method, path, even
the text it anchors), so every field goes through one of two functions, one per medium:
`md` for Markdown (hover), `plain` for the plain-text fields (labels, titles, messages,
tooltips). Nothing from a tag reaches the editor any other way.
"""

from __future__ import annotations

import json
import re

from magicmarkup.model import Status, Tag
from magicmarkup.positions import one_line, printable

HINT_WIDTH = 48

# Characters that can start Markdown or HTML anywhere in a line (CommonMark turns any
# backslash-escaped ASCII punctuation into a literal).
_INLINE = frozenset("\\`*_{}[]()<>#+!|~&")
_LIST_ITEM = re.compile(r"^(\d+)([.)])")


def md(text: str, width: int | None = None) -> str:
    """`text` as literal Markdown on one line: no control characters, every character that
    could open markup (emphasis, code, link, image, HTML, entity, table cell) backslash-escaped,
    and what would make a block at a line's start (a heading, list item, rule, setext line)
    escaped there, so no heading, list, table, code, link, image or HTML can come out of it."""
    line = printable(text, keep_newlines=False).strip()
    if width is not None and len(line) > width:
        line = line[: max(0, width - 1)] + "…"
    out = "".join("\\" + ch if ch in _INLINE else ch for ch in line)
    out = _LIST_ITEM.sub(r"\1\\\2", out)
    if out[:1] in ("-", "="):
        out = "\\" + out
    return out


def md_lines(text: str) -> list[str]:
    """A multi-line text (a note) as literal Markdown lines (blank lines kept as paragraph
    breaks)."""
    return [md(line) if line.strip() else "" for line in printable(text).splitlines()]


# What in a note could fetch, link or inject: links and images (`[`), raw HTML and autolinks
# (`<`), entities (`&`). Everything else is the note's own Markdown (emphasis, code, headings).
_LINKING = frozenset("[]<>&")
_BACKTICKS = re.compile(r"`+")


def note_md(text: str) -> list[str]:
    """A note as Markdown lines that render as its author wrote them (no escape backslashes
    before `*`, `_`, backticks), except that nothing in it can link, show an image, open HTML,
    name an entity or make a heading: those characters are escaped outside code spans (inside a
    code span nothing is Markdown, and a backslash would show)."""
    return [_note_line(line) if line.strip() else "" for line in printable(text).splitlines()]


def _note_line(line: str) -> str:
    out: list[str] = []
    pos = 0
    lead = len(line) - len(line.lstrip(" "))
    if line[lead : lead + 1] == "#":  # no heading from a note (a stranger's could shout)
        out.append(line[:lead] + "\\#")
        pos = lead + 1
    while pos < len(line):
        tick = _BACKTICKS.search(line, pos)
        if tick is None:
            out.append(_escape_linking(line[pos:]))
            break
        out.append(_escape_linking(line[pos : tick.start()]))
        close = line.find(tick.group(), tick.end())
        while close != -1 and (
            line[close + len(tick.group()) : close + len(tick.group()) + 1] == "`"
            or (close > 0 and line[close - 1] == "`")
        ):  # a longer run is not the closing one
            close = line.find(tick.group(), close + 1)
        if close == -1:  # no closing run: the backticks are literal text
            out.append("\\`" * len(tick.group()))
            pos = tick.end()
            continue
        end = close + len(tick.group())
        out.append(line[tick.start() : end])  # a code span: shown as is, nothing in it is markup
        pos = end
    return "".join(out)


def _escape_linking(segment: str) -> str:
    return "".join("\\" + ch if ch in _LINKING else ch for ch in segment)


def plain(text: str, width: int | None = None) -> str:
    """`text` for a plain-text field: one line, no control characters or terminal escapes."""
    return one_line(text, width)


def note_line(tag: Tag, width: int | None = HINT_WIDTH) -> str:
    """The first line of the note (or a placeholder), safe to show on one line."""
    return plain(tag.note, width) or "(no note)"


def hover_markdown(tag: Tag, where: str, short_id: str) -> str:
    """The hover of one tag: its note, status, confidence, method, metadata and id."""
    lines = [
        f"**Magic Markup** · `{tag.status.value}` · confidence {tag.confidence:.2f} · {md(tag.method, 80)}",
        "",
    ]
    note = note_md(tag.note.strip())
    lines += note if any(note) else ["*(no note)*"]
    meta = {k: v for k, v in tag.metadata.items() if k != "note"}
    if meta:
        lines += ["", "| key | value |", "|---|---|"]
        for key, value in sorted(meta.items()):
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"| {md(str(key), 40)} | {md(shown, 80)} |")
    if tag.status is Status.NEEDS_REVIEW:
        lines += ["", "A best guess: accept it or re-attach the tag to a selection (code actions)."]
    lines += ["", f"`{md(short_id)}` · {md(where)}"]  # an id is letters and digits (model.TagId)
    return "\n".join(lines)


def hint_label(tag: Tag) -> str:
    """The inlay hint / code lens of a tag: its note, and its status when a person should look."""
    label = f"◆ {note_line(tag)}"
    if tag.status in (Status.NEEDS_REVIEW, Status.ORPHANED, Status.CHANGED):
        label += f" [{plain(tag.status.value)}]"
    return label


def tooltip(tag: Tag) -> str:
    """The plain-text tooltip of an inlay hint: the whole note, printable."""
    return printable(tag.note).strip() or "(no note)"


def diagnostic_message(tag: Tag, pinned_line: int | None) -> str:
    """Why a tag needs a person (needs_review or orphaned)."""
    note = note_line(tag, 80)
    method = plain(tag.method, 60)
    if tag.status is Status.NEEDS_REVIEW:
        return (
            f"tag needs review: {note} — a best guess (confidence {tag.confidence:.2f}, {method}); "
            "accept it or re-attach it to a selection"
        )
    where = f"; it was at line {pinned_line} when pinned" if pinned_line else ""
    return (
        f"tag orphaned: {note} — its code is gone or could not be found ({method}){where}; "
        "re-attach it to a selection"
    )
