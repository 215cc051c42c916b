"""Speed of the git integration and the watcher (issue 6), measured on real repositories.

* `retag_commit`: `magicmarkup retag HEAD~1..HEAD --no-llm` (the real CLI, a fresh process)
  over one commit touching 200 files that hold 5,000 tags: wall time and the process's peak
  RSS. Target: under 5 s.
* `worktree_llm_overhead`: `magicmarkup retag --worktree` with the default model settings (a
  pulled local model) against `--no-llm`, on a repository where no tag is uncertain, alternating
  the two, each run from an empty view cache: the model's server must not start when no query
  exists. Target: the ratio of medians at most 1.5.
* `watch_latency`: from a file save to the store updated for that file, with a running
  `Watcher` (real inotify): median of several saves. Target: under 300 ms.

Each returns a dict; `main()` prints them (`magicmarkup bench perf` can call these too).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from magicmarkup.documents import language_for
from magicmarkup.model import Span, Tag
from magicmarkup.store import Store
from magicmarkup.tags import make_anchor


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=perf",
            "-c",
            "user.email=perf@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=.git/no-hooks",
            *args,
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _module(i: int, functions: int) -> str:
    parts = [f'"""Module {i}."""\n\nimport math\n']
    for f in range(functions):
        parts.append(
            f"\n\ndef f{i}_{f}(x, y):\n"
            f"    total = x * {f + 1} + y\n"
            f"    if total > {f * 3}:\n"
            f"        total = math.sqrt(total) + {i}\n"
            f"    return total\n"
        )
    return "".join(parts)


def _edit(text: str, i: int) -> str:
    """A realistic commit: lines inserted above, one function body changed, one renamed."""
    text = text.replace("import math\n", f"import math\nimport os  # {i}\n\nLIMIT = {i}\n", 1)
    text = text.replace("    total = x * 3 + y\n", "    total = (x * 3 + y) * LIMIT\n", 1)
    return text.replace(f"def f{i}_5(", f"def renamed_{i}_5(", 1)


def build_repo(root: Path, files: int = 200, tags: int = 5000) -> Store:
    """A committed repository of `files` modules holding `tags` tags (store built directly)."""
    per_file = tags // files
    functions = per_file  # one tag per function
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    for i in range(files):
        (root / "pkg").mkdir(exist_ok=True)
        (root / "pkg" / f"mod{i:03d}.py").write_text(_module(i, functions), encoding="utf-8")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    store = Store.init(root)
    with store.locked():
        for i in range(files):
            rel = f"pkg/mod{i:03d}.py"
            text = store.read_document(rel)
            sha = store.put_snapshot(text)
            made = []
            for f in range(per_file):
                needle = f"    total = x * {f + 1} + y"
                start = text.index(needle)
                end = start + len(needle)
                anchor = make_anchor(text, start, end, language_for(rel), sha)
                made.append(Tag(path=rel, span=Span(start=start, end=end), anchor=anchor))
            store.save(rel, made)
    for i in range(files):
        file = root / "pkg" / f"mod{i:03d}.py"
        file.write_text(_edit(file.read_text(encoding="utf-8"), i), encoding="utf-8")
    _git(root, "commit", "-q", "-am", "touch every module")
    return store


def retag_commit(files: int = 200, tags: int = 5000) -> dict[str, Any]:
    """`magicmarkup retag HEAD~1..HEAD --no-llm --json` in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="mm-perf-git-") as tmp:
        root = Path(tmp) / "repo"
        t0 = time.perf_counter()
        build_repo(root, files, tags)
        setup_s = time.perf_counter() - t0
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "magicmarkup", "retag", "HEAD~1..HEAD", "--no-llm", "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            env={**os.environ, "MAGICMARKUP_LLM": "false"},
        )
        wall = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            raise RuntimeError(f"retag failed: {proc.stderr.strip()}")
        report = json.loads(proc.stdout)
    return {
        "benchmark": "retag one commit (no LLM)",
        "files": files,
        "tags": report["tags"],
        "counts": {k: v for k, v in report["counts"].items() if v},
        "wall_s": round(wall, 3),
        "engine_s": report["seconds"],
        "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
        "setup_s": round(setup_s, 2),
        "target_s": 5.0,
        "ok": wall < 5.0,
    }


def _drop_view(root: Path) -> None:
    import shutil

    shutil.rmtree(root / ".git" / "magicmarkup" / "view", ignore_errors=True)


def worktree_llm_overhead(files: int = 50, tags: int = 1000, runs: int = 5) -> dict[str, Any]:
    """`retag --worktree --json` with the model settings as the user has them, against `--no-llm`,
    fresh processes, each run recomputing the whole view (its cache dropped first)."""
    with tempfile.TemporaryDirectory(prefix="mm-perf-llm-") as tmp:
        root = Path(tmp) / "repo"
        build_repo(root, files, tags)
        env = {k: v for k, v in os.environ.items() if k != "MAGICMARKUP_LLM"}
        samples: dict[str, list[float]] = {"model": [], "no_llm": []}
        llm: dict[str, Any] = {}
        for _ in range(runs):
            for mode in ("model", "no_llm"):
                _drop_view(root)
                cmd = [sys.executable, "-m", "magicmarkup", "retag", "--worktree", "--json"]
                t0 = time.perf_counter()
                proc = subprocess.run(
                    cmd + (["--no-llm"] if mode == "no_llm" else []),
                    cwd=root,
                    capture_output=True,
                    text=True,
                    env=env,
                )
                samples[mode].append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    raise RuntimeError(f"retag --worktree failed: {proc.stderr.strip()}")
                if mode == "model":
                    llm = json.loads(proc.stdout)["llm"]
    model_s = statistics.median(samples["model"])
    plain_s = statistics.median(samples["no_llm"])
    return {
        "benchmark": "retag --worktree with the model configured vs --no-llm (no uncertain tag)",
        "files": files,
        "tags": tags,
        "runs": runs,
        "llm": llm,  # used: a model was configured; calls: questions asked (0 = nothing uncertain)
        "model_median_s": round(model_s, 3),
        "no_llm_median_s": round(plain_s, 3),
        "ratio": round(model_s / plain_s, 2),
        "target_ratio": 1.5,
        "ok": model_s / plain_s <= 1.5,
    }


def watch_latency(runs: int = 9, tags: int = 25) -> dict[str, Any]:
    """Save -> the watcher has refreshed the local view of that file (its event is out), for one
    annotated file, with a live watcher thread."""
    import queue

    from magicmarkup.watch import Watcher

    with tempfile.TemporaryDirectory(prefix="mm-perf-watch-") as tmp:
        root = Path(tmp)
        _git(root, "init", "-q", "-b", "main")
        rel = "mod.py"
        (root / rel).write_text(_module(0, tags), encoding="utf-8")
        store = Store.init(root)
        text = store.read_document(rel)
        sha = store.put_snapshot(text)
        made = []
        for f in range(tags):
            needle = f"    total = x * {f + 1} + y"
            start = text.index(needle)
            made.append(
                Tag(
                    path=rel,
                    span=Span(start=start, end=start + len(needle)),
                    anchor=make_anchor(text, start, start + len(needle), "python", sha),
                )
            )
        with store.locked():
            store.save(rel, made)
        done: queue.Queue[tuple[float, int]] = queue.Queue()
        watcher = Watcher(store, on_event=lambda e: done.put((time.perf_counter(), e.tags)))
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        watcher.ready.wait(5)
        samples = []
        try:
            for i in range(runs):
                new = f"# save {i}\n" * (i + 1) + text
                t0 = time.perf_counter()
                (root / rel).write_text(new, encoding="utf-8")
                try:
                    at, placed = done.get(timeout=10)
                except queue.Empty:
                    raise RuntimeError("the watcher did not refresh the view within 10 s") from None
                if placed != tags:
                    raise RuntimeError(f"the watcher placed {placed} of {tags} tags")
                samples.append(at - t0)
                time.sleep(0.1)
                while not done.empty():
                    done.get_nowait()
        finally:
            stop.set()
            thread.join(5)
    ms = sorted(s * 1000 for s in samples)
    return {
        "benchmark": "watcher latency, save -> local view refreshed (one file)",
        "tags_in_file": tags,
        "runs": runs,
        "median_ms": round(statistics.median(ms), 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
        "target_ms": 300,
        "ok": statistics.median(ms) < 300,
    }


def main() -> None:
    for result in (retag_commit(), worktree_llm_overhead(), watch_latency()):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
