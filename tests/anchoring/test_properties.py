"""Property tests of the diff mapping: edits outside a span never move a tag off its text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magicmarkup import Status, reanchor
from magicmarkup.anchoring import diffmap

WORDS = [
    "x",
    "y",
    "total",
    "items",
    "(",
    ")",
    "=",
    "+",
    "1",
    "42",
    "def",
    "return",
    "if",
    ":",
    ",",
    " ",
    "  ",
]
line = st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map("".join)
document = st.lists(line, min_size=1, max_size=40).map(lambda ls: "\n".join(ls) + "\n")
edit = st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.floats(0, 1), st.integers(0, 30), line)


def _guard(text: str, start: int, end: int) -> tuple[int, int]:
    """Bounds of the region edits must avoid: the span plus the tokens touching it and one
    separating character (an edit glued to a boundary token may legitimately extend the tag)."""

    def glued(ch: str) -> bool:  # part of a word or of a run of spaces
        return ch.isalnum() or ch == "_" or ch in " \t"

    lo = start
    while lo > 0 and glued(text[lo - 1]):
        lo -= 1
    hi = end
    while hi < len(text) and glued(text[hi]):
        hi += 1
    return lo - 1, hi + 1  # the separating characters (-1 / len+1: there is none)


def apply_outside(
    text: str, start: int, end: int, edits: list[tuple[str, float, int, str]]
) -> tuple[str, int]:
    """Apply edits only away from the span (see `_guard`); return the new text and the span's
    new start."""
    for kind, where, length, payload in edits:
        before = where < 0.5
        g0, g1 = _guard(text, start, end)
        lo, hi = (0, g0) if before else (g1, len(text))  # edits start in [lo, hi]
        if hi < lo:
            continue
        pos = lo + int((hi - lo) * (where * 2 % 1))
        cut = 0 if kind == "insert" else min(length, (g0 if before else len(text)) - pos)
        piece = "" if kind == "delete" else payload
        text = text[:pos] + piece + text[pos + cut :]
        if before:
            delta = len(piece) - cut
            start += delta
            end += delta
    return text, start


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document, st.floats(0, 1), st.integers(1, 40), st.lists(edit, max_size=6))
def test_edits_outside_a_span_keep_it_on_its_text(doc: str, at: float, length: int, edits: list) -> None:
    start = int(at * (len(doc) - 1))
    end = min(len(doc), start + length)
    if not doc[start:end].strip():
        return
    new, _new_start = apply_outside(doc, start, end, edits)
    [p] = reanchor(doc, new, [(start, end)])
    if doc.count(doc[start:end]) > 1 and p.status is Status.ORPHANED:
        # A text that also occurs beside a deletion is ambiguous for any diff (deleting "(\n"
        # after "(" or "\n(" gives the same text); orphaning it is allowed, misplacing it is not.
        return
    assert p.status is not Status.ORPHANED
    assert p.start is not None and p.end is not None
    assert new[p.start : p.end] == doc[start:end]


@settings(max_examples=300, deadline=None)
@given(document, document)
def test_untouched_spans_map_to_identical_text(old: str, new: str) -> None:
    d = diffmap.build(old, new)
    for block in d.blocks:
        assert old[block.old : block.old + block.size] == new[block.new : block.new + block.size]
    for a, b in zip(d.blocks, d.blocks[1:], strict=False):
        assert a.old + a.size <= b.old and a.new + a.size <= b.new  # monotone, no overlap


@settings(max_examples=200, deadline=None)
@given(document, st.lists(edit, max_size=6), st.floats(0, 1), st.integers(1, 30))
def test_map_start_end_stay_in_bounds(doc: str, edits: list, at: float, length: int) -> None:
    start = int(at * (len(doc) - 1))
    end = min(len(doc), start + length)
    new, _ = apply_outside(doc, start, end, edits)
    d = diffmap.build(doc, new)
    assert 0 <= d.map_start(start) <= len(new)
    assert 0 <= d.map_end(end) <= len(new)
