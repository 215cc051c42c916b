"""The library API behind add/list/edit/rm/import/export, including every bad input of issue 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magicmarkup import tags as tagapi
from magicmarkup.errors import DocumentError, SpanError, StoreError, TagNotFound
from magicmarkup.model import Status
from magicmarkup.store import Store
from tests.test_store import snapshot_bytes

SOURCE = "def total(price, qty):\n    return price * qty\n\n\ndef twice(x):\n    return x * 2\n"


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "app.py").write_text(SOURCE, encoding="utf-8")
    return Store.init(repo)


def test_add_by_match_span_and_lines(store: Store) -> None:
    by_match = tagapi.add_tag(store, "app.py", match="price * qty", note="why not Decimal?")
    start = SOURCE.index("price * qty")
    assert (by_match.span.start, by_match.span.end) == (start, start + len("price * qty"))
    assert by_match.anchor.text == "price * qty" and by_match.note == "why not Decimal?"
    assert by_match.anchor.prefix == SOURCE[:start] and by_match.anchor.suffix.startswith("\n\n\ndef twice")
    assert by_match.anchor.snapshot and store.get_snapshot(by_match.anchor.snapshot) == SOURCE
    assert by_match.anchor.node_type is not None  # tree-sitter described the span

    by_span = tagapi.add_tag(store, "app.py", span=(0, 3), metadata={"author": "ana", "n": 2})
    assert by_span.anchor.text == "def" and by_span.metadata == {"author": "ana", "n": 2}

    by_lines = tagapi.add_tag(store, "app.py", lines=(5, 6))
    assert by_lines.anchor.text == "def twice(x):\n    return x * 2"

    nth = tagapi.add_tag(store, "app.py", match="return", nth=2)
    assert nth.span.start == SOURCE.index("return", SOURCE.index("return") + 1)

    listed = tagapi.list_tags(store)
    assert [t.id for t in listed] == [by_span.id, by_match.id, by_lines.id, nth.id]  # by offset
    assert all(t.status is Status.ANCHORED and t.confidence == 1.0 for t in listed)
    assert tagapi.list_tags(store, "app.py", Status.ORPHANED) == []


def test_lines_exclude_crlf_and_count_a_bom_as_one_character(store: Store) -> None:
    text = "\ufeffa = 1\r\nb = 2\r\n"
    (store.root / "w.py").write_bytes(text.encode("utf-8"))
    tag = tagapi.add_tag(store, "w.py", lines=(2, 2))
    assert tag.anchor.text == "b = 2"
    assert tag.span.start == text.index("b")
    first = tagapi.add_tag(store, "w.py", match="a = 1")
    assert first.span.start == 1  # the BOM is a character of the document


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"span": (10, 5)}, "empty or has start after end"),
        ({"span": (3, 3)}, "empty or has start after end"),
        ({"span": (-1, 5)}, "negative offset"),
        ({"span": (0, 10_000)}, "past the end of the file"),
        ({"lines": (0, 1)}, "not a 1-based range"),
        ({"lines": (3, 2)}, "not a 1-based range"),
        ({"lines": (1, 99)}, "past the end of the file (6 lines)"),
        ({"lines": (3, 3)}, "are empty"),
        ({"match": "no such text"}, "--match text not found"),
        ({"match": "return"}, "occurs 2 times (1: app.py:2:5, 2: app.py:6:5); choose one with --nth 1..2"),
        ({"match": "return", "nth": 3}, "--nth 3 is out of range"),
        ({"match": "return", "nth": 0}, "--nth 0 is out of range"),
        ({"match": ""}, "--match text is empty"),
        ({}, "give exactly one of"),
        ({"span": (0, 1), "match": "def"}, "give exactly one of"),
    ],
)
def test_bad_spans_are_one_line_errors_and_change_nothing(
    store: Store, kwargs: dict[str, object], message: str
) -> None:
    tagapi.add_tag(store, "app.py", match="twice")
    before = snapshot_bytes(store)
    with pytest.raises(SpanError) as info:
        tagapi.add_tag(store, "app.py", **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)
    assert snapshot_bytes(store) == before


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bin.dat", b"abc\0def", "binary file"),
        ("latin.py", "caf\u00e9 = 1\n".encode("latin-1"), "not UTF-8 text (invalid byte at offset 3)"),
        ("missing.py", None, "no such file"),
    ],
)
def test_unusable_documents_are_refused(store: Store, name: str, data: bytes | None, message: str) -> None:
    if data is not None:
        (store.root / name).write_bytes(data)
    before = snapshot_bytes(store)
    with pytest.raises(DocumentError) as info:
        tagapi.add_tag(store, name, span=(0, 1))
    assert str(info.value).startswith(name) and message in str(info.value)
    assert snapshot_bytes(store) == before


def test_directory_and_outside_paths_are_refused(store: Store, tmp_path: Path) -> None:
    (store.root / "dir").mkdir()
    before = snapshot_bytes(store)
    with pytest.raises(DocumentError, match="is a directory"):
        tagapi.add_tag(store, "dir", span=(0, 1))
    for bad in ("../app.py", "/etc/hostname", ".magicmarkup/.gitignore"):
        with pytest.raises(DocumentError):
            tagapi.add_tag(store, bad, span=(0, 1))
    (store.root / "out.py").symlink_to(tmp_path / "elsewhere.py")
    with pytest.raises(DocumentError):
        tagapi.add_tag(store, "out.py", span=(0, 1))
    assert snapshot_bytes(store) == before


def test_edit_remove_restore(store: Store) -> None:
    tag = tagapi.add_tag(store, "app.py", match="twice", note="old", metadata={"color": "red", "x": 1})
    edited = tagapi.edit_tag(store, tag.id[:12], note="new", metadata={"color": "blue"}, unset=["x"])
    assert edited.metadata == {"color": "blue", "note": "new"}
    assert edited.updated_at >= tag.updated_at
    assert store.find(tag.id).metadata == {"color": "blue", "note": "new"}
    removed = tagapi.remove_tag(store, tag.id)
    assert tagapi.list_tags(store) == [] and not store.tag_file("app.py").exists()
    with pytest.raises(TagNotFound):
        tagapi.edit_tag(store, tag.id, note="gone")
    tagapi.restore_tag(store, removed)
    assert store.find(tag.id) == removed
    with pytest.raises(StoreError, match="already exists"):
        tagapi.restore_tag(store, removed)


def test_reattach_and_accept_record_history(store: Store) -> None:
    tag = tagapi.add_tag(store, "app.py", match="x * 2")
    new_source = "import math\n" + SOURCE.replace("x * 2", "x + x")
    (store.root / "app.py").write_text(new_source, encoding="utf-8")
    start = new_source.index("x + x")
    moved = tagapi.reattach_tag(store, tag.id, start, start + 5)
    assert moved.anchor.text == "x + x" and moved.status is Status.ANCHORED
    assert moved.history[-1].old_span.start == tag.span.start and moved.history[-1].new_span is not None
    assert moved.anchor.snapshot and store.get_snapshot(moved.anchor.snapshot) == new_source
    with pytest.raises(SpanError, match="past the end"):
        tagapi.reattach_tag(store, tag.id, 0, 10**6)
    accepted = tagapi.accept_placement(store, tag.id)
    assert accepted.method == "accepted" and len(accepted.history) == 2


def test_export_import_round_trip_into_another_repo(store: Store, tmp_path: Path) -> None:
    a = tagapi.add_tag(store, "app.py", match="twice", note="n1", metadata={"k": [1, 2]})
    b = tagapi.add_tag(store, "app.py", lines=(1, 2))
    exported = tagapi.export_tags(store)
    assert {t["id"] for t in exported["tags"]} == {a.id, b.id}
    assert set(exported["snapshots"]) == {a.anchor.snapshot}
    file = tmp_path / "export.json"
    file.write_text(json.dumps(exported), encoding="utf-8")

    other_root = tmp_path / "other"
    other_root.mkdir()
    other = Store.init(other_root)
    assert tagapi.import_tags(other, file) == (2, 0)
    assert tagapi.import_tags(other, file) == (0, 2)  # ids already present are skipped
    assert sorted(t.model_dump_json() for t in other.all_tags()) == sorted(
        t.model_dump_json() for t in store.all_tags()
    )
    assert a.anchor.snapshot and other.get_snapshot(a.anchor.snapshot) == SOURCE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"tags": 3}', 'not a magicmarkup export (no "tags" list)'),
        ('{"schema_version": 7, "tags": []}', "schema_version 7 is newer"),
        ('{"tags": [{"path": "a.py"}]}', "invalid tag (span: Field required)"),
    ],
)
def test_import_refuses_bad_files_without_writing(
    store: Store, tmp_path: Path, content: str, message: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content, encoding="utf-8")
    before = snapshot_bytes(store)
    with pytest.raises(StoreError) as info:
        tagapi.import_tags(store, file)
    assert message in str(info.value)
    assert snapshot_bytes(store) == before


def test_import_refuses_escaping_paths_before_writing(store: Store, tmp_path: Path) -> None:
    tag = tagapi.add_tag(store, "app.py", match="twice")
    data = tagapi.export_tags(store)
    data["tags"].append({**data["tags"][0], "id": "01evil", "path": "../../etc/passwd"})
    tagapi.remove_tag(store, tag.id)
    file = tmp_path / "evil.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    before = snapshot_bytes(store)
    with pytest.raises(DocumentError, match="escapes the repository"):
        tagapi.import_tags(store, file)
    assert snapshot_bytes(store) == before
