"""Approximate matches of the anchor text, for tags whose own text was edited or moved."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from magicmarkup.model import LineIndex

MAX_GLOBAL_CHARS = 400_000  # documents larger than this are only searched near the mapped place


def align(needle: str, text: str, start: int, end: int) -> tuple[int, int, float] | None:
    """The best-matching substring of text[start:end] for `needle`, as (start, end, score)."""
    hay = text[start:end]
    if not needle.strip() or not hay.strip():
        return None
    result = fuzz.partial_ratio_alignment(needle, hay)
    if result is None or result.score <= 0:
        return None
    return start + result.dest_start, start + result.dest_end, result.score / 100.0


def windows(
    index: LineIndex, text_len: int, center_start: int, center_end: int, span_lines: int
) -> list[tuple[int, int]]:
    """Text windows to search: near the mapped place first, then the whole document."""
    first = index.position(center_start).line
    last = index.position(max(center_start, center_end)).line
    pad = max(15, 2 * span_lines)
    near = (index.offset(max(1, first - pad)), index.offset(last + pad + 1))
    out = [near]
    if text_len <= MAX_GLOBAL_CHARS and (near[0] > 0 or near[1] < text_len):
        out.append((0, text_len))
    return out


def line_blocks(needle: str, text: str, index: LineIndex, limit: int = 3) -> list[tuple[int, int, float]]:
    """Whole-line blocks of `text` most like the multi-line `needle` (for moved, edited code):
    each line of the needle votes for where its best match sits; runs of votes become blocks."""
    lines = [ln.strip() for ln in needle.splitlines() if ln.strip()]
    if len(lines) < 2:
        return []
    doc_lines = text.splitlines()
    if len(doc_lines) > 20_000:
        return []
    stripped = [ln.strip() for ln in doc_lines]
    votes: dict[int, float] = {}
    for k, line in enumerate(lines):
        for _match, score, j in process.extract(line, stripped, scorer=fuzz.ratio, limit=3, score_cutoff=70):
            start_line = j - k
            votes[start_line] = votes.get(start_line, 0.0) + score / 100.0
    best = sorted(votes.items(), key=lambda kv: -kv[1])[:limit]
    out = []
    n = len(needle.splitlines())
    for start_line, vote in best:
        first = max(0, start_line)
        last = min(len(doc_lines) - 1, start_line + n - 1)
        if last < first:
            continue
        s = index.offset(first + 1)
        e = index.line_end(last + 1)
        out.append((s, e, vote / len(lines)))
    return out
