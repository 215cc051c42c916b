"""Shared pieces of the reliability suite: a small annotated repository whose edits never touch a
tagged line (so every tag has exactly one right place), acknowledgement logs, and the checks run
after every crash: the store loads, `doctor` finds no error, and every acknowledged operation is
there.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from magicmarkup import tags as tagapi
from magicmarkup.doctor import check
from magicmarkup.report import DocumentUpdate
from magicmarkup.retag import repin_documents, retag_worktree
from magicmarkup.store import Store

FULL = os.environ.get("MAGICMARKUP_RELIABILITY_FULL", "") not in ("", "0")
DOCS = ("a.py", "pkg/b.py", "notes.txt")
LINES = 40


def line_text(doc: int, i: int) -> str:
    """A unique tagged-looking line: `value_<doc>_<i> = compute(<i>)`."""
    return f"value_{doc}_{i} = compute({i})"


def make_repo(root: Path) -> Store:
    root.mkdir(parents=True, exist_ok=True)
    for d, rel in enumerate(DOCS):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line_text(d, i)}  # line {i}\n" for i in range(LINES)), encoding="utf-8")
    return Store.init(root)


def insert_line(root: Path, rng: random.Random, marker: str) -> str:
    """Insert a whole new line between two lines of a random document (atomically, like an
    editor's save), so no tagged text changes; only positions move. Returns the document."""
    rel = rng.choice(DOCS)
    path = root / rel
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(rng.randrange(len(lines) + 1), f"# inserted {marker}\n")
    tmp = path.with_name(f".{path.name}.edit")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    return rel


@dataclass
class Acks:
    """What writers reported as done: added ids, and the latest acknowledged note per tag."""

    added: set[str] = field(default_factory=set)
    notes: dict[str, int] = field(default_factory=dict)  # id -> highest acknowledged edit seq
    retags: int = 0

    def read_log(self, path: Path) -> int:
        """Record every complete line of an acknowledgement log; returns how many."""
        if not path.exists():
            return 0
        count = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the kill was never a complete acknowledgement
            self.record(rec)
            count += 1
        return count

    def record(self, rec: dict[str, object]) -> None:
        op = rec["op"]
        if op == "add":
            self.added.add(str(rec["id"]))
        elif op == "edit":
            seq = int(rec["seq"])  # type: ignore[call-overload]
            key = str(rec["id"])
            self.notes[key] = max(self.notes.get(key, -1), seq)
        elif op == "retag":
            self.retags += 1


def verify(store: Store, acks: Acks, context: str) -> int:
    """Every store file loads, doctor finds no error, and nothing acknowledged is missing.
    Returns the number of acknowledged operations that are missing (the assertion is the caller's)."""
    fresh = Store(store.root)
    loaded = fresh.all_tags()
    # the loader skips a bad file and names it: a crash must leave none
    assert not fresh.problems, f"{context}: unreadable store files {fresh.problems}"
    tags = {t.id: t for t in loaded}
    assert len(tags) == len(loaded), f"{context}: a tag is pinned twice"
    report = check(store)
    errors = [p.line() for p in report.remaining]
    assert not errors, f"{context}: doctor found {errors}"
    lost = len(acks.added - set(tags))
    for tag_id, seq in acks.notes.items():
        tag = tags.get(tag_id)
        if tag is None or not isinstance(tag.metadata.get("seq"), int) or tag.metadata["seq"] < seq:  # type: ignore[operator]
            lost += 1
    return lost


def verify_placements(store: Store, context: str) -> None:
    """After a final retag, every tag is placed exactly on its own (never edited) text in the
    working tree (the local view), and every pin still holds that text in its snapshot."""
    report = retag_worktree(store)
    assert not report.errors, f"{context}: {report.errors}"
    placed = tagapi.list_tags(store)
    assert not store.problems, f"{context}: {store.problems}"
    assert {t.id for t in placed} == {t.id for t in store.all_tags()}, f"{context}: the view lost a tag"
    for tag in placed:
        text = store.read_document(tag.path)
        assert tag.status.placed, f"{context}: {tag.id} is {tag.status.value}"
        assert text[tag.span.start : tag.span.end] == tag.anchor.text, f"{context}: {tag.id} misplaced"
    for pin in store.all_tags():
        assert pin.anchor.snapshot, f"{context}: {pin.id} has no snapshot"
        pinned = store.get_snapshot(pin.anchor.snapshot)
        assert pinned[pin.span.start : pin.span.end] == pin.anchor.text, (
            f"{context}: pin {pin.id} inconsistent"
        )


DRIVER = """
import json, os, random, sys
from pathlib import Path
sys.path.insert(0, {project!r})
from tests.reliability.harness import driver_loop
driver_loop(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
"""


def driver_loop(root: Path, seed: int, ack_log: Path, ops: int) -> None:
    """A writer doing random adds, edits, worktree retags (the local view) and re-pins (what a
    commit does) through the library, appending one JSON line per operation *after* it returned
    (an acknowledgement, like a CLI's exit 0)."""
    rng = random.Random(seed)
    store = Store(root)
    fd = os.open(ack_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    seq = 0

    def ack(rec: dict[str, object]) -> None:
        os.write(fd, (json.dumps(rec) + "\n").encode())

    mine: list[str] = []
    for _ in range(ops):
        roll = rng.random()
        if roll < 0.55 or not mine:
            d = rng.randrange(len(DOCS))
            tag = tagapi.add_tag(store, DOCS[d], match=line_text(d, rng.randrange(LINES)), note="n")
            mine.append(tag.id)
            ack({"op": "add", "id": tag.id})
        elif roll < 0.9:
            seq += 1
            tag_id = rng.choice(mine)
            tagapi.edit_tag(store, tag_id, metadata={"seq": seq})
            ack({"op": "edit", "id": tag_id, "seq": seq})
        elif roll < 0.95:
            insert_line(root, rng, f"{seed}-{seq}")
            retag_worktree(store)  # refreshes the local view only
            ack({"op": "retag"})
        else:
            rel = insert_line(root, rng, f"{seed}-{seq}-pin")
            # what a commit's pre-commit hook does: move the document's pins onto its new text
            repin_documents(store, [DocumentUpdate(rel, (root / rel).read_text(encoding="utf-8"))])
            ack({"op": "retag"})
    os.close(fd)


def cli(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magicmarkup", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
