"""The scorer: runs the real cascade (the public `reanchor_many`) on benchmark cases and judges it.

A case is correct when the predicted span's text equals the expected text ignoring all whitespace
and the two spans overlap; a deleted case (expected null) is correct iff the tag was orphaned.
A prediction is the placement's span unless its status is `orphaned` (needs_review counts as the
cascade's best guess: that is what a user would see highlighted).

Chains (cases with `meta.chain` and `meta.step`, see `benchmark_gen.realhistory`) are scored
sequentially, as a user's tag is carried: step k+1 starts from the engine's own placement at
step k (an orphaned tag keeps its last placement and is tried again at the next version), and
each step's status is the status a person would be shown: the library's own rule
(`magicmarkup.pipeline.decide`), with the tag re-pinned at each version as a commit does.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmark_gen.cases import Case
from magicmarkup import Job, Placement, Thresholds, reanchor_many
from magicmarkup.anchoring.types import LLMAnswer, LLMQuery, Resolver
from magicmarkup.model import Status

log = logging.getLogger(__name__)
_WS = re.compile(r"\s+")
# Statuses that tell the user "this is right" (DESIGN.md, "Data model").
CONFIDENT = frozenset({str(Status.ANCHORED), str(Status.MOVED), str(Status.CHANGED)})

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class Prediction:
    """What the cascade did with one case, and how that compares with the expected answer."""

    id: str
    start: int | None
    end: int | None
    status: str
    confidence: float
    method: str
    llm_calls: int
    llm_tokens: int
    ms: float
    correct: bool
    exact: bool
    iou: float
    llm_error: str | None = None
    engine_status: str | None = None  # chains: the cascade's own status for this one step
    chain: str | None = None
    step: int | None = None
    text_changed: bool | None = None  # chains: the placed text differs from the originally tagged text
    # With a model: what the cheap stages alone would have answered for the same job (None when
    # no model was used), so the LLM's effect is measured case by case, in the same run.
    cheap_correct: bool | None = None
    cheap_silent: bool | None = None

    @property
    def llm_asked(self) -> bool:
        return self.llm_calls > 0 or self.llm_error is not None

    @property
    def placed(self) -> bool:
        return self.start is not None

    @property
    def silent(self) -> bool:
        """A silent misplacement: the answer is wrong and the status says nothing is wrong."""
        return not self.correct and self.status in CONFIDENT

    def to_json(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.chain is not None:
            extra = {
                "chain": self.chain,
                "step": self.step,
                "engine_status": self.engine_status,
                "text_changed": self.text_changed,
            }
        return {
            "id": self.id,
            "start": self.start,
            "end": self.end,
            "status": self.status,
            "confidence": self.confidence,
            "method": self.method,
            "llm_calls": self.llm_calls,
            "ms": round(self.ms, 3),
            "correct": self.correct,
            "silent": self.silent,
            **({} if self.cheap_correct is None else {"cheap_correct": self.cheap_correct}),
            **extra,
        }


def squash(text: str) -> str:
    return _WS.sub("", text)


def judge(case: Case, start: int | None, end: int | None, orphaned: bool) -> tuple[bool, bool, float]:
    """(correct, exact, character IoU) of one prediction against the case's expected answer."""
    if case.expected_start is None or case.expected_end is None:
        return orphaned, orphaned, 1.0 if orphaned else 0.0
    if orphaned or start is None or end is None:
        return False, False, 0.0
    es, ee = case.expected_start, case.expected_end
    inter = max(0, min(end, ee) - max(start, es))
    union = max(end, ee) - min(start, es)
    iou = inter / union if union > 0 else 0.0
    same_text = squash(case.new_text[start:end]) == squash(case.new_text[es:ee])
    return same_text and inter > 0, (start, end) == (es, ee), iou


def _job(case: Case) -> Job:
    return Job(case.old_text, case.new_text, [(case.old_start, case.old_end)], case.language)


def _predict(case: Case, placement: Placement, ms: float) -> Prediction:
    orphaned = placement.status is Status.ORPHANED or placement.start is None
    start = None if orphaned else placement.start
    end = None if orphaned else placement.end
    correct, exact, iou = judge(case, start, end, orphaned)
    return Prediction(
        id=case.id,
        start=start,
        end=end,
        status=str(placement.status),
        confidence=round(float(placement.confidence), 4),
        method=placement.method,
        llm_calls=placement.llm_calls,
        llm_tokens=placement.llm_tokens,
        ms=ms,
        correct=correct,
        exact=exact,
        iou=iou,
        llm_error=placement.llm_error,
    )


class _TimedResolver:
    """Passes queries through to the real resolver and measures the batch's wall time."""

    def __init__(self, inner: Resolver) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.queries = 0

    def resolve(self, queries: list[LLMQuery]) -> list[LLMAnswer]:
        t0 = time.perf_counter()
        try:
            return self.inner.resolve(queries)
        finally:
            self.seconds += time.perf_counter() - t0
            self.queries += len(queries)


@dataclass(slots=True)
class ScoreRun:
    predictions: list[Prediction]
    seconds: float
    llm_seconds: float = 0.0
    llm_queries: int = 0


@dataclass(slots=True)
class _JobsRun:
    placements: list[Placement]
    ms: list[float]
    llm_seconds: float
    llm_queries: int
    cheap: list[Placement] | None = None  # the cheap stages' placements, when a model was used


def _run_jobs(
    jobs: Sequence[Job],
    resolver: Resolver | None,
    th: Thresholds,
    progress: Callable[[int], None] | None = None,
    llm_concurrency: int = 1,
) -> _JobsRun:
    """Run the cascade on one-tag jobs: cheap stages one by one (timed), then the unsure ones to
    the LLM together, so it sees one batch and runs it concurrently; each of those is charged its
    cheap time plus its share of the batch's wall time (wall x concurrency / queries: one query's
    latency when `llm_concurrency` run at once)."""
    placements: list[Placement] = []
    times: list[float] = []
    for job in jobs:
        t0 = time.perf_counter()
        placements.append(reanchor_many([job], None, th)[0][0])
        times.append((time.perf_counter() - t0) * 1000.0)
        if progress is not None:
            progress(1)
    llm_seconds = 0.0
    llm_queries = 0
    cheap = list(placements) if resolver is not None else None
    if resolver is not None:
        # A superset of what the cascade will ask about: it asks only below the LLM threshold.
        unsure = [i for i, p in enumerate(placements) if p.confidence < th.llm]
        if unsure:
            timed = _TimedResolver(resolver)
            batch = reanchor_many([jobs[i] for i in unsure], timed, th)
            llm_seconds, llm_queries = timed.seconds, timed.queries
            share = llm_seconds * 1000.0 * min(llm_concurrency, max(1, llm_queries)) / max(1, llm_queries)
            for i, result in zip(unsure, batch, strict=True):
                placements[i] = result[0]
                if result[0].llm_calls > 0 or result[0].llm_error is not None:
                    times[i] += share
    return _JobsRun(placements, times, llm_seconds, llm_queries, cheap)


def _counter(progress: Progress | None, total: int, every: int = 16) -> Callable[[int], None]:
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None and (done % every == 0 or done == total):
            progress(done, total)

    return tick


def _with_cheap(pred: Prediction, case: Case, cheap: Placement, status: str | None = None) -> Prediction:
    """Record on `pred` how the cheap stages alone would have fared (`status`: the status a
    person would be shown for it, when that is not the engine's own)."""
    orphaned = cheap.status is Status.ORPHANED or cheap.start is None
    pred.cheap_correct = judge(
        case, None if orphaned else cheap.start, None if orphaned else cheap.end, orphaned
    )[0]
    pred.cheap_silent = not pred.cheap_correct and (status or str(cheap.status)) in CONFIDENT
    return pred


def score_cases(
    cases: Sequence[Case],
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
    llm_concurrency: int = 1,
) -> ScoreRun:
    """Run the cascade on every case on its own; one prediction per case, in order."""
    th = thresholds or Thresholds()
    t_start = time.perf_counter()
    run = _run_jobs([_job(c) for c in cases], resolver, th, _counter(progress, len(cases)), llm_concurrency)
    predictions = [_predict(c, p, ms) for c, p, ms in zip(cases, run.placements, run.ms, strict=True)]
    if run.cheap is not None:
        predictions = [_with_cheap(p, c, q) for p, c, q in zip(predictions, cases, run.cheap, strict=True)]
    return ScoreRun(predictions, time.perf_counter() - t_start, run.llm_seconds, run.llm_queries)


# --- chains ----------------------------------------------------------------------------------


def chain_key(case: Case) -> tuple[str, int] | None:
    """(chain id, step) for a chain case, else None."""
    chain, step = case.meta.get("chain"), case.meta.get("step")
    if isinstance(chain, str) and isinstance(step, int) and not isinstance(step, bool):
        return chain, step
    return None


def split_chains(cases: Sequence[Case]) -> tuple[list[int], dict[str, list[int]]]:
    """Indexes of the single-step cases, and of each well-formed chain's steps in order.

    A chain is well formed when its steps are 0..n-1 and each step's old text is the previous
    step's new text; a malformed one is scored step by step, as single cases."""
    singles: list[int] = []
    chains: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        key = chain_key(case)
        if key is None:
            singles.append(i)
        else:
            chains[key[0]].append(i)
    good: dict[str, list[int]] = {}
    for chain, idx in chains.items():
        idx.sort(key=lambda i: int(cases[i].meta["step"]))
        steps = [int(cases[i].meta["step"]) for i in idx]
        linked = all(cases[a].new_text == cases[b].old_text for a, b in itertools.pairwise(idx))
        if steps == list(range(len(idx))) and linked:
            good[chain] = idx
        else:
            log.warning("chain %s is not a sequence of linked steps: scored as single cases", chain)
            singles.extend(idx)
    singles.sort()
    return singles, good


def score_chains(
    cases: Sequence[Case],
    chains: dict[str, list[int]],
    resolver: Resolver | None,
    th: Thresholds,
    tick: Callable[[int], None] | None = None,
    llm_concurrency: int = 1,
) -> tuple[dict[int, Prediction], float, int]:
    """Carry each chain's tag through its versions as a commit-by-commit re-pin does: the tag is a
    pin (magicmarkup.model.Tag), each version is placed from the pin's own anchor text, the status
    is the library's own rule (`pipeline.decide`: a status describes the change since a person
    placed the tag, and a tag that reappears after being lost is at most needs_review), and the
    pin then follows (`pipeline.repin`). {case index: prediction}, LLM seconds, queries.

    All chains advance one step together, so each step's unsure tags go to the LLM in one batch."""
    from magicmarkup.documents import text_hash
    from magicmarkup.model import Span, Tag
    from magicmarkup.pipeline import decide, pin_start, repin
    from magicmarkup.tags import make_anchor

    pins: dict[str, Tag] = {}
    texts: dict[str, str] = {}  # snapshot id -> text: what the pins are anchored in
    for chain, idx in chains.items():
        first = cases[idx[0]]
        sha = text_hash(first.old_text)
        texts[sha] = first.old_text
        anchor = make_anchor(first.old_text, first.old_start, first.old_end, first.language, sha)
        pins[chain] = Tag(path="doc", span=Span(start=first.old_start, end=first.old_end), anchor=anchor)
    out: dict[int, Prediction] = {}
    llm_seconds, llm_queries = 0.0, 0
    depth = max((len(v) for v in chains.values()), default=0)
    for k in range(depth):
        level = [(chain, idx[k]) for chain, idx in sorted(chains.items()) if k < len(idx)]
        jobs = []
        for chain, i in level:
            pin, case = pins[chain], cases[i]
            start = pin_start(pin)
            old = texts[pin.anchor.snapshot or ""]
            jobs.append(Job(old, case.new_text, [(start, start + len(pin.anchor.text))], case.language))
        run = _run_jobs(jobs, resolver, th, tick, llm_concurrency)
        llm_seconds += run.llm_seconds
        llm_queries += run.llm_queries
        for j, ((chain, i), placement, ms) in enumerate(zip(level, run.placements, run.ms, strict=True)):
            pin, case = pins[chain], cases[i]
            placed = decide(pin, placement, case.new_text)
            pred = _predict(case, placement, ms)
            if run.cheap is not None:
                _with_cheap(pred, case, run.cheap[j], decide(pin, run.cheap[j], case.new_text).status.value)
            pred.engine_status = pred.status
            pred.status, pred.confidence = placed.status.value, placed.confidence
            pred.chain, pred.step = chain, k
            placed_text = None if placed.start is None else case.new_text[placed.start : placed.end]
            tagged = cases[chains[chain][0]].old_piece
            pred.text_changed = None if placed_text is None else placed_text != tagged
            out[i] = pred
            sha = text_hash(case.new_text)
            texts[sha] = case.new_text
            repin(pin, placed, case.new_text, "doc", sha, f"step {k}")
    return out, llm_seconds, llm_queries


def score_suite(
    cases: Sequence[Case],
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
    llm_concurrency: int = 1,
) -> ScoreRun:
    """Score single-step cases on their own and chains sequentially; predictions in case order."""
    th = thresholds or Thresholds()
    t_start = time.perf_counter()
    singles, chains = split_chains(cases)
    tick = _counter(progress, len(cases))
    run = _run_jobs([_job(cases[i]) for i in singles], resolver, th, tick, llm_concurrency)
    preds: dict[int, Prediction] = {
        i: _predict(cases[i], p, ms) for i, p, ms in zip(singles, run.placements, run.ms, strict=True)
    }
    if run.cheap is not None:
        for i, q in zip(singles, run.cheap, strict=True):
            _with_cheap(preds[i], cases[i], q)
    chained, c_seconds, c_queries = score_chains(cases, chains, resolver, th, tick, llm_concurrency)
    preds.update(chained)
    return ScoreRun(
        [preds[i] for i in range(len(cases))],
        time.perf_counter() - t_start,
        run.llm_seconds + c_seconds,
        run.llm_queries + c_queries,
    )
