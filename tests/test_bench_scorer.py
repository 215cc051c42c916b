"""The scorer's judgement and metrics, on hand-made cases run through the real cascade."""

from __future__ import annotations

import pytest

from benchmark_gen.cases import Case
from benchmark_gen.report import percentile, summarize
from benchmark_gen.scorer import Prediction, judge, score_cases
from magicmarkup.agent.resolver import LLMResolver

OLD = """def price(qty, unit):
    total = qty * unit
    if total > 100:
        total = total * 0.9
    return round(total, 2)


def label(name):
    return name.strip().title()
"""


def _case(cid: str, new: str, piece: str, expected: str | None, category: str, nth: int = 0) -> Case:
    start = OLD.index(piece)
    if expected is None:
        es = ee = None
    else:
        es = -1
        for _ in range(nth + 1):
            es = new.index(expected, es + 1)
        ee = es + len(expected)
    return Case(
        id=cid,
        old_text=OLD,
        old_start=start,
        old_end=start + len(piece),
        new_text=new,
        expected_start=es,
        expected_end=ee,
        language="python",
        meta={"category": category},
    )


def hand_made() -> list[Case]:
    moved = "import math\n\n\n" + OLD
    reformatted = OLD.replace("round(total, 2)", "round(total,\n                 2)")
    deleted = OLD.replace("    if total > 100:\n        total = total * 0.9\n", "")
    return [
        _case("same", OLD, "qty * unit", "qty * unit", "unchanged"),
        _case("moved", moved, "name.strip().title()", "name.strip().title()", "insert_above"),
        _case("ws", reformatted, "round(total, 2)", "round(total,\n                 2)", "reformat"),
        _case("deleted", deleted, "total = total * 0.9", None, "delete"),
        # A deliberately wrong answer key: the cascade (rightly) finds the unchanged call,
        # so this case must be scored as a failure.
        _case("wrong-key", OLD, "name.strip()", "def label", "insert_above"),
    ]


def test_judge_rules() -> None:
    case = _case("x", OLD, "qty * unit", "qty * unit", "c")
    es, ee = case.expected_start, case.expected_end
    assert es is not None and ee is not None
    assert judge(case, es, ee, False) == (True, True, 1.0)
    # Same text ignoring whitespace but a different (non-overlapping) place: wrong.
    assert judge(case, 0, 3, False)[0] is False
    # Overlapping but with extra code: not correct, partial IoU (trailing whitespace alone would be fine).
    correct, exact, iou = judge(case, es, ee + 10, False)
    assert not correct and not exact and 0 < iou < 1
    assert judge(case, None, None, True) == (False, False, 0.0)
    gone = _case("g", OLD, "qty * unit", None, "delete")
    assert judge(gone, None, None, True) == (True, True, 1.0)
    assert judge(gone, 5, 9, False) == (False, False, 0.0)


def test_scores_hand_made_cases_with_the_real_cascade() -> None:
    cases = hand_made()
    done: list[tuple[int, int]] = []
    run = score_cases(cases, progress=lambda d, t: done.append((d, t)))
    preds = {p.id: p for p in run.predictions}
    assert done[-1] == (5, 5)
    assert preds["same"].correct and preds["same"].exact and preds["same"].method == "diff"
    assert preds["moved"].correct and preds["moved"].exact
    assert preds["ws"].correct
    assert preds["deleted"].status == "orphaned" and preds["deleted"].start is None
    assert preds["deleted"].correct
    assert not preds["wrong-key"].correct
    assert all(p.ms > 0 and p.llm_calls == 0 for p in run.predictions)

    summary = summarize(cases, run.predictions)
    assert summary["n"] == 5
    assert summary["accuracy"] == pytest.approx(0.8)
    assert summary["failures"] == ["wrong-key"]
    assert summary["orphan_precision"] == 1.0 and summary["orphan_recall"] == 1.0
    # The wrong-key case is placed confidently on the (rightly) found call: a silent misplacement.
    assert summary["by_category"]["insert_above"] == {
        "n": 2,
        "accuracy": 0.5,
        "silent": 1,
        "silent_per_1000": 500.0,
    }
    assert summary["by_language"] == {
        "python": {"n": 5, "accuracy": 0.8, "silent": 1, "silent_per_1000": 200.0}
    }
    assert summary["silent"] == 1 and summary["silent_per_1000"] == 200.0
    assert summary["latency_ms"]["p95"] >= summary["latency_ms"]["p50"] > 0
    assert summary["llm_calls_per_case"] == 0 and summary["tokens_per_case"] == 0


def _pred(cid: str, orphaned: bool, correct: bool, ms: float = 1.0, calls: int = 0) -> Prediction:
    return Prediction(
        cid,
        None if orphaned else 0,
        None if orphaned else 1,
        "orphaned" if orphaned else "moved",
        0.5,
        "x",
        calls,
        10 * calls,
        ms,
        correct,
        correct,
        1.0 if correct else 0.0,
    )


def test_orphan_precision_recall_and_llm_means() -> None:
    base = hand_made()[0]
    deleted = base.model_copy(update={"expected_start": None, "expected_end": None})
    cases = [deleted, deleted, deleted, base, base]
    preds = [
        _pred("a", True, True),  # true orphan
        _pred("b", True, True),  # true orphan
        _pred("c", False, False),  # missed orphan
        _pred("d", True, False, calls=2),  # false orphan
        _pred("e", False, True, ms=9.0, calls=1),
    ]
    s = summarize(cases, preds)
    assert s["orphan_precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["orphan_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["llm_calls_per_case"] == pytest.approx(0.6)
    assert s["tokens_per_case"] == pytest.approx(6.0)
    assert s["accuracy"] == pytest.approx(0.6)
    assert set(s) >= {
        "n",
        "accuracy",
        "exact_accuracy",
        "iou",
        "orphan_precision",
        "orphan_recall",
        "llm_calls_per_case",
        "tokens_per_case",
        "latency_ms",
        "by_category",
        "by_language",
        "failures",
    }


def test_no_deleted_cases_means_no_orphan_recall() -> None:
    base = hand_made()[0]
    s = summarize([base], [_pred("a", False, True)])
    assert s["orphan_recall"] is None and s["orphan_precision"] is None


def test_percentile() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([5.0], 95) == 5.0


def _uncertain_and_sure(n_each: int, askable: bool = False) -> list[Case]:
    """Cases the cheap stages are unsure about (they reach a model), and sure ones: from the
    real-history suite, or (`askable`) review guesses the default policy would put to the model
    (few: the first two are early in the mechanical suite)."""
    from benchmark_gen.cases import iter_cases
    from magicmarkup.agent.resolver import Calibration, worth_asking
    from magicmarkup.anchoring import Job, Thresholds
    from magicmarkup.anchoring.cascade import cheap_placements
    from magicmarkup.anchoring.types import LLMQuery

    unsure: list[Case] = []
    sure: list[Case] = []
    suite = "data/bench/mechanical.jsonl.gz" if askable else "data/bench/real_history.jsonl.gz"
    for case in iter_cases(suite):
        if case.meta.get("chain") is not None:
            continue
        job = Job(case.old_text, case.new_text, [(case.old_start, case.old_end)], case.language)
        placements, pending = cheap_placements(job, Thresholds())
        if askable and pending:
            queries = [
                LLMQuery(
                    0,
                    case.old_text,
                    case.new_text,
                    case.old_start,
                    case.old_end,
                    tuple(c),
                    None,
                    placements[k],
                )
                for k, c, _ in pending
            ]
            if not any(worth_asking(q, Calibration()) for q in queries):
                continue
        (unsure if pending else sure).append(case)
        if len(unsure) >= n_each and len(sure) >= n_each:
            break
    return unsure[:n_each] + sure[:n_each]


def _score_with_fault_server(
    cases: list[Case], choice: int, policy_full: bool
) -> tuple[list[Prediction], LLMResolver]:
    """Score `cases` with a real local HTTP server standing in for the model, answering every
    question with `choice`; `policy_full`: the answer may move, orphan and flag tags."""
    from magicmarkup.agent import Endpoint, chat_endpoint
    from magicmarkup.agent.resolver import Calibration, LLMResolver
    from magicmarkup.config import Settings
    from tests.llm_fault_server import FaultServer

    with FaultServer(choice=choice) as srv:
        settings = Settings.model_validate(
            {"base_url": srv.base_url, "model": "fault-model", "retries": 0, "llm_cache": False}
        )
        with chat_endpoint(settings) as endpoint:
            assert isinstance(endpoint, Endpoint)
            cal = Calibration(review=settings.review_threshold, may_move=policy_full, may_flag=policy_full)
            resolver = LLMResolver(endpoint, settings, None, calibration=cal, backoff=0.01)
            return score_cases(cases, resolver).predictions, resolver


@pytest.mark.parametrize("choice", [0, 1])
def test_llm_effect_is_measured_against_a_cheap_only_run(choice: int) -> None:
    """With a model, each prediction carries what the cheap stages alone would have answered, and
    the summary's fixed/broken/silent figures equal the difference from a separate --no-llm run.
    Policy "full", so that both fixed and broken answers can occur and their accounting is checked."""
    cases = _uncertain_and_sure(6)
    alone = score_cases(cases).predictions
    with_llm, _resolver = _score_with_fault_server(cases, choice, policy_full=True)
    assert [p.cheap_correct for p in with_llm] == [p.correct for p in alone]
    effect = summarize(cases, with_llm)["llm_effect"]
    assert effect["asked"] == sum(p.llm_calls > 0 or p.llm_error is not None for p in with_llm) > 0
    assert effect["fixed"] == sum(b.correct and not a.correct for a, b in zip(alone, with_llm, strict=True))
    assert effect["broken"] == sum(a.correct and not b.correct for a, b in zip(alone, with_llm, strict=True))
    assert effect["silent_without"] == sum(p.silent for p in alone)
    assert effect["silent_with"] == sum(p.silent for p in with_llm)
    assert "llm_effect" not in summarize(cases, alone)


@pytest.mark.parametrize("choice", [0, 1, 2])
def test_by_default_no_answer_of_the_model_moves_or_orphans_a_tag(choice: int) -> None:
    """Policy "confirm" (the default): whatever the model answers ("none", the first or the second
    candidate), every tag stays where the cheap stages put it, so the model breaks no right
    answer; at most a review guess it confirms becomes placed."""
    cases = _uncertain_and_sure(2, askable=True)
    alone = score_cases(cases).predictions
    with_llm, resolver = _score_with_fault_server(cases, choice, policy_full=False)
    assert resolver.queries > 0 and resolver.counters.calls > 0  # review guesses were put to it
    assert [(p.start, p.end) for p in with_llm] == [(p.start, p.end) for p in alone]
    assert summarize(cases, with_llm)["llm_effect"]["broken"] == 0
    for a, b in zip(alone, with_llm, strict=True):
        assert b.status == a.status or (a.status == "needs_review" and b.status in ("changed", "moved"))
