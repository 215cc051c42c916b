"""magicmarkup.safeio on real files: FIFOs, sockets, devices, symbolic links, size limits, gzip
bombs, paths leading out of a root. Every refusal is a SafeIOError (or the caller's error class)
with one line naming the file, raised at once."""

from __future__ import annotations

import gzip
import os
import socket
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from magicmarkup.errors import StoreError
from magicmarkup.safeio import (
    MiB,
    SafeIOError,
    check_inside,
    gunzip_limited,
    open_nofollow,
    read_regular,
)


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# -- read_regular ---------------------------------------------------------------------------------
def test_reads_a_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello")
    assert read_regular(f, 5, follow_symlinks=False) == b"hello"


def test_a_fifo_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    began = time.monotonic()
    with pytest.raises(SafeIOError) as exc:
        read_regular(fifo, 100, follow_symlinks=True)
    assert "FIFO" in one_line(exc) and str(fifo) in one_line(exc)
    assert time.monotonic() - began < 1
    # A symlink to a FIFO, followed: still refused, still at once.
    link = tmp_path / "l"
    link.symlink_to(fifo)
    with pytest.raises(SafeIOError, match="FIFO"):
        read_regular(link, 100, follow_symlinks=True)


def test_a_fifo_swapped_in_after_the_stat_is_caught_by_fstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check that counts is fstat on the opened descriptor, and the open does not block."""
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    real_stat = os.stat

    def lying_stat(path: object, *a: object, **kw: object) -> os.stat_result:
        st = real_stat(tmp_path)  # pretend the pre-check saw something else...
        return os.stat_result((0o100644, *tuple(st)[1:]))  # ...a regular file

    monkeypatch.setattr(os, "stat", lying_stat)
    began = time.monotonic()
    with pytest.raises(SafeIOError, match="FIFO"):
        read_regular(fifo, 100, follow_symlinks=False)
    assert time.monotonic() - began < 1


def test_socket_device_directory(tmp_path: Path) -> None:
    sock = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))
        with pytest.raises(SafeIOError, match="socket"):
            read_regular(sock, 100, follow_symlinks=False)
    with pytest.raises(SafeIOError, match="character device"):
        read_regular("/dev/zero", 100, follow_symlinks=True)
    with pytest.raises(SafeIOError, match="directory"):
        read_regular(tmp_path, 100, follow_symlinks=True)


def test_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_bytes(b"x")
    link = tmp_path / "l"
    link.symlink_to(target)
    assert read_regular(link, 10, follow_symlinks=True) == b"x"
    with pytest.raises(SafeIOError, match="symbolic link"):
        read_regular(link, 10, follow_symlinks=False)
    dangling = tmp_path / "d"
    dangling.symlink_to(tmp_path / "missing")
    with pytest.raises(SafeIOError, match="broken symbolic link"):
        read_regular(dangling, 10, follow_symlinks=True)
    with pytest.raises(SafeIOError, match="no such file"):
        read_regular(tmp_path / "missing", 10, follow_symlinks=True)


def test_size_limit_and_callers_error_class(tmp_path: Path) -> None:
    sparse = tmp_path / "big"
    with sparse.open("wb") as fh:
        fh.truncate(1 << 40)  # 1 TiB, sparse: must be refused from its size, not read
    began = time.monotonic()
    with pytest.raises(StoreError) as exc:
        read_regular(sparse, MiB, follow_symlinks=False, label="tags/big.json", error=StoreError)
    assert one_line(exc).startswith("tags/big.json: too large")
    assert time.monotonic() - began < 1
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 10)
    assert len(read_regular(exact, 10, follow_symlinks=False)) == 10
    with pytest.raises(SafeIOError, match="too large"):
        read_regular(exact, 9, follow_symlinks=False)


# -- gunzip_limited -------------------------------------------------------------------------------
def test_gunzip_round_trip_and_multi_member() -> None:
    assert gunzip_limited(gzip.compress(b"hello"), 5) == b"hello"
    assert gunzip_limited(gzip.compress(b"ab") + gzip.compress(b"cd"), 10) == b"abcd"
    assert gunzip_limited(gzip.compress(b""), 0) == b""


def test_gunzip_refuses_corrupt_and_truncated() -> None:
    data = gzip.compress(b"hello world" * 100)
    with pytest.raises(SafeIOError, match="truncated"):
        gunzip_limited(data[: len(data) // 2], 10**6)
    with pytest.raises(SafeIOError, match="not valid gzip"):
        gunzip_limited(b"not gzip at all", 10**6, label="snapshots/ab.gz")
    with pytest.raises(SafeIOError, match="not valid gzip"):
        gunzip_limited(data[:-4] + b"\0\0\0\0", 10**6)  # wrong size in the trailer


def bomb_member(size: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MiB)
    parts = [c.compress(chunk) for _ in range(size // MiB)]
    parts.append(c.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb_2gib() -> bytes:
    """About 2 MB of gzip holding 2 GiB of zeros (128 members of 16 MiB, as `gzip -d` reads)."""
    data = bomb_member(16 * MiB) * 128
    assert len(data) < 3 * MiB
    return data


def test_a_gzip_bomb_fails_after_at_most_the_limit(bomb_2gib: bytes) -> None:
    limit = 8 * MiB
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(SafeIOError) as exc:
            gunzip_limited(bomb_2gib, limit, label="snapshots/ab.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert one_line(exc) == "snapshots/ab.gz: decompresses to more than 8.0 MiB (the limit)"
    assert peak < 3 * limit  # it stopped; it did not inflate 2 GiB
    assert time.monotonic() - began < 5


def test_a_single_member_bomb_is_bounded_too() -> None:
    data = bomb_member(64 * MiB)  # one deflate stream, 64 KB -> 64 MiB
    tracemalloc.start()
    try:
        with pytest.raises(SafeIOError, match="decompresses to more than"):
            gunzip_limited(data, MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB
    assert len(gunzip_limited(data, 64 * MiB)) == 64 * MiB  # exactly at the limit is fine


# -- check_inside ---------------------------------------------------------------------------------
def test_check_inside(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".magicmarkup" / "tags").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / ".magicmarkup" / "tags" / "a.json").write_text("{}")
    real_root = root.resolve()
    assert check_inside(root, ".magicmarkup/tags/a.json") == real_root / ".magicmarkup/tags/a.json"
    assert check_inside(root, root / ".magicmarkup/tags/new.json") == real_root / ".magicmarkup/tags/new.json"
    with pytest.raises(SafeIOError, match=r"\.\."):
        check_inside(root, "../outside/x")
    with pytest.raises(SafeIOError, match="outside"):
        check_inside(root, outside / "x")
    # a link inside the root, to inside: fine
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("")
    (root / "alias").symlink_to(root / "src")
    assert check_inside(root, "alias/a.py") == real_root / "src" / "a.py"
    # a directory link leading out, anywhere on the way: refused, naming the link
    (root / ".magicmarkup" / "snapshots").symlink_to(outside)
    with pytest.raises(StoreError) as exc:
        check_inside(root, ".magicmarkup/snapshots/ab/cd.gz", error=StoreError)
    assert "symbolic link .magicmarkup/snapshots" in one_line(exc)
    # a last-component link leading out, and a dangling one pointing out
    (root / ".magicmarkup" / "tags" / "b.json").symlink_to(outside / "b.json")
    with pytest.raises(SafeIOError, match="symbolic link"):
        check_inside(root, ".magicmarkup/tags/b.json")
    # the whole store linked out
    other = tmp_path / "repo2"
    other.mkdir()
    (other / ".magicmarkup").symlink_to(outside)
    with pytest.raises(SafeIOError, match="leads out"):
        check_inside(other, ".magicmarkup/config.toml")
    # symlink loops inside the root end (opening the result then fails with ELOOP)
    (root / "loop").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop")
    assert check_inside(root, "loop/x").is_relative_to(real_root)


# -- open_nofollow --------------------------------------------------------------------------------
def test_open_nofollow_writes_regular_files_only(tmp_path: Path) -> None:
    f = tmp_path / "new.json"
    fd = open_nofollow(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"ok")
    assert f.read_bytes() == b"ok"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    with pytest.raises(SafeIOError, match="symbolic link"):
        open_nofollow(link)
    assert victim.read_text() == "keep"
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    began = time.monotonic()
    with pytest.raises(SafeIOError, match="FIFO"):
        open_nofollow(fifo)
    assert time.monotonic() - began < 1
    with pytest.raises(SafeIOError, match=r"directory|cannot open"):
        open_nofollow(tmp_path, os.O_RDONLY)


# -- load_json ------------------------------------------------------------------------------------
def test_load_json_never_raises_recursion_error() -> None:
    from magicmarkup.safeio import load_json

    assert load_json(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert load_json('{"n": NaN}', label="x.json")["n"] != 0  # accepted here; the model refuses it
    assert load_json(b'{"big": 123456789012345678901234567890}')["big"] == 123456789012345678901234567890
    for depth in (2000, 100_000):
        with pytest.raises(StoreError) as exc:
            load_json("[" * depth + "]" * depth, label="export.json", error=StoreError)
        assert one_line(exc) == "export.json: JSON nested too deeply"
    with pytest.raises(SafeIOError, match="invalid JSON at line 2"):
        load_json('{\n  "a": }')
    with pytest.raises(SafeIOError, match="not UTF-8"):
        load_json(b'{"a": "\xff"}')


# -- the LLM answer cache inside a store ----------------------------------------------------------
def test_llm_cache_in_a_store_never_leaves_the_repository(tmp_path: Path) -> None:
    from magicmarkup.agent.client import ResponseCache

    repo = tmp_path / "repo"
    store = repo / ".magicmarkup"
    store.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    key = "ab" + "0" * 62
    (outside / "llm" / "ab").mkdir(parents=True)
    (outside / "llm" / "ab" / f"{key}.json").write_text('{"content": "planted", "tokens": 1}')
    (store / "cache").symlink_to(outside)
    cache = ResponseCache.for_store(store)
    assert cache.get(key) is None  # an entry through a link out is a miss
    cache.put("cd" + "0" * 62, "answer", 3)
    assert sorted(p.name for p in (outside / "llm").iterdir()) == ["ab"]  # nothing written there
    # a normal store cache works, and a FIFO entry is a miss, at once
    (store / "cache").unlink()
    cache.put(key, "answer", 3)
    assert cache.get(key) == {**(cache.get(key) or {}), "content": "answer"}
    entry = store / "cache" / "llm" / "ab" / f"{key}.json"
    entry.unlink()
    os.mkfifo(entry)
    assert cache.get(key) is None
