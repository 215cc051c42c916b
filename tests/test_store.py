"""The store: atomic writes, the inter-process lock, refusal of bad files and escaping paths."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from magicmarkup import tags as tagapi
from magicmarkup.errors import DocumentError, StoreError, TagNotFound
from magicmarkup.model import SCHEMA_VERSION, Anchor, Span, Tag
from magicmarkup.store import Store, atomic_write, dump_tag_file, parse_tag_file


def snapshot_bytes(store: Store) -> dict[str, bytes]:
    """Every file of the store (except the lock), to compare before/after a refused operation."""
    return {
        p.relative_to(store.dir).as_posix(): p.read_bytes()
        for p in sorted(store.dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "a.py").write_text("def f(x):\n    return x + 1\n\nprint(f(2))\n", encoding="utf-8")
    return Store.init(repo)


def test_init_creates_layout_at_git_root(repo: Path) -> None:
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    store = Store.init(sub)
    assert store.root == repo.resolve()
    assert (repo / ".magicmarkup" / "tags").is_dir() and (repo / ".magicmarkup" / "snapshots").is_dir()
    assert ".lock" in (repo / ".magicmarkup" / ".gitignore").read_text()
    assert Store.discover(sub).root == repo.resolve()
    Store.init(repo)  # idempotent


def test_init_outside_git_uses_cwd(tmp_path: Path) -> None:
    store = Store.init(tmp_path)
    assert store.root == tmp_path.resolve()


def test_discover_without_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no \.magicmarkup/ store"):
        Store.discover(tmp_path)


def test_save_load_is_stable_and_sorted(store: Store) -> None:
    t1 = tagapi.add_tag(store, "a.py", match="x + 1", note="one")
    t2 = tagapi.add_tag(store, "a.py", lines=(1, 1))
    file = store.tag_file("a.py")
    first = file.read_bytes()
    doc = json.loads(first)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["path"] == "a.py"
    assert [t["id"] for t in doc["tags"]] == sorted([t1.id, t2.id])
    assert list(doc) == sorted(doc)  # sorted keys, for readable git diffs
    loaded = store.load("a.py")
    store.save("a.py", list(reversed(loaded)))
    assert file.read_bytes() == first  # same tags -> byte-identical file
    store.save("a.py", [])
    assert not file.exists() and store.load("a.py") == []


def test_atomic_write_failure_before_replace_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    atomic_write(target, b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # the temp file was cleaned up


def test_process_killed_between_temp_write_and_replace_keeps_old_file(store: Store) -> None:
    """A real child process SIGKILLs itself at the moment it would call os.replace."""
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="before")
    before = store.tag_file("a.py").read_bytes()
    child = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from magicmarkup.store import Store
        from magicmarkup import tags
        os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
        tags.edit_tag(Store(Path({str(store.root)!r})), {tag.id!r}, note="after")
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert store.tag_file("a.py").read_bytes() == before
    assert store.load("a.py")[0].note == "before"
    leftovers = list(store.tags_dir.glob(".*.tmp"))
    assert len(leftovers) == 1  # the temp file is all that is left of the interrupted write
    assert b'"after"' in leftovers[0].read_bytes()
    tagapi.edit_tag(store, tag.id, note="again")  # and the store keeps working
    assert store.load("a.py")[0].note == "again"


WRITER = """
import sys
from pathlib import Path
from magicmarkup.store import Store
from magicmarkup import tags
store = Store(Path(sys.argv[1]))
worker, count = int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    t = tags.add_tag(store, "a.py", match="x + 1", note=f"w{worker}-{i}")
    print(t.id, flush=True)
"""


def test_eight_processes_adding_fifty_tags_each_lose_none(store: Store) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store.root), str(w), "50"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    acked: set[str] = set()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        acked.update(out.split())
    assert len(acked) == 400
    stored = store.load("a.py")
    assert {t.id for t in stored} == acked
    assert sorted(t.note for t in stored) == sorted(f"w{w}-{i}" for w in range(8) for i in range(50))


def test_lock_is_reentrant_and_blocks_other_processes(store: Store) -> None:
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from magicmarkup.store import Store
        s = Store(Path({str(store.root)!r}))
        with s.locked():
            print("held", flush=True)
            sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        other = Store(store.root)
        other._lock.timeout = 0.3
        with pytest.raises(StoreError, match="locked by another process"), other.locked():
            pass
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)
    with store.locked(), store.locked():  # re-entrant within one process
        store.save("a.py", [])


def write_raw(store: Store, rel: str, data: bytes) -> None:
    file = store.tag_file(rel)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data)


def good_doc(rel: str = "a.py") -> dict[str, object]:
    tag = Tag(path=rel, span=Span(start=0, end=3), anchor=Anchor(text="def"))
    return json.loads(dump_tag_file(rel, [tag]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"schema_version": 1, "path": "a.py", "tags": [', "invalid JSON at line 1"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"path": "a.py", "tags": []}', "missing or non-integer schema_version"),
        (b'{"schema_version": "1", "path": "a.py", "tags": []}', "missing or non-integer schema_version"),
        (b'{"schema_version": 99, "path": "a.py", "tags": []}', "schema_version 99 is newer"),
        (b'{"schema_version": 1, "path": "a.py", "tags": {}}', "invalid store file (tags"),
        (
            b'{"schema_version": 1, "path": "a.py", "tags": [{"path": "a.py", "span": {"start": "x", "end": 1},'
            b' "anchor": {"text": ""}}]}',
            "invalid store file (tags.0.span.start",
        ),
    ],
    ids=[
        "truncated",
        "not-utf8",
        "array",
        "no-version",
        "string-version",
        "newer",
        "tags-object",
        "wrong-type",
    ],
)
def test_bad_store_files_are_one_line_errors_naming_the_file(store: Store, data: bytes, message: str) -> None:
    write_raw(store, "a.py", data)
    before = snapshot_bytes(store)
    for action in (
        lambda: store.load("a.py"),
        lambda: store.all_tags(),
        lambda: tagapi.add_tag(store, "a.py", match="x + 1"),
    ):
        with pytest.raises(StoreError) as info:
            action()
        text = str(info.value)
        assert ".magicmarkup/tags/a.py.json" in text and message in text and "\n" not in text
    assert snapshot_bytes(store) == before  # nothing was overwritten, not even a snapshot


def test_duplicate_ids_in_one_file_are_refused(store: Store) -> None:
    doc = good_doc()
    doc["tags"] = [doc["tags"][0], doc["tags"][0]]  # type: ignore[index]
    write_raw(store, "a.py", json.dumps(doc).encode())
    with pytest.raises(StoreError, match="duplicate tag id"):
        store.load("a.py")


def test_tag_path_must_match_its_file(store: Store) -> None:
    doc = good_doc("elsewhere.py")
    write_raw(store, "a.py", json.dumps(doc).encode())
    with pytest.raises(StoreError, match=r"has path 'elsewhere\.py', expected 'a\.py'"):
        store.load("a.py")


def test_unknown_tag_fields_survive_a_rewrite(store: Store) -> None:
    doc = good_doc()
    doc["tags"][0]["future_field"] = {"x": 1}  # type: ignore[index]
    write_raw(store, "a.py", json.dumps(doc).encode())
    tag_id = doc["tags"][0]["id"]  # type: ignore[index]
    tagapi.edit_tag(store, tag_id, note="touched")
    again = json.loads(store.tag_file("a.py").read_bytes())
    assert again["tags"][0]["future_field"] == {"x": 1}
    assert again["tags"][0]["metadata"]["note"] == "touched"


def test_parse_tag_file_accepts_what_dump_writes() -> None:
    tag = Tag(path="x/y.py", span=Span(start=1, end=2), anchor=Anchor(text="b"))
    parsed = parse_tag_file(dump_tag_file("x/y.py", [tag]), "label")
    assert parsed.tags == [tag]


@pytest.mark.parametrize(
    "rel",
    ["../x.py", "/etc/passwd", "a/../../x", "", "a\\b.py", "C:/x", ".magicmarkup/tags/a.py.json", "a\0b"],
)
def test_check_relpath_refuses_escapes(store: Store, rel: str) -> None:
    with pytest.raises(DocumentError):
        store.check_relpath(rel)


def test_symlink_out_of_the_repo_is_refused(store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("secret = 1\n")
    (store.root / "link.py").symlink_to(outside)
    (store.root / "linkdir").symlink_to(tmp_path)
    with pytest.raises(DocumentError, match="resolves outside the repository"):
        store.check_relpath("link.py")
    with pytest.raises(DocumentError, match="outside"):
        store.relpath("linkdir/outside.py", store.root)
    with pytest.raises(DocumentError, match="outside the repository"):
        store.relpath(outside, store.root)
    with pytest.raises(DocumentError, match="outside the repository"):
        store.relpath("../outside.py", store.root)
    assert store.relpath("sub/../a.py", store.root) == "a.py"
    assert store.relpath(store.root / "a.py", Path("/")) == "a.py"


def test_snapshots_are_content_addressed_and_verified(store: Store) -> None:
    text = "caf\u00e9\r\n\ufeffx"
    sha = store.put_snapshot(text)
    assert store.put_snapshot(text) == sha
    assert store.get_snapshot(sha) == text
    file = store.snapshot_file(sha)
    file.write_bytes(gzip.compress(b"tampered"))
    with pytest.raises(StoreError, match="does not match its id"):
        store.get_snapshot(sha)
    file.write_bytes(b"not gzip")
    with pytest.raises(StoreError, match="corrupt snapshot"):
        store.get_snapshot(sha)
    file.unlink()
    with pytest.raises(StoreError, match="snapshot missing"):
        store.get_snapshot(sha)
    with pytest.raises(StoreError, match="not a snapshot id"):
        store.snapshot_file("../../etc/passwd")


def test_gc_removes_only_unreferenced_snapshots(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    orphan = store.put_snapshot("nobody refers to this")
    assert store.gc_snapshots() == 1
    assert not store.has_snapshot(orphan)
    assert tag.anchor.snapshot and store.has_snapshot(tag.anchor.snapshot)


def test_find_by_prefix_suffix_and_errors(store: Store) -> None:
    a = tagapi.add_tag(store, "a.py", match="x + 1")
    b = tagapi.add_tag(store, "a.py", match="print")
    assert store.find(a.id).id == a.id
    assert store.find(a.id[-8:].upper()).id == a.id
    with pytest.raises(TagNotFound, match="no such tag"):
        store.find("zzzzzzzz")
    with pytest.raises(TagNotFound, match="empty"):
        store.find("  ")
    common = ""
    while a.id[: len(common) + 1] == b.id[: len(common) + 1]:
        common = a.id[: len(common) + 1]
    if common:
        with pytest.raises(TagNotFound, match="ambiguous"):
            store.find(common)


def test_paths_lists_nested_documents(store: Store) -> None:
    (store.root / "pkg" / "sub").mkdir(parents=True)
    (store.root / "pkg" / "sub" / "m.py").write_text("y = 2\n")
    tagapi.add_tag(store, "pkg/sub/m.py", match="y = 2")
    tagapi.add_tag(store, "a.py", match="print")
    assert store.paths() == ["a.py", "pkg/sub/m.py"]
    assert {t.path for t in store.all_tags()} == {"a.py", "pkg/sub/m.py"}


def test_tag_file_that_is_a_directory_is_a_clear_error(store: Store) -> None:
    store.tag_file("a.py").mkdir(parents=True)
    with pytest.raises(StoreError, match="is a directory"):
        store.load("a.py")


def test_document_turned_symlink_out_keeps_its_tags_readable(store: Store, tmp_path: Path) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n")
    (store.root / "a.py").unlink()
    (store.root / "a.py").symlink_to(outside)
    assert store.load("a.py") == [tag]  # the tags are still there to list, show or repair
    with pytest.raises(DocumentError, match="resolves outside the repository"):
        store.read_document("a.py")  # but the document outside is never read


def test_store_folder_symlinked_out_is_refused(store: Store, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (store.tags_dir / "pkg").symlink_to(elsewhere)
    (store.root / "pkg").mkdir()
    (store.root / "pkg" / "m.py").write_text("y = 2\n")
    with pytest.raises(StoreError, match="resolves outside"):
        tagapi.add_tag(store, "pkg/m.py", match="y = 2")
    assert list(elsewhere.iterdir()) == []


def test_find_by_id_with_characters_json_escapes(store: Store) -> None:
    """`find` skips files whose bytes lack the id; an id JSON would escape is still found."""
    (store.root / "a.py").write_text("x = 1\n")
    (store.root / "b.py").write_text("y = 2\n")
    plain = Tag(path="a.py", span=Span(start=0, end=5), anchor=Anchor(text="x = 1"))
    odd = Tag(id='odd"id\\é', path="b.py", span=Span(start=0, end=5), anchor=Anchor(text="y = 2"))
    with store.locked():
        store.save("a.py", [plain])
        store.save("b.py", [odd])
    assert store.find('odd"id\\é').id == odd.id
    assert store.find(plain.id[-6:]).id == plain.id
    assert store.find(plain.id[:8]).id == plain.id
    with pytest.raises(TagNotFound):
        store.find("zzzzzzzz")
