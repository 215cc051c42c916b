"""The scorer: runs the real cascade (the public `reanchor_many`) on benchmark cases and judges it.

A case is correct when the predicted span's text equals the expected text ignoring all whitespace
and the two spans overlap; a deleted case (expected null) is correct iff the tag was orphaned.
A prediction is the placement's span unless its status is `orphaned` (needs_review counts as the
cascade's best guess: that is what a user would see highlighted).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmark_gen.cases import Case
from magicmarkup import Job, Placement, Thresholds, reanchor_many
from magicmarkup.anchoring.types import LLMAnswer, LLMQuery, Resolver
from magicmarkup.model import Status

_WS = re.compile(r"\s+")

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

    def to_json(self) -> dict[str, object]:
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


def score_cases(
    cases: Sequence[Case],
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
    llm_concurrency: int = 1,
) -> ScoreRun:
    """Run the cascade on every case; one prediction per case, in order.

    Latency: each case's cheap stages run (and are timed) on their own. With a resolver, the
    cases the cheap stages were not sure about then go to `reanchor_many` together, so the LLM
    sees one batch and runs it concurrently; each of those cases is charged its cheap time plus
    its share of the batch's wall time (wall x concurrency / queries: one query's latency when
    `llm_concurrency` run at once)."""
    th = thresholds or Thresholds()
    t_start = time.perf_counter()
    placements: list[Placement] = []
    times: list[float] = []
    total = len(cases)
    for i, case in enumerate(cases):
        t0 = time.perf_counter()
        placement = reanchor_many([_job(case)], None, th)[0][0]
        times.append((time.perf_counter() - t0) * 1000.0)
        placements.append(placement)
        if progress is not None and (i % 16 == 15 or i + 1 == total):
            progress(i + 1, total)
    llm_seconds = 0.0
    llm_queries = 0
    if resolver is not None:
        # A superset of what the cascade will ask about: it asks only below the LLM threshold.
        unsure = [i for i, p in enumerate(placements) if p.confidence < th.llm]
        if unsure:
            timed = _TimedResolver(resolver)
            batch = reanchor_many([_job(cases[i]) for i in unsure], timed, th)
            llm_seconds, llm_queries = timed.seconds, timed.queries
            share = llm_seconds * 1000.0 * min(llm_concurrency, max(1, llm_queries)) / max(1, llm_queries)
            for i, result in zip(unsure, batch, strict=True):
                placements[i] = result[0]
                if result[0].llm_calls > 0 or result[0].llm_error is not None:
                    times[i] += share
    predictions = [_predict(c, p, ms) for c, p, ms in zip(cases, placements, times, strict=True)]
    return ScoreRun(predictions, time.perf_counter() - t_start, llm_seconds, llm_queries)
