"""`magicmarkup bench perf export`: how long `export --html` takes for a repository of 5,000 tags in
200 files (the target is under 10 s on 2 cores), and how large the site is; `export --markdown`
and `export --codetour` (a tour of 100 steps) are measured beside it.

The repository is the hooks benchmark's (plausible Python modules, a statement or a whole function
tagged in each), committed, then changed the way code changes: lines inserted above every tag in
every file, a constant edited, and in every tenth file a tagged function deleted, so the site has
moved, changed and orphaned tags with their review cards. Each figure is a fresh process (what a
user runs): `fresh` with no local cache (a fresh clone: placement and highlighting computed),
`cold` with the view cached but nothing highlighted yet, `warm` re-exported unchanged; wall and
CPU seconds (the process and its workers), medians, and the load average of the machine.
"""

from __future__ import annotations

import argparse
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

from benchmark_gen.perf_hooks import MM, WORDS, _env, _git, edit_all, module_text


def build(root: Path, files: int, tags: int, seed: int = 0) -> list[str]:
    """The repository with its store (written per document, not tag by tag), one tour, and the
    changes on top, committed."""
    from magicmarkup.documents import language_for
    from magicmarkup.model import Span, Tag
    from magicmarkup.publish import publish
    from magicmarkup.store import Store
    from magicmarkup.tags import make_anchor
    from magicmarkup.tours import Tour, TourStep, save_tour

    rng = random.Random(seed)
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "commit.gpgsign", "false")
    rels = []
    texts: dict[str, tuple[str, list[tuple[int, int, str]]]] = {}
    for i in range(files):
        rel = f"services/{WORDS[i % len(WORDS)]}/mod_{i:03d}.py"
        texts[rel] = module_text(i, tags // files, rng)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(texts[rel][0], encoding="utf-8")
        rels.append(rel)
    store = Store.init(root)
    steps: list[TourStep] = []
    with store.locked():
        for rel in rels:
            text, spans = texts[rel]
            sha = store.put_snapshot(text)
            lang = language_for(rel)
            made = [
                Tag(
                    path=rel,
                    span=Span(start=a, end=b),
                    anchor=make_anchor(text, a, b, lang, sha),
                    metadata={"note": f"**{note}**: see `LIMIT` and [the docs](https://example.org/{i})"},
                )
                for i, (a, b, note) in enumerate(spans)
            ]
            store.save(rel, made)
            if len(steps) < 100:
                steps.append(TourStep(tag=made[1].id))
        save_tour(store, "walkthrough", Tour(title="A walk through the services", steps=steps))
    publish(store)  # what the pre-commit hook does: the snapshots are committed with the pins
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "code and notes")
    edit_all(root, rels, 1)
    for rel in rels[::10]:  # a tagged function deleted: its tags are orphaned
        path = root / rel
        text = path.read_text(encoding="utf-8")
        first = text.index("\ndef ") + 1
        second = text.index("\ndef ", first) + 1
        path.write_text(text[:first] + text[second:], encoding="utf-8")
    _git(root, "commit", "-q", "-am", "edit every tagged file, delete some functions")
    return rels


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _timed(cmd: list[str], cwd: Path, cpu: list[float] | None = None) -> float:
    """Wall seconds of a fresh process; its CPU seconds (with its workers') go to `cpu`."""
    began, cpu_before = time.perf_counter(), _cpu()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env(), check=False)
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed: {proc.stderr.strip()[-300:]}")
    if cpu is not None:
        cpu.append(_cpu() - cpu_before)
    return elapsed


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _size(directory: Path) -> tuple[int, int]:
    files = [p for p in directory.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def run_all(files: int = 200, tags: int = 5000, runs: int = 3, keep: Path | None = None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mm-perf-export-")) if keep is None else keep
    root = work / "repo"
    try:
        build(root, files, tags)
        local = root / ".git" / "magicmarkup"
        site, md, tours = work / "site", work / "notes.md", work / "tours"
        figures: dict[str, Any] = {"files": files, "tags": tags, "runs": runs, "cores": _cores()}
        # fresh: a fresh clone (placements and highlighting computed); cold: the view cached (as
        # after any list or hook) but nothing highlighted yet; warm: re-exported unchanged
        wall: dict[str, list[float]] = {"fresh": [], "cold": [], "warm": []}
        cpu: dict[str, list[float]] = {"fresh": [], "cold": [], "warm": []}
        for _ in range(runs):
            for kind in ("fresh", "cold", "warm"):
                for cache in ("view", "html") if kind == "fresh" else ("html",) if kind == "cold" else ():
                    shutil.rmtree(local / cache, ignore_errors=True)
                shutil.rmtree(site, ignore_errors=True)
                wall[kind].append(_timed([*MM, "export", "--html", str(site)], root, cpu[kind]))
        for kind in ("fresh", "cold", "warm"):
            figures[f"html_{kind}_s"] = round(statistics.median(wall[kind]), 2)
            figures[f"html_{kind}_cpu_s"] = round(statistics.median(cpu[kind]), 2)
        figures["load_average"] = round(os.getloadavg()[0], 1)
        count, size = _size(site)
        figures["site_files"] = count
        figures["site_mb"] = round(size / 1e6, 1)
        figures["index_mb"] = round((site / "index.html").stat().st_size / 1e6, 2)
        figures["markdown_warm_s"] = round(
            statistics.median(
                _timed([*MM, "export", "--markdown", "-o", str(md)], root) for _ in range(runs)
            ),
            2,
        )
        figures["markdown_mb"] = round(md.stat().st_size / 1e6, 1)
        figures["codetour_warm_s"] = round(
            statistics.median(_timed([*MM, "export", "--codetour", str(tours)], root) for _ in range(runs)), 2
        )
        return figures
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="magicmarkup bench perf export", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (medians)")
    parser.add_argument("--keep", type=Path, help="build in this (new) directory and keep it")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
    result = run_all(args.files, args.tags, args.runs, args.keep)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
