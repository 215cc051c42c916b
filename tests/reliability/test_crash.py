"""Crash harness: writers SIGKILLed at random (seeded) moments; after every kill the store loads,
`doctor` finds no error, and every acknowledged add and edit is there.

Two kinds of victims:
- forked writers (real processes, forked from this already-imported interpreter so a kill costs
  milliseconds, not an interpreter start-up) doing random adds, edits and worktree retags;
- real `magicmarkup add/edit/retag` CLI processes, killed anywhere from start-up to exit.
MAGICMARKUP_RELIABILITY_FULL=1 runs five times as many kills.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from magicmarkup.doctor import check
from magicmarkup.store import Store
from tests.reliability.harness import (
    DOCS,
    FULL,
    LINES,
    Acks,
    cli,
    driver_loop,
    insert_line,
    line_text,
    make_repo,
    verify,
    verify_placements,
)

FORK_KILLS = 1000 if FULL else 200
CLI_KILLS = 100 if FULL else 20
CYCLES_PER_REPO = 25
SEED = 20261122


def _fork_writer(root: Path, seed: int, log: Path) -> int:
    pid = os.fork()
    if pid == 0:  # the child: write until killed, never return into pytest
        code = 0
        try:
            driver_loop(root, seed, log, ops=10_000)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


def test_sigkill_forked_writers_lose_no_acknowledged_tag(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    kills = lost = acked_ops = 0
    repo_no = 0
    store: Store | None = None
    acks = Acks()
    began = time.perf_counter()
    for cycle in range(FORK_KILLS):
        if cycle % CYCLES_PER_REPO == 0:
            if store is not None:
                verify_placements(store, f"repo {repo_no}")
            repo_no += 1
            store = make_repo(tmp_path / f"r{repo_no}")
            acks = Acks()
        assert store is not None
        log = tmp_path / f"acks-{cycle}.jsonl"
        pid = _fork_writer(store.root, SEED + cycle, log)
        time.sleep(rng.uniform(0.001, 0.2))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            kills += 1
        else:  # the writer failed on its own: that is a bug, not a survived crash
            raise AssertionError(f"cycle {cycle}: writer exited with status {status} before the kill")
        acked_ops += acks.read_log(log)
        lost += verify(store, acks, f"cycle {cycle}")
        if cycle % 10 == 9:
            check(store, fix=True)  # tidy stray temp files and old snapshots, as a user would
    assert store is not None
    verify_placements(store, "last repo")
    elapsed = time.perf_counter() - began
    print(
        f"\nforked writers: {kills} SIGKILLs survived, {acked_ops} acknowledged ops, {lost} lost, {elapsed:.1f} s"
    )
    assert kills == FORK_KILLS
    assert lost == 0


def test_sigkill_real_cli_processes_lose_no_acknowledged_tag(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    store = make_repo(tmp_path / "repo")
    acks = Acks()
    kills = finished = lost = 0
    seq = 0
    ids: list[str] = []
    durations: list[float] = []
    began = time.perf_counter()
    attempts = 0
    while kills < CLI_KILLS:
        attempts += 1
        assert attempts < CLI_KILLS * 10, "the CLI finishes before every kill; widen the kill window"
        roll = rng.random()
        if roll < 0.5 or not ids:
            d = rng.randrange(len(DOCS))
            args = ["add", DOCS[d], "--match", line_text(d, rng.randrange(LINES)), "--note", "n"]
            op = "add"
        elif roll < 0.85:
            seq += 1
            args = ["edit", rng.choice(ids), "--meta", f"seq={seq}"]
            op = "edit"
        else:
            insert_line(store.root, rng, f"cli-{attempts}")
            args = ["retag", "--worktree", "--no-llm", "--json"]
            op = "retag"
        proc = subprocess.Popen(
            [sys.executable, "-m", "magicmarkup", *args],
            cwd=store.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        # Kill around the time a command has been taking here (it varies with the machine's
        # load, and most of it is Python starting up), so kills land in the command's work and
        # some commands finish; the first three run to the end to measure that time.
        started = time.perf_counter()
        if len(durations) < 3:
            deadline = started + 60.0
        else:
            typical = statistics.median(durations)
            deadline = started + rng.uniform(0.4 * typical, 1.5 * typical)
        while proc.poll() is None and time.perf_counter() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            kills += 1
        else:
            out, err = proc.communicate()
            assert proc.returncode == 0, (args, err)
            durations.append(time.perf_counter() - started)
            finished += 1
            if op == "add":
                ids.append(out.strip())
                acks.record({"op": "add", "id": out.strip()})
            elif op == "edit":
                acks.record({"op": "edit", "id": args[1], "seq": seq})
        lost += verify(store, acks, f"attempt {attempts} ({' '.join(args[:2])})")
    # Tags added by a killed `add` that got as far as saving are fine too; now check placements.
    verify_placements(store, "cli repo")
    result = cli(store.root, "doctor", "--json")
    assert result.returncode == 0, result.stdout
    elapsed = time.perf_counter() - began
    print(
        f"\nCLI processes: {kills} SIGKILLs survived, {finished} completed and acknowledged, "
        f"{lost} lost, {elapsed:.1f} s"
    )
    assert lost == 0
