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

import pytest

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


# -- a crash in the middle of moving tags between documents (Store.save_many) -----------------

MOVE_SRC = "".join(f"value_{i} = compute({i})\n" for i in range(12))
MOVER = """
import os, signal, sys
from pathlib import Path
root, kind, at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
moves = [tuple(pair.split(">")) for pair in sys.argv[4:]]
calls = {"replace": 0, "unlink": 0}

def counted(real, name):
    def call(*args, **kwargs):
        calls[name] += 1
        if name == kind and calls[name] == at:
            os.kill(os.getpid(), signal.SIGKILL)  # in whichever writer thread gets there
        return real(*args, **kwargs)
    return call

os.replace = counted(os.replace, "replace")
os.unlink = counted(os.unlink, "unlink")
from magicmarkup.report import DocumentUpdate
from magicmarkup.retag import repin_documents
from magicmarkup.store import Store
store = Store(root)
updates = [DocumentUpdate(new, (root / new).read_text(), old_path=old) for old, new in moves]
report = repin_documents(store, updates, reason="rename")
assert not report.errors, report.errors
print(calls["replace"], calls["unlink"])
"""


def _moving_repo(root: Path, moves: list[tuple[str, str]]) -> tuple[Store, dict[str, str]]:
    """Tags on the `old` documents, whose files have just been renamed to `new` on disk."""
    from magicmarkup import tags as tagapi

    root.mkdir(parents=True)
    for old, _ in moves:
        (root / old).write_text(MOVE_SRC)
    store = Store.init(root)
    notes = {}
    for old, _ in moves:
        for i in (1, 4, 7, 10):
            tag = tagapi.add_tag(store, old, match=f"value_{i} = compute({i})", note=f"{old} {i}")
            notes[tag.id] = tag.note
    for old, new in moves:
        (root / old).rename(root / new)
    return store, notes


def _move(store: Store, moves: list[tuple[str, str]], kind: str, at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", MOVER, str(store.root), kind, str(at), *(f"{o}>{n}" for o, n in moves)],
        capture_output=True,
        text=True,
        timeout=120,
    )


MOVES = [("a.py", "c.py"), ("b.py", "e.py"), ("d.py", "f.py")]  # six documents written: the threaded path


def test_moving_tags_between_documents_writes_all_new_pins_before_removing_any(tmp_path: Path) -> None:
    store, _ = _moving_repo(tmp_path / "count", MOVES)
    done = _move(store, MOVES, "none", 0)
    assert done.returncode == 0, done.stderr
    replaces, unlinks = map(int, done.stdout.split())
    assert replaces == 12 and unlinks == 12  # one new pin per tag, then one removal per old pin
    moved = Store(store.root)
    assert sorted(t.path for t in moved.all_tags()) == ["c.py"] * 4 + ["e.py"] * 4 + ["f.py"] * 4
    assert not moved.tags_dir.exists() and sorted(p.name for p in moved.pins_dir.iterdir()) == [
        "c.py",
        "e.py",
        "f.py",
    ]


@pytest.mark.parametrize(
    ("kind", "at"), [("replace", 1), ("replace", 7), ("replace", 12), ("unlink", 1), ("unlink", 6)]
)
def test_sigkill_while_moving_tags_between_documents_loses_none(tmp_path: Path, kind: str, at: int) -> None:
    store, notes = _moving_repo(tmp_path / "repo", MOVES)
    killed = _move(store, MOVES, kind, at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = Store(store.root)
    tags = after.all_tags()
    assert after.problems == []  # half-written pins are only temp files, never a bad pin
    assert {t.id for t in tags} == set(notes)  # every tag at least once...
    assert {t.id: t.note for t in tags} == notes  # ...with everything a person wrote
    twice = sorted({t.id for t in tags if [u.id for u in tags].count(t.id) > 1})
    if kind == "unlink" or at == 12:
        assert twice  # the kill landed between the new pins and the removal of the old ones
    report = check(store)
    assert sorted(p.tag_id for p in report.remaining) == twice
    assert all(p.kind == "duplicate_id" and p.fixable for p in report.remaining)
    fixed = check(store, fix=True)
    assert fixed.ok, [p.line() for p in fixed.remaining]
    deduped = Store(store.root).all_tags()
    assert sorted(t.id for t in deduped) == sorted(notes) and {t.id: t.note for t in deduped} == notes
    left = check(store).problems  # stray temp files collected too; pins not moved yet name a renamed file
    assert all(p.kind == "missing_document" for p in left), [p.line() for p in left]
    # running the move again (the next commit's hook would) finishes it
    again = _move(store, MOVES, "none", 0)
    assert again.returncode == 0, again.stderr
    final = Store(store.root).all_tags()
    assert sorted(t.path for t in final) == ["c.py"] * 4 + ["e.py"] * 4 + ["f.py"] * 4
    assert {t.id: t.note for t in final} == notes and check(store).ok
    from magicmarkup import tags as tagapi

    for tag in tagapi.list_tags(store):
        assert tag.status.placed and MOVE_SRC[tag.span.start : tag.span.end] == tag.anchor.text


def test_doctor_keeps_the_moved_copy_of_a_tag_pinned_twice(tmp_path: Path) -> None:
    moves = [("f.py", "a.py")]
    store, notes = _moving_repo(tmp_path / "repo", moves)
    killed = _move(store, moves, "unlink", 1)  # every new pin written, no old one removed yet
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert check(store, fix=True).ok
    kept = Store(store.root).all_tags()
    assert sorted(t.id for t in kept) == sorted(notes)
    assert {t.path for t in kept} == {"a.py"}
