"""What the language server shows of a tag: hover Markdown, inlay-hint and code-lens labels,
diagnostic messages, symbol names. Pure functions over tags."""

from __future__ import annotations

import json

from magicmarkup.model import Status, Tag
from magicmarkup.positions import one_line

HINT_WIDTH = 48


def note_line(tag: Tag, width: int | None = HINT_WIDTH) -> str:
    """The first line of the note (or a placeholder), safe to show on one line."""
    return one_line(tag.note, width) or "(no note)"


def _md_escape(text: str) -> str:
    """Text shown as Markdown without letting it inject links, HTML or code fences."""
    out = []
    for ch in text:
        if ch in "\\`*_{}[]()<>#+!|~":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def hover_markdown(tag: Tag, where: str, short_id: str) -> str:
    """The hover of one tag: its note, status, confidence, metadata and id."""
    lines = [f"**Magic Markup** · `{tag.status.value}` · confidence {tag.confidence:.2f} · {tag.method}", ""]
    note = tag.note.strip()
    if note:
        lines += [_md_escape(line) if line.strip() else "" for line in note.splitlines()]
    else:
        lines.append("*(no note)*")
    meta = {k: v for k, v in tag.metadata.items() if k != "note"}
    if meta:
        lines += ["", "| key | value |", "|---|---|"]
        for key, value in sorted(meta.items()):
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"| {_md_escape(one_line(str(key), 40))} | {_md_escape(one_line(shown, 80))} |")
    if tag.status is Status.NEEDS_REVIEW:
        lines += ["", "A best guess: accept it or re-attach the tag to a selection (code actions)."]
    lines += ["", f"`{short_id}` · {_md_escape(where)}"]
    return "\n".join(lines)


def hint_label(tag: Tag) -> str:
    """The inlay hint / code lens of a tag: its note, and its status when a person should look."""
    label = f"◆ {note_line(tag)}"
    if tag.status in (Status.NEEDS_REVIEW, Status.ORPHANED, Status.CHANGED):
        label += f" [{tag.status.value}]"
    return label


def diagnostic_message(tag: Tag, pinned_line: int | None) -> str:
    """Why a tag needs a person (needs_review or orphaned)."""
    note = note_line(tag, 80)
    if tag.status is Status.NEEDS_REVIEW:
        return (
            f"tag needs review: {note} — a best guess (confidence {tag.confidence:.2f}, {tag.method}); "
            "accept it or re-attach it to a selection"
        )
    where = f"; it was at line {pinned_line} when pinned" if pinned_line else ""
    return (
        f"tag orphaned: {note} — its code is gone or could not be found ({tag.method}){where}; "
        "re-attach it to a selection"
    )
