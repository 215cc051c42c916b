"""Turning predictions into the numbers the issue asks for: a JSON summary, a rich table, a chart."""

from __future__ import annotations

import math
from collections import defaultdict
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


def _breakdown(keys: Sequence[str], preds: Sequence[Prediction]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for key, p in zip(keys, preds, strict=True):
        groups[key].append(p)
    return {
        name: {"n": len(g), "accuracy": round(sum(p.correct for p in g) / len(g), 4)}
        for name, g in sorted(groups.items())
    }


def summarize(cases: Sequence[Case], preds: Sequence[Prediction]) -> dict[str, Any]:
    """The `--json` object: exactly the keys of issue 4 (callers may add context keys)."""
    n = len(preds)
    deleted = [c.deleted for c in cases]
    orphaned = [p.start is None for p in preds]
    true_orphans = sum(1 for d, o in zip(deleted, orphaned, strict=True) if d and o)
    return {
        "n": n,
        "accuracy": round(sum(p.correct for p in preds) / n, 4) if n else 0.0,
        "exact_accuracy": round(sum(p.exact for p in preds) / n, 4) if n else 0.0,
        "iou": round(sum(p.iou for p in preds) / n, 4) if n else 0.0,
        "orphan_precision": _ratio(true_orphans, sum(orphaned)),
        "orphan_recall": _ratio(true_orphans, sum(deleted)),
        "llm_calls_per_case": round(sum(p.llm_calls for p in preds) / n, 4) if n else 0.0,
        "tokens_per_case": round(sum(p.llm_tokens for p in preds) / n, 2) if n else 0.0,
        "latency_ms": {
            "p50": round(percentile([p.ms for p in preds], 50), 3),
            "p95": round(percentile([p.ms for p in preds], 95), 3),
        },
        "by_category": _breakdown([c.category for c in cases], preds),
        "by_language": _breakdown([c.language or "none" for c in cases], preds),
        "failures": [p.id for p in preds if not p.correct],
    }


def collapse_combos(by_category: dict[str, dict[str, Any]], limit: int = 30) -> dict[str, dict[str, Any]]:
    """For display: with many categories, all `combo:...` ones become one row (the JSON keeps all)."""
    if len(by_category) <= limit:
        return by_category
    out = {k: v for k, v in by_category.items() if not k.startswith("combo:")}
    combos = [v for k, v in by_category.items() if k.startswith("combo:")]
    if combos:
        n = sum(v["n"] for v in combos)
        acc = sum(v["n"] * v["accuracy"] for v in combos) / n
        out[f"combo:* ({len(combos)} kinds)"] = {"n": n, "accuracy": round(acc, 4)}
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_summary(summary: dict[str, Any], console: Console, seconds: float, max_failures: int = 20) -> None:
    """The human view: headline numbers, then per-category and per-language tables."""
    head = Table(title="benchmark", box=None, show_header=False)
    head.add_column("metric", style="bold")
    head.add_column("value", justify="right")
    head.add_row("cases", str(summary["n"]))
    head.add_row("accuracy (text, ignoring whitespace)", _pct(summary["accuracy"]))
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
    for key, title in (("by_category", "category"), ("by_language", "language")):
        table = Table(title=f"accuracy by {title}", header_style="bold")
        table.add_column(title)
        table.add_column("n", justify="right")
        table.add_column("accuracy", justify="right")
        rows = sorted(collapse_combos(summary[key]).items(), key=lambda kv: kv[1]["accuracy"])
        for name, row in rows:
            acc = row["accuracy"]
            style = "red" if acc < 0.7 else "yellow" if acc < 0.9 else "green"
            table.add_row(name, str(row["n"]), f"[{style}]{_pct(acc)}[/]")
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
