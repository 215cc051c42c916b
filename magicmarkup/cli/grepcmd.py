"""`magicmarkup grep`: search notes, metadata and tagged text; one ripgrep-style line per tag."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from magicmarkup import tags as tagapi
from magicmarkup.cli.app import STATUS_STYLE, State, fail, pass_state, print_json
from magicmarkup.cli.tagcmds import Documents, echo_lines, tags_under
from magicmarkup.model import Status, Tag
from magicmarkup.positions import one_line, printable, short_ids, span_fields


def _fields(tag: Tag, text: str | None) -> list[tuple[str, str]]:
    """What a pattern is matched against: the note, each other metadata value (as `key=value`,
    JSON for non-strings), and the tagged text (now, or as last anchored for an orphan)."""
    out = [("note", tag.note)] if tag.note else []
    for key, value in tag.metadata.items():
        if key == "note" and isinstance(value, str):
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append((f"metadata.{key}", f"{key}={shown}"))
    out.append(("text", text if text is not None else tag.anchor.text))
    return out


@click.command("grep")
@click.argument("pattern")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("-F", "--fixed-strings", "fixed", is_flag=True, help="PATTERN is a plain string, not a regex.")
@click.option("-i", "--ignore-case", "ignore_case", is_flag=True, help="Match upper and lower case alike.")
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only tags with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print the matching tags as JSON.")
@pass_state
def grep_cmd(
    state: State,
    pattern: str,
    path: Path | None,
    fixed: bool,
    ignore_case: bool,
    status: str | None,
    as_json: bool,
) -> None:
    """Search notes, metadata and tagged text; print path:line:col: note per tag.

    \b
    PATTERN is a Python regular expression (-F: a plain string). PATH limits the
    search to a file or a directory. One line per matching tag, like ripgrep:
      src/app.py:12:5: why 3?  [01jd3k4m]
    (an orphan has no position: `src/app.py: note  [id] orphaned`). The id in
    brackets is a unique prefix for `show`, `edit` and `rm`. Exit status: 0 when
    something matched, 1 when nothing did, 2 on an error (a bad pattern).

    \b
    magicmarkup grep 'retry|backoff'
    magicmarkup grep -i -F todo src/
    magicmarkup grep author=ana --json
    """
    flags = re.IGNORECASE if ignore_case else 0
    try:
        regex = re.compile(re.escape(pattern) if fixed else pattern, flags)
    except re.error as exc:
        fail(f"bad pattern {pattern!r}: {exc} (use -F for a plain string)", 2)
    store = state.store()
    searched, complete = tags_under(state, store, path, Status(status) if status else None)
    every = searched if complete else tagapi.list_tags(store)
    docs = Documents(store)
    hits: list[tuple[Tag, list[str]]] = []
    for tag in searched:
        matched = [name for name, value in _fields(tag, docs.current_text(tag)) if regex.search(value)]
        if matched:
            hits.append((tag, matched))
    if as_json:
        rows: list[dict[str, Any]] = []
        for tag, matched in hits:
            row = tag.summary()
            row.update(span_fields(docs.region(tag)))
            row["current_text"] = docs.current_text(tag)
            row["matched"] = matched
            rows.append(row)
        print_json(rows)
    else:
        shown = short_ids(t.id for t in every)
        lines = []
        for tag, _matched in hits:
            region = docs.region(tag)
            place = f"{tag.path}:{region.start}" if region is not None else tag.path
            text = docs.current_text(tag)
            said = one_line(tag.note) or one_line(text if text is not None else tag.anchor.text, 80)
            line = f"{printable(place, keep_newlines=False)}: {said}  [{shown[tag.id]}]"
            if tag.status is Status.NEEDS_REVIEW or tag.status is Status.ORPHANED:
                style = STATUS_STYLE[tag.status]
                line += " " + click.style(tag.status.value, fg=style.split()[-1], bold="bold" in style)
            lines.append(line)
        if lines:
            echo_lines(lines)
    sys.exit(0 if hits else 1)
