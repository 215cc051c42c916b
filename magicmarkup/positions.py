"""How places in documents, tag ids and tagged text are shown to people.

Spans are stored as code-point offsets (end exclusive). People read positions as
``path:line:col`` and spans as ``path:line:col-line:col``, like compilers and ripgrep do:

- lines and columns are 1-based; columns count code points (a tab is one column);
- a span's end is the position of its **last** character (inclusive), so ``app.py:2:12-2:22``
  is the eleven characters from column 12 to column 22 of line 2;
- an empty span (start == end) is shown as the single position ``path:line:col``.

JSON output carries the same numbers beside the offsets: ``start_line``, ``start_col``,
``end_line``, ``end_col`` (see `span_fields`).

Every front end (the CLI's tables and messages, `show`'s history, repair candidates, the TUI)
uses these helpers, so one tag is written the same way everywhere. The offset <-> line
arithmetic is `magicmarkup.model.LineIndex`'s (lines end at "\\n"; a "\\r" before it is the
last column of its line).

Use::

    doc = Positions(text)                    # once per document text (old snapshot or new file)
    doc.where("src/app.py", start, end)      # "src/app.py:12:5-12:26"
    doc.where(None, start, end)              # "12:5-12:26"
    row.update(span_fields(doc.region(start, end)))   # JSON: start_line, start_col, ...
    shown = short_ids(t.id for t in every_tag)        # {id: "01jd3k4m"}

Tag ids are shown as the shortest prefix (at least `MIN_ID` characters) that names one tag of
the store: `magicmarkup show <shown id>` always finds that tag (`short_ids`).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from magicmarkup.model import LineIndex

MIN_ID = 8  # shortest id prefix shown (a ULID's first 8 characters change every ~1 s)


@dataclass(frozen=True, slots=True)
class Point:
    """A 1-based line and 1-based column (code points)."""

    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Region:
    """A span as people read it: its first and its last character (both inclusive)."""

    start: Point
    end: Point

    def __str__(self) -> str:
        if self.start == self.end:
            return str(self.start)
        return f"{self.start}-{self.end}"

    def fields(self) -> dict[str, int]:
        return {
            "start_line": self.start.line,
            "start_col": self.start.col,
            "end_line": self.end.line,
            "end_col": self.end.col,
        }


class Positions:
    """Offset -> line/column conversions for one document text (O(log n) each)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = LineIndex(text)

    def point(self, offset: int) -> Point:
        offset = max(0, min(offset, len(self.text)))
        starts = self.index.starts  # (no Position model: this runs for every tag of a `list`)
        line = bisect.bisect_right(starts, offset) - 1
        return Point(line + 1, offset - starts[line] + 1)

    def region(self, start: int, end: int) -> Region:
        first = self.point(start)
        last = self.point(end - 1) if end > start else first
        return Region(first, last)

    def where(self, path: str | None, start: int, end: int) -> str:
        """``path:line:col-line:col`` (without ``path:`` when `path` is None)."""
        return where(path, self.region(start, end))


def where(path: str | None, region: Region | Point | None) -> str:
    """``path:line:col[-line:col]``; just ``path`` when the place is unknown (an orphan)."""
    if region is None:
        return path or "?"
    return f"{path}:{region}" if path else str(region)


def region_of(text: str, start: int, end: int) -> Region:
    """One-off conversion (build a `Positions` to convert many spans of one text)."""
    return Positions(text).region(start, end)


def span_fields(region: Region | None) -> dict[str, int | None]:
    """The JSON keys carried beside ``start``/``end`` offsets (null when the place is unknown)."""
    if region is None:
        return {"start_line": None, "start_col": None, "end_line": None, "end_col": None}
    return dict(region.fields())


# -- ids -----------------------------------------------------------------------------------


def short_ids(ids: Iterable[str], minimum: int = MIN_ID) -> dict[str, str]:
    """For every id, its shortest prefix (at least `minimum` characters) that no other id
    starts with or ends with: what `Store.find` (prefix or suffix match) resolves to that id."""
    unique = sorted(set(ids))
    out: dict[str, str] = {}
    ends_by_length: dict[int, Counter[str]] = {}
    for i, tag_id in enumerate(unique):
        need = minimum
        for j in (i - 1, i + 1):
            if 0 <= j < len(unique):
                need = max(need, _common_prefix(tag_id, unique[j]) + 1)
        length = min(need, len(tag_id))
        while length < len(tag_id):
            ends = ends_by_length.get(length)
            if ends is None:
                ends = ends_by_length[length] = Counter(x[-length:] for x in unique)
            prefix = tag_id[:length]
            if ends[prefix] - tag_id.endswith(prefix) == 0:
                break  # no other id ends with it either
            length += 1
        out[tag_id] = tag_id[:length]
    return out


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


# -- text shown in a terminal ----------------------------------------------------------------

# ANSI/VT escape sequences (CSI, OSC, other ESC-introduced ones), then any control character.
_ESCAPES = re.compile(
    r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_]|.)?|\x9b[0-?]*[ -/]*[@-~]"
)


def printable(text: str, keep_newlines: bool = True) -> str:
    """`text` without terminal escape sequences and control characters (a note or a file could
    otherwise move the cursor, retitle the terminal or hide output). Tabs become a space;
    newlines are kept when asked, else become a space."""
    if text.isascii() and text.isprintable():  # nothing to remove (most text: fast for `list`)
        return text
    text = _ESCAPES.sub("", text)
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\n" if keep_newlines else " ")
        elif ch == "\t":
            out.append(" " if not keep_newlines else "\t")
        elif ch == "\r":
            continue
        elif unicodedata.category(ch) in ("Cc", "Cf") and ch not in ("\u200d",):
            continue  # C0/C1 controls, bidi overrides and other invisible format characters
        else:
            out.append(ch)
    return "".join(out)


def one_line(text: str, width: int | None = None) -> str:
    """The first non-blank line of `text`, printable, shortened to `width` with an ellipsis."""
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    line = printable(line, keep_newlines=False)
    if width is not None and len(line) > width:
        line = line[: max(0, width - 1)] + "…"
    return line
