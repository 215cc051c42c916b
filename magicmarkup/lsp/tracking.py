"""Live tracking of an editor buffer and of the tag spans in it, as an editor's own markers do.

Pure: no LSP, no store. `Buffer` holds a document's text, applies LSP content changes (a range
in line/character positions, or the whole text) and converts positions between LSP's units and
the store's code-point offsets. `shift` moves one span through one edit; `Tracker` moves many.

Positions: an LSP `character` counts UTF-16 code units unless another `positionEncoding` was
negotiated; "utf-32" counts code points (the store's offsets), "utf-8" counts bytes. Lines end
at "\\n" (a "\\r" before it is the last character of its line, as in `model.LineIndex`); a
character past the end of its line means the line's end, a line past the last means the text's
end (as the protocol says).

How a span moves through an edit that replaces [a, b) by n characters (delta = n - (b - a)):

- an edit entirely before the span (b <= start; an insertion exactly at its start included)
  shifts it by delta;
- an edit entirely after it (a >= end; an insertion exactly at its end included) leaves it;
- an edit inside or overlapping one of its ends grows or shrinks it: the span becomes
  [min(start, a), max(end, b) + delta) — the replacement text becomes part of it;
- an edit that removes the whole span (a <= start, end <= b, a < b) loses it: `None`, for the
  re-anchoring cascade to place again (a cut-and-paste moves the code; an undo restores it).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"
ENCODINGS = (UTF8, UTF16, UTF32)


@dataclass(frozen=True, slots=True)
class Edit:
    """[start, end) of the text before the edit was replaced by `length` characters."""

    start: int
    end: int
    length: int

    @property
    def delta(self) -> int:
        return self.length - (self.end - self.start)


def shift(start: int, end: int, edit: Edit) -> tuple[int, int] | None:
    """Where the span [start, end) is after `edit`, or None when the edit removed all of it."""
    a, b, n = edit.start, edit.end, edit.length
    if a == b:  # a pure insertion
        if a <= start:
            return start + n, end + n
        if a >= end:
            return start, end
        return start, end + n
    if b <= start:
        delta = n - (b - a)
        return start + delta, end + delta
    if a >= end:
        return start, end
    if a <= start and end <= b:
        return None
    delta = n - (b - a)
    return min(start, a), max(end, b) + delta


def _units(text: str, encoding: str) -> int:
    """Length of `text` in the units of `encoding`."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF16:
        return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
    return len(text.encode("utf-8", "surrogatepass"))


def _code_points(line: str, units: int, encoding: str) -> int:
    """How many code points of `line` make `units` units (clamped to the line; a position
    inside a surrogate pair or a UTF-8 sequence rounds up to the character's end)."""
    if units <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    count = 0
    for i, ch in enumerate(line):
        if count >= units:
            return i
        cp = ord(ch)
        if encoding == UTF16:
            count += 2 if cp > 0xFFFF else 1
        else:
            count += 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return len(line)


class Buffer:
    """An open document's text, with the start offset of every line kept up to date."""

    def __init__(self, text: str, encoding: str = UTF16) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown position encoding {encoding!r}")
        self.encoding = encoding
        self.text = text
        self.starts = _line_starts(text)

    # -- positions ---------------------------------------------------------------------------

    def _line(self, line: int) -> str:
        """Line `line` without its "\\n"."""
        begin = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return self.text[begin:end]

    def offset(self, line: int, character: int) -> int:
        """The code-point offset of an LSP position (clamped into the text)."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        text = self._line(line)
        return self.starts[line] + _code_points(text, character, self.encoding)

    def position(self, offset: int) -> tuple[int, int]:
        """The LSP (line, character) of a code-point offset (clamped into the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        begin = self.starts[line]
        return line, _units(self.text[begin:offset], self.encoding)

    def point(self, offset: int) -> tuple[int, int]:
        """The 1-based line and 1-based code-point column of an offset (as `positions` shows)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def where(self, path: str | None, start: int, end: int) -> str:
        """``path:line:col-line:col`` of a span (its end is its last character), as the CLI
        writes it (`positions.where`), without indexing the whole text again."""
        first = self.point(start)
        last = self.point(end - 1) if end > start else first
        spot = f"{first[0]}:{first[1]}" if first == last else f"{first[0]}:{first[1]}-{last[0]}:{last[1]}"
        return f"{path}:{spot}" if path else spot

    def line_end(self, line: int) -> int:
        """The offset of the end of `line` (before its "\\n")."""
        line = max(0, min(line, len(self.starts) - 1))
        return self.starts[line] + len(self._line(line))

    @property
    def line_count(self) -> int:
        return len(self.starts)

    # -- edits -------------------------------------------------------------------------------

    def apply(self, start: tuple[int, int] | None, end: tuple[int, int] | None, new: str) -> Edit:
        """Replace the range [start, end) (LSP positions; None for the whole text) by `new`; the
        edit in code-point offsets of the text before it."""
        if start is None or end is None:
            old = len(self.text)
            self.text = new
            self.starts = _line_starts(new)
            return Edit(0, old, len(new))
        a = self.offset(*start)
        b = self.offset(*end)
        if b < a:
            a, b = b, a
        return self.replace(a, b, new)

    def set_text(self, new: str) -> Edit:
        """Replace the whole text (a full-document change) as the one edit that turns the old
        text into the new: the common prefix and suffix are kept, so tags outside the changed
        part move exactly as with an incremental change."""
        old = self.text
        limit = min(len(old), len(new))
        prefix = 0
        step = 4096
        while prefix < limit:  # compare in blocks, then narrow down
            size = min(step, limit - prefix)
            if old[prefix : prefix + size] == new[prefix : prefix + size]:
                prefix += size
                continue
            if size == 1:
                break
            step = max(1, size // 2)
        suffix = 0
        limit -= prefix
        step = 4096
        while suffix < limit:
            size = min(step, limit - suffix)
            if (
                old[len(old) - suffix - size : len(old) - suffix]
                == new[len(new) - suffix - size : len(new) - suffix]
            ):
                suffix += size
                continue
            if size == 1:
                break
            step = max(1, size // 2)
        return self.replace(prefix, len(old) - suffix, new[prefix : len(new) - suffix])

    def replace(self, a: int, b: int, new: str) -> Edit:
        """Replace code points [a, b) by `new`."""
        text = self.text
        self.text = text[:a] + new + text[b:]
        starts = self.starts
        i0 = bisect.bisect_right(starts, a)  # line starts <= a are kept
        i1 = bisect.bisect_right(starts, b)  # line starts in (a, b] were inside the removed text
        delta = len(new) - (b - a)
        added = []
        if "\n" in new:
            pos = new.find("\n")
            while pos != -1:
                added.append(a + pos + 1)
                pos = new.find("\n", pos + 1)
        tail = starts[i1:]
        if delta:
            tail = [s + delta for s in tail]
        self.starts = starts[:i0] + added + tail
        return Edit(a, b, len(new))


def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


class Tracker:
    """Spans (by key) moved through edits; a span an edit removed whole is `lost` until placed
    again (`set`)."""

    def __init__(self, spans: Iterable[tuple[str, int, int]] = ()) -> None:
        self.spans: dict[str, tuple[int, int]] = {}
        self.lost: set[str] = set()
        self.touched: set[str] = set()  # spans an edit changed inside since `set`/creation
        for key, start, end in spans:
            self.spans[key] = (start, end)

    def set(self, key: str, span: tuple[int, int] | None) -> None:
        self.touched.discard(key)
        if span is None:
            self.spans.pop(key, None)
            self.lost.add(key)
        else:
            self.spans[key] = span
            self.lost.discard(key)

    def drop(self, key: str) -> None:
        self.spans.pop(key, None)
        self.lost.discard(key)
        self.touched.discard(key)

    def apply(self, edit: Edit) -> list[str]:
        """Move every span through `edit`; returns the keys it lost."""
        a, b, n = edit.start, edit.end, edit.length
        delta = n - (b - a)
        lost: list[str] = []
        spans = self.spans
        for key, (start, end) in list(spans.items()):
            if a >= end and (a != b or a > start):
                continue  # entirely after the span: the usual case, cheapest test first
            if b <= start:
                if delta:
                    spans[key] = (start + delta, end + delta)
                continue
            moved = shift(start, end, edit)
            if moved is None:
                del spans[key]
                self.lost.add(key)
                self.touched.discard(key)
                lost.append(key)
            else:
                spans[key] = moved
                self.touched.add(key)
        return lost

    def apply_all(self, edits: Sequence[Edit]) -> list[str]:
        lost: list[str] = []
        for edit in edits:
            lost += self.apply(edit)
        return lost
