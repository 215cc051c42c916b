"""Finding the anchor text again: exact occurrences, occurrences ignoring whitespace, and
scoring a place by how well its surroundings match the old context."""

from __future__ import annotations

import re
from array import array

from rapidfuzz import fuzz

MAX_OCCURRENCES = 500


def occurrences(text: str, needle: str, limit: int = MAX_OCCURRENCES) -> list[int]:
    """Start offsets of `needle` in `text` (overlapping allowed), at most `limit`."""
    if not needle:
        return []
    hits: list[int] = []
    pos = text.find(needle)
    while pos != -1 and len(hits) < limit:
        hits.append(pos)
        pos = text.find(needle, pos + 1)
    return hits


def squash(text: str) -> str:
    """`text` without any whitespace (how reformatting-insensitive comparisons see code)."""
    return "".join(text.split())


MAX_WS_PATTERN = 4000  # longer anchors are not searched whitespace-insensitively


def find_ignoring_whitespace(text: str, needle: str, limit: int = MAX_OCCURRENCES) -> list[tuple[int, int]]:
    """Spans of `text` whose non-space characters spell `needle`'s (reformatted code).

    A regex with optional whitespace between every character runs in C over the document,
    without building a whitespace-free copy of it."""
    chars = squash(needle)
    if not chars or len(chars) > MAX_WS_PATTERN:
        return []
    pattern = re.compile(r"\s*".join(re.escape(c) for c in chars))
    out = []
    for m in pattern.finditer(text):
        out.append((m.start(), m.end()))
        if len(out) >= limit:
            break
    return out


_NON_SPACE = re.compile(r"\S+")


class SquashedText:
    """A text without whitespace, and where each of its characters sits in the text: finding
    code ignoring whitespace becomes a plain substring search (no regex to compile per tag,
    which cost ~30 ms for a 1,500-character tag)."""

    def __init__(self, text: str) -> None:
        self.positions = array("l")
        for m in _NON_SPACE.finditer(text):
            self.positions.extend(range(m.start(), m.end()))
        self.text = "".join(text.split())

    def find(self, needle: str, limit: int = MAX_OCCURRENCES) -> list[tuple[int, int]]:
        """Spans of the original text whose non-space characters spell `needle`'s."""
        chars = squash(needle)
        out: list[tuple[int, int]] = []
        if not chars:
            return out
        pos = self.text.find(chars)
        while pos != -1 and len(out) < limit:
            out.append((self.positions[pos], self.positions[pos + len(chars) - 1] + 1))
            pos = self.text.find(chars, pos + len(chars))  # non-overlapping, as a regex scan
        return out


def similarity(a: str, b: str) -> float:
    """Normalized Indel similarity in [0, 1]."""
    if not a and not b:
        return 1.0
    return fuzz.ratio(a, b) / 100.0


def text_similarity(anchor: str, candidate: str) -> float:
    """How alike two code fragments are, ignoring whitespace entirely."""
    return similarity(squash(anchor), squash(candidate))


def context_similarity(text: str, start: int, end: int, prefix: str, suffix: str) -> float:
    """How well the text around [start, end) matches the old prefix and suffix.

    Compared near (16 characters) and far (the whole context), whitespace squashed, so a
    re-indented neighbourhood still counts as the same neighbourhood.
    """
    scores: list[float] = []
    for old_ctx, new_ctx in (
        (prefix, text[max(0, start - len(prefix) - 40) : start]),
        (suffix, text[end : end + len(suffix) + 40]),
    ):
        old_sq, new_sq = squash(old_ctx), squash(new_ctx)
        if not old_sq:
            scores.append(1.0 if not new_sq else 0.7)
            continue
        is_prefix = old_ctx is prefix
        near = 16
        if is_prefix:
            a_near, b_near = old_sq[-near:], new_sq[-near:]
            a_far, b_far = old_sq, new_sq[-len(old_sq) :]
        else:
            a_near, b_near = old_sq[:near], new_sq[:near]
            a_far, b_far = old_sq, new_sq[: len(old_sq)]
        scores.append(0.5 * similarity(a_near, b_near) + 0.5 * similarity(a_far, b_far))
    return sum(scores) / len(scores)
