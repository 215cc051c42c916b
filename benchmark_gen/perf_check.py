"""What `magicmarkup check` costs in CI (issue #25), measured on a real repository.

A repository of 200 generated Python modules holding 5,000 tags (perf_hooks' modules), committed
with its store on `main`; a branch `change` edits 5 of those files (lines inserted above every
tag, a tagged statement edited, one tagged function deleted), committed without the hooks, so
the pins of those files are still where `main` left them: what a pull request from a clone
without the hooks looks like. Every figure is the median wall time of a fresh
`python -m magicmarkup check ...` process:

* `check, cold`: the first command in a fresh clone of `change` (no local view cache: every tag is
  placed from the committed pins), and `check, warm`: the same command again.
* `check --since main, cold` / `warm`: only what the change made worse fails.
* `check --since, shallow clone`: what CI does: `git clone --depth 1` of `change`, `git fetch
  --depth 1 origin main`, detached HEAD, then `check --since FETCH_HEAD` (target: < 2 s).

    python -m benchmark_gen.perf_check [--runs N] [--files 200] [--tags 5000] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmark_gen.perf_hooks import MM, _env, _git, _run, tagged_repo

CHANGED_FILES = 5
TARGET_S = 2.0


def build(root: Path, files: int, tags: int, seed: int = 0) -> list[str]:
    """`main`: code and store committed; `change`: 5 tagged files edited, without the hooks."""
    rels = tagged_repo(root, files, tags, seed)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "code and tags")
    _git(root, "checkout", "-q", "-b", "change")
    for rel in rels[:: files // CHANGED_FILES][:CHANGED_FILES]:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        text = text.replace("import math\n", "import math\nimport os\nDEBUG = False\n", 1)
        text = text.replace("LIMIT - ", "LIMIT - 2 - ", 1)  # a tagged statement edited
        start = text.index("\ndef ", text.index("\ndef ") + 1)  # the second function: deleted
        end = text.index("\ndef ", start + 1)
        path.write_text(text[:start] + text[end:], encoding="utf-8")
    _git(root, "commit", "-q", "-am", "edit 5 tagged files")
    _git(root, "checkout", "-q", "main")
    return rels


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check(cwd: Path, *args: str) -> tuple[float, float, dict[str, Any]]:
    """One `check --json` process: (wall seconds, CPU seconds of it and its git children, its
    JSON). Exit 0 or 1 are answers. CPU time says what the wall time would be on an idle
    machine (the wall time also counts waiting for cores other programs hold)."""
    cpu = _cpu()
    began = time.perf_counter()
    proc = subprocess.run(
        [*MM, "check", "--json", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_env(),
        stdin=subprocess.DEVNULL,
    )
    took = time.perf_counter() - began
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"check {' '.join(args)} in {cwd}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return took, _cpu() - cpu, json.loads(proc.stdout)


def _row(
    name: str, times: list[float], cpu: list[float], data: dict[str, Any], target: float | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "cpu_median_s": round(statistics.median(cpu), 3),
        "runs": len(times),
        "tags": data["tags"],
        "problems": len(data["problems"]),
        "information": len(data["information"]),
        "target_s": target,
    }


def run_all(files: int = 200, tags: int = 5000, runs: int = 3) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mm-perf-check-"))
    try:
        root = work / "repo"
        began = time.perf_counter()
        build(root, files, tags)
        built = time.perf_counter() - began
        figures: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        answers: dict[str, dict[str, Any]] = {}

        def record(name: str, took: float, used: float, data: dict[str, Any]) -> None:
            figures.setdefault(name, []).append(took)
            cpu.setdefault(name, []).append(used)
            answers[name] = data

        for n in range(runs):
            for since in (False, True):
                dest = work / f"full-{n}-{since}"
                _git(work, "clone", "-q", "-b", "change", str(root), str(dest))
                args = ["--since", "origin/main"] if since else []
                label = "check --since main" if since else "check"
                record(f"{label}, cold (fresh clone)", *_check(dest, *args))
                record(f"{label}, warm", *_check(dest, *args))
                shutil.rmtree(dest)
            dest = work / f"shallow-{n}"
            _git(work, "clone", "-q", "--depth", "1", "-b", "change", f"file://{root}", str(dest))
            _git(dest, "fetch", "-q", "--depth", "1", "origin", "main")
            _git(dest, "checkout", "-q", "--detach")
            record(
                "check --since main, cold (shallow clone, detached)", *_check(dest, "--since", "FETCH_HEAD")
            )
            shutil.rmtree(dest)
        floor = statistics.median(_timed_version(root) for _ in range(runs))  # one process start, for scale
        rows = [
            _row(
                name,
                times,
                cpu[name],
                answers[name],
                TARGET_S if "--since" in name and "cold" in name else None,
            )
            for name, times in figures.items()
        ]
        return {
            "files": files,
            "tags": tags,
            "changed_files": CHANGED_FILES,
            "runs": runs,
            "build_s": round(built, 1),
            "process_start_s": round(floor, 3),
            "check": rows,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _timed_version(root: Path) -> float:
    began = time.perf_counter()
    _run([*MM, "--version"], root)
    return time.perf_counter() - began


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 110)
    table = Table(
        title=f"magicmarkup check: {result['tags']:,} tags in {result['files']} files, "
        f"{result['changed_files']} files changed (median of {result['runs']} runs)"
    )
    for col in ("command", "median", "min", "CPU", "tags", "failing", "info", "target"):
        table.add_column(col, justify="left" if col == "command" else "right")
    for row in result["check"]:
        target = row["target_s"]
        mark = "" if target is None else ("ok" if row["median_s"] < target else "[red]over[/]")
        table.add_row(
            row["name"],
            f"{row['median_s']:.3f} s",
            f"{row['min_s']:.3f} s",
            f"{row['cpu_median_s']:.3f} s",
            str(row["tags"]),
            str(row["problems"]),
            str(row["information"]),
            "" if target is None else f"< {target} s {mark}",
        )
    console.print(table)
    console.print(
        f"[dim]floor: one `magicmarkup --version` process takes {result['process_start_s']:.3f} s here; "
        "CPU: of the check process and its git children (wall time also waits for busy cores).[/]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_gen.perf_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (medians)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    result = run_all(args.files, args.tags, args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
