"""Four kinds of writers at once on one store -- CLI adds, CLI edits, worktree retags (after
editing the code), and the watcher (`magicmarkup watch`) re-anchoring the same edits, plus a
library writer for volume -- for a fixed number of operations. Afterwards no acknowledged
operation is missing, no file is corrupt, and every tag sits exactly on its text."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from magicmarkup import tags as tagapi
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
