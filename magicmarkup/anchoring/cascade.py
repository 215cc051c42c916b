"""The re-anchoring cascade: cheap, exact evidence first; approximate evidence only when needed;
the LLM only for what stays uncertain; a human (needs_review) for what the model cannot settle.

Stages, for one tag of one document:
1. diff: the tag's characters all survived the (shared) diff -> exact, confidence 1.
2. search: candidates from the diff's projection of the span, exact occurrences of the old text,
   and occurrences ignoring whitespace, ranked by text, context and position.
3. fuzzy: rapidfuzz alignment near the projection and whole-line voting for moved code, each
   snapped to syntax (tree-sitter) -- only when stage 2 is not already confident.
4. llm: queries for whatever is still below the LLM threshold or ambiguous (one batch).
5. otherwise needs_review (best guess kept) or orphaned.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tree_sitter import Node

from magicmarkup.anchoring import diffmap, fuzzy, syntax
from magicmarkup.anchoring.search import (
    SquashedText,
    context_similarity,
    occurrences,
    squash,
    text_similarity,
)
from magicmarkup.anchoring.types import Candidate, LLMAnswer, LLMQuery, OldSpan, Placement, Resolver
from magicmarkup.model import LineIndex, Status

CONTEXT_CHARS = 80
REWRITE_SIM = 0.7  # a statement whose text kept less than this similarity is not confidently "changed"
REWRITE_MIN_CHARS = 16  # ... unless it is this short (one edited literal moves similarity a lot)
SHORT_CHARS = 12  # a span with fewer non-space characters than this is "short": its text alone is weak
SHORT_CONTEXT = 0.85  # ... and needs surroundings at least this similar to be placed elsewhere
TOP_CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class Thresholds:
    review: float = 0.75  # a placement below this confidence is needs_review
    orphan: float = 0.45  # with no candidate at least this good, the tag is orphaned
    llm: float = 0.9  # below this (or ambiguous), the LLM is asked when there is one
    ambiguity: float = 0.04  # two different places scoring within this are ambiguous


@dataclass(frozen=True, slots=True)
class Job:
    """One document pair and the tags anchored in the old one."""

    old_text: str
    new_text: str
    spans: Sequence[OldSpan | tuple[int, int]]
    language: str | None = None


@dataclass(slots=True)
class _Scored:
    start: int
    end: int
    method: str
    score: float = 0.0
    confidence: float = 0.0
    text_sim: float = 0.0
    ctx: float = 0.0
    suspect: str | None = None  # why this place may be another code's (then never confident)


@dataclass
class _Doc:
    """Per-document state computed at most once and shared by all its tags."""

    old: str
    new: str
    language: str | None
    diff: diffmap.DiffMap
    _index: LineIndex | None = None
    _new_tree: syntax.SyntaxTree | bool | None = False
    _old_tree: syntax.SyntaxTree | bool | None = False
    _occ: dict[str, list[int]] = field(default_factory=dict)
    _squashed: SquashedText | None = None
    _lines: tuple[list[int], list[str], Counter[str], Counter[str]] | None = None

    def unique_line(self, start: int, end: int) -> bool:
        """Whether a line touched by old [start, end) occurs exactly once in the old text and
        once in the new one (stripped): then a diff that kept it cannot have paired it with a
        twin."""
        if self._lines is None:
            old_lines = self.old.splitlines(keepends=True)
            starts = [0]
            for line in old_lines:
                starts.append(starts[-1] + len(line))
            keys = [line.strip() for line in old_lines]
            new_counts = Counter(line.strip() for line in self.new.splitlines())
            self._lines = (starts, keys, Counter(keys), new_counts)
        starts, keys, old_counts, new_counts = self._lines
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, max(start, end - 1)) - 1
        for k in range(max(0, first), min(len(keys), last + 1)):
            if keys[k] and old_counts[keys[k]] == 1 and new_counts[keys[k]] == 1:
                return True
        return False

    @property
    def squashed(self) -> SquashedText:
        if self._squashed is None:
            self._squashed = SquashedText(self.new)
        return self._squashed

    @property
    def index(self) -> LineIndex:
        if self._index is None:
            self._index = LineIndex(self.new)
        return self._index

    @property
    def new_tree(self) -> syntax.SyntaxTree | None:
        if self._new_tree is False:
            self._new_tree = syntax.parse(self.new, self.language)
        return self._new_tree  # type: ignore[return-value]

    @property
    def old_tree(self) -> syntax.SyntaxTree | None:
        if self._old_tree is False:
            self._old_tree = syntax.parse(self.old, self.language)
        return self._old_tree  # type: ignore[return-value]

    def occurrences(self, needle: str) -> list[int]:
        if needle not in self._occ:
            self._occ[needle] = occurrences(self.new, needle)
        return self._occ[needle]


def reanchor(
    old_text: str,
    new_text: str,
    spans: Sequence[OldSpan | tuple[int, int]],
    language: str | None = None,
    llm: Resolver | None = None,
    thresholds: Thresholds | None = None,
) -> list[Placement]:
    """Where each span of `old_text` is in `new_text`, one Placement per span, in order."""
    return reanchor_many([Job(old_text, new_text, spans, language)], llm, thresholds)[0]


def reanchor_many(
    jobs: Sequence[Job], llm: Resolver | None = None, thresholds: Thresholds | None = None
) -> list[list[Placement]]:
    """Re-anchor many documents; the LLM (if any) gets every uncertain tag in one batch,
    so its requests run concurrently instead of one document at a time."""
    th = thresholds or Thresholds()
    results: list[list[Placement]] = []
    queries: list[LLMQuery] = []
    where: list[tuple[int, int]] = []
    for j, job in enumerate(jobs):
        placements, pending = cheap_placements(job, th)
        results.append(placements)
        if llm is not None:
            for k, cands, (proj_start, proj_end) in pending:
                span = _as_old_span(job.spans[k])
                queries.append(
                    LLMQuery(
                        key=len(queries),
                        old_text=job.old_text,
                        new_text=job.new_text,
                        old_start=span.start,
                        old_end=span.end,
                        candidates=tuple(cands),
                        language=job.language,
                        best=placements[k],
                        proj_start=proj_start,
                        proj_end=proj_end,
                    )
                )
                where.append((j, k))
    if llm is not None and queries:
        answers = llm.resolve(queries)
        by_key = {a.key: a for a in answers}
        for query, (j, k) in zip(queries, where, strict=True):
            answer = by_key.get(query.key) or LLMAnswer(key=query.key, error="no answer")
            results[j][k] = apply_answer(jobs[j], query, answer, th)
    return results


def apply_answer(job: Job, query: LLMQuery, answer: LLMAnswer, th: Thresholds) -> Placement:
    """Merge the model's verdict into the cheap placement; the model can only pick real text."""
    best = query.best

    def make(
        start: int | None, end: int | None, status: Status, conf: float, method: str, error: str | None = None
    ) -> Placement:
        return Placement(
            start, end, status, conf, method, best.candidates, answer.calls, answer.tokens, error
        )

    review_conf = min(best.confidence, th.review - 0.01)
    if answer.error is not None:
        if best.status is Status.ORPHANED:
            return make(best.start, best.end, Status.ORPHANED, best.confidence, best.method, answer.error)
        return make(best.start, best.end, Status.NEEDS_REVIEW, review_conf, best.method, answer.error)
    if answer.orphaned:
        if best.status is Status.ORPHANED:
            return make(best.start, best.end, Status.ORPHANED, best.confidence, best.method)
        return make(best.start, best.end, Status.ORPHANED, answer.confidence, "llm")
    if (answer.start, answer.end, answer.confidence) == (best.start, best.end, best.confidence):
        return make(best.start, best.end, best.status, best.confidence, best.method)  # kept as it was
    s, e = answer.start, answer.end
    if s is None or e is None or not (0 <= s < e <= len(job.new_text)):
        error = "answer outside the document"
        return make(best.start, best.end, Status.NEEDS_REVIEW, review_conf, best.method, error)
    old_piece = job.old_text[query.old_start : query.old_end]
    if answer.confidence < th.review:
        status = Status.NEEDS_REVIEW
    elif job.new_text[s:e] == old_piece:
        status = Status.ANCHORED if s == query.old_start else Status.MOVED
    else:
        status = Status.CHANGED
    return make(s, e, status, answer.confidence, "llm")


def _as_old_span(span: OldSpan | tuple[int, int]) -> OldSpan:
    return span if isinstance(span, OldSpan) else OldSpan(span[0], span[1])


Pending = tuple[int, list[Candidate], tuple[int, int]]  # span index, candidates, diff projection


def cheap_placements(job: Job, th: Thresholds) -> tuple[list[Placement], list[Pending]]:
    """Stages 1-3 for every span of one document; also which spans the LLM should see."""
    doc = _Doc(
        job.old_text,
        job.new_text,
        syntax.normalize_language(job.language),
        diffmap.build(job.old_text, job.new_text),
    )
    placements: list[Placement] = []
    pending: list[Pending] = []
    for k, raw in enumerate(job.spans):
        span = _as_old_span(raw)
        placement, uncertain = _place(doc, span, th)
        placements.append(placement)
        if uncertain:
            projection = (doc.diff.map_start(span.start), doc.diff.map_end(span.end))
            pending.append((k, placement.candidates, projection))
    return placements, pending


@dataclass(slots=True)
class _Anchor:
    """What one tag is re-found by, cut from the old text."""

    start: int
    end: int
    text: str
    prefix: str
    suffix: str
    squashed: str
    expected: int  # where the diff puts its start in the new text
    expected_end: int  # ... and its end
    boundaries_kept: bool  # both of its boundary characters survived the edit
    node_type: str | None = None
    unique_text: bool = False
    defs: tuple[str, ...] = ()  # names of the definitions holding the old span, outermost first
    deleted: bool = False  # the diff maps the span onto nothing (its lines were removed)
    replaced: bool = False  # a long span whose place now holds unlike text (deleted, new code there)


# Spans this long (without whitespace), or of several lines, carry enough text for its
# similarity to be evidence.
REPLACED_MIN_CHARS = 60


def _substantial(anchor: _Anchor) -> bool:
    return len(anchor.squashed) >= REPLACED_MIN_CHARS or anchor.text.strip().count("\n") >= 1


def _place(doc: _Doc, span: OldSpan, th: Thresholds) -> tuple[Placement, bool]:
    s = max(0, min(span.start, len(doc.old)))
    e = max(s, min(span.end, len(doc.old)))
    if e <= s:
        return Placement(None, None, Status.ORPHANED, 0.0, "invalid-span"), False

    # Stage 1: the diff alone.
    hit = doc.diff.untouched(s, e)
    if (
        hit is not None
        and hit[1]
        and doc.diff.context_kept(s, e)
        and not _crosses_definitions(doc, s, e, hit[0])
    ):
        new_start = hit[0]
        new_end = new_start + (e - s)
        line_start = doc.old.rfind("\n", 0, s) + 1
        if "\n" in doc.old[s:e] and not doc.old[line_start:s].strip() and doc.old_tree is not None:
            # A whole definition (it starts its line) that grew at its end.
            whole = _whole_definition(doc, s, e, new_start, new_end)
            if whole is not None:
                return Placement(*whole, Status.CHANGED, 0.95, "diff+syntax"), False
        status = Status.ANCHORED if new_start == s else Status.MOVED
        return Placement(new_start, new_end, status, 1.0, "diff"), False

    text = doc.old[s:e]
    ps, pe = doc.diff.map_start(s), doc.diff.map_end(e)
    anchor = _Anchor(
        start=s,
        end=e,
        text=text,
        prefix=doc.old[max(0, s - CONTEXT_CHARS) : s],
        suffix=doc.old[e : e + CONTEXT_CHARS],
        squashed=squash(text),
        expected=ps,
        expected_end=pe,
        boundaries_kept=doc.diff.untouched(s, s + 1) is not None and doc.diff.untouched(e - 1, e) is not None,
        node_type=span.node_type,
    )
    if doc.old_tree is not None:
        trimmed = syntax.trim(doc.old, s, e)
        if anchor.node_type is None:
            exact = doc.old_tree.exact_node(*trimmed)
            anchor.node_type = exact.type if exact is not None else None
        anchor.defs = doc.old_tree.definitions(*trimmed)

    # Stage 2: the diff's projection of the span, and searches for its old text.
    cands: list[_Scored] = []
    if hit is not None:
        cands.append(_Scored(hit[0], hit[0] + (e - s), "diff"))
    anchor.deleted = not (pe > ps and doc.new[ps:pe].strip())
    # A projection far longer than the tag is a whole rewritten region, not the tag's new text.
    plausible = pe - ps <= 4 * len(text) + 400
    if not anchor.deleted and plausible:
        a, b = syntax.trim(doc.new, ps, pe)
        if text[:1].isspace():
            a = ps
        if text[-1:].isspace():
            b = pe
        cands.append(_Scored(a, b, "diff-projection"))
    if anchor.squashed:
        occ = doc.occurrences(text)
        cands.extend(_Scored(pos, pos + len(text), "search") for pos in occ)
        if not occ and anchor.squashed != text:
            cands.extend(_Scored(a, b, "search-ws") for a, b in doc.squashed.find(text))
    anchor.unique_text = sum(1 for c in cands if c.method.startswith("search")) == 1
    cands.extend(_syntax_variants(doc, cands, anchor))
    cands.extend(_same_definitions(doc, cands, anchor))
    _score_all(doc, cands, anchor)
    # Where a long span was, text unlike it: more likely the code was deleted and new code
    # written there than the same code rewritten past recognition (then a human should look).
    projection = next((c for c in cands if c.method == "diff-projection"), None)
    anchor.replaced = (
        projection is not None
        and _substantial(anchor)
        and projection.text_sim < 0.5
        and not _rewritten(text, doc.new[projection.start : projection.end])
    )
    best, ambiguous = _choose(cands, th, doc.new)

    # Stage 3: fuzzy + syntax, only when the cheap evidence is not conclusive.
    if best is None or best.confidence < th.llm or ambiguous:
        fresh: list[_Scored] = []
        span_lines = text.count("\n") + 1
        center_end = max(ps, pe) if plausible else ps + len(text)
        near = fuzzy.near_window(doc.index, ps, center_end, span_lines)
        found = fuzzy.align(text, doc.new, *near, min_score=0.5)
        if found is not None:
            fresh.append(_Scored(found[0], found[1], "fuzzy"))
        blocks = fuzzy.line_blocks(text, doc.new, doc.index) if span_lines >= 2 else []
        fresh.extend(_Scored(a, b, "fuzzy-lines") for a, b, _ in blocks)
        # Elsewhere, only where the tag's rarest words are, and only what beats the near match;
        # not at all when the near match is nearly exact or line voting already found the block
        # (a long tag costs ~20 ms per window).
        floor = max(0.5, found[2] if found is not None else 0.0)
        if floor < 0.95 and not any(vote >= 0.5 for _, _, vote in blocks):
            far: tuple[int, int, float] | None = None
            for w0, w1 in fuzzy.far_windows(text, doc.new, near):
                got = fuzzy.align(text, doc.new, w0, w1, min_score=floor)
                if got is not None and (far is None or got[2] > far[2]):
                    far = got
            if far is not None:
                fresh.append(_Scored(far[0], far[1], "fuzzy"))
        fresh.extend(_syntax_variants(doc, fresh, anchor))
        _score_all(doc, fresh, anchor)
        cands.extend(fresh)
        best, ambiguous = _choose(cands, th, doc.new)

    top = _distinct(cands)[:TOP_CANDIDATES]
    candidates = [Candidate(c.start, c.end, round(c.score, 4), c.method) for c in top]
    if best is None:
        return Placement(None, None, Status.ORPHANED, 0.0, "none", candidates), False
    conf = best.confidence
    if ambiguous or best.suspect is not None:
        conf = min(conf, th.review - 0.01)
    # The diff kept these characters but not their surroundings. With an identical copy
    # elsewhere, the diff only chose between twins: trust its surroundings, as for a search.
    if (
        best.method.partition("+")[0] == "diff"
        and best.text_sim >= 0.999
        and any(c.text_sim >= 0.999 and not _overlaps(c, best) for c in cands)
    ):
        conf = min(conf, 0.55 + 0.45 * best.ctx)
    # A tag on a whole definition whose best place is the definition of that name: rewritten
    # (perhaps past recognition), not gone.
    gone = (anchor.deleted or anchor.replaced) and not _is_own_definition(doc, best, anchor)
    if gone and not anchor.deleted and best.text_sim >= 0.8 and ps <= best.start and best.end <= pe:
        # Most of the tag's text is still inside the region that replaced it (a statement
        # wrapped into a new retry loop, its literal edited): rewritten around, not gone.
        gone = False
    if conf < th.orphan or (gone and conf < th.review and best.text_sim < 0.99):
        placement = Placement(best.start, best.end, Status.ORPHANED, round(conf, 4), best.method, candidates)
        # Worth a model's look only if some candidate still resembles the old text; otherwise
        # the model could only confirm the orphan (measured: its rescues were all wrong).
        return placement, any(c.text_sim >= 0.6 for c in top)
    start, end = best.start, best.end
    if doc.new[start:end] != text:
        # A fuzzy match drags in the whitespace around it; the tag had none there.
        a, b = syntax.trim(doc.new, start, end)
        start = start if text[:1].isspace() else a
        end = end if text[-1:].isspace() else b
    whole = _whole_definition(doc, s, e, start, end)
    if whole is not None:
        start, end = whole
    if (
        conf >= th.review
        and len(anchor.squashed) >= REWRITE_MIN_CHARS
        and text_similarity(text, doc.new[start:end]) < REWRITE_SIM
        and (doc.old_tree is None or _definition_name_of(doc.old_tree, doc.old, s, e) is None)
    ):
        # Code rewritten past a third of its text, with no name to vouch for it (a statement,
        # not a definition): its place is evidence, but it may as well be new code written
        # where the old was deleted (`assertEqual(a, b)` -> `assert a == b`). A human decides.
        conf = th.review - 0.01
    if (
        conf >= th.review
        and anchor.node_type is not None
        and doc.new[start:end] != text
        and doc.new_tree is not None
        and anchor.node_type not in doc.new_tree.exact_types(*syntax.trim(doc.new, start, end))
        and not _same_definition_kind(doc, s, e, start, end)
    ):
        # The tag was one syntax node and its new place is no node of that kind: the code
        # changed shape (a `case` turned into an `if`, a class into a namespace).
        conf = th.review - 0.01
    if conf < th.review:
        status = Status.NEEDS_REVIEW
    elif doc.new[start:end] == text:
        status = Status.ANCHORED if start == s else Status.MOVED
    else:
        status = Status.CHANGED
    placement = Placement(start, end, status, round(conf, 4), best.method, candidates)
    return placement, conf < th.llm or ambiguous


_WRAPPERS = frozenset({"decorated_definition"})  # a definition with its decorators


def _whole_definition(doc: _Doc, s: int, e: int, start: int, end: int) -> tuple[int, int] | None:
    """A tag on a whole definition stays on the whole definition: when the chosen place starts
    at the header of the same-named definition but no longer covers all of it (lines added at
    its end), the whole new definition (with its decorators if the tag had them)."""
    old_tree = doc.old_tree
    name = _definition_name_of(old_tree, doc.old, s, e) if old_tree is not None else None
    tree = doc.new_tree if name is not None else None
    if old_tree is None or tree is None or name is None:
        return None
    a, b = syntax.trim(doc.new, start, end)
    node = tree.smallest_covering(a, b)
    while node is not None and syntax.definition_name(node) != name:
        if node.type in _WRAPPERS:
            inner = node.child_by_field_name("definition")
            if inner is not None and syntax.definition_name(inner) == name:
                node = inner
                break
        node = node.parent
    if node is None:
        return None
    name_node = node.child_by_field_name("name") or node.child_by_field_name("declarator")
    if name_node is not None and tree.to_char(name_node.end_byte) <= a:
        return None  # the place is inside the definition's body, not the definition
    # Decorators belong to the tag only if the person tagged them: ones added later are new code
    # above it, like an inserted line (and the tag stays `moved`, exactly the tagged text).
    old_node = old_tree.smallest_covering(*syntax.trim(doc.old, s, e))
    with_decorators = old_node is not None and old_node.type in _WRAPPERS
    while with_decorators and node.parent is not None and node.parent.type in _WRAPPERS:
        node = node.parent
    span = tree.node_span(node)
    if (span.start, span.end) == (a, b) or not (span.start <= a and b <= span.end):
        return None
    return span.start, span.end


def _crosses_definitions(doc: _Doc, s: int, e: int, new_start: int) -> bool:
    """Whether the diff carried the span into another definition than its own: its enclosing
    definition's header did not move with it, the place it maps to is not inside a definition
    of that name, and one exists elsewhere (the twin statement of another function)."""
    if doc.language is None or doc.unique_line(s, e):
        return False
    tree = doc.old_tree
    if tree is None:
        return False
    a, b = syntax.trim(doc.old, s, e)
    node = tree.smallest_covering(a, b)
    while node is not None and syntax.definition_name(node) is None:
        node = node.parent
    if node is None:
        return False
    if doc.diff.same_run(tree.to_char(node.start_byte), a):
        return False
    name = syntax.definition_name(node)
    new_tree = doc.new_tree
    if new_tree is None or name is None:
        return False
    na = new_start + (a - s)
    if name in new_tree.definitions(na, na + (b - a)):
        return False
    return bool(new_tree.definition_spans(name))


def _is_node(doc: _Doc, c: _Scored, node_type: str | None) -> bool:
    tree = doc.new_tree if node_type else None
    if tree is None:
        return False
    # Whitespace around a span is not part of any node (the old node type was taken trimmed too).
    return node_type in tree.exact_types(*syntax.trim(doc.new, c.start, c.end))


def _syntax_variants(doc: _Doc, cands: list[_Scored], anchor: _Anchor) -> list[_Scored]:
    """Each candidate snapped to whole syntax nodes (of the old node's type where possible),
    when that differs from the candidate: a call that became `obj.call(...)` grows to it."""
    tree = doc.new_tree
    if tree is None:
        return []
    out: list[_Scored] = []
    seen = {(c.start, c.end) for c in cands}
    for c in cands:
        if anchor.node_type is not None and _is_node(doc, c, anchor.node_type):
            continue
        a, b = _snap(doc.new, tree, c.start, c.end, anchor.node_type, anchor.squashed)
        if doc.new[c.start : c.end] == anchor.text and _adds_lines(doc.new, a, b, c.start, c.end):
            continue  # the tag's exact text is there: whole new lines around it are other code
        if (a, b) not in seen and b > a:
            seen.add((a, b))
            out.append(_Scored(a, b, c.method + "+syntax"))
    return out


def _adds_lines(text: str, a: int, b: int, start: int, end: int) -> bool:
    """Whether [a, b) adds to [start, end) a line of its own (code on another line)."""
    before = text[a:start] if a < start else ""
    after = text[end:b] if b > end else ""
    return any("\n" in piece and piece.strip() for piece in (before, after))


SPLIT_SHARE = 0.25  # this much of a tag's text, unchanged but elsewhere, means it was split


def _split_elsewhere(doc: _Doc, c: _Scored, anchor: _Anchor) -> bool:
    """Whether a good part of the tag's text survived unchanged *outside* the candidate (a
    helper extracted from a tagged function: the candidate holds one half, the other half is
    elsewhere). Then neither half is confidently the tag."""
    if not _substantial(anchor):
        return False
    outside = 0
    for old_start, new_start, size in doc.diff.kept_lines(anchor.start, anchor.end):
        if new_start + size <= c.start or new_start >= c.end:
            outside += len(squash(doc.old[old_start : old_start + size]))
    return outside >= 40 and outside >= SPLIT_SHARE * len(anchor.squashed)


def _cuts_word(doc: _Doc, c: _Scored, anchor: _Anchor) -> bool:
    """A candidate that starts or ends inside an identifier where the old span did not (`arr`
    found inside `arr_new`): a piece of another name, not the tag's code."""
    old, new = doc.old, doc.new
    for inside_old, outside_old, inside_new, outside_new in (
        (anchor.start, anchor.start - 1, c.start, c.start - 1),
        (anchor.end - 1, anchor.end, c.end - 1, c.end),
    ):
        if not (0 <= inside_new < len(new) and 0 <= outside_new < len(new)):
            continue
        if not (_word(new[inside_new]) and _word(new[outside_new])):
            continue
        if 0 <= outside_old < len(old) and _word(old[outside_old]) and _word(old[inside_old]):
            continue  # the old span cut a word there too
        return True
    return False


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


_IDENTIFIER = re.compile(r"[A-Za-z_]\w{2,}")


def _rewritten(old_piece: str, new_piece: str) -> bool:
    """Whether unlike new text is the old code rewritten rather than other code: most of its
    names come from the old code (a JSX block turned into a component fed the same props)."""
    old_ids = set(_IDENTIFIER.findall(old_piece))
    new_ids = set(_IDENTIFIER.findall(new_piece))
    shared = old_ids & new_ids
    return len(shared) >= 3 and len(shared) >= 0.5 * len(new_ids)


def _definition_name_of(tree: syntax.SyntaxTree, text: str, start: int, end: int) -> str | None:
    """The name of the definition [start, end) is exactly (trimmed; a wrapper such as
    `export ...` or a decorated definition counts as its one inner definition), or None."""
    node = _definition_node(tree, text, start, end)
    return syntax.definition_name(node) if node is not None else None


def _definition_node(tree: syntax.SyntaxTree, text: str, start: int, end: int) -> Node | None:
    a, b = syntax.trim(text, start, end)
    node = tree.exact_node(a, b)
    while node is not None and syntax.definition_name(node) is None:
        inner = [c for c in node.named_children if syntax.definition_name(c) is not None]
        node = inner[0] if len(inner) == 1 else None
    return node


def _same_definition_kind(doc: _Doc, s: int, e: int, start: int, end: int) -> bool:
    """Old [s, e) and new [start, end) are definitions of one name and one kind (a function
    that gained or lost decorators is still a function; a class turned namespace is not)."""
    if doc.old_tree is None or doc.new_tree is None:
        return False
    old = _definition_node(doc.old_tree, doc.old, s, e)
    new = _definition_node(doc.new_tree, doc.new, start, end)
    return (
        old is not None
        and new is not None
        and old.type == new.type
        and syntax.definition_name(old) == syntax.definition_name(new)
    )


def _is_own_definition(doc: _Doc, c: _Scored, anchor: _Anchor) -> bool:
    """The tag is a whole definition and the candidate is a definition of the same name."""
    if doc.old_tree is None or doc.new_tree is None or not anchor.defs:
        return False
    name = _definition_name_of(doc.old_tree, doc.old, anchor.start, anchor.end)
    return name is not None and name == _definition_name_of(doc.new_tree, doc.new, c.start, c.end)


def _same_definitions(doc: _Doc, cands: list[_Scored], anchor: _Anchor) -> list[_Scored]:
    """When the tag is a whole named definition: the new definitions of that name (a function
    whose body was rewritten, or split in two, is still that function)."""
    tree = doc.new_tree
    if tree is None or doc.old_tree is None or not anchor.defs:
        return []
    name = _definition_name_of(doc.old_tree, doc.old, anchor.start, anchor.end)
    if name is None or name != anchor.defs[-1]:
        return []
    seen = {(c.start, c.end) for c in cands}
    out = []
    for d in tree.definition_spans(name)[:8]:
        if (d.start, d.end) not in seen:
            out.append(_Scored(d.start, d.end, "definition"))
    return out


def _foreign_definition(doc: _Doc, c: _Scored, anchor: _Anchor) -> bool:
    """The candidate lies outside the definition the old span was in, while a definition of
    that name still exists: the same text there is another function's copy."""
    tree = doc.new_tree
    if tree is None or not anchor.defs:
        return False
    held_by = tree.definitions(*syntax.trim(doc.new, c.start, c.end))
    name = anchor.defs[-1]
    if name not in held_by:
        return bool(tree.definition_spans(name))
    if len(anchor.defs) < 2 or anchor.defs[-2] in held_by:
        return False
    # In a definition of the right name, but is it the right one? (`new` of `impl A` vs of
    # `impl B`): only if a definition of that name still sits inside the old holder's namesake.
    holders = tree.definition_spans(anchor.defs[-2])
    return any(h.start <= d.start and d.end <= h.end for h in holders for d in tree.definition_spans(name))


def _in_own_definition(doc: _Doc, c: _Scored, anchor: _Anchor) -> bool:
    tree = doc.new_tree
    if tree is None or not anchor.defs:
        return False
    return anchor.defs[-1] in tree.definitions(*syntax.trim(doc.new, c.start, c.end))


def _from_other_definition(doc: _Doc, origin: tuple[int, int], anchor: _Anchor) -> bool:
    tree = doc.old_tree
    if tree is None or not anchor.defs:
        return False
    return anchor.defs[-1] not in tree.definitions(*syntax.trim(doc.old, *origin))


def _score_all(doc: _Doc, cands: list[_Scored], anchor: _Anchor) -> None:
    """Rank (score) and calibrate (confidence) candidates.

    The score weighs text, context and position (as Hypothesis and LHDiff do) plus whether the
    candidate is a whole node of the old node's type. The confidence depends on the kind of
    evidence: surviving characters, a unique exact occurrence, or only similarity."""
    scale = max(400.0, 2.0 * len(anchor.text))
    for c in cands:
        piece = doc.new[c.start : c.end]
        # Identical text outranks text that differs only in whitespace.
        c.text_sim = 1.0 if piece == anchor.text else min(0.995, text_similarity(anchor.text, piece))
        c.ctx = context_similarity(doc.new, c.start, c.end, anchor.prefix, anchor.suffix)
        pos = 1.0 / (1.0 + abs(c.start - anchor.expected) / scale)
        node = 1.0 if _is_node(doc, c, anchor.node_type) else 0.0
        # A candidate that is an unchanged copy of *other* old code is that code, not the
        # tag's new version (the sibling of a deleted line, the same literal elsewhere).
        origin = doc.diff.origin(c.start, c.end)
        foreign = origin is not None and (origin[1] <= anchor.start or origin[0] >= anchor.end)
        if (
            foreign
            and origin is not None
            and _in_own_definition(doc, c, anchor)
            and _from_other_definition(doc, origin, anchor)
        ):
            # The diff says this is a copy of other old code, but that code belonged to another
            # definition and this place is in the tag's own: the diff paired twins crosswise.
            foreign = False
        c.score = 0.45 * c.text_sim + 0.3 * c.ctx + 0.1 * pos + 0.15 * node
        base, _, variant = c.method.partition("+")
        if base == "diff":
            conf = 0.85 + 0.15 * c.ctx
            if variant:
                conf *= 0.85 + 0.15 * c.text_sim
        elif c.text_sim >= 0.999:
            conf = 0.55 + 0.45 * c.ctx
            if anchor.unique_text:
                conf = max(conf, 0.92 if len(anchor.squashed) >= 12 else 0.6 + 0.35 * c.ctx)
        elif base == "diff-projection" and anchor.boundaries_kept:
            conf = 0.25 + 0.5 * c.ctx + 0.25 * c.text_sim
            if _substantial(anchor) and c.text_sim < 0.5:
                conf = min(conf, 0.7)  # see `replaced`: never placed confidently on unlike text
        else:
            conf = 0.6 * c.text_sim + 0.4 * c.ctx
        if foreign:
            c.score -= 0.3
            # Exception: the tag's lines are gone and an identical copy survives. The diff cannot
            # tell which of two identical copies was removed, so this is for a human to decide.
            identical_survivor = anchor.deleted and c.text_sim >= 0.999 and c.ctx >= 0.5
            conf = min(conf, 0.7) if identical_survivor else min(conf, 0.4)
        if (
            len(anchor.squashed) < SHORT_CHARS
            and c.text_sim >= 0.999
            and c.ctx < SHORT_CONTEXT
            and not anchor.deleted
            and not (c.start < anchor.expected_end and anchor.expected < c.end)
        ):
            # A short text (a constant, a name) found away from where the diff puts the tag's
            # place, which still holds code: its only evidence is the few characters themselves.
            c.suspect = "short-text-elsewhere"
        if _cuts_word(doc, c, anchor):
            c.score -= 0.3
            c.suspect = "cuts-a-word"
        if c.text_sim < 0.999 and _split_elsewhere(doc, c, anchor):
            c.suspect = "split"
        c.confidence = min(1.0, conf)
    # Another definition's copy: checked best first, until the rest cannot matter (the check
    # walks the syntax tree; a short tag can have hundreds of exact occurrences).
    clean: float | None = None
    for c in sorted(cands, key=lambda c: -c.score):
        if clean is not None and c.score < clean - 0.3:
            break
        if _foreign_definition(doc, c, anchor):
            c.score -= 0.25
            c.suspect = "other-definition"
        elif clean is None:
            clean = c.score


def _overlaps(a: _Scored, b: _Scored) -> bool:
    return a.start < b.end and b.start < a.end


def _distinct(cands: list[_Scored]) -> list[_Scored]:
    """Best first, dropping candidates that overlap a better one."""
    out: list[_Scored] = []
    starts: list[int] = []  # the kept candidates never overlap: sorted by start, so by end too
    kept: list[_Scored] = []
    for c in sorted(cands, key=lambda c: (-c.score, -c.confidence, c.start)):
        i = bisect.bisect_left(starts, c.start)
        if i > 0 and _overlaps(kept[i - 1], c):
            continue
        if i < len(kept) and _overlaps(kept[i], c):
            continue
        starts.insert(i, c.start)
        kept.insert(i, c)
        out.append(c)
    return out


def _choose(cands: list[_Scored], th: Thresholds, new: str = "") -> tuple[_Scored | None, bool]:
    ranked = _distinct(cands)
    if not ranked:
        return None, False
    best = max(ranked, key=lambda c: c.score + 0.0001 * c.confidence)
    if best.text_sim < 0.99 and new:
        # The best place is the tag's code plus new lines around it (a block wrapped in a new
        # `for`/`with`/`if`): the code itself, re-indented, is the tag.
        inner = [
            c
            for c in cands
            if c.text_sim >= 0.99
            and c.suspect is None
            and best.start <= c.start
            and c.end <= best.end
            and _adds_lines(new, best.start, best.end, c.start, c.end)
        ]
        if inner:
            best = max(inner, key=lambda c: c.score)
    if 0.99 <= best.text_sim < 0.999:
        # The best place holds the tag's text re-spaced while the identical text is elsewhere
        # (and is no other old code's copy): that is the tag as it was; a human should confirm.
        twins = [c for c in cands if c.text_sim >= 0.999 and c.suspect is None and c.confidence >= th.review]
        if twins:
            return max(twins, key=lambda c: c.score), True
    # Places holding the chosen one (its wrapper, the chosen text with its indentation) are
    # not rival places.
    others = [c for c in ranked if c is not best and not (c.start <= best.start and best.end <= c.end)]
    ambiguous = any(best.score - o.score < th.ambiguity and o.text_sim > 0.6 for o in others)
    return best, ambiguous


def _snap(
    text: str,
    tree: syntax.SyntaxTree | None,
    start: int,
    end: int,
    node_type: str | None,
    squashed_anchor: str,
) -> tuple[int, int]:
    """Snap a rough match to whole syntax nodes, preferring the old node's type."""
    a, b = syntax.trim(text, start, end)
    if tree is None or b <= a:
        return a, b
    nodes = tree.nodes_around(a, b)
    length = b - a
    if node_type is not None:
        best: tuple[float, int, int] | None = None
        for n in nodes:
            if n.type != node_type:
                continue
            inter = max(0, min(b, n.end) - max(a, n.start))
            if inter / length >= 0.6 and inter / max(1, n.end - n.start) >= 0.5:
                sim = text_similarity(squashed_anchor, text[n.start : n.end])
                key = (sim + inter / max(1, n.end - n.start, length), n.start, n.end)
                if best is None or key[0] > best[0]:
                    best = key
        if best is not None:
            return best[1], best[2]
    exact = tree.exact_node(a, b)
    if exact is not None:
        return a, b
    cover = tree.smallest_covering(a, b)
    if cover is not None and cover.parent is not None:
        ns = tree.node_span(cover)
        if ns.end - ns.start <= 1.25 * length + 2:
            return ns.start, ns.end
    return a, b
