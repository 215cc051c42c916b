"""`magicmarkup doctor [--fix] [--json]`: every check finds its problem, `--fix` repairs what it can
without losing a tag (backing up every file it rewrites), and the exit code says what remains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magicmarkup import tags as tagapi
from magicmarkup.doctor import check
from magicmarkup.model import Status
from magicmarkup.retag import retag_worktree
from magicmarkup.store import Store
from tests.conftest import CliRunner

SRC = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "a.py").write_text(SRC, encoding="utf-8")
    (repo / "b.py").write_text(SRC, encoding="utf-8")
    return Store.init(repo)


def kinds(store: Store, fix: bool = False) -> list[str]:
    return sorted(p.kind for p in check(store, fix=fix).problems)


def rewrite(store: Store, rel: str, edit: object) -> None:
    file = store.tag_file(rel)
    doc = json.loads(file.read_bytes())
    edit(doc)  # type: ignore[operator]
    file.write_text(json.dumps(doc), encoding="utf-8")


def test_clean_store_is_ok(store: Store) -> None:
    tagapi.add_tag(store, "a.py", match="x + 1")
    report = check(store)
    assert report.ok and report.problems == [] and report.tags == 1 and report.files == 1


def test_duplicate_ids_get_new_ids_and_a_backup(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    rewrite(store, "a.py", lambda d: d["tags"].append(dict(d["tags"][0])))
    store.save("b.py", [tag.model_copy(update={"path": "b.py"})])
    original = store.tag_file("a.py").read_bytes()
    first = check(store)
    assert [p.kind for p in first.remaining] == ["duplicate_id", "duplicate_id"] and not first.ok
    fixed = check(store, fix=True)
    assert fixed.ok and fixed.backup_dir
    tags = store.all_tags()  # the normal loader accepts the store again
    assert len(tags) == 3 and len({t.id for t in tags}) == 3
    assert tag.id in {t.id for t in tags}  # the first keeps its id
    renamed = [t for t in tags if t.id != tag.id]
    assert all(t.metadata["doctor_previous_id"] == tag.id for t in renamed)
    backup = store.root / fixed.backup_dir / "tags" / "a.py.json"
    assert backup.read_bytes() == original
    assert check(store).problems == []


def test_missing_snapshot_restored_from_an_unchanged_document(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    assert tag.anchor.snapshot
    store.snapshot_file(tag.anchor.snapshot).unlink()
    assert kinds(store) == ["missing_snapshot"]
    assert kinds(store, fix=True) == ["missing_snapshot"]
    assert store.get_snapshot(tag.anchor.snapshot) == SRC
    assert check(store).problems == []


def test_dangling_snapshot_reference_is_cleared_and_retag_still_works(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="y * 2")
    assert tag.anchor.snapshot
    store.snapshot_file(tag.anchor.snapshot).write_bytes(b"corrupt")
    (store.root / "a.py").write_text("# edited\n" + SRC, encoding="utf-8")
    report = check(store, fix=True)
    assert report.ok and store.find(tag.id).anchor.snapshot is None
    retag_worktree(store)
    now = store.find(tag.id)
    assert now.status.placed and store.read_document("a.py")[now.span.start : now.span.end] == "y * 2"


def test_unreferenced_snapshots_and_temp_files_are_warnings_collected_by_fix(store: Store) -> None:
    tagapi.add_tag(store, "a.py", match="x + 1")
    junk = store.put_snapshot("nobody uses me")
    (store.tags_dir / ".a.py.json.abc123.tmp").write_text("half a write")
    report = check(store)
    assert report.ok  # warnings do not fail the check
    assert sorted(p.kind for p in report.problems) == ["stray_temp", "unreferenced_snapshot"]
    assert check(store, fix=True).ok
    assert not store.has_snapshot(junk) and not list(store.tags_dir.glob(".*.tmp"))
    assert check(store).problems == []


def test_span_out_of_range_becomes_orphaned_and_retag_recovers_it(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="y * 2")
    (store.root / "a.py").write_text("def g(y):\n    return y * 2\n", encoding="utf-8")  # shorter
    assert [p.kind for p in check(store).remaining] == ["span_out_of_range"]
    report = check(store, fix=True)
    assert report.ok
    fixed = store.find(tag.id)
    assert fixed.status is Status.ORPHANED and fixed.history[-1].method == "doctor"
    retag_worktree(store)
    again = store.find(tag.id)
    assert again.status.placed and store.read_document("a.py")[again.span.start : again.span.end] == "y * 2"


def test_span_not_holding_its_text_becomes_needs_review(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    rewrite(store, "a.py", lambda d: d["tags"][0]["span"].update(start=0, end=5))
    assert [p.kind for p in check(store).remaining] == ["span_text_mismatch"]
    assert check(store, fix=True).ok
    assert store.find(tag.id).status is Status.NEEDS_REVIEW


def test_tag_path_mismatch_is_set_to_its_file(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    rewrite(store, "a.py", lambda d: d["tags"][0].update(path="../../etc/passwd"))
    rewrite(store, "a.py", lambda d: d.update(path="b.py"))
    assert kinds(store) == ["path_mismatch", "path_mismatch"]
    assert check(store, fix=True).ok
    assert store.find(tag.id).path == "a.py"
    assert json.loads(store.tag_file("a.py").read_bytes())["path"] == "a.py"


def test_document_symlinked_out_of_the_repo_remains_an_error(store: Store, tmp_path: Path) -> None:
    tagapi.add_tag(store, "a.py", match="x + 1")
    outside = tmp_path / "out.py"
    outside.write_text(SRC)
    (store.root / "a.py").unlink()
    (store.root / "a.py").symlink_to(outside)
    report = check(store, fix=True)
    assert [p.kind for p in report.remaining] == ["path_outside"] and not report.ok


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b'{"schema_version": 1, "tags": [', "unparsable"),
        (b'{"schema_version": 5, "path": "a.py"}', "newer_schema"),
    ],
)
def test_unparsable_and_newer_files_are_never_touched(store: Store, content: bytes, kind: str) -> None:
    tag = tagapi.add_tag(store, "b.py", match="x + 1")
    tagapi.add_tag(store, "a.py", match="x + 1")
    store.tag_file("a.py").write_bytes(content)
    report = check(store, fix=True)
    assert [p.kind for p in report.remaining] == [kind]
    assert store.tag_file("a.py").read_bytes() == content
    assert store.load("b.py") == [tag]


def test_fix_never_loses_a_tag(store: Store) -> None:
    for needle in ("x + 1", "y * 2", "def f", "def g"):
        tagapi.add_tag(store, "a.py", match=needle)
        tagapi.add_tag(store, "b.py", match=needle)
    rewrite(store, "a.py", lambda d: d["tags"].extend(dict(t) for t in d["tags"][:2]))
    rewrite(store, "b.py", lambda d: d["tags"][0]["span"].update(start=0, end=999))
    (store.root / "a.py").write_text(SRC[:20], encoding="utf-8")
    before = sum(len(json.loads(store.tag_file(r).read_bytes())["tags"]) for r in ("a.py", "b.py"))
    assert check(store, fix=True).ok
    assert len(store.all_tags()) == before == 10


def test_cli_doctor_exit_codes_and_json(repo: Path, mm: CliRunner) -> None:
    (repo / "a.py").write_text(SRC, encoding="utf-8")
    assert mm("init").code == 0
    added = mm("add", "a.py", "--match", "x + 1").out.strip()
    ok = mm("doctor")
    assert ok.code == 0 and ok.out.startswith("ok ")
    (repo / "a.py").write_text("x", encoding="utf-8")
    bad = mm("doctor", "--json")
    assert bad.code == 1
    data = bad.json()
    assert data["ok"] is False and data["problems"][0]["kind"] == "span_out_of_range"
    assert data["problems"][0]["tag_id"] == added
    human = mm("doctor")
    assert human.code == 1 and "span_out_of_range" not in human.out and "spans" in human.out
    fixed = mm("doctor", "--fix")
    assert fixed.code == 0 and "[fixed]" in fixed.out and "backups of rewritten files" in fixed.out
    assert mm("doctor").code == 0
