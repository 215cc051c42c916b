"""How long `Store.all_tags()` takes on a big store, and its peak memory.

    python -m tests.reliability.bench_store_load [--tags 100000] [--files 5000] [--dir DIR] [--legacy]

Writes a store in the real on-disk format -- schema 3: one pin file per tag (`dump_pin`) under
`pins/<path>/`, and `event_line` for the history logs; with `--legacy`, the schema-2 layout
(`dump_tag_file`, one file per document under `tags/`) that is still read -- with tags shaped
like real ones (80-character context, a syntax path, metadata, one history event, which
`all_tags()` does not read: it is in the log), then loads it in a fresh process (so the figures
do not include what building it cost) and prints wall time, tags/s, and peak RSS of the loading
process. The loader must name no problem (every file it wrote must read back).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from magicmarkup.model import SCHEMA_VERSION, Anchor, RetagEvent, Span, Status, Tag
from magicmarkup.store import Store, atomic_write, dump_pin, dump_tag_file, event_line


def build(root: Path, n_tags: int, n_files: int, seed: int = 1, legacy: bool = False) -> int:
    """Write `n_tags` tags spread over `n_files` documents (as pins, or with `legacy` as schema-2
    files); returns the store's size in bytes."""
    rng = random.Random(seed)
    store = Store.init(root)
    per_file, extra = divmod(n_tags, n_files)
    sha = "ab" * 32
    size = 0
    for f in range(n_files):
        rel = f"src/pkg{f % 50}/module_{f}.py"
        tags = []
        for k in range(per_file + (1 if f < extra else 0)):
            start = rng.randrange(10_000)
            text = f"result_{k} = compute(value_{k}, factor={rng.random():.3f})"
            span = Span(start=start, end=start + len(text))
            tags.append(
                Tag(
                    path=rel,
                    span=span,
                    anchor=Anchor(
                        text=text,
                        start=start,
                        prefix=("    " + "x" * 70 + "\n")[:80],
                        suffix=("\n    return result  # " + "y" * 60)[:80],
                        node_type="assignment",
                        syntax_path=["module", "function_definition", "block", "expression_statement"],
                        snapshot=sha,
                    ),
                    metadata={"note": f"why is factor {k} tuned?", "author": "bench", "color": "yellow"},
                    status=Status.MOVED,
                    history=[
                        RetagEvent(
                            from_snapshot=sha,
                            to_snapshot=sha,
                            old_span=span,
                            new_span=span,
                            status=Status.MOVED,
                            method="diff",
                            confidence=1.0,
                            reason="worktree",
                        )
                    ],
                )
            )
        log = b"".join(event_line(t.id, e) for t in tags for e in t.history)
        history = store.history_file(rel)
        history.parent.mkdir(parents=True, exist_ok=True)
        history.write_bytes(log)
        size += len(log)
        if legacy:
            doc = json.loads(dump_tag_file(rel, tags))
            doc["schema_version"] = 2
            files = [(store.tag_file(rel), json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n")]
        else:
            files = [(store.pin_file(rel, t.id), dump_pin(t)) for t in tags]
        for i, (file, data) in enumerate(files):
            if i == 0:
                file.parent.mkdir(parents=True, exist_ok=True)
            size += len(data)
            # fsync of 100,000 files is not the point: only the first few are written atomically
            atomic_write(file, data) if f < 10 else file.write_bytes(data)
    if legacy:
        shutil.rmtree(store.pins_dir, ignore_errors=True)
    return size


LOADER = """
import json, resource, sys, time
from pathlib import Path
from magicmarkup.store import Store
t0, c0 = time.perf_counter(), time.process_time()
store = Store(Path(sys.argv[1]))
tags = store.all_tags(history=sys.argv[2] == "1")
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"tags": len(tags), "files": len(store.paths()), "seconds": t1 - t0, "cpu_seconds": c1 - c0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "problems": store.problems[:5]}))
"""


def load_in_fresh_process(root: Path, history: bool = False) -> dict[str, float]:
    base = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, magicmarkup.store; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = subprocess.run(
        [sys.executable, "-c", LOADER, str(root), "1" if history else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    result["baseline_rss_mb"] = float(base.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=5_000)
    ap.add_argument("--dir", type=Path, help="build the store here (kept); default: a temp dir")
    ap.add_argument("--runs", type=int, default=3, help="load this many times (fresh process each)")
    ap.add_argument("--history", action="store_true", help="load every tag's history too (the logs)")
    ap.add_argument("--legacy", action="store_true", help="build the schema-2 layout (tags/<path>.json)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="mm-bench-store-"))
    try:
        t0 = time.perf_counter()
        size = build(root, args.tags, args.files, legacy=args.legacy)
        built = time.perf_counter() - t0
        runs = [load_in_fresh_process(root, args.history) for _ in range(args.runs)]
        best = min(runs, key=lambda r: r["seconds"])
        assert best["tags"] == args.tags and best["files"] == args.files and not best["problems"], best
        summary = {
            "tags": args.tags,
            "files": args.files,
            "with_history": args.history,
            "schema": 2 if args.legacy else SCHEMA_VERSION,
            "store_mb": round(size / 1e6, 1),
            "build_seconds": round(built, 2),
            "load_seconds": [round(r["seconds"], 3) for r in runs],
            "best_load_seconds": round(best["seconds"], 3),
            "best_cpu_seconds": round(min(r["cpu_seconds"] for r in runs), 3),
            "tags_per_second": round(args.tags / best["seconds"]),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            "baseline_rss_mb": round(best["baseline_rss_mb"], 1),
            "target_seconds": 2.0,
        }
        if args.json:
            print(json.dumps(summary))
        else:
            print(
                f"{summary['tags']:,} tags in {summary['files']:,} documents, schema {summary['schema']} "
                f"({summary['store_mb']} MB on disk)"
                f"{' with their histories' if args.history else ''}: "
                f"load {summary['best_load_seconds']} s best of {args.runs} {summary['load_seconds']} "
                f"(CPU {summary['best_cpu_seconds']} s; load average {summary['load_average']}) "
                f"({summary['tags_per_second']:,} tags/s; target < 2 s), peak RSS {summary['peak_rss_mb']} MB "
                f"(interpreter + imports alone: {summary['baseline_rss_mb']} MB)"
            )
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
