"""The live watcher on real files with real inotify (watchfiles), driven in a thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchfiles import Change

from magicmarkup import tags as tagapi
from magicmarkup.documents import text_hash
from magicmarkup.model import Status, Tag
from magicmarkup.store import Store
from magicmarkup.watch import Watcher, WatchEvent
from tests.conftest import CliRunner, git

CODE = "def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def placed(store: Store, tag_id: str) -> Tag:
    """The tag where every reader sees it now (the local working-tree view)."""
    return tagapi.find_tag(store, tag_id)


class Running:
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.events: list[WatchEvent] = []
        watcher.on_event = self.events.append
        self.stop = threading.Event()
        self.thread = threading.Thread(target=watcher.run, args=(self.stop,), daemon=True)


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "geo.py").write_text(CODE, encoding="utf-8")
    (repo / ".gitignore").write_text("build/\n", encoding="utf-8")
    return Store.init(repo)


@pytest.fixture
def running(store: Store) -> Iterator[Running]:
    run = Running(Watcher(store, debounce_ms=400, step_ms=30))
    run.thread.start()
    assert run.watcher.ready.wait(5)
    yield run
    run.stop.set()
    run.thread.join(5)
    assert not run.thread.is_alive()


def test_editor_style_save_is_a_modification(store: Store, running: Running) -> None:
    tag = tagapi.add_tag(store, "geo.py", match="w * h")
    new = "import math\n\n" + CODE
    tmp = store.root / ".geo.py.tmp1234"
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, store.root / "geo.py")
    wait_for(lambda: bool(running.events))
    now = placed(store, tag.id)
    assert (now.path, now.status, now.span.start) == ("geo.py", Status.MOVED, tag.span.start + 13)
    assert store.find(tag.id).anchor.snapshot != text_hash(new)  # the shared pin is not rewritten
    assert [e.kind for e in running.events] == ["modified"]
    assert running.events[0].line() == "geo.py: 1 moved (of 1 tags)"


def test_burst_of_100_saves(store: Store, running: Running) -> None:
    tag = tagapi.add_tag(store, "geo.py", match="2 * (w + h)")
    for i in range(100):
        (store.root / "geo.py").write_text(f"# save {i}\n" * (i % 7) + CODE, encoding="utf-8")
    final = "# save 99\n" * (99 % 7) + CODE
    wait_for(lambda: any(e.kind == "modified" for e in running.events))
    time.sleep(1.0)  # let the debounced tail of the burst land
    now = placed(store, tag.id)
    assert store.read_document("geo.py") == final
    assert store.read_document("geo.py")[now.span.start : now.span.end] == "2 * (w + h)"
    assert now.status.placed
    assert 1 <= len(running.events) < 20  # debounced, not one run per save


def test_rename_follows_and_delete_orphans(store: Store, running: Running) -> None:
    tag = tagapi.add_tag(store, "geo.py", match="w * h")
    (store.root / "shapes").mkdir()
    os.rename(store.root / "geo.py", store.root / "shapes" / "geo2.py")
    wait_for(lambda: bool(running.events))
    now = placed(store, tag.id)  # every reader follows the rename the watcher saw
    assert (now.path, now.status) == ("shapes/geo2.py", Status.MOVED)
    assert store.paths() == ["geo.py"]  # the pin moves when the rename is committed
    assert any(
        e.line() == "geo.py -> shapes/geo2.py: 1 tags followed the rename (1 moved)" for e in running.events
    ), [e.line() for e in running.events]
    (store.root / "shapes" / "geo2.py").unlink()
    wait_for(lambda: len(running.events) > 1)
    assert placed(store, tag.id).status is Status.ORPHANED
    assert running.events[-1].line() == "shapes/geo2.py deleted: 1 tags orphaned"


def test_watcher_and_add_at_the_same_time_lose_nothing(store: Store, running: Running, mm: CliRunner) -> None:
    first = tagapi.add_tag(store, "geo.py", match="w * h")
    stop = threading.Event()

    def editor() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            tmp = store.root / f".geo.py.{i}.tmp"  # saved atomically, as editors do
            tmp.write_text(f"# edit {i}\n" + CODE, encoding="utf-8")
            os.replace(tmp, store.root / "geo.py")
            time.sleep(0.02)

    thread = threading.Thread(target=editor)
    thread.start()
    try:
        added = [
            mm("add", "geo.py", "--match", "def perimeter", "--note", f"n{i}", "--json") for i in range(4)
        ]
    finally:
        stop.set()
        thread.join()
    assert all(r.code == 0 for r in added), [r.err for r in added]
    text = (store.root / "geo.py").read_text(encoding="utf-8")
    tags = tagapi.list_tags(store)
    assert len(tags) == 5 and first.id in {t.id for t in tags}
    assert sorted(t.note for t in tags) == ["", "n0", "n1", "n2", "n3"]
    for t in tags:
        assert t.status.placed and text[t.span.start : t.span.end] == t.anchor.text


def test_handle_directly_ignored_targets_and_slow_renames(repo: Path, store: Store) -> None:
    """No sleeping: bursts are handed to `handle` as watchfiles would."""
    tag = tagapi.add_tag(store, "geo.py", match="w * h")
    watcher = Watcher(store)
    root = str(store.root)
    (store.root / "build").mkdir()
    os.replace(store.root / "geo.py", store.root / "build" / "geo.py")  # into an ignored dir
    events = watcher.handle([(Change.deleted, f"{root}/geo.py"), (Change.added, f"{root}/build/geo.py")])
    assert [e.kind for e in events] == ["deleted"]
    assert placed(store, tag.id).status is Status.ORPHANED
    # the same content showing up in a later burst (slow mv) still adopts the tags
    (store.root / "geo_v2.py").write_text(CODE, encoding="utf-8")
    events = watcher.handle([(Change.added, f"{root}/geo_v2.py")])
    assert [(e.kind, e.old_path, e.path) for e in events] == [("renamed", "geo.py", "geo_v2.py")]
    now = placed(store, tag.id)
    assert (now.path, now.status, now.method) == ("geo_v2.py", Status.MOVED, "manual")  # its text as tagged
    # changes under .magicmarkup/ and .git/ are never ours to act on
    assert watcher.handle([(Change.modified, f"{root}/.magicmarkup/pins/geo.py/{tag.id}.json")]) == []
    git(repo, "status")


def test_cli_watch_json_lines_and_ctrl_c(repo: Path, store: Store) -> None:
    tag = tagapi.add_tag(store, "geo.py", match="w * h")
    proc = subprocess.Popen(
        [sys.executable, "-m", "magicmarkup", "watch", "--no-llm", "--json", "--debounce", "200"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        started = proc.stdout.readline()
        assert '"event": "started"' in started, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.3)  # the watch is set up right after the line is printed
        (repo / "geo.py").write_text("\n\n" + CODE, encoding="utf-8")
        line = proc.stdout.readline()
        assert '"event": "modified"' in line and '"moved": 1' in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert placed(Store(repo), tag.id).span.start == tag.span.start + 2
