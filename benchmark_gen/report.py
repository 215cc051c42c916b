"""Turning predictions into the numbers the issue asks for: a JSON summary, a rich table, a chart."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmark_gen.cases import Case
from benchmark_gen.scorer import Prediction


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank-with-interpolation percentile (q in [0, 100]); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _per_1000(count: int, n: int) -> float:
    return round(1000.0 * count / n, 2) if n else 0.0


def _row(g: Sequence[Prediction]) -> dict[str, Any]:
    silent = sum(p.silent for p in g)
    return {
        "n": len(g),
        "accuracy": round(sum(p.correct for p in g) / len(g), 4),
        "silent": silent,
        "silent_per_1000": _per_1000(silent, len(g)),
    }


def _breakdown(keys: Sequence[str], preds: Sequence[Prediction]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for key, p in zip(keys, preds, strict=True):
        groups[key].append(p)
    return {name: _row(g) for name, g in sorted(groups.items())}


def reliability(preds: Sequence[Prediction], bins: int = 10) -> list[dict[str, Any]]:
    """Confidence buckets of the *placed* answers (orphans make no claim about a place) against the
    observed precision in each: a calibrated engine is right 90 % of the time it says 0.9."""
    buckets: list[list[Prediction]] = [[] for _ in range(bins)]
    for p in preds:
        if p.placed:
            buckets[min(bins - 1, max(0, int(p.confidence * bins)))].append(p)
    rows = []
    for b, group in enumerate(buckets):
        if not group:
            continue
        rows.append(
            {
                "bucket": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                "n": len(group),
                "mean_confidence": round(sum(p.confidence for p in group) / len(group), 4),
                "precision": round(sum(p.correct for p in group) / len(group), 4),
            }
        )
    return rows


def expected_calibration_error(preds: Sequence[Prediction], bins: int = 10) -> float | None:
    """ECE over the placed answers: sum over buckets of (share of answers) x |precision - mean confidence|.
    None when nothing was placed."""
    placed = [p for p in preds if p.placed]
    if not placed:
        return None
    total = 0.0
    for b in range(bins):
        group = [p for p in placed if min(bins - 1, max(0, int(p.confidence * bins))) == b]
        if group:
            acc = sum(p.correct for p in group) / len(group)
            conf = sum(p.confidence for p in group) / len(group)
            total += len(group) / len(placed) * abs(acc - conf)
    return round(total, 4)


def chain_summary(preds: Sequence[Prediction]) -> dict[str, Any] | None:
    """Chains scored sequentially: accuracy per step, tags whose text changed yet are `anchored`."""
    steps = [p for p in preds if p.chain is not None]
    if not steps:
        return None
    by_chain: dict[str, list[Prediction]] = defaultdict(list)
    for p in steps:
        by_chain[str(p.chain)].append(p)
    last = [max(g, key=lambda p: p.step or 0) for g in by_chain.values()]
    lying = [p for p in steps if p.text_changed and p.status == "anchored"]
    engine_lying = [p for p in steps if p.text_changed and p.engine_status == "anchored"]
    silent = sum(p.silent for p in steps)
    return {
        "chains": len(by_chain),
        "steps": len(steps),
        "step_accuracy": round(sum(p.correct for p in steps) / len(steps), 4),
        "final_accuracy": round(sum(p.correct for p in last) / len(last), 4),
        "chains_all_correct": sum(all(p.correct for p in g) for g in by_chain.values()),
        "silent": silent,
        "silent_per_1000": _per_1000(silent, len(steps)),
        "changed_but_anchored": len(lying),
        "changed_but_anchored_chains": len({p.chain for p in lying}),
        "engine_changed_but_anchored": len(engine_lying),
        "statuses": dict(sorted(Counter(p.status for p in steps).items())),
    }


def llm_effect(keys: Sequence[str], preds: Sequence[Prediction]) -> dict[str, Any] | None:
    """What the model changed against the cheap stages alone, case by case in the same run
    (None when no model was used): misses fixed, right answers broken, silent misplacements
    with and without it; overall and per category (categories the model touched)."""
    if not any(p.cheap_correct is not None for p in preds):
        return None

    def count(g: Sequence[Prediction]) -> dict[str, int]:
        return {
            "asked": sum(p.llm_asked for p in g),
            "fixed": sum(bool(p.correct and p.cheap_correct is False) for p in g),
            "broken": sum(bool(p.cheap_correct and not p.correct) for p in g),
            "silent_without": sum(bool(p.cheap_silent) for p in g),
            "silent_with": sum(p.silent for p in g),
        }

    groups: dict[str, list[Prediction]] = defaultdict(list)
    for key, p in zip(keys, preds, strict=True):
        groups[key].append(p)
    by_category = {k: count(g) for k, g in sorted(groups.items())}
    return {
        **count(preds),
        "by_category": {
            k: v for k, v in by_category.items() if v["asked"] or v["silent_without"] != v["silent_with"]
        },
    }


def _honesty(preds: Sequence[Prediction]) -> dict[str, Any]:
    n = len(preds)
    silent = sum(p.silent for p in preds)
    review = [p for p in preds if p.status == "needs_review" and p.placed]
    return {
        "silent": silent,
        "silent_per_1000": _per_1000(silent, n),
        "needs_review": {
            "n": len(review),
            "right": sum(p.correct for p in review),
            "wrong": sum(not p.correct for p in review),
        },
        "ece": expected_calibration_error(preds),
    }


def summarize(
    cases: Sequence[Case], preds: Sequence[Prediction], suites: Sequence[str] | None = None
) -> dict[str, Any]:
    """The `--json` object: issue 4's keys, the honesty figures (silent misplacements, needs_review
    split, reliability and ECE), chains when there are any, and per suite when `suites` names each
    case's file."""
    n = len(preds)
    deleted = [c.deleted for c in cases]
    orphaned = [p.start is None for p in preds]
    true_orphans = sum(1 for d, o in zip(deleted, orphaned, strict=True) if d and o)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": round(sum(p.correct for p in preds) / n, 4) if n else 0.0,
        "exact_accuracy": round(sum(p.exact for p in preds) / n, 4) if n else 0.0,
        "iou": round(sum(p.iou for p in preds) / n, 4) if n else 0.0,
        **_honesty(preds),
        "orphan_precision": _ratio(true_orphans, sum(orphaned)),
        "orphan_recall": _ratio(true_orphans, sum(deleted)),
        "llm_calls_per_case": round(sum(p.llm_calls for p in preds) / n, 4) if n else 0.0,
        "tokens_per_case": round(sum(p.llm_tokens for p in preds) / n, 2) if n else 0.0,
        "latency_ms": {
            "p50": round(percentile([p.ms for p in preds], 50), 3),
            "p95": round(percentile([p.ms for p in preds], 95), 3),
        },
        "reliability": reliability(preds),
        "by_category": _breakdown([c.category for c in cases], preds),
        "by_language": _breakdown([c.language or "none" for c in cases], preds),
        "failures": [p.id for p in preds if not p.correct],
    }
    chains = chain_summary(preds)
    if chains is not None:
        out["chains"] = chains
    effect = llm_effect([c.category for c in cases], preds)
    if effect is not None:
        out["llm_effect"] = effect
    if suites is not None:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(suites):
            groups[name].append(i)
        out["by_suite"] = {}
        for name, idx in groups.items():
            g = [preds[i] for i in idx]
            out["by_suite"][name] = {
                **_row(g),
                "ece": expected_calibration_error(g),
                "needs_review": _honesty(g)["needs_review"],
                "by_category": _breakdown([cases[i].category for i in idx], g),
            }
            sub = chain_summary(g)
            if sub is not None:
                out["by_suite"][name]["chains"] = sub
            sub_effect = llm_effect([cases[i].category for i in idx], g)
            if sub_effect is not None:
                out["by_suite"][name]["llm_effect"] = sub_effect
    return out


def collapse_combos(by_category: dict[str, dict[str, Any]], limit: int = 30) -> dict[str, dict[str, Any]]:
    """For display: with many categories, all `combo:...` ones become one row (the JSON keeps all)."""
    if len(by_category) <= limit:
        return by_category
    out = {k: v for k, v in by_category.items() if not k.startswith("combo:")}
    combos = [v for k, v in by_category.items() if k.startswith("combo:")]
    if combos:
        n = sum(v["n"] for v in combos)
        acc = sum(v["n"] * v["accuracy"] for v in combos) / n
        silent = sum(v.get("silent", 0) for v in combos)
        out[f"combo:* ({len(combos)} kinds)"] = {
            "n": n,
            "accuracy": round(acc, 4),
            "silent": silent,
            "silent_per_1000": _per_1000(silent, n),
        }
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _silent_cell(row: dict[str, Any]) -> str:
    silent = row.get("silent", 0)
    style = "green" if silent == 0 else "red"
    return f"[{style}]{silent}[/] ({row.get('silent_per_1000', 0.0):.1f}‰)"


def print_summary(summary: dict[str, Any], console: Console, seconds: float, max_failures: int = 20) -> None:
    """The human view: headline numbers (accuracy beside silent misplacements), the reliability
    table, then per-suite, per-category and per-language tables, and chains."""
    head = Table(title="benchmark", box=None, show_header=False)
    head.add_column("metric", style="bold")
    head.add_column("value", justify="right")
    head.add_row("cases", str(summary["n"]))
    head.add_row("accuracy (text, ignoring whitespace)", _pct(summary["accuracy"]))
    head.add_row(
        "silent misplacements (wrong, yet anchored/moved/changed)",
        f"{summary['silent']} = {summary['silent_per_1000']:.1f} per 1,000 cases",
    )
    ece = summary["ece"]
    head.add_row("expected calibration error (placed answers)", "-" if ece is None else f"{ece:.3f}")
    review = summary["needs_review"]
    head.add_row("needs_review: right guess / wrong guess", f"{review['right']} / {review['wrong']}")
    head.add_row("exact-offset accuracy", _pct(summary["exact_accuracy"]))
    head.add_row("mean character IoU", f"{summary['iou']:.3f}")
    head.add_row(
        "orphan precision / recall", f"{_pct(summary['orphan_precision'])} / {_pct(summary['orphan_recall'])}"
    )
    head.add_row(
        "latency p50 / p95", f"{summary['latency_ms']['p50']:.2f} / {summary['latency_ms']['p95']:.2f} ms"
    )
    head.add_row(
        "LLM calls / tokens per case",
        f"{summary['llm_calls_per_case']:.3f} / {summary['tokens_per_case']:.1f}",
    )
    head.add_row("wall time", f"{seconds:.1f} s")
    console.print(head)

    rel = Table(title="reliability: confidence vs observed precision (placed answers)", header_style="bold")
    for col in ("confidence", "n", "mean confidence", "precision", "gap"):
        rel.add_column(col, justify="right")
    for row in summary["reliability"]:
        gap = row["precision"] - row["mean_confidence"]
        style = "green" if abs(gap) < 0.05 else "yellow" if abs(gap) < 0.15 else "red"
        rel.add_row(
            row["bucket"],
            str(row["n"]),
            f"{row['mean_confidence']:.3f}",
            _pct(row["precision"]),
            f"[{style}]{100 * gap:+.1f}[/]",
        )
    console.print(rel)

    suites = summary.get("by_suite")
    if suites:
        table = Table(title="by suite file", header_style="bold")
        table.add_column("suite", no_wrap=True)
        table.add_column("n", justify="right")
        table.add_column("accuracy", justify="right")
        table.add_column("silent", justify="right")
        table.add_column("ECE", justify="right")
        table.add_column("review right/wrong", justify="right")
        for name, row in suites.items():
            e = row["ece"]
            nr = row["needs_review"]
            table.add_row(
                name.removesuffix(".gz").removesuffix(".jsonl"),
                str(row["n"]),
                _pct(row["accuracy"]),
                _silent_cell(row),
                "-" if e is None else f"{e:.3f}",
                f"{nr['right']}/{nr['wrong']}",
            )
        console.print(table)

    for key, title in (("by_category", "category"), ("by_language", "language")):
        table = Table(title=f"accuracy by {title}", header_style="bold")
        table.add_column(title)
        table.add_column("n", justify="right")
        table.add_column("accuracy", justify="right")
        table.add_column("silent", justify="right")
        rows = sorted(collapse_combos(summary[key]).items(), key=lambda kv: kv[1]["accuracy"])
        for name, row in rows:
            acc = row["accuracy"]
            style = "red" if acc < 0.7 else "yellow" if acc < 0.9 else "green"
            table.add_row(name, str(row["n"]), f"[{style}]{_pct(acc)}[/]", _silent_cell(row))
        console.print(table)

    chains = summary.get("chains")
    if chains:
        table = Table(title="chains (each step starts from the engine's own previous placement)", box=None)
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        table.add_row("chains / steps", f"{chains['chains']} / {chains['steps']}")
        table.add_row(
            "step accuracy / final-step accuracy",
            f"{_pct(chains['step_accuracy'])} / {_pct(chains['final_accuracy'])}",
        )
        table.add_row("chains right at every step", str(chains["chains_all_correct"]))
        table.add_row("silent misplacements", _silent_cell(chains))
        table.add_row(
            "text differs from the tagged text yet `anchored` (the library's status; must be 0)",
            str(chains["changed_but_anchored"]),
        )
        table.add_row(
            "… the same with the engine's per-step status", str(chains["engine_changed_but_anchored"])
        )
        table.add_row("statuses", ", ".join(f"{k} {v}" for k, v in chains["statuses"].items()))
        console.print(table)

    effect = summary.get("llm_effect")
    if effect:
        table = Table(
            title="the LLM's effect (against the cheap stages alone, same cases, same run)",
            header_style="bold",
        )
        for col in ("where", "asked", "fixed", "broken", "silent without", "silent with"):
            table.add_column(col, justify="right" if col != "where" else "left")
        rows = [("all", effect)]
        rows += [(f"  {name}", row.get("llm_effect")) for name, row in (suites or {}).items()]
        rows += [(f"  {cat}", row) for cat, row in effect["by_category"].items()]
        for name, row in rows:
            if row:
                table.add_row(
                    name,
                    str(row["asked"]),
                    str(row["fixed"]),
                    f"[{'red' if row['broken'] else 'green'}]{row['broken']}[/]",
                    str(row["silent_without"]),
                    str(row["silent_with"]),
                )
        console.print(table)

    failures = summary["failures"]
    if failures:
        shown = ", ".join(failures[:max_failures])
        more = (
            f" … and {len(failures) - max_failures} more (use --json)" if len(failures) > max_failures else ""
        )
        console.print(f"[bold]{len(failures)} failing cases:[/] {shown}{more}", highlight=False)


def plot(summary: dict[str, Any], preds: Sequence[Prediction], out: Path) -> None:
    """A PNG with accuracy per category (bars) and the per-case latency distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = sorted(collapse_combos(summary["by_category"]).items(), key=lambda kv: kv[1]["accuracy"])
    height = max(4.0, 0.28 * len(cats) + 1.5)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, height), gridspec_kw={"width_ratios": [3, 2]})
    names = [f"{name} (n={row['n']})" for name, row in cats]
    values = [100 * row["accuracy"] for _, row in cats]
    colors = ["#c0392b" if v < 70 else "#e6a23c" if v < 90 else "#2e8b57" for v in values]
    ax1.barh(names, values, color=colors)
    ax1.set_xlim(0, 100)
    ax1.set_xlabel("accuracy (%)")
    ax1.set_title(f"accuracy by category (overall {100 * summary['accuracy']:.1f}%, n={summary['n']})")
    ax1.tick_params(axis="y", labelsize=7)
    ms = [max(p.ms, 1e-3) for p in preds]
    if ms:
        lo, hi = min(ms), max(ms)
        bins = [lo * (hi / lo) ** (i / 40) for i in range(41)] if hi > lo else 10
        ax2.hist(ms, bins=bins, color="#4a7ab5")
        ax2.set_xscale("log")
    lat = summary["latency_ms"]
    ax2.axvline(lat["p50"], color="black", linestyle="--", label=f"p50 {lat['p50']:.2f} ms")
    ax2.axvline(lat["p95"], color="red", linestyle=":", label=f"p95 {lat['p95']:.2f} ms")
    ax2.set_xlabel("latency per case (ms, log scale)")
    ax2.set_ylabel("cases")
    ax2.set_title("latency distribution")
    ax2.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
