"""Four kinds of writers at once on one store -- CLI adds, CLI edits, worktree retags (after
editing the code), and the watcher (`magicmarkup watch`) re-anchoring the same edits, plus a
library writer for volume -- for a fixed number of operations. Afterwards no acknowledged
operation is missing, no file is corrupt, and every tag sits exactly on its text."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from magicmarkup import tags as tagapi
from magicmarkup.doctor import check
from magicmarkup.store import Store
from tests.conftest import git
from tests.reliability.harness import (
    DOCS,
    FULL,
    LINES,
    Acks,
    cli,
    insert_line,
    line_text,
    make_repo,
    verify,
    verify_placements,
)

ROUNDS = 40 if FULL else 10  # operations per CLI writer
LIBRARY_ADDS = 200 if FULL else 60


def test_four_kinds_of_writers_at_once(tmp_path: Path) -> None:
    store = make_repo(tmp_path / "repo")
    root = store.root
    # Tags for the editor to work on, made before the race starts.
    seeds = [tagapi.add_tag(store, DOCS[0], match=line_text(0, i)).id for i in range(5)]
    acks = Acks(added=set(seeds))
    lock = threading.Lock()
    failures: list[str] = []
    counts = {"cli add": 0, "cli edit": 0, "retag": 0, "library add": 0}

    watcher = subprocess.Popen(
        [sys.executable, "-m", "magicmarkup", "watch", "--no-llm", "--json", "--debounce", "100"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert watcher.stdout is not None
    started = json.loads(watcher.stdout.readline())
    assert started["event"] == "started", started
    # Drain its output as it comes: a full pipe would block the watcher mid-write.
    watched_lines: list[str] = []
    err_lines: list[str] = []
    drains = [
        threading.Thread(target=lambda: watched_lines.extend(watcher.stdout or []), daemon=True),
        threading.Thread(target=lambda: err_lines.extend(watcher.stderr or []), daemon=True),
    ]
    for d in drains:
        d.start()

    def run(name: str, body: Callable[[], None]) -> threading.Thread:
        def wrapped() -> None:
            try:
                body()
            except BaseException as exc:
                with lock:
                    failures.append(f"{name}: {exc!r}")

        thread = threading.Thread(target=wrapped, name=name)
        thread.start()
        return thread

    def adder() -> None:
        rng = random.Random(1)
        for _ in range(ROUNDS):
            d = rng.randrange(len(DOCS))
            result = cli(root, "add", DOCS[d], "--match", line_text(d, rng.randrange(LINES)), "--json")
            assert result.returncode == 0, result.stderr
            with lock:
                acks.record({"op": "add", "id": json.loads(result.stdout)["id"]})
                counts["cli add"] += 1

    def editor() -> None:
        rng = random.Random(2)
        for seq in range(1, ROUNDS + 1):
            tag_id = rng.choice(seeds)
            result = cli(root, "edit", tag_id, "--meta", f"seq={seq}", "--json")
            assert result.returncode == 0, result.stderr
            with lock:
                acks.record({"op": "edit", "id": tag_id, "seq": seq})
                counts["cli edit"] += 1

    def retagger() -> None:
        rng = random.Random(3)
        for k in range(ROUNDS // 2):
            insert_line(root, rng, f"retag-{k}")  # the watcher sees this edit too
            result = cli(root, "retag", "--worktree", "--no-llm", "--json")
            assert result.returncode == 0, result.stderr
            report = json.loads(result.stdout)
            assert not report["errors"], report["errors"]
            with lock:
                counts["retag"] += 1

    def library_writer() -> None:
        code = (
            "import sys, json\nfrom pathlib import Path\n"
            "from magicmarkup.store import Store\nfrom magicmarkup import tags\n"
            "from tests.reliability.harness import DOCS, line_text\n"
            "s = Store(Path(sys.argv[1]))\n"
            f"for i in range({LIBRARY_ADDS}):\n"
            "    d = i % len(DOCS)\n"
            "    t = tags.add_tag(s, DOCS[d], match=line_text(d, (i * 7) % 40))\n"
            "    print(t.id, flush=True)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, str(root)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert proc.returncode == 0, proc.stderr
        with lock:
            for tag_id in proc.stdout.split():
                acks.record({"op": "add", "id": tag_id})
                counts["library add"] += 1

    began = time.perf_counter()
    threads = [
        run(n, f) for n, f in (("add", adder), ("edit", editor), ("retag", retagger), ("lib", library_writer))
    ]
    for t in threads:
        t.join(timeout=600)
    time.sleep(0.5)  # let the watcher finish its last burst
    watcher.send_signal(signal.SIGINT)
    watcher.wait(timeout=60)
    for d in drains:
        d.join(timeout=30)
    err = "".join(err_lines)
    elapsed = time.perf_counter() - began
    assert not failures, failures
    assert watcher.returncode in (0, 130, -signal.SIGINT), err
    events = [json.loads(line) for line in watched_lines if line.strip()]
    assert not [e for e in events if e["event"] == "error"], events
    watched = sum(1 for e in events if e["event"] == "modified")

    lost = verify(store, acks, "after the race")
    verify_placements(store, "after the race")
    total = sum(counts.values())
    print(
        f"\nconcurrent writers: {counts} + watcher {watched} re-anchorings = "
        f"{total + watched} ops in {elapsed:.1f} s, {lost} lost"
    )
    assert lost == 0
    assert counts["cli add"] == ROUNDS and counts["cli edit"] == ROUNDS and counts["retag"] == ROUNDS // 2
    assert counts["library add"] == LIBRARY_ADDS
    assert watched >= 1, "the watcher never re-anchored anything"


LOCK_WRITER = """
import sys
from pathlib import Path
from magicmarkup.store import Store
from magicmarkup import tags
from tests.reliability.harness import DOCS, line_text
store = Store(Path(sys.argv[1]))
worker, count = int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    d = (worker + i) % 2  # two documents, shared by every writer: a lost update would show
    try:
        tag = tags.add_tag(store, DOCS[d], match=line_text(d, (worker * 7 + i) % 40), note=f"w{worker}-{i}")
    except Exception as exc:  # not acknowledged: it may be lost, but must be said
        print(f"failed {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        continue
    print(tag.id, flush=True)
"""


def test_the_lock_survives_git_clean_while_three_writers_add_tags(tmp_path: Path) -> None:
    """The lock lives under the git dir: `git clean -fdX` (which removes every ignored file of
    the work tree, and so any lock kept in `.magicmarkup/`) run over and over while three writer
    processes add tags to the same documents cannot let two of them write at once."""
    (tmp_path / "repo").mkdir()
    git(tmp_path / "repo", "init", "-q", "-b", "main")
    git(tmp_path / "repo", "config", "commit.gpgsign", "false")
    store = make_repo(tmp_path / "repo")
    root = store.root
    assert store.local_dir == root / ".git" / "magicmarkup"
    git(root, "add", "-A")
    git(root, "commit", "-qm", "annotated repo")
    writes = 30 if not FULL else 100
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", LOCK_WRITER, str(root), str(w), str(writes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for w in range(3)
    ]
    cleans = 0
    while any(w.poll() is None for w in writers):
        # what `make clean`-style scripts do to a checkout (git itself may trip over a temp file
        # that is renamed while it looks: that run of git fails, the next one goes on)
        subprocess.run(["git", "clean", "-qffdX"], cwd=root, capture_output=True, check=False)
        shutil.rmtree(root / ".magicmarkup" / "cache", ignore_errors=True)  # the lock's old place
        cleans += 1
        time.sleep(0.01)
    acked: set[str] = set()
    failed: list[str] = []
    for w in writers:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
        acked.update(out.split())
        failed += [line for line in err.splitlines() if line.strip()]
    fresh = Store(root)
    stored = fresh.all_tags()
    assert not fresh.problems, fresh.problems
    assert acked <= {t.id for t in stored}, f"{len(acked - {t.id for t in stored})} acknowledged tags lost"
    assert len(stored) == len({t.id for t in stored}) == len(acked)  # nothing unacknowledged half-saved
    assert (store.local_dir / "lock").exists() and cleans > 3
    report = check(store)
    assert report.ok, [p.line() for p in report.remaining]
    print(f"\nlock vs git clean: {len(acked)} acknowledged adds, {len(failed)} failed, {cleans} cleans")
    assert len(acked) + len(failed) == 3 * writes and acked
    # The only writes that may fail are those whose temp file git clean removed (`*.tmp` is
    # ignored): see the strict xfail below.
    assert all("FileNotFoundError" in line and ".tmp" in line for line in failed), failed[:3]


def test_git_clean_between_temp_write_and_replace_does_not_fail_the_write(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "a.py").write_text("x = 1\n")
    store = Store.init(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    real_replace = os.replace

    def clean_then_replace(src: str, dst: str) -> None:
        subprocess.run(["git", "clean", "-qffdX"], cwd=repo, capture_output=True, check=False)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", clean_then_replace)
    tag = tagapi.add_tag(store, "a.py", match="x = 1")
    assert Store(repo).find(tag.id).anchor.text == "x = 1"
