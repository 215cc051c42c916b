"""What the git hooks cost a user (issue #12), measured on a real repository.

A repository of 200 generated Python modules holding 5,000 tags, committed with its store,
`magicmarkup hooks install` run. Each figure is the median of several runs of a real git
command (the hooks run as git runs them, in their own processes):

* `checkout`: `git checkout` between two branches, with the hooks minus the same checkout with
  no hooks (`core.hooksPath` set to an empty directory). Once when no tagged file differs
  between the branches (target < 0.3 s wall, < 50 ms CPU), once when one differs, once when all
  200 differ (target < 3 s).
* `commit`: `git commit -a`, with the hooks minus the same commit without them (each run is
  undone by `git reset --hard HEAD~1`, so both commit the same change from the same state).
  Once when no tagged file changed (< 0.3 s wall, < 50 ms CPU), once when one changed, once
  when all 200 changed (< 3 s).
  Both report wall time and CPU time (user + sys of the git command and every process it
  waited for: the hooks); the hook's cost is the median of (with hooks - without).
* the floor: one `python -m magicmarkup --version` process (a hook starts at least one).
* `list (fresh clone)`: `magicmarkup list --json` in a new clone, the first command there
  (the local view is built from the committed pins), and a second `list` after it. Once at a
  commit whose pins match its code (made with the hooks) and once at a commit made without the
  hooks, where all 200 files changed since their tags were pinned.

Every run also checks that the command succeeded and that `git status` stayed clean.

    python -m benchmark_gen.perf_hooks [--runs N] [--files 200] [--tags 5000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MM = [sys.executable, "-m", "magicmarkup"]
TARGETS = {
    "checkout, no tagged file changed": 0.3,
    "checkout, all tagged files changed": 3.0,
    "commit, no tagged file changed": 0.3,
    "commit, all tagged files changed": 3.0,
}
# CPU time the hooks may add to a git command that touches no tagged file (issue 22: the fast
# path decides before starting magicmarkup).
CPU_TARGETS = {
    "checkout, no tagged file changed": 0.05,
    "commit, no tagged file changed": 0.05,
}


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "perf",
        "GIT_AUTHOR_EMAIL": "perf@example.invalid",
        "GIT_COMMITTER_NAME": "perf",
        "GIT_COMMITTER_EMAIL": "perf@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "MAGICMARKUP_LLM": "0",
        "NO_COLOR": "1",
    }


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env(), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} (in {cwd}) exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return proc


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(["git", *args], root)


def _timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = _run(cmd, cwd)
    return time.perf_counter() - start, proc


def _children_cpu() -> float:
    """User + sys seconds of every child process waited for so far (a git command's includes
    the hooks it ran: each parent adds the times of the children it waited for)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_cpu(cmd: list[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds, the process) of one command."""
    cpu = _children_cpu()
    took, proc = _timed(cmd, cwd)
    return took, _children_cpu() - cpu, proc


# -- a realistic repository ---------------------------------------------------------------------

WORDS = [
    "order",
    "invoice",
    "customer",
    "price",
    "total",
    "item",
    "cart",
    "user",
    "account",
    "ledger",
    "balance",
    "rate",
    "tax",
    "fee",
    "report",
    "record",
    "entry",
    "batch",
    "page",
    "limit",
    "window",
    "retry",
    "cache",
    "token",
    "session",
    "event",
    "queue",
]


def module_text(i: int, per_file: int, rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """A Python module of plausible code, and `per_file` spans to tag in it: one statement in
    each function body, and every fifth tag the whole function."""
    noun = WORDS[i % len(WORDS)]
    parts: list[str] = [
        f'"""{noun.capitalize()} handling for service {i}: parsing, validation and totals."""\n\n',
        "from __future__ import annotations\n\nimport logging\nimport math\nfrom dataclasses import dataclass\n\n",
        f"log = logging.getLogger(__name__)\nLIMIT = {rng.randint(10, 999)}\nRATE = {rng.random():.3f}\n\n\n",
        f"@dataclass\nclass {noun.capitalize()}{i}:\n    key: str\n    amount: float = 0.0\n    count: int = 0\n\n\n",
    ]
    spans: list[tuple[int, int, str]] = []
    offset = sum(len(p) for p in parts)
    for f in range(per_file):
        a, b = rng.sample(WORDS, 2)
        name = f"{a}_{b}_{i}_{f}"
        stmt = f"value = {a}_{f} * RATE + {b}_{f} / max(1, LIMIT - {rng.randint(1, 9)})"
        body = (
            f"def {name}({a}_{f}, {b}_{f}, *, strict=False):\n"
            f'    """Combine the {a} and the {b} ({f})."""\n'
            f"    if strict and {a}_{f} < 0:\n"
            f'        raise ValueError("negative {a}: %r" % {a}_{f})\n'
            f"    {stmt}\n"
            f"    for step in range({rng.randint(2, 6)}):\n"
            f"        value = math.sqrt(abs(value)) + step\n"
            f'    log.debug("{name} -> %s", value)\n'
            f"    return round(value, {rng.randint(1, 4)})\n"
        )
        if f % 5 == 0:
            end_of_def = body.rstrip("\n")
            spans.append((offset, offset + len(end_of_def), f"whole function {name}"))
        else:
            at = offset + body.index(stmt)
            spans.append((at, at + len(stmt), f"why RATE here ({name})?"))
        parts.append(body + "\n\n")
        offset += len(body) + 2
    return "".join(parts), spans


def edit_all(root: Path, files: list[str], round_: int) -> None:
    """Every tagged file edited like a real change: lines inserted above every tag, a constant
    changed, and one tagged statement edited inside."""
    for rel in files:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        text = text.replace("import math\n", f"import math\nimport os  # round {round_}\nDEBUG = False\n", 1)
        text = text.replace("LIMIT - ", f"LIMIT - {round_} - ", 1)
        path.write_text(text, encoding="utf-8")


def tagged_repo(root: Path, files: int, tags: int, seed: int = 0) -> list[str]:
    """A new repository of `files` generated modules with `tags` tags in its store (nothing
    committed yet); returns the modules' paths. Shared by the hooks and check benchmarks."""
    from magicmarkup.publish import publish
    from magicmarkup.store import Store
    from magicmarkup.tags import add_tag

    rng = random.Random(seed)
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "commit.gpgsign", "false")
    per_file = tags // files
    rels: list[str] = []
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for i in range(files):
        rel = f"services/{WORDS[i % len(WORDS)]}/mod_{i:03d}.py"
        text, spans[rel] = module_text(i, per_file, rng)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
        rels.append(rel)
    _run([*MM, "init"], root)
    store = Store.discover(root)
    for rel in rels:
        for start, end, note in spans[rel]:
            add_tag(store, rel, span=(start, end), note=note, allow_ignored=True)
    publish(store)  # what the pre-commit hook does: the snapshots are committed with the pins
    return rels


def build(root: Path, files: int, tags: int, seed: int = 0) -> list[str]:
    """The repository: committed code and store (5,000 tags), hooks installed, branch `same`
    (differs in an untagged file only), branch `one` (one tagged file edited) and branch `all`
    (every tagged file edited)."""
    rels = tagged_repo(root, files, tags, seed)
    (root / "README.md").write_text("# perf\n", encoding="utf-8")
    _run([*MM, "hooks", "install"], root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "tags")
    _git(root, "branch", "same")
    _git(root, "checkout", "-q", "same")
    (root / "README.md").write_text("# perf\n\nUntagged change.\n", encoding="utf-8")
    _git(root, "commit", "-q", "-am", "readme")
    _git(root, "checkout", "-q", "-b", "one", "main")
    edit_all(root, rels[:1], 0)
    _git(root, "commit", "-q", "-am", "edit one tagged file")
    _git(root, "checkout", "-q", "-b", "all", "main")
    edit_all(root, rels, 0)
    _git(root, "commit", "-q", "-am", "edit every tagged file")
    _git(root, "checkout", "-q", "main")
    return rels


def _clean(root: Path, what: str) -> None:
    status = _git(root, "status", "--porcelain").stdout
    if status.strip():
        raise RuntimeError(f"{what}: git status not clean:\n{status[:2000]}")


HOOK_FAILURE = re.compile(
    r"Traceback|^magicmarkup\b.*\b(error|unexpected|failed|interrupted|problems?)\b|"
    r"not re-(pinned|anchored)|refreshed by the next",
    re.IGNORECASE | re.MULTILINE,
)


def _hook_failed(proc: subprocess.CompletedProcess[str]) -> bool:
    """A hook never fails the git command; when its step fails it prints one line saying so."""
    return HOOK_FAILURE.search(proc.stderr) is not None


# -- the measurements --------------------------------------------------------------------------


def _pair(
    root: Path, runs: int, label: str, one: Callable[[list[str]], tuple[float, float]], nohooks: list[str]
) -> dict[str, Any]:
    """Median wall and CPU time with hooks, without, and the differences (the hooks' cost)."""
    with_h, without = [], []
    for _ in range(runs):
        with_h.append(one([]))
        without.append(one(nohooks))
    hook = [w[0] - n[0] for w, n in zip(with_h, without, strict=True)]
    hook_cpu = [w[1] - n[1] for w, n in zip(with_h, without, strict=True)]
    return {
        "name": label,
        "with_hooks_s": round(statistics.median(w[0] for w in with_h), 3),
        "without_hooks_s": round(statistics.median(n[0] for n in without), 3),
        "hook_s": round(statistics.median(hook), 3),
        "with_hooks_cpu_s": round(statistics.median(w[1] for w in with_h), 3),
        "without_hooks_cpu_s": round(statistics.median(n[1] for n in without), 3),
        "hook_cpu_s": round(statistics.median(hook_cpu), 3),
        "target_s": TARGETS.get(label),
        "cpu_target_s": CPU_TARGETS.get(label),
        "runs": runs,
    }


def measure_checkout(root: Path, runs: int, branch: str, label: str, nohooks: list[str]) -> dict[str, Any]:
    failures: list[str] = []

    def one(extra: list[str]) -> tuple[float, float]:
        total = cpu = 0.0
        for target in (branch, "main"):  # there and back: report the mean of the two
            took, used, proc = _timed_cpu(["git", *extra, "checkout", "-q", target], root)
            if _hook_failed(proc):
                failures.append(proc.stderr.strip()[-300:])
            _clean(root, f"git checkout {target}")
            total += took
            cpu += used
        return total / 2, cpu / 2

    result = _pair(root, runs, label, one, nohooks)
    result["hook_failures"] = failures[:3]
    return result


def measure_commit(root: Path, runs: int, rels: list[str], tagged: int, nohooks: list[str]) -> dict[str, Any]:
    """`git commit -a` of `tagged` edited tagged files (0: an untagged file only)."""
    what = "no tagged file" if not tagged else "one tagged file" if tagged == 1 else "all tagged files"
    label = f"commit, {what} changed"
    failures: list[str] = []
    counter = [0]

    def one(extra: list[str]) -> tuple[float, float]:
        counter[0] += 1
        if tagged:
            edit_all(root, rels[:tagged], counter[0])
        else:
            (root / "README.md").write_text(f"# perf\n\nrun {counter[0]}\n", encoding="utf-8")
        took, used, proc = _timed_cpu(["git", *extra, "commit", "-q", "-am", f"run {counter[0]}"], root)
        if _hook_failed(proc):
            failures.append(proc.stderr.strip()[-300:])
        _clean(root, label)
        _git(root, "reset", "-q", "--hard", "HEAD~1")
        return took, used

    result = _pair(root, runs, label, one, nohooks)
    result["hook_failures"] = failures[:3]
    return result


def measure_fresh_list(
    root: Path, work: Path, runs: int, branch: str, label: str, expected: int
) -> dict[str, Any]:
    first, second, tags = [], [], 0
    for n in range(runs):
        dest = work / f"fresh-{branch}-{n}"
        _git(work, "clone", "-q", "-b", branch, str(root), str(dest))
        took, proc = _timed([*MM, "list", "--json"], dest)
        first.append(took)
        tags = len(json.loads(proc.stdout))
        took, _ = _timed([*MM, "list", "--json"], dest)
        second.append(took)
        _clean(dest, f"list in a fresh clone of {branch}")
        shutil.rmtree(dest)
    return {
        "name": label,
        "first_list_s": round(statistics.median(first), 3),
        "second_list_s": round(statistics.median(second), 3),
        "tags_listed": tags,
        "tags_expected": expected,
        "runs": runs,
    }


def run_all(
    files: int = 200, tags: int = 5000, runs: int = 5, keep: Path | None = None, quick: bool = False
) -> dict[str, Any]:
    """Every figure; `quick`: only the commits and checkouts touching no or one tagged file
    (the hooks' fast path), not the 200-file ones nor the fresh-clone lists."""
    work = Path(tempfile.mkdtemp(prefix="mm-perf-hooks-")) if keep is None else keep
    try:
        root = work / "repo"
        t0 = time.perf_counter()
        rels = build(root, files, tags)
        built = time.perf_counter() - t0
        empty = work / "no-hooks"
        empty.mkdir()
        nohooks = ["-c", f"core.hooksPath={empty}"]
        hooks = [
            measure_checkout(root, runs, "same", "checkout, no tagged file changed", nohooks),
            measure_checkout(root, runs, "one", "checkout, one tagged file changed", nohooks),
            *(
                []
                if quick
                else [measure_checkout(root, runs, "all", "checkout, all tagged files changed", nohooks)]
            ),
            measure_commit(root, runs, rels, 0, nohooks),
            measure_commit(root, runs, rels, 1, nohooks),
            *([] if quick else [measure_commit(root, runs, rels, len(rels), nohooks)]),
        ]
        if quick:
            return {
                "files": files,
                "tags": tags,
                "runs": runs,
                "build_s": round(time.perf_counter() - t0, 1),
                "hooks": hooks,
                "list": [],
                "process_start_s": None,
            }
        # a commit made without the hooks: every tagged file changed since its tags were pinned
        _git(root, "checkout", "-q", "-b", "stale", "main")
        edit_all(root, rels, 99)
        _git(root, *nohooks, "commit", "-q", "-am", "edited without the hooks")
        _git(root, "checkout", "-q", "main")
        expected = (tags // files) * files
        lists = [
            measure_fresh_list(root, work, runs, "main", "list, fresh clone (pins match the code)", expected),
            measure_fresh_list(
                root,
                work,
                runs,
                "stale",
                "list, fresh clone (every tagged file changed since pinned)",
                expected,
            ),
        ]
        floor = statistics.median(_timed([*MM, "--version"], root)[0] for _ in range(runs))
        return {
            "process_start_s": round(floor, 3),
            "files": files,
            "tags": tags,
            "runs": runs,
            "build_s": round(built, 1),
            "hooks": hooks,
            "list": lists,
        }
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 110)
    table = Table(
        title=f"git hooks: {result['tags']:,} tags in {result['files']} files (median of {result['runs']} runs)"
    )
    for col in ("git command", "with hooks", "without", "hook cost", "hook CPU", "target", ""):
        table.add_column(col, justify="left" if col == "git command" else "right")
    for row in result["hooks"]:
        target, cpu_target = row["target_s"], row.get("cpu_target_s")
        ok = "" if target is None else ("ok" if row["hook_s"] < target else "[red]over[/]")
        if cpu_target is not None:
            ok += " cpu " + ("ok" if row["hook_cpu_s"] <= cpu_target else "[red]over[/]")
        if row.get("hook_failures"):
            ok += " [red]hook failed[/]"
        goals = [
            f"< {target} s" if target is not None else "",
            f"<= {cpu_target * 1000:.0f} ms CPU" if cpu_target else "",
        ]
        table.add_row(
            row["name"],
            f"{row['with_hooks_s']:.3f} s",
            f"{row['without_hooks_s']:.3f} s",
            f"{row['hook_s']:.3f} s",
            f"{row['hook_cpu_s'] * 1000:.0f} ms",
            ", ".join(g for g in goals if g),
            ok.strip(),
        )
    console.print(table)
    if result.get("process_start_s") is not None:
        console.print(
            f"[dim]floor: one `magicmarkup --version` process takes {result['process_start_s']:.3f} s here; "
            "a hook that has work starts one.[/]"
        )
    if not result["list"]:
        return
    lists = Table(title="magicmarkup list --json in a fresh clone")
    for col in ("clone", "first list", "second list", "tags listed"):
        lists.add_column(col, justify="left" if col == "clone" else "right")
    for row in result["list"]:
        lists.add_row(
            row["name"],
            f"{row['first_list_s']:.3f} s",
            f"{row['second_list_s']:.3f} s",
            f"{row['tags_listed']}"
            + ("" if row["tags_listed"] == row["tags_expected"] else f" [red](of {row['tags_expected']})[/]"),
        )
    console.print(lists)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_gen.perf_hooks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (medians)")
    parser.add_argument("--keep", type=Path, help="build in this (new) directory and keep it")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--quick", action="store_true", help="only commits and checkouts touching no or one tagged file"
    )
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
    result = run_all(args.files, args.tags, args.runs, args.keep, quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
