"""Time to first paint of a large annotated file (the issue asks: a 5,000-line file with 500 tags
in under 1 s). Run: `python -m tui.perf [--lines 5000] [--tags 500] [--runs 5]`.

Three figures, each the median of several runs:
- `start`: a new app (in this process, imports done) until the code view has drawn the file
  (and the same for a one-line file, to tell Textual's start-up from the file's cost);
- `open`: a running app opening the file (tree, tag list, highlights) until it is drawn;
- `cold`: a fresh Python process importing everything, until the file is drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from magicmarkup.documents import text_hash
from magicmarkup.model import Span, Tag
from magicmarkup.store import Store
from magicmarkup.tags import make_anchor

FILE = "src/big_module.py"


def python_source(lines: int) -> str:
    """Plausible Python: functions of ten lines with loops, calls, strings and comments."""
    out = ['"""A generated module for timing the TUI."""', "", "import math", ""]
    i = 0
    while len(out) < lines - 10:
        out += [
            "",
            f"def step_{i}(values, scale={i % 7 + 1}):",
            f'    """Scale and sum values (block {i})."""',
            "    total = 0.0",
            "    for index, value in enumerate(values):",
            "        if value is None:  # skip gaps",
            "            continue",
            f"        total += math.sqrt(abs(value)) * scale + index / {i + 1}",
            f'    label = f"step {i}: {{total:.3f}}"',
            "    return total, label",
        ]
        i += 1
    out += [""] * (lines - len(out))
    return "\n".join(out[:lines]) + "\n"


def build(root: Path, lines: int, tags: int) -> Store:
    """A store with one big file and `tags` tags spread evenly over it (saved in one write)."""
    store = Store(root)
    store.tags_dir.mkdir(parents=True, exist_ok=True)
    store.snapshots_dir.mkdir(parents=True, exist_ok=True)
    text = python_source(lines)
    (root / FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / FILE).write_text(text)
    sha = store.put_snapshot(text)
    assert sha == text_hash(text)
    hits: list[int] = []
    for needle in ("total += math.sqrt", "return total, label"):
        pos = text.find(needle)
        while pos != -1:
            hits.append(pos)
            pos = text.find(needle, pos + 1)
    hits.sort()
    every = max(1, len(hits) // tags)
    made = []
    for n, start in enumerate(hits[::every][:tags]):
        end = text.index("\n", start)
        made.append(
            Tag(
                path=FILE,
                span=Span(start=start, end=end),
                anchor=make_anchor(text, start, end, None, sha),
                metadata={"note": f"Tag {n}: **why** this formula?\n\nMore text."},
            )
        )
    with store.locked():
        store.save(FILE, made)
    return store


async def _start_once(store: Store, size: tuple[int, int], path: str = FILE) -> float:
    from tui.app import MagicMarkupApp
    from tui.widgets import CodeView

    began = time.perf_counter()
    app = MagicMarkupApp(store, path, use_llm=False, poll_interval=0)
    async with app.run_test(size=size) as pilot:
        code = app.query_one(CodeView)
        while code.first_paint is None:
            await pilot.pause(0.005)
        return code.first_paint - began


async def _open_once(store: Store, size: tuple[int, int], other: str) -> float:
    from tui.app import MagicMarkupApp
    from tui.widgets import CodeView

    app = MagicMarkupApp(store, other, use_llm=False, poll_interval=0)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        code = app.query_one(CodeView)
        code.first_paint = None
        began = time.perf_counter()
        app.open_file(FILE)
        while code.first_paint is None:
            await pilot.pause(0.005)
        assert len(app.by_path[FILE]) > 0 and code.text
        return code.first_paint - began


def _cold_once(root: Path, size: tuple[int, int]) -> float:
    code = (
        "import asyncio, sys, time; began = time.perf_counter()\n"
        "from pathlib import Path\n"
        "from tui.perf import _start_once\n"
        "from magicmarkup.store import Store\n"
        f"inner = asyncio.run(_start_once(Store(Path({str(root)!r})), {size!r}))\n"
        "print(time.perf_counter() - began)\n"
    )
    began = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    float(out.stdout.strip())
    return time.perf_counter() - began


def measure(lines: int = 5000, tags: int = 500, runs: int = 5, size: tuple[int, int] = (120, 40)) -> dict:
    """Build the big store in a temp dir and return the medians (seconds) and the raw runs."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "perf"
        store = build(root, lines, tags)
        (root / "small.py").write_text("x = 1\n")
        small = Store(root)
        from magicmarkup import tags as tagapi

        tagapi.add_tag(small, "small.py", match="x = 1", note="small")
        start = [asyncio.run(_start_once(store, size)) for _ in range(runs)]
        baseline = [asyncio.run(_start_once(store, size, "small.py")) for _ in range(runs)]
        opened = [asyncio.run(_open_once(store, size, "small.py")) for _ in range(runs)]
        cold = [_cold_once(root, size) for _ in range(max(1, runs // 2))]
        count = len(store.load(FILE))
    return {
        "lines": lines,
        "tags": count,
        "terminal": list(size),
        "start_median_s": round(statistics.median(start), 3),
        "start_small_file_median_s": round(statistics.median(baseline), 3),
        "open_median_s": round(statistics.median(opened), 3),
        "cold_process_median_s": round(statistics.median(cold), 3),
        "runs": {
            "start": [round(x, 3) for x in start],
            "small": [round(x, 3) for x in baseline],
            "open": [round(x, 3) for x in opened],
            "cold": [round(x, 3) for x in cold],
        },
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.lines, args.tags, args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['lines']} lines, {result['tags']} tags, terminal {result['terminal'][0]}x{result['terminal'][1]}"
    )
    print(f"  app start -> file painted : {result['start_median_s']:.3f} s (median of {args.runs})")
    print(
        f"  same, a 1-line file       : {result['start_small_file_median_s']:.3f} s (Textual's own start-up)"
    )
    print(f"  open file -> painted      : {result['open_median_s']:.3f} s (median of {args.runs})")
    print(f"  new process -> painted    : {result['cold_process_median_s']:.3f} s")
    print(f"  runs: {result['runs']}  (load average {result['load_average']:.1f})")


if __name__ == "__main__":
    main()
