"""The local cache of parsed pins (pincache.py): a warm read takes clean pins from it, and a pin
changed in any way (by hand, by git, by another process, deleted, added, corrupted) is read
again; what the cache holds is never trusted beyond what a pin file would be."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from magicmarkup import pincache
from magicmarkup import store as store_module
from magicmarkup import tags as tagapi
from magicmarkup.model import Tag
from magicmarkup.store import Store
from tests.conftest import CliRunner, git


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "a.py").write_text("def f(x):\n    return x + 1\n\nprint(f(2))\n", encoding="utf-8")
    return Store.init(repo)


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads happen as if the pins were written long ago (else a pin written a moment ago is
    not cached yet: a second write in the same clock tick could keep its stat)."""
    monkeypatch.setattr(store_module, "now_ns", lambda: time.time_ns() + 10 * pincache.RACY_NS)


class Reads:
    """Counts the pin files a load reads and parses."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.files: list[str] = []
        real = Store._read_pin

        def counted(this: Store, rel: str, tag_id: str, file: Path | str) -> tuple[Tag | None, bytes | None]:
            self.files.append(Path(file).name)
            return real(this, rel, tag_id, file)

        monkeypatch.setattr(Store, "_read_pin", counted)


def fresh(store: Store) -> list[Tag]:
    """The tags of a.py as a new command would load them (a new Store handle)."""
    return Store(store.root).load("a.py")


def rewrite_until_ctime_moves(file: Path, data: bytes, before: os.stat_result) -> None:
    """Write `data` in place with the old mtime, until the kernel gave it another ctime (which
    nothing can set back: what the cache relies on)."""
    while True:
        with open(file, "r+b") as handle:
            handle.write(data)
            handle.truncate()
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
        if os.stat(file).st_ctime_ns != before.st_ctime_ns:
            return


def test_warm_read_takes_pins_from_the_cache(
    store: Store, later: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = tagapi.add_tag(store, "a.py", match="x + 1", note="one")
    two = tagapi.add_tag(store, "a.py", match="print", note="two")
    first = fresh(store)
    reads = Reads(monkeypatch)
    again = fresh(store)
    assert reads.files == []
    assert [t.model_dump() for t in again] == [t.model_dump() for t in first]
    assert {t.id for t in again} == {one.id, two.id}
    cached = list((store.local_dir / "pins").iterdir())
    assert len(cached) == 1 and not (store.dir / "pins").joinpath(cached[0].name).exists()


def test_a_pin_written_a_moment_ago_is_read_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="one")
    fresh(store)
    reads = Reads(monkeypatch)
    fresh(store)
    assert reads.files == [f"{tag.id}.json"]


def test_a_hand_edit_keeping_size_and_mtime_is_seen(
    store: Store, later: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="aaaa")
    file = store.pin_file("a.py", tag.id)
    fresh(store)
    before = os.stat(file)
    data = file.read_bytes()
    rewrite_until_ctime_moves(file, data.replace(b'"aaaa"', b'"bbbb"'), before)
    assert os.stat(file).st_size == before.st_size and os.stat(file).st_mtime_ns == before.st_mtime_ns
    reads = Reads(monkeypatch)
    assert [t.note for t in fresh(store)] == ["bbbb"]
    assert reads.files == [f"{tag.id}.json"]
    reads.files.clear()
    assert [t.note for t in fresh(store)] == ["bbbb"]
    assert reads.files == []


def test_git_and_another_process_changing_pins_are_seen(store: Store, later: None, cli: CliRunner) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="first")
    git(store.root, "add", "-A")
    git(store.root, "commit", "-qm", "one")
    assert [t.note for t in fresh(store)] == ["first"]
    result = cli("edit", tag.id, "--note", "second, longer")  # another command: the store's own write
    assert result.code == 0, result.err
    assert [t.note for t in fresh(store)] == ["second, longer"]
    git(store.root, "checkout", "-q", "HEAD", "--", ".magicmarkup")  # git puts the committed one back
    assert [t.note for t in fresh(store)] == ["first"]
    listed = cli("list", "--json")
    assert [row["metadata"]["note"] for row in listed.json()] == ["first"]
    assert git(store.root, "status", "--porcelain", "--untracked-files=all").strip() == ""


def test_removed_added_and_corrupted_pins(store: Store, later: None) -> None:
    one = tagapi.add_tag(store, "a.py", match="x + 1", note="one")
    two = tagapi.add_tag(store, "a.py", match="print", note="two")
    fresh(store)
    store.pin_file("a.py", one.id).unlink()
    assert [t.id for t in fresh(store)] == [two.id]
    three = tagapi.add_tag(store, "a.py", match="def f", note="three")
    assert {t.id for t in fresh(store)} == {two.id, three.id}
    store.pin_file("a.py", two.id).write_bytes(b"{not json")
    for _ in range(2):  # a bad file is never cached: named on every read, the others still shown
        handle = Store(store.root)
        assert [t.id for t in handle.load("a.py")] == [three.id]
        assert len(handle.problems) == 1 and two.id in handle.problems[0]


def test_a_symlinked_pin_is_refused_every_time(store: Store, later: None, tmp_path: Path) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="one")
    fresh(store)
    file = store.pin_file("a.py", tag.id)
    outside = tmp_path / "outside.json"
    outside.write_bytes(file.read_bytes())
    file.unlink()
    file.symlink_to(outside)
    for _ in range(2):
        handle = Store(store.root)
        assert handle.load("a.py") == []
        assert "symbolic link" in handle.problems[0]


def test_a_tampered_or_planted_cache_is_a_miss(store: Store, later: None, tmp_path: Path) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="one")
    fresh(store)
    (cached,) = (store.local_dir / "pins").iterdir()
    head, _, body = cached.read_bytes().partition(b"\n")
    pins = json.loads(body)
    pins[0]["confidence"] = 7.5  # what no pin file may hold
    cached.write_bytes(head + b"\n" + json.dumps(pins).encode())
    assert [(t.id, t.confidence) for t in fresh(store)] == [(tag.id, 1.0)]
    # a cache file that is a link to a well-formed cache elsewhere is not followed
    elsewhere = tmp_path / "planted.json"
    pins[0]["confidence"] = 1.0
    pins[0]["metadata"] = {"note": "planted"}
    elsewhere.write_bytes(head + b"\n" + json.dumps(pins).encode())
    cached.unlink()
    cached.symlink_to(elsewhere)
    assert [t.note for t in fresh(store)] == ["one"]
    assert [t.note for t in fresh(store)] == ["one"]
