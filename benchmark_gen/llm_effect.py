"""What the LLM stage adds: run benchmark cases with and without the model, side by side.

Only the cases the cascade is unsure about ever reach the model, so the effect on a whole suite
is exactly its effect on those: this script finds them (cheap stages only, fast), keeps a sample
(all the ones the cheap stages get wrong up to `--wrong`, plus `--right` they get right, to check
the model breaks none), and runs that sample through the real resolver.

    python -m benchmark_gen.llm_effect data/bench/mechanical.jsonl.gz --wrong 30 --right 20 --json

The verdict (one-token answers read from token probabilities, `magicmarkup.agent.resolver`) is
calibrated from the rows: run with `--question check` (or `choice`) and `--rows R`, then replay
every threshold without a model, `python -m benchmark_gen.llm_effect - --sweep R1 R2 ...` (misses
fixed, right answers broken, wrong answers made confident, right ones confirmed).

Correctness is the scorer's (`benchmark_gen.scorer.judge`): a needs_review guess counts as the
prediction; a deleted case is right iff orphaned.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmark_gen.cases import Case, iter_cases
from benchmark_gen.scorer import judge
from magicmarkup.agent import llm_session
from magicmarkup.agent.resolver import LLMResolver
from magicmarkup.anchoring import Job, Placement, Thresholds, reanchor_many
from magicmarkup.anchoring.cascade import cheap_placements
from magicmarkup.config import load_settings
from magicmarkup.model import Status
from magicmarkup.session import thresholds


def _job(case: Case) -> Job:
    return Job(case.old_text, case.new_text, [(case.old_start, case.old_end)], case.language)


def _correct(case: Case, p: Placement) -> bool:
    orphaned = p.status is Status.ORPHANED or p.start is None
    return judge(case, None if orphaned else p.start, None if orphaned else p.end, orphaned)[0]


def select(
    cases: list[Case], th: Thresholds, wrong: int, right: int, seed: int
) -> tuple[list[Case], list[Placement], dict[str, int]]:
    """The sample of uncertain cases, their cheap placements, and suite-level counts."""
    uncertain_wrong: list[tuple[Case, Placement]] = []
    uncertain_right: list[tuple[Case, Placement]] = []
    counts: Counter[str] = Counter()
    for case in cases:
        placements, pending = cheap_placements(_job(case), th)
        p = placements[0]
        ok = _correct(case, p)
        counts["cases"] += 1
        counts["cheap_correct"] += ok
        if pending:
            counts["uncertain"] += 1
            (uncertain_right if ok else uncertain_wrong).append((case, p))
    counts["uncertain_wrong"] = len(uncertain_wrong)
    counts["uncertain_right"] = len(uncertain_right)
    rng = random.Random(seed)
    rng.shuffle(uncertain_wrong)
    rng.shuffle(uncertain_right)
    picked = uncertain_wrong[:wrong] + uncertain_right[:right]
    return [c for c, _ in picked], [p for _, p in picked], dict(counts)


def run(
    path: Path,
    wrong: int,
    right: int,
    seed: int,
    limit: int | None,
    out: Path | None,
    question: str | None = None,
) -> dict[str, Any]:
    settings = load_settings(None)
    th = thresholds(settings)
    cases = list(iter_cases(path))
    if limit:
        cases = cases[:limit]
    began = time.perf_counter()
    sample, cheap, counts = select(cases, th, wrong, right, seed)
    select_seconds = time.perf_counter() - began
    print(
        f"{counts['cases']} cases: cheap correct {counts['cheap_correct']}, uncertain {counts['uncertain']} "
        f"({counts['uncertain_wrong']} wrong); sampled {len(sample)} ({select_seconds:.1f} s)",
        file=sys.stderr,
    )
    with llm_session(settings) as (resolver, note):
        print(note, file=sys.stderr)
        if resolver is None:
            raise SystemExit(f"no LLM: {note}")
        if question is not None and isinstance(resolver, LLMResolver):
            resolver.calibration = dataclasses.replace(
                resolver.calibration, verdict=True, verdict_question=question
            )
        t0 = time.perf_counter()
        with_llm = [r[0] for r in reanchor_many([_job(c) for c in sample], resolver, th)]
        wall = time.perf_counter() - t0
        stats = resolver.stats() if isinstance(resolver, LLMResolver) else {}
        trace = {t["key"]: t for t in resolver.trace} if isinstance(resolver, LLMResolver) else {}
    per_cat: dict[str, Counter[str]] = defaultdict(Counter)
    rows = []
    for i, (case, before, after) in enumerate(zip(sample, cheap, with_llm, strict=True)):
        a, b = _correct(case, before), _correct(case, after)
        for cat in ("all", case.category):
            c = per_cat[cat]
            c["n"] += 1
            c["without"] += a
            c["with"] += b
            c["fixed"] += b and not a
            c["broken"] += a and not b
            c["calls"] += after.llm_calls
            c["failed"] += after.llm_error is not None
            c["confident_wrong_without"] += (not a) and before.status in (
                Status.MOVED,
                Status.CHANGED,
                Status.ANCHORED,
            )
            c["confident_wrong_with"] += (not b) and after.status in (
                Status.MOVED,
                Status.CHANGED,
                Status.ANCHORED,
            )
        rows.append(
            {
                "id": case.id,
                "category": case.category,
                "deleted": case.deleted,
                "without": {"correct": a, "status": before.status.value, "span": [before.start, before.end]},
                "with": {
                    "correct": b,
                    "status": after.status.value,
                    "span": [after.start, after.end],
                    "method": after.method,
                    "confidence": after.confidence,
                    "calls": after.llm_calls,
                    "tokens": after.llm_tokens,
                    "error": after.llm_error,
                },
                "expected": [case.expected_start, case.expected_end],
                "trace": trace.get(i),
                "options_correct": _options_correct(case, trace.get(i)),
            }
        )
    calls = int(stats.get("calls", 0) or 0)  # type: ignore[call-overload]
    result = {
        "suite": str(path),
        "model": note,
        "suite_counts": counts,
        "sample": len(sample),
        "per_category": {k: dict(v) for k, v in sorted(per_cat.items())},
        "llm": stats,
        "llm_calls_per_suite_case": round(
            calls / max(1, len(sample)) * counts["uncertain"] / max(1, counts["cases"]), 4
        ),
        "seconds_per_call": round(float(stats.get("seconds", 0.0)) / max(1, calls), 2),  # type: ignore[arg-type]
        "wall_seconds": round(wall, 1),
    }
    if out is not None:
        out.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return result


def _options_correct(case: Case, trace: dict[str, Any] | None) -> dict[str, bool] | None:
    """For a verdict: which of the options shown was right ("-1" is "none": right iff deleted)."""
    if not trace or trace.get("prompt") != "verdict":
        return None
    out = {str(i): judge(case, s, e, False)[0] for i, (s, e, _sim, _best) in enumerate(trace["shown"])}
    out["-1"] = judge(case, None, None, True)[0]
    return out


def verdict_effect(
    row: dict[str, Any], confirm: float, switch: float, place: float, none: float
) -> tuple[bool, bool]:
    """(correct, confident) of a verdict row under these thresholds (`resolver.decide_verdict`'s
    rule, replayed from the recorded probabilities: no model call)."""
    t, ok = row["trace"], row["options_correct"]
    keep = (bool(row["without"]["correct"]), False)
    avg = {int(k): float(v) for k, v in t["avg"].items()}
    pick = max(avg, key=lambda o: avg[o])
    p = avg[pick]
    if not t["agree"]:
        return keep
    if pick == -1:
        return (ok["-1"], True) if p >= none else keep
    is_best = bool(t["shown"][pick][3])
    if is_best:
        return (ok[str(pick)], True) if p >= confirm else keep
    if p >= place:
        return ok[str(pick)], True
    if p >= switch:
        return ok[str(pick)], False
    return keep


GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01)


def sweep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each threshold alone (the others off): misses fixed, right answers broken, and wrong
    answers made confident (silent misplacements) or right ones made confident (review saved)."""
    vrows = [r for r in rows if r.get("options_correct")]
    out = []
    for kind in ("confirm", "switch", "place", "none"):
        for th in GRID:
            kw = {"confirm": 1.01, "switch": 1.01, "place": 1.01, "none": 1.01, kind: th}
            c: Counter[str] = Counter()
            for r in vrows:
                before = bool(r["without"]["correct"])
                after, confident = verdict_effect(r, **kw)
                c["fixed"] += after and not before
                c["broken"] += before and not after
                c["silent"] += confident and not after
                c["confirmed_right"] += confident and after
            out.append({"kind": kind, "threshold": th, "asked": len(vrows), **c})
    return out


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['suite']}  ({result['model']})")
    print(f"suite: {result['suite_counts']}")
    print(
        f"{'category':<28}{'n':>4}{'without':>9}{'with':>6}{'fixed':>7}{'broken':>8}{'calls':>7}{'failed':>8}"
    )
    for cat, c in result["per_category"].items():
        print(
            f"{cat:<28}{c['n']:>4}{c['without']:>9}{c['with']:>6}{c['fixed']:>7}{c['broken']:>8}"
            f"{c['calls']:>7}{c['failed']:>8}"
        )
    llm = result["llm"]
    print(
        f"LLM: {llm.get('calls')} calls, {llm.get('tokens')} tokens, {llm.get('cache_hits')} cache hits, "
        f"{llm.get('failures')} failures; {result['seconds_per_call']} s per call; wall {result['wall_seconds']} s; "
        f"calls per suite case ~{result['llm_calls_per_suite_case']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_gen.llm_effect", description=__doc__.split("\n")[0]
    )
    parser.add_argument("suite", type=Path)
    parser.add_argument("--wrong", type=int, default=30, help="uncertain cases the cheap stages get wrong")
    parser.add_argument("--right", type=int, default=20, help="uncertain cases the cheap stages get right")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases of the suite")
    parser.add_argument("--rows", type=Path, default=None, help="write per-case rows (JSONL) here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--question", choices=("choice", "check"), default=None, help="the verdict's question"
    )
    parser.add_argument(
        "--sweep",
        type=Path,
        nargs="*",
        default=None,
        help="no model: replay the verdict thresholds over these --rows files (the suite argument is ignored)",
    )
    ns = parser.parse_args(argv)
    if ns.sweep is not None:
        rows = [
            json.loads(line) for f in ns.sweep for line in f.read_text(encoding="utf-8").splitlines() if line
        ]
        for item in sweep(rows):
            print(json.dumps(item))
        return 0
    result = run(ns.suite, ns.wrong, ns.right, ns.seed, ns.limit, ns.rows, ns.question)
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
