"""A big store written by a foreign tool: `magicmarkup bench perf store [--pins N] [--files F]`.

Builds a git repository whose `.magicmarkup/` holds N pins spread over F documents, written as
another tool would write them (compact JSON, its own key order, no final newline: valid pins,
not byte-identical to what magicmarkup writes), commits it, then times the real CLI, each command
in a fresh process, and reports wall time and peak memory (RSS) of:

- the first `add` to a document that already has pins (it must write one pin, not rewrite the
  document's others: the `git status` line count after it is reported too);
- `list --json` with a cold local view (a fresh clone), then again warm;
- `doctor --json`.

Targets (issue 23): add < 1 s, list < 5 s, peak memory < 500 MB, with 100,000 pins.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from magicmarkup.documents import text_hash
from magicmarkup.model import Anchor, Span, Tag
from magicmarkup.store import Store, pin_doc

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, env={**os.environ, **GIT_ENV}
    )
    return out.stdout


def foreign_pin(tag: Tag) -> bytes:
    """A valid pin as another tool writes it: compact, keys in reverse order, no newline."""
    doc = pin_doc(tag)
    return json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":")).encode()


def build(root: Path, pins: int, files: int, commit: bool = True) -> dict[str, Any]:
    """A repository with `files` documents and `pins` foreign-written pins over them."""
    began = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    store = Store.init(root)
    per_file, extra = divmod(pins, files)
    for f in range(files):
        rel = f"src/pkg{f % 50}/module_{f}.py"
        count = per_file + (1 if f < extra else 0)
        lines = [f"value_{k} = compute({k}, factor={k % 7})\n" for k in range(count + 1)]
        text = "".join(lines)
        doc = root / rel
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(text, encoding="utf-8")
        sha = text_hash(text)
        snap = store.snapshot_file(sha)
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_bytes(gzip.compress(text.encode(), compresslevel=6, mtime=0))
        folder = store.pin_dir(rel)
        folder.mkdir(parents=True, exist_ok=True)
        offset = 0
        for k in range(count):
            line = lines[k]
            start, end = offset, offset + len(line) - 1
            tag = Tag(
                path=rel,
                span=Span(start=start, end=end),
                anchor=Anchor(
                    text=text[start:end],
                    start=start,
                    prefix=text[max(0, start - 80) : start],
                    suffix=text[end : end + 80],
                    node_type="expression_statement",
                    syntax_path=["module", "expression_statement"],
                    snapshot=sha,
                ),
                metadata={"note": f"why factor {k % 7}?", "author": "other-tool"},
            )
            (folder / f"{tag.id}.json").write_bytes(foreign_pin(tag))
            offset += len(line)
    if commit:
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "a store written by another tool")
    return {"pins": pins, "files": files, "build_s": round(time.perf_counter() - began, 1)}


RUNNER = """
import json, resource, sys, time, io, contextlib
t0 = time.perf_counter()
from magicmarkup.cli.app import main
raw = io.BytesIO()
out = io.TextIOWrapper(raw, encoding="utf-8")
code = 0
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
out.flush()
wall = time.perf_counter() - t0
print(json.dumps({"code": code, "wall_s": round(wall, 3), "stdout_bytes": len(raw.getvalue()),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def timed(root: Path, *args: str) -> dict[str, Any]:
    """Run `magicmarkup ARGS` in a fresh process (imports included in the time, as a user
    waits for them); its exit code, wall time and peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "MAGICMARKUP_LLM": "0", "NO_COLOR": "1"},
        check=False,
    )
    try:
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"code": proc.returncode, "error": proc.stderr.strip()[-300:]}
    if result["code"]:
        result["error"] = proc.stderr.strip()[-300:]
    return result


def measure(root: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    target = "src/pkg0/module_0.py"
    before = {p: p.read_bytes() for p in (root / ".magicmarkup" / "pins" / target).glob("*.json")}
    results["add_first"] = timed(root, "add", target, "--match", "value_0 = compute(0", "--note", "new")
    status = [ln for ln in _git(root, "status", "--porcelain", "--untracked-files=all").splitlines() if ln]
    results["add_first"]["git_status_lines"] = len(status)
    results["add_first"]["other_pins_unchanged"] = all(p.read_bytes() == data for p, data in before.items())
    results["add_second"] = timed(root, "add", target, "--match", "value_1 = compute(1", "--note", "again")
    results["list_cold"] = timed(root, "list", "--json")
    results["list_warm"] = timed(root, "list", "--json")
    results["doctor"] = timed(root, "doctor", "--json")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="magicmarkup bench perf store", description=__doc__.splitlines()[0])
    ap.add_argument("--pins", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=1_000)
    ap.add_argument("--dir", type=Path, help="build here (kept); default: a temp dir, removed")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="mm-bench-foreign-")) / "repo"
    try:
        summary = {**build(root, args.pins, args.files), **measure(root)}
        summary["targets"] = {"add_s": 1.0, "list_s": 5.0, "peak_rss_mb": 500}
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            print(f"{args.pins:,} foreign pins in {args.files:,} documents (built in {summary['build_s']} s)")
            for name in ("add_first", "add_second", "list_cold", "list_warm", "doctor"):
                r = summary[name]
                extra = ""
                if name == "add_first":
                    extra = f", git status lines {r.get('git_status_lines')}, others unchanged {r.get('other_pins_unchanged')}"
                print(
                    f"  {name:<11} exit {r.get('code')}  {r.get('wall_s', '?')} s  "
                    f"peak RSS {r.get('peak_rss_mb', '?')} MB{extra}{'  ' + r['error'] if r.get('error') else ''}"
                )
            print("  targets: add < 1 s, list < 5 s, peak RSS < 500 MB")
    finally:
        if args.dir is None:
            shutil.rmtree(root.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
