"""Approximate matches of the anchor text, for tags whose own text was edited or moved."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz, process

from magicmarkup.model import LineIndex

MAX_GLOBAL_CHARS = 400_000  # documents larger than this are only searched near the mapped place


def align(
    needle: str, text: str, start: int, end: int, min_score: float = 0.0
) -> tuple[int, int, float] | None:
    """The best-matching substring of text[start:end] for `needle`, as (start, end, score);
    None when nothing scores at least `min_score` (which lets rapidfuzz skip work)."""
    hay = text[start:end]
    if not needle.strip() or not hay.strip():
        return None
    if len(needle) > LONG_NEEDLE and "\n" in needle.strip():
        return _align_lines(needle, text, start, end, min_score)
    result = fuzz.partial_ratio_alignment(needle, hay, score_cutoff=100 * min_score)
    if result is None or result.score <= 0:
        return None
    return start + result.dest_start, start + result.dest_end, result.score / 100.0


# Character alignment costs len(needle) x len(window): a 20,000-character definition in a 60,000-
# character window took seconds (one `list` of a large file took a minute). A needle this long
# is aligned line by line instead: each distinct (stripped) line is one symbol.
LONG_NEEDLE = 3000


def _align_lines(
    needle: str, text: str, start: int, end: int, min_score: float
) -> tuple[int, int, float] | None:
    """`align` for a long multi-line needle: the best run of whole lines of text[start:end]."""
    hay_lines = text[start:end].splitlines(keepends=True)
    offsets = [start]
    for line in hay_lines:
        offsets.append(offsets[-1] + len(line))
    codes: dict[str, int] = {}

    def encode(lines: list[str]) -> str:
        return "".join(chr(0x100 + codes.setdefault(line.strip(), len(codes))) for line in lines)

    needle_lines = needle.splitlines(keepends=True)
    result = fuzz.partial_ratio_alignment(
        encode(needle_lines), encode(hay_lines), score_cutoff=100 * min_score
    )
    if result is None or result.score <= 0 or result.dest_end <= result.dest_start:
        return None
    s, e = offsets[result.dest_start], offsets[result.dest_end]
    first = hay_lines[result.dest_start]
    if not needle[:1].isspace():  # the needle starts at its first line's code, not its indent
        s += len(first) - len(first.lstrip())
    if not needle.endswith(("\n", "\r")):
        e -= len(hay_lines[result.dest_end - 1]) - len(hay_lines[result.dest_end - 1].rstrip("\r\n"))
    return (s, e, result.score / 100.0) if s < e else None


def windows(
    index: LineIndex, text_len: int, center_start: int, center_end: int, span_lines: int
) -> list[tuple[int, int]]:
    """Text windows to search: near the mapped place first, then the whole document."""
    near = near_window(index, center_start, center_end, span_lines)
    out = [near]
    if text_len <= MAX_GLOBAL_CHARS and (near[0] > 0 or near[1] < text_len):
        out.append((0, text_len))
    return out


def near_window(index: LineIndex, center_start: int, center_end: int, span_lines: int) -> tuple[int, int]:
    """Whole lines around the place the diff maps the span to."""
    first = index.position(center_start).line
    last = index.position(max(center_start, center_end)).line
    pad = max(15, 2 * span_lines)
    return index.offset(max(1, first - pad)), index.offset(last + pad + 1)


SMALL_TEXT = 20_000  # a text this short is aligned whole: cheaper than finding where to look
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")
RARE_WORDS = 4  # the needle's rarest words in the text locate the places worth aligning
MAX_WORD_HITS = 40  # a word occurring more often than this locates nothing
MAX_WINDOWS = 4


def far_windows(needle: str, text: str, near: tuple[int, int]) -> list[tuple[int, int]]:
    """Windows outside `near` worth aligning `needle` against: around occurrences of its
    rarest words (moved code keeps most of its names), best-supported first.

    Aligning against the whole document costs ~0.1 s for a long tag in a large file; these
    windows are a few times the tag's length, so the same search costs a few milliseconds."""
    if len(text) <= SMALL_TEXT:
        return [(0, len(text))] if (near[0] > 0 or near[1] < len(text)) else []
    words = sorted(set(_WORD.findall(needle)), key=len, reverse=True)[:8]
    counted = [(text.count(w), w) for w in words]
    rare = sorted((n, w) for n, w in counted if 0 < n <= MAX_WORD_HITS)[:RARE_WORDS]
    pad = len(needle) + 200
    hits: list[tuple[int, str]] = []
    for _, word in rare:
        pos = text.find(word)
        while pos != -1:
            if not near[0] <= pos < near[1]:
                hits.append((pos, word))
            pos = text.find(word, pos + 1)
    hits.sort()
    merged: list[tuple[int, int, set[str]]] = []
    for pos, word in hits:
        a, b = max(0, pos - pad), min(len(text), pos + pad)
        if merged and a <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], b), last[2] | {word})
        else:
            merged.append((a, b, {word}))
    if not merged:
        return []
    # Moved code keeps most of its rare words together: only the best-supported windows.
    support = max(len(w[2]) for w in merged)
    best = [w for w in merged if len(w[2]) >= support]
    best.sort(key=lambda w: w[0])
    return [(a, b) for a, b, _ in best[:MAX_WINDOWS]]


def line_blocks(needle: str, text: str, index: LineIndex, limit: int = 3) -> list[tuple[int, int, float]]:
    """Whole-line blocks of `text` most like the multi-line `needle` (for moved, edited code):
    each line of the needle votes for where its best match sits; runs of votes become blocks."""
    lines = [ln.strip() for ln in needle.splitlines() if ln.strip()]
    if len(lines) < 2:
        return []
    doc_lines, stripped, where = _lines(text)
    if len(doc_lines) > 20_000:
        return []
    votes: dict[int, float] = {}
    for k, line in enumerate(lines):
        exact = where.get(line)
        if exact:
            # An unchanged line votes for its copies (what the fuzzy search would rank first),
            # without a fuzzy pass over every line of the document.
            matches = [(1.0, j) for j in exact[:3]]
        else:
            found = process.extract(line, stripped, scorer=fuzz.ratio, limit=3, score_cutoff=70)
            matches = [(score / 100.0, j) for _m, score, j in found]
        for score, j in matches:
            start_line = j - k
            votes[start_line] = votes.get(start_line, 0.0) + score
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


@lru_cache(maxsize=4)
def _lines(text: str) -> tuple[list[str], list[str], dict[str, list[int]]]:
    """The document's lines, stripped, and where each stripped line occurs (shared by the
    tags of one document)."""
    doc_lines = text.splitlines()
    stripped = [ln.strip() for ln in doc_lines]
    where: dict[str, list[int]] = {}
    for j, line in enumerate(stripped):
        where.setdefault(line, []).append(j)
    return doc_lines, stripped, where
