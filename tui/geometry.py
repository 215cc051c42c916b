"""Tag spans are code-point offsets into the file text; Textual's TextArea speaks (row, column)
over `str.splitlines()` lines. This maps between the two exactly, for every line break
`splitlines` knows (CRLF, lone CR, form feed, U+2028, ...), so a span never lands a line off."""

from __future__ import annotations

import bisect
import re

# The separators str.splitlines() splits on; "\r\n" first so it counts as one break.
_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class DocMap:
    """Offsets <-> (row, column) for one document text."""

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self.starts = [0]  # offset of each line's first character
        self.ends = []  # offset just past each line's last character (before its break)
        for m in _BREAKS.finditer(text):
            self.ends.append(m.start())
            self.starts.append(m.end())
        self.ends.append(len(text))

    @property
    def rows(self) -> int:
        return len(self.starts)

    def location(self, offset: int) -> tuple[int, int]:
        """(row, column) of an offset; an offset inside a CRLF counts as the end of its line."""
        offset = max(0, min(offset, self.length))
        row = bisect.bisect_right(self.starts, offset) - 1
        return row, min(offset, self.ends[row]) - self.starts[row]

    def offset(self, location: tuple[int, int]) -> int:
        row, column = location
        row = max(0, min(row, len(self.starts) - 1))
        return min(self.starts[row] + max(0, column), self.ends[row])

    def row_segments(self, start: int, end: int) -> list[tuple[int, int, int | None]]:
        """The (row, first column, end column or None for the rest of the line) pieces a span
        covers, for highlighting line by line."""
        if end <= start:
            return []
        first_row, first_col = self.location(start)
        last_row, last_col = self.location(end)
        if first_row == last_row:
            return [(first_row, first_col, last_col)]
        out: list[tuple[int, int, int | None]] = [(first_row, first_col, None)]
        out.extend((row, 0, None) for row in range(first_row + 1, last_row))
        if last_col > 0:
            out.append((last_row, 0, last_col))
        return out
