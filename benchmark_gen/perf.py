"""Speed benchmarks of the re-anchoring engine (`magicmarkup bench perf`).

Prints figures, never asserts them: medians of several runs, and ratios against a naive
character-level `difflib.SequenceMatcher` mapping run in the same process on the same inputs.
Inputs are real code (the Python standard library), edited by a seeded script.
"""

from __future__ import annotations

import argparse
import difflib
import json
import multiprocessing
import random
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from magicmarkup.anchoring import Thresholds, reanchor


def stdlib_text(lines: int, seed: int = 0) -> str:
    """At least `lines` lines of real Python, concatenated from standard-library modules."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size < 200_000)
    random.Random(seed).shuffle(files)
    out: list[str] = []
    for file in files:
        try:
            out.extend(file.read_text(encoding="utf-8").splitlines(keepends=True))
        except UnicodeDecodeError:
            continue
        if len(out) >= lines:
            break
    return "".join(out[:lines])


def scattered_edits(text: str, every: int, seed: int) -> str:
    """Every `every` lines on average: insert a line, delete a line, or change a word."""
    rng = random.Random(seed)
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    for line in lines:
        roll = rng.random() * every
        if roll < 1 / 3:
            out.append("    # inserted by the benchmark\n")
            out.append(line)
        elif roll < 2 / 3:
            continue
        elif roll < 1:
            words = line.split(" ")
            k = rng.randrange(len(words))
            words[k] = words[k] + "_x"
            out.append(" ".join(words))
        else:
            out.append(line)
    return "".join(out)


def random_spans(text: str, n: int, seed: int, max_len: int = 60) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    spans: list[tuple[int, int]] = []
    while len(spans) < n:
        start = rng.randrange(len(text) - 1)
        end = min(len(text), start + rng.randint(3, max_len))
        if text[start:end].strip():
            spans.append((start, end))
    return spans


def median_time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def naive_map(old: str, new: str, spans: list[tuple[int, int]]) -> list[tuple[int, int] | None]:
    """The naive baseline: one character-level SequenceMatcher over the whole documents."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    blocks = matcher.get_matching_blocks()
    out: list[tuple[int, int] | None] = []
    for s, e in spans:
        hit = None
        for a, b, size in blocks:
            if a <= s and e <= a + size:
                hit = (b + s - a, b + e - a)
                break
        out.append(hit)
    return out


def _naive_worker(old: str, new: str, spans: list[tuple[int, int]], queue: Any) -> None:
    t0 = time.perf_counter()
    naive_map(old, new, spans)
    queue.put(time.perf_counter() - t0)


def naive_time(old: str, new: str, spans: list[tuple[int, int]], timeout: float) -> float | None:
    """Seconds the naive mapping takes, or None if it did not finish within `timeout`."""
    queue: Any = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_naive_worker, args=(old, new, spans, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None
    return float(queue.get())


def bench_many_tags(lines: int, tags: int, runs: int, naive_timeout: float) -> dict[str, Any]:
    old = stdlib_text(lines)
    new = scattered_edits(old, every=50, seed=1)
    spans = random_spans(old, tags, seed=2)
    seconds, placements = median_time(lambda: reanchor(old, new, spans, language="python"), runs)
    by_method: dict[str, int] = {}
    for p in placements:
        by_method[p.method.split("+")[0]] = by_method.get(p.method.split("+")[0], 0) + 1
    naive = naive_time(old, new, spans, naive_timeout)
    return {
        "lines": old.count("\n"),
        "tags": len(spans),
        "seconds_median": round(seconds, 3),
        "ms_per_tag": round(1000 * seconds / len(spans), 4),
        "by_method": by_method,
        "naive_seconds": None if naive is None else round(naive, 3),
        "naive_timed_out_after": None if naive is not None else naive_timeout,
        "speedup_vs_naive": None if naive is None else round(naive / seconds, 1),
    }


def bench_per_tag(lines: int, tags: int, runs: int) -> dict[str, Any]:
    """Median time per tag, split by whether the tag needed the fuzzy+syntax stage.

    Per-document work (the diff, the parses, the whitespace-free copy) is shared by all tags
    of a document and reported apart; the per-tag figures are what each further tag costs."""
    from magicmarkup.anchoring import diffmap, syntax
    from magicmarkup.anchoring.cascade import _Doc, _place
    from magicmarkup.anchoring.types import OldSpan

    old = stdlib_text(lines, seed=3)
    new = scattered_edits(old, every=8, seed=4)
    th = Thresholds()
    diff_s, diff = median_time(lambda: diffmap.build(old, new), runs)

    def prepare() -> _Doc:
        syntax.parse.cache_clear()  # measure the parse, not the cache
        doc = _Doc(old, new, "python", diff)
        _ = (doc.new_tree, doc.old_tree, doc.index)
        return doc

    shared_s, doc = median_time(prepare, runs)
    cheap_ms: list[float] = []
    fuzzy_ms: list[float] = []
    for start, end in random_spans(old, 20 * tags, seed=5):
        if len(cheap_ms) >= tags and len(fuzzy_ms) >= tags:
            break
        per_run = []
        method = ""
        for _ in range(runs):
            t0 = time.perf_counter()
            placement, _uncertain = _place(doc, OldSpan(start, end), th)
            per_run.append(1000 * (time.perf_counter() - t0))
            method = placement.method
        slow = "fuzzy" in method or "syntax" in method or method == "none"
        bucket = fuzzy_ms if slow else cheap_ms
        if len(bucket) < tags:
            bucket.append(statistics.median(per_run))

    def med(xs: list[float]) -> float | None:
        return round(statistics.median(xs), 4) if xs else None

    return {
        "lines": old.count("\n"),
        "shared_diff_ms": round(1000 * diff_s, 2),
        "shared_parse_and_index_ms": round(1000 * shared_s, 2),
        "cheap_tags": len(cheap_ms),
        "cheap_ms_per_tag_median": med(cheap_ms),
        "fuzzy_syntax_tags": len(fuzzy_ms),
        "fuzzy_syntax_ms_per_tag_median": med(fuzzy_ms),
        "fuzzy_syntax_ms_per_tag_p95": round(sorted(fuzzy_ms)[int(0.95 * (len(fuzzy_ms) - 1))], 3)
        if fuzzy_ms
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["store"]:  # its own options and table: a big store written by a foreign tool
        from benchmark_gen import perf_store

        return perf_store.main(given[1:])
    parser = argparse.ArgumentParser(prog="magicmarkup bench perf", description=__doc__)
    parser.add_argument(
        "what",
        nargs="?",
        default="engine",
        choices=["engine", "retag", "watch", "hooks", "history", "check", "export", "store", "all"],
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    parser.add_argument("--naive-timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    if args.what in ("engine", "all"):
        scale = 10 if args.quick else 1
        results["many_tags_one_file"] = bench_many_tags(
            5000 // scale, 10_000 // scale, args.runs, args.naive_timeout
        )
        if not args.quick:
            results["small_file_vs_naive"] = bench_many_tags(500, 1000, args.runs, args.naive_timeout)
        results["per_tag_2000_lines"] = bench_per_tag(2000, 200 // scale, args.runs)
    if args.what == "history":  # its own figures: list on an old clone, walk CPU vs a line diff
        from benchmark_gen import perf_history

        return perf_history.main(
            [
                "--runs",
                str(args.runs),
                *(["--quick"] if args.quick else []),
                *(["--json"] if args.json else []),
            ]
        )
    if args.what == "export":  # its own table: export --html of 5,000 tags in 200 files, site size
        from benchmark_gen import perf_export

        return perf_export.main(["--runs", str(args.runs), *(["--json"] if args.json else [])])
    if args.what == "hooks":  # its own table: hook cost per checkout and commit, list on a fresh clone
        from benchmark_gen import perf_hooks

        extra = [*(["--json"] if args.json else []), *(["--quick"] if args.quick else [])]
        return perf_hooks.main(["--runs", str(args.runs), *extra])
    if args.what == "check":  # its own table: `check` cold and warm, --since in a shallow clone
        from benchmark_gen import perf_check

        return perf_check.main(["--runs", str(args.runs), *(["--json"] if args.json else [])])
    if args.what in ("retag", "watch", "all"):
        from benchmark_gen import perf_git

        if args.what in ("retag", "all"):
            runs = [perf_git.retag_commit() for _ in range(max(1, args.runs // 2))]
            runs.sort(key=lambda r: float(r.get("wall_s", 0.0)))
            results["retag_200_files_5000_tags"] = {"runs": len(runs), **runs[len(runs) // 2]}
            results["worktree_llm_overhead"] = perf_git.worktree_llm_overhead(runs=max(3, args.runs))
        if args.what in ("watch", "all"):
            results["watch_latency"] = perf_git.watch_latency(runs=max(5, args.runs))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="magicmarkup perf", header_style="bold")
        table.add_column("benchmark")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for name, figures in results.items():
            for key, value in figures.items():
                table.add_row(name, key, json.dumps(value))
        Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
