"""Speed of placement that follows history (`magicmarkup bench perf history`).

Two figures the long-history work is judged by, printed, never asserted:

- `list` in a fresh clone whose pins are 1,000 commits old (10 files, 100 tags each, every
  commit editing one file; the pins committed once, never re-pinned): cold (empty local view and
  walk cache), then cached (the same command again), beside the jump (`MAGICMARKUP_HISTORY=0`,
  cold) in the same run. Wall time and CPU (the command and its git children).
- CPU of a 200-commit walk of one file (100 tags, the file changed in every commit) against a
  line diff of the same range walked the same way (each version's tag lines mapped through a
  line diff of the previous version, git reads included in both), and against the single jump.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmark_gen.perf import scattered_edits, stdlib_text
from magicmarkup.anchoring import Thresholds, reanchor
from magicmarkup.walk import History, Start, Track, walk

ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def _git(repo: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **ENV}, input=input, capture_output=True, check=True
    )
    return proc.stdout.decode()


def _tag_spans(text: str, n: int, seed: int) -> list[tuple[int, int]]:
    """`n` spans of one or two whole non-blank lines."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    rng = random.Random(seed)
    good = [i for i in range(len(starts) - 2) if text[starts[i] : starts[i + 1]].strip()]
    picks = sorted(rng.sample(good, min(n, len(good))))
    return [(starts[i], starts[i + 1] - 1) for i in picks]


def build(repo: Path, files: int, tags: int, commits: int, lines: int, seed: int = 1) -> None:
    """A repository whose pins were committed once, then `commits` commits editing the files."""
    from magicmarkup.publish import publish
    from magicmarkup.store import Store
    from magicmarkup.tags import add_tag

    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    texts = {f"pkg/mod_{i}.py": stdlib_text(lines, seed=seed + i) for i in range(files)}
    for rel, text in texts.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "code")
    store = Store.init(repo)
    for n, (rel, text) in enumerate(texts.items()):
        for s, e in _tag_spans(text, tags, seed + n):
            add_tag(store, rel, span=(s, e), note=f"n{s}")
    publish(store)  # what the pre-commit hook does: the snapshots are committed with the pins
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "tags")
    rng = random.Random(seed)
    names = sorted(texts)
    for k in range(commits):
        rel = names[k % len(names)] if files > 1 else names[0]
        text = (repo / rel).read_text()
        (repo / rel).write_text(scattered_edits(text, every=60, seed=rng.randrange(1 << 30)))
        _git(repo, "commit", "-q", "-am", f"edit {k}")


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_list(repo: Path, env: dict[str, str] | None = None) -> tuple[float, float, int]:
    before = _cpu_children()
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "magicmarkup", "list", "--json"],
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - began, _cpu_children() - before, len(json.loads(proc.stdout))


def bench_fresh_clone(runs: int, commits: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        origin = Path(tmp) / "origin"
        build(origin, files=10, tags=100, commits=commits, lines=1500)
        cold: list[tuple[float, float]] = []
        cached: list[tuple[float, float]] = []
        jump: list[tuple[float, float]] = []
        statuses: dict[str, dict[str, int]] = {}
        for run in range(runs):
            for mode in ("walk", "jump"):
                clone = Path(tmp) / f"clone-{mode}-{run}"
                _git(Path(tmp), "clone", "-q", str(origin), str(clone))
                env = {"MAGICMARKUP_HISTORY": "0"} if mode == "jump" else None
                wall, cpu, n = _timed_list(clone, env)
                (cold if mode == "walk" else jump).append((wall, cpu))
                if mode == "walk":
                    cached.append(_timed_list(clone)[:2])
                if run == 0:
                    out = subprocess.run(
                        [sys.executable, "-m", "magicmarkup", "list", "--json"],
                        cwd=clone,
                        env={**os.environ, **(env or {})},
                        capture_output=True,
                        check=True,
                    )
                    counts: dict[str, int] = {}
                    for row in json.loads(out.stdout):
                        counts[row["status"]] = counts.get(row["status"], 0) + 1
                    statuses[mode] = counts
                shutil.rmtree(clone)

        def med(xs: list[tuple[float, float]], k: int) -> float:
            return round(statistics.median(x[k] for x in xs), 3)

        return {
            "commits_since_pins": commits,
            "tags": n,
            "cold_wall_s": med(cold, 0),
            "cold_cpu_s": med(cold, 1),
            "cached_wall_s": med(cached, 0),
            "cached_cpu_s": med(cached, 1),
            "jump_cold_wall_s": med(jump, 0),
            "jump_cold_cpu_s": med(jump, 1),
            "statuses_walk": statuses.get("walk", {}),
            "statuses_jump": statuses.get("jump", {}),
        }


def _line_walk(history: History, blobs: list[str], spans: list[tuple[int, int]]) -> int:
    """The baseline tracker: each tag's first and last line mapped version to version."""
    first = history.blobs.text(blobs[0]) or ""
    lines = [(first.count("\n", 0, s), first.count("\n", 0, e)) for s, e in spans]
    for a, b in itertools.pairwise(blobs):
        old, new = (history.blobs.text(a) or "").splitlines(), (history.blobs.text(b) or "").splitlines()
        mapped: dict[int, int] = {}
        for block in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks():
            for k in range(block.size):
                mapped[block.a + k] = block.b + k
        lines = [(mapped.get(x, -1), mapped.get(y, -1)) if x >= 0 else (-1, -1) for x, y in lines]
    alive = sum(1 for x, y in lines if x >= 0 and y >= 0)
    return alive


def bench_walk_cpu(runs: int, commits: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "one"
        build(repo, files=1, tags=100, commits=commits, lines=1500)
        pinned = _git(repo, "rev-list", "-n", "1", "HEAD~" + str(commits)).strip()
        head = _git(repo, "rev-parse", "HEAD").strip()
        path = "pkg/mod_0.py"
        text = (repo / path).read_text()
        history0 = History(repo)
        b0 = history0.blobs.at(pinned, path)
        assert b0 is not None
        first = history0.blobs.text(b0) or ""
        history0.close()
        spans = _tag_spans(first, 100, 1)
        th = Thresholds()
        walk_cpu, line_cpu, jump_cpu = [], [], []
        placed = 0
        for _ in range(runs):
            c0, t0 = _cpu_children(), time.process_time()
            history = History(repo)
            got = walk(
                history,
                Start(pinned, path, b0, {str(i): Track(s, e) for i, (s, e) in enumerate(spans)}),
                head,
                th,
            )
            history.close()
            walk_cpu.append(time.process_time() - t0 + _cpu_children() - c0)
            placed = sum(1 for o in (got or {}).values() if o.track.placed and not o.track.unsure)
            c0, t0 = _cpu_children(), time.process_time()
            history = History(repo)
            changed = [ch.new_blob for ch in history.changes(pinned, head, [path]) if ch.status == "M"]
            versions = [b0, *changed[::-1]]
            alive = _line_walk(history, versions, spans)
            history.close()
            line_cpu.append(time.process_time() - t0 + _cpu_children() - c0)
            t0 = time.process_time()
            reanchor(first, text, spans, "python", None, th)
            jump_cpu.append(time.process_time() - t0)
        walk_s, line_s = statistics.median(walk_cpu), statistics.median(line_cpu)
        return {
            "commits": commits,
            "versions_walked": len(versions) - 1,
            "tags": len(spans),
            "walk_cpu_s": round(walk_s, 3),
            "line_diff_walk_cpu_s": round(line_s, 3),
            "ratio_walk_to_line_diff": round(walk_s / line_s, 2) if line_s else None,
            "jump_cpu_s": round(statistics.median(jump_cpu), 3),
            "walk_placed_confidently": placed,
            "line_diff_alive": alive,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="magicmarkup bench perf history", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 commits instead of 1,000 and 200")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = {
        "walk_vs_line_diff": bench_walk_cpu(args.runs, 50 if args.quick else 200),
        "list_fresh_clone": bench_fresh_clone(
            max(1, args.runs // 2) if not args.quick else 1, 100 if args.quick else 1000
        ),
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, figures in results.items():
            print(name)
            for key, value in figures.items():
                print(f"  {key}: {json.dumps(value)}")
    return 0
