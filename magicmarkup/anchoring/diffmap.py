"""One diff per (old, new) document pair, shared by all its tags.

Lines first (common prefix/suffix stripped, then an LCS over interned lines), then characters,
but only inside changed hunks, so a 200,000-line file with a few edits costs a few hunks, not a
quadratic character diff. The result is a sorted list of equal blocks; mapping an offset is a
binary search.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter
from dataclasses import dataclass

from rapidfuzz.distance import Indel

MAX_LCS_CELLS = 40_000_000  # past this, rapidfuzz's bit matrix gets too big: anchor on unique lines
MAX_CHAR_HUNK_CELLS = 40_000_000  # a changed hunk larger than this (chars x chars) is not diffed inside


@dataclass(frozen=True, slots=True)
class Block:
    old: int  # start in the old text
    new: int  # start in the new text
    size: int
    exact_lines: bool  # True when it came from whole unchanged lines (strong evidence)


class DiffMap:
    """Equal blocks between two texts, and offset mapping through them."""

    def __init__(self, old_len: int, new_len: int, blocks: list[Block]) -> None:
        self.old_len = old_len
        self.new_len = new_len
        self.blocks = blocks
        self._old_starts = [b.old for b in blocks]
        self._new_starts = [b.new for b in blocks]
        # For each block, the old-side bounds of the contiguous run of blocks it belongs to.
        self._run: list[tuple[int, int]] = []
        k = 0
        while k < len(blocks):
            j = k
            while j + 1 < len(blocks) and _contiguous(blocks[j], blocks[j + 1]):
                j += 1
            bounds = (blocks[k].old, blocks[j].old + blocks[j].size)
            self._run.extend([bounds] * (j - k + 1))
            k = j + 1

    def _block_at(self, offset: int) -> int:
        """Index of the last block starting at or before `offset` (-1 if none)."""
        return bisect.bisect_right(self._old_starts, offset) - 1

    def untouched(self, start: int, end: int) -> tuple[int, bool] | None:
        """If every character of old [start, end) is unchanged and contiguous in new, its new
        start and whether the evidence is whole unchanged lines; else None."""
        if end <= start:
            return None
        i = self._block_at(start)
        if i < 0:
            return None
        block = self.blocks[i]
        if end <= block.old + block.size:
            return block.new + (start - block.old), block.exact_lines
        # The span may run across adjacent blocks that are contiguous on both sides.
        new_start = block.new + (start - block.old)
        exact = block.exact_lines
        while end > block.old + block.size:
            i += 1
            if i >= len(self.blocks):
                return None
            nxt = self.blocks[i]
            if nxt.old != block.old + block.size or nxt.new != block.new + block.size:
                return None
            exact = exact and nxt.exact_lines
            block = nxt
        return new_start, exact

    def context_kept(self, start: int, end: int, chars: int = 24) -> bool:
        """Whether `chars` characters on each side of old [start, end) (or up to the document's
        edge) survived in place together with it: then nothing near the span was touched."""
        i = self._block_at(start)
        if i < 0:
            return False
        run_start, run_end = self._run[i]
        return run_start <= max(0, start - chars) and run_end >= min(self.old_len, end + chars)

    def kept_lines(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """The parts of old [start, end) that survived as whole unchanged lines, as
        (old start, new start, size)."""
        out: list[tuple[int, int, int]] = []
        i = max(0, self._block_at(start))
        while i < len(self.blocks) and self.blocks[i].old < end:
            block = self.blocks[i]
            a, b = max(start, block.old), min(end, block.old + block.size)
            if b > a and block.exact_lines:
                out.append((a, block.new + (a - block.old), b - a))
            i += 1
        return out

    def same_run(self, a: int, b: int) -> bool:
        """Whether old offsets `a` and `b` both survived in one contiguous run of equal blocks
        (then everything between them kept its relative place)."""
        i, j = self._block_at(a), self._block_at(b)
        if i < 0 or j < 0:
            return False
        bi, bj = self.blocks[i], self.blocks[j]
        if a >= bi.old + bi.size or b >= bj.old + bj.size:
            return False
        return self._run[i] == self._run[j]

    def origin(self, start: int, end: int) -> tuple[int, int] | None:
        """The old text that new [start, end) is an unchanged copy of (one contiguous run of
        equal blocks), or None if any of it is new or edited."""
        if end <= start:
            return None
        i = bisect.bisect_right(self._new_starts, start) - 1
        if i < 0:
            return None
        block = self.blocks[i]
        if start >= block.new + block.size:
            return None
        old_start = block.old + (start - block.new)
        while end > block.new + block.size:
            i += 1
            if i >= len(self.blocks) or not _contiguous(block, self.blocks[i]):
                return None
            block = self.blocks[i]
        return old_start, block.old + (end - block.new)

    def map_start(self, offset: int) -> int:
        """New position of a span start at old `offset`: exact if that character survived,
        else the start of the changed region it fell into."""
        i = self._block_at(offset)
        if i >= 0:
            block = self.blocks[i]
            if offset < block.old + block.size:
                return block.new + (offset - block.old)
            return block.new + block.size
        return 0

    def map_end(self, offset: int) -> int:
        """New position of a span end (exclusive) at old `offset`: just past the new position
        of its last character if it survived, else the end of the changed region."""
        if offset <= 0:
            return 0
        i = self._block_at(offset - 1)
        if i >= 0:
            block = self.blocks[i]
            if offset - 1 < block.old + block.size:
                return block.new + (offset - block.old)
        nxt = i + 1
        if nxt < len(self.blocks):
            return self.blocks[nxt].new
        return self.new_len


def _contiguous(a: Block, b: Block) -> bool:
    return a.old + a.size == b.old and a.new + a.size == b.new


def _line_key(line: str) -> str:
    # CRLF <-> LF changes should not make every line "different".
    return line.rstrip("\r\n")


Opcode = tuple[str, int, int, int, int]


def _line_opcodes(a: list[int], b: list[int], depth: int = 0) -> list[Opcode]:
    """Opcodes between two line sequences: an exact LCS when it is affordable, else anchored on
    lines that occur exactly once on each side (patience diff) with an LCS between anchors."""
    if not a or not b:
        return [("replace", 0, len(a), 0, len(b))] if (a or b) else []
    lo = 0
    while lo < len(a) and lo < len(b) and a[lo] == b[lo]:
        lo += 1
    hi = 0
    while hi < len(a) - lo and hi < len(b) - lo and a[-1 - hi] == b[-1 - hi]:
        hi += 1
    out: list[Opcode] = []
    if lo:
        out.append(("equal", 0, lo, 0, lo))
    out.extend(_shift(_middle_opcodes(a[lo : len(a) - hi], b[lo : len(b) - hi], depth), lo, lo))
    if hi:
        out.append(("equal", len(a) - hi, len(a), len(b) - hi, len(b)))
    return out


def _shift(ops: list[Opcode], di: int, dj: int) -> list[Opcode]:
    return [(t, i1 + di, i2 + di, j1 + dj, j2 + dj) for t, i1, i2, j1, j2 in ops]


def _middle_opcodes(a: list[int], b: list[int], depth: int) -> list[Opcode]:
    if not a or not b:
        return [("replace", 0, len(a), 0, len(b))] if (a or b) else []
    if len(a) * len(b) <= MAX_LCS_CELLS:
        return [(op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end) for op in Indel.opcodes(a, b)]
    anchors = _unique_anchors(a, b)
    if not anchors or depth > 8:
        # Nothing to anchor on (e.g. a file of repeated blocks): no line-level matches here;
        # tags in this region are found by search instead.
        return [("replace", 0, len(a), 0, len(b))]
    out: list[Opcode] = []
    pi = pj = 0
    k = 0
    while k < len(anchors):
        i, j = anchors[k]
        run = 1  # consecutive anchors form one equal run
        while k + run < len(anchors) and anchors[k + run] == (i + run, j + run):
            run += 1
        if i > pi or j > pj:
            out.extend(_shift(_line_opcodes(a[pi:i], b[pj:j], depth + 1), pi, pj))
        out.append(("equal", i, i + run, j, j + run))
        pi, pj = i + run, j + run
        k += run
    if pi < len(a) or pj < len(b):
        out.extend(_shift(_line_opcodes(a[pi:], b[pj:], depth + 1), pi, pj))
    return out


def _unique_anchors(a: list[int], b: list[int]) -> list[tuple[int, int]]:
    """Pairs (i, j) of lines unique on both sides, longest increasing in both (patience)."""
    count_a = Counter(a)
    count_b = Counter(b)
    where_b = {x: j for j, x in enumerate(b) if count_b[x] == 1}
    pairs = [(i, where_b[x]) for i, x in enumerate(a) if count_a[x] == 1 and x in where_b]
    if all(p[1] < q[1] for p, q in itertools.pairwise(pairs)):
        return pairs  # already in order: the usual case of scattered edits
    # Longest increasing subsequence on j (pairs are already increasing in i).
    tail_js: list[int] = []
    tails: list[int] = []
    prev = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect.bisect_left(tail_js, j)
        if pos > 0:
            prev[k] = tails[pos - 1]
        if pos == len(tails):
            tails.append(k)
            tail_js.append(j)
        else:
            tails[pos] = k
            tail_js[pos] = j
    out: list[tuple[int, int]] = []
    k = tails[-1] if tails else -1
    while k != -1:
        out.append(pairs[k])
        k = prev[k]
    return out[::-1]


def build(old: str, new: str) -> DiffMap:
    """The diff of two texts as equal blocks (see the module docstring)."""
    if old == new:
        return DiffMap(len(old), len(new), [Block(0, 0, len(old), True)] if old else [])
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    old_pos = [0]
    for line in old_lines:
        old_pos.append(old_pos[-1] + len(line))
    new_pos = [0]
    for line in new_lines:
        new_pos.append(new_pos[-1] + len(line))

    intern: dict[str, int] = {}
    a = [intern.setdefault(_line_key(x), len(intern)) for x in old_lines]
    b = [intern.setdefault(_line_key(x), len(intern)) for x in new_lines]
    ops = _line_opcodes(a, b)

    blocks: list[Block] = []
    pending_old: tuple[int, int] | None = None  # a changed hunk, merged across delete+insert
    pending_new: tuple[int, int] | None = None

    def flush() -> None:
        nonlocal pending_old, pending_new
        if pending_old is None or pending_new is None:
            pending_old = pending_new = None
            return
        (i1, i2), (j1, j2) = pending_old, pending_new
        o0, o1, n0, n1 = old_pos[i1], old_pos[i2], new_pos[j1], new_pos[j2]
        if o1 > o0 and n1 > n0 and (o1 - o0) * (n1 - n0) <= MAX_CHAR_HUNK_CELLS:
            blocks.extend(_token_blocks(old, o0, o1, new, n0, n1))
        pending_old = pending_new = None

    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            flush()
            o0, n0 = old_pos[i1], new_pos[j1]
            size = old_pos[i2] - o0
            if size == new_pos[j2] - n0 and old[o0 : o0 + size] == new[n0 : n0 + size]:
                blocks.append(Block(o0, n0, size, True))
                continue
            for k in range(i2 - i1):
                ol, nl = old_lines[i1 + k], new_lines[j1 + k]
                if ol == nl:
                    blocks.append(Block(old_pos[i1 + k], new_pos[j1 + k], len(ol), True))
                else:  # same content, different line ending
                    size = len(_line_key(ol))
                    if size:
                        blocks.append(Block(old_pos[i1 + k], new_pos[j1 + k], size, True))
            continue
        if pending_old is None or pending_new is None:
            pending_old, pending_new = (i1, i2), (j1, j2)
        else:
            pending_old = (pending_old[0], i2)
            pending_new = (pending_new[0], j2)
    flush()
    return DiffMap(len(old), len(new), _coalesce(blocks))


_TOKEN = re.compile(r"\w+|[^\S\n]+|\n|[^\w\s]")


def _token_blocks(old: str, o0: int, o1: int, new: str, n0: int, n1: int) -> list[Block]:
    """Equal blocks inside one changed hunk, aligned on tokens (words, runs of space,
    punctuation) rather than characters: a character LCS happily matches the `t` of `try`
    with the `t` of `total`; a token LCS matches `total` with `total`."""
    old_toks = [(m.start(), m.end()) for m in _TOKEN.finditer(old, o0, o1)]
    new_toks = [(m.start(), m.end()) for m in _TOKEN.finditer(new, n0, n1)]
    intern: dict[str, int] = {}
    a = [intern.setdefault(old[x:y], len(intern)) for x, y in old_toks]
    b = [intern.setdefault(new[x:y], len(intern)) for x, y in new_toks]
    out: list[Block] = []
    for op in Indel.opcodes(a, b):
        if op.tag != "equal":
            continue
        start_old = old_toks[op.src_start][0]
        end_old = old_toks[op.src_end - 1][1]
        out.append(Block(start_old, new_toks[op.dest_start][0], end_old - start_old, False))
    return out


def _coalesce(blocks: list[Block]) -> list[Block]:
    """Merge blocks that are contiguous on both sides (fewer blocks, faster lookups)."""
    out: list[Block] = []
    for block in blocks:
        if block.size <= 0:
            continue
        if out:
            last = out[-1]
            if (
                last.old + last.size == block.old
                and last.new + last.size == block.new
                and last.exact_lines == block.exact_lines
            ):
                out[-1] = Block(last.old, last.new, last.size + block.size, last.exact_lines)
                continue
        out.append(block)
    return out
