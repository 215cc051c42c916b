"""`magicmarkup doctor [--fix] [--json]`: every check finds its problem, `--fix` repairs what it can
without losing a tag (backing up every file it rewrites), and the exit code says what remains."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from magicmarkup import tags as tagapi
from magicmarkup.doctor import check
from magicmarkup.model import Anchor, Span, Status, Tag
from magicmarkup.retag import retag_worktree
from magicmarkup.store import Store, dump_tag_file
from tests.conftest import CliRunner, git

SRC = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "a.py").write_text(SRC, encoding="utf-8")
    (repo / "b.py").write_text(SRC, encoding="utf-8")
    store = Store.init(repo)
    # the store's files as a commit writes them (the doctor checks what is shared; a person's
    # act keeps new snapshots and history lines in the pending area until then)
    store.publishing = True
    return store


def kinds(store: Store, fix: bool = False) -> list[str]:
    return sorted(p.kind for p in check(store, fix=fix).problems)


def rewrite_pin(store: Store, rel: str, tag_id: str, edit: Callable[[dict[str, Any]], object]) -> Path:
    file = store.pin_file(rel, tag_id)
    doc = json.loads(file.read_bytes())
    edit(doc)
    file.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
    return file


def write_legacy(
    store: Store, rel: str, tags: list[Tag], edit: Callable[[dict[str, Any]], object] | None = None
) -> Path:
    """A schema-2 file (one per document), as an older magicmarkup wrote it."""
    doc = json.loads(dump_tag_file(rel, tags))
    doc["schema_version"] = 2
    if edit is not None:
        edit(doc)
    file = store.tag_file(rel)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(doc), encoding="utf-8")
    return file


def test_clean_store_is_ok(store: Store) -> None:
    tagapi.add_tag(store, "a.py", match="x + 1")
    tagapi.add_tag(store, "a.py", match="y * 2")
    report = check(store)
    assert report.ok and report.problems == [] and report.tags == 2 and report.files == 2  # one pin each


def test_a_tag_pinned_twice_is_deduped_with_a_backup(store: Store) -> None:
    """A move between documents writes the new pin before removing the old one: a crash in
    between leaves the same tag (same id) pinned twice. `--fix` keeps one, never renames it."""
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    other = tagapi.add_tag(store, "a.py", match="y * 2")
    copy = store.pin_file("b.py", tag.id)
    copy.parent.mkdir(parents=True)
    copy.write_bytes(store.pin_file("a.py", tag.id).read_bytes().replace(b'"a.py"', b'"b.py"'))
    assert sorted(t.id for t in Store(store.root).all_tags()) == sorted([tag.id, tag.id, other.id])
    first = check(store)
    [problem] = first.remaining
    assert problem.kind == "duplicate_id" and problem.tag_id == tag.id and "pinned twice" in problem.message
    assert problem.fixable and not first.ok
    fixed = check(store, fix=True)
    assert fixed.ok and fixed.backup_dir
    tags = Store(store.root).all_tags()
    assert sorted(t.id for t in tags) == sorted([tag.id, other.id])  # each exactly once, same ids
    assert not any("doctor_previous_id" in t.metadata for t in tags)
    backups = list((store.root / fixed.backup_dir / "pins").rglob(f"{tag.id}.json"))
    assert len(backups) == 1  # the copy it removed
    survivor = store.pin_file("a.py", tag.id) if store.pin_file("a.py", tag.id).exists() else copy
    assert survivor.exists() and backups[0].parent.name != survivor.parent.name
    assert check(store).problems == []


def test_duplicate_ids_in_legacy_files_get_new_ids_and_a_backup(store: Store) -> None:
    tag = Tag(path="a.py", span=Span(start=21, end=26), anchor=Anchor(text="x + 1", start=21))
    write_legacy(store, "a.py", [tag], lambda d: d["tags"].append(dict(d["tags"][0])))
    write_legacy(store, "b.py", [tag.model_copy(update={"path": "b.py"})])
    original = store.tag_file("a.py").read_bytes()
    first = check(store)
    assert [p.kind for p in first.remaining] == ["duplicate_id", "duplicate_id"] and not first.ok
    fixed = check(store, fix=True)
    assert fixed.ok and fixed.backup_dir
    tags = store.all_tags()  # the normal loader accepts the store again
    assert len(tags) == 3 and len({t.id for t in tags}) == 3 and store.problems == []
    assert tag.id in {t.id for t in tags}  # the first keeps its id
    renamed = [t for t in tags if t.id != tag.id]
    assert all(t.metadata["doctor_previous_id"] == tag.id for t in renamed)
    backup = store.root / fixed.backup_dir / "tags" / "a.py.json"
    assert backup.read_bytes() == original
    assert check(store).problems == []


def test_an_interrupted_migration_is_not_a_duplicate(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="pinned")
    write_legacy(store, "a.py", [tag])
    assert [t.id for t in Store(store.root).all_tags()] == [tag.id]
    check(store, fix=True)
    assert [t.id for t in Store(store.root).all_tags()] == [tag.id]  # still one tag, not two


def test_fix_dedupes_a_twin_whose_path_is_also_wrong(store: Store) -> None:
    tag = tagapi.add_tag(store, "b.py", match="x + 1")
    twin = store.pin_file("a.py", tag.id)
    twin.parent.mkdir(parents=True)
    twin.write_bytes(store.pin_file("b.py", tag.id).read_bytes())  # still says path "b.py"
    assert check(store, fix=True).ok
    assert [t.id for t in Store(store.root).all_tags()] == [tag.id]


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
    assert report.backup_dir and list((store.root / report.backup_dir / "snapshots").rglob("*.gz"))
    assert not retag_worktree(store).errors
    now = tagapi.find_tag(store, tag.id)  # where it is in the working tree now
    assert now.status.placed and store.read_document("a.py")[now.span.start : now.span.end] == "y * 2"


def test_unreferenced_snapshots_are_information_and_temp_files_warnings_fixed(store: Store) -> None:
    """An unreferenced snapshot is garbage, not a problem: the doctor names it as information
    and leaves it (it may be a tracked file: `magicmarkup gc` decides); a stray temp file is a
    warning that --fix removes."""
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    junk = store.put_snapshot("nobody uses me")
    stray = store.pin_dir("a.py") / f".{tag.id}.json.abc123.tmp"
    stray.write_text("half a write")
    report = check(store)
    assert report.ok  # warnings do not fail the check
    assert sorted((p.kind, p.severity) for p in report.problems) == [
        ("stray_temp", "warning"),
        ("unreferenced_snapshot", "info"),
    ]
    assert check(store, fix=True).ok
    assert store.has_snapshot(junk) and not stray.exists()
    assert store.gc_snapshots() == 1 and not store.has_snapshot(junk)
    assert check(store).problems == []
    assert [t.id for t in store.all_tags()] == [tag.id]


def test_code_edited_since_the_pin_is_not_a_problem(store: Store) -> None:
    """A pin's span is in the text it was anchored in; where the tag is in the edited code is the
    local view's business, not a store problem (the old layout reported it as out of range)."""
    tag = tagapi.add_tag(store, "a.py", match="y * 2")
    (store.root / "a.py").write_text("def g(y):\n    return y * 2\n", encoding="utf-8")  # shorter
    assert check(store).problems == []
    now = tagapi.find_tag(store, tag.id)
    assert now.status.placed and store.read_document("a.py")[now.span.start : now.span.end] == "y * 2"


def test_span_out_of_range_becomes_orphaned_and_the_view_recovers_it(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="y * 2")
    rewrite_pin(store, "a.py", tag.id, lambda d: d["span"].update(end=999))  # hand-damaged
    [problem] = check(store).remaining
    assert problem.kind == "span_out_of_range" and problem.tag_id == tag.id
    report = check(store, fix=True)
    assert report.ok and report.backup_dir
    fixed = store.find(tag.id)
    assert fixed.status is Status.ORPHANED and fixed.history[-1].method == "doctor"
    assert [e.method for e in Store(store.root).find(tag.id).history][-1] == "doctor"  # logged
    retag_worktree(store)
    again = tagapi.find_tag(store, tag.id)
    assert again.status.placed and store.read_document("a.py")[again.span.start : again.span.end] == "y * 2"
    assert check(store).problems == []


def test_span_not_holding_its_text_becomes_needs_review(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    rewrite_pin(store, "a.py", tag.id, lambda d: d["span"].update(start=0, end=5))
    assert [p.kind for p in check(store).remaining] == ["span_text_mismatch"]
    assert check(store, fix=True).ok
    assert store.find(tag.id).status is Status.NEEDS_REVIEW


def test_tag_path_mismatch_is_set_to_its_folder(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    pin = rewrite_pin(store, "a.py", tag.id, lambda d: d.update(path="../../etc/passwd"))
    assert kinds(store) == ["path_mismatch"]
    assert check(store, fix=True).ok
    assert store.find(tag.id).path == "a.py"
    assert json.loads(pin.read_bytes())["path"] == "a.py"
    assert check(store).problems == []


def test_legacy_tag_path_mismatch_is_set_to_its_file(store: Store) -> None:
    tag = Tag(path="a.py", span=Span(start=21, end=26), anchor=Anchor(text="x + 1", start=21))
    file = write_legacy(store, "a.py", [tag], lambda d: d["tags"][0].update(path="../../etc/passwd"))
    doc = json.loads(file.read_bytes())
    doc["path"] = "b.py"
    file.write_text(json.dumps(doc))
    assert kinds(store) == ["path_mismatch", "path_mismatch"]
    assert check(store, fix=True).ok
    assert store.find(tag.id).path == "a.py"
    assert json.loads(file.read_bytes())["path"] == "a.py"


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
        (b'{"schema_version": 3, "id": ', "unparsable"),
        (b"\xff\xfe\x00 binary", "unparsable"),
        (b'{"schema_version": 5, "path": "a.py"}', "newer_schema"),
    ],
)
def test_unparsable_and_newer_pins_are_never_touched(store: Store, content: bytes, kind: str) -> None:
    tag = tagapi.add_tag(store, "b.py", match="x + 1")
    bad = tagapi.add_tag(store, "a.py", match="x + 1")
    kept = tagapi.add_tag(store, "a.py", match="y * 2")
    file = store.pin_file("a.py", bad.id)
    file.write_bytes(content)
    report = check(store, fix=True)
    [problem] = report.remaining
    assert problem.kind == kind and problem.file == f".magicmarkup/pins/a.py/{bad.id}.json"
    assert f"git checkout -- .magicmarkup/pins/a.py/{bad.id}.json" in problem.message  # how to repair
    assert file.read_bytes() == content
    assert store.load("b.py") == [tag]
    assert [t.id for t in store.load("a.py")] == [kept.id]  # its neighbours are unaffected


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b'{"schema_version": 1, "tags": [', "unparsable"),
        (b'{"schema_version": 5, "path": "a.py"}', "newer_schema"),
    ],
)
def test_unparsable_and_newer_legacy_files_are_never_touched(store: Store, content: bytes, kind: str) -> None:
    tag = tagapi.add_tag(store, "b.py", match="x + 1")
    file = store.tag_file("a.py")
    file.parent.mkdir(parents=True)
    file.write_bytes(content)
    report = check(store, fix=True)
    assert [p.kind for p in report.remaining] == [kind]
    assert file.read_bytes() == content
    assert store.load("b.py") == [tag]


def test_a_merge_conflict_is_reported_with_the_command_that_resolves_it(
    repo: Path, store: Store, mm: CliRunner
) -> None:
    tag = tagapi.add_tag(store, "a.py", match="x + 1", note="base")
    other = tagapi.add_tag(store, "b.py", match="y * 2", note="other")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "side")
    tagapi.edit_tag(store, tag.id, note="theirs")
    git(repo, "commit", "-qam", "side")
    git(repo, "checkout", "-q", "main")
    tagapi.edit_tag(store, tag.id, note="ours")
    git(repo, "commit", "-qam", "main")
    assert subprocess.run(["git", "merge", "-q", "side"], cwd=repo, capture_output=True).returncode != 0
    label = f".magicmarkup/pins/a.py/{tag.id}.json"
    report = mm("doctor", "--json")
    assert report.code == 1
    [problem] = report.json()["problems"]
    assert problem["kind"] == "merge_conflict" and problem["file"] == label and problem["tag_id"] == tag.id
    assert f"magicmarkup edit {tag.id}" in problem["message"] and f"git add {label}" in problem["message"]
    fixed = mm("doctor", "--fix")  # nothing to fix automatically: a person decides
    assert fixed.code == 1 and b"<<<<<<<" in store.pin_file("a.py", tag.id).read_bytes()
    listed = mm("list", "--json")
    assert listed.code == 0
    assert {t["id"]: t["metadata"]["note"] for t in listed.json()} == {tag.id: "ours", other.id: "other"}
    assert mm("edit", tag.id, "--note", "merged").code == 0
    assert mm("doctor").code == 0
    git(repo, "add", label)
    git(repo, "commit", "-qm", "merged")
    assert Store(repo).find(tag.id).note == "merged"


def test_fix_never_loses_a_tag(store: Store) -> None:
    made = []
    for needle in ("x + 1", "y * 2", "def f", "def g"):
        made.append(tagapi.add_tag(store, "a.py", match=needle))
        made.append(tagapi.add_tag(store, "b.py", match=needle))
    for tag in made[:2]:  # pinned twice (a move interrupted)
        other = "b.py" if tag.path == "a.py" else "a.py"
        data = store.pin_file(tag.path, tag.id).read_bytes()
        store.pin_file(other, tag.id).write_bytes(
            data.replace(f'"{tag.path}"'.encode(), f'"{other}"'.encode())
        )
    rewrite_pin(store, "b.py", made[3].id, lambda d: d["span"].update(start=0, end=999))
    rewrite_pin(store, "a.py", made[4].id, lambda d: d["span"].update(start=0, end=5))
    assert made[6].anchor.snapshot
    store.snapshot_file(made[6].anchor.snapshot).write_bytes(b"corrupt")
    (store.root / "a.py").write_text(SRC[:20], encoding="utf-8")
    assert not check(store).ok
    assert check(store, fix=True).ok
    after = store.all_tags()
    assert sorted(t.id for t in after) == sorted(t.id for t in made)  # all 8, each once
    assert check(store).ok


def test_cli_doctor_exit_codes_and_json(repo: Path, mm: CliRunner) -> None:
    (repo / "a.py").write_text(SRC, encoding="utf-8")
    assert mm("init").code == 0
    added = mm("add", "a.py", "--match", "x + 1").out.strip()
    ok = mm("doctor")
    assert ok.code == 0 and ok.out.startswith("ok ")
    pin = Store(repo).pin_file("a.py", added)
    doc = json.loads(pin.read_bytes())
    doc["span"]["end"] = 999
    pin.write_text(json.dumps(doc))
    bad = mm("doctor", "--json")
    assert bad.code == 1
    data = bad.json()
    assert data["ok"] is False and data["problems"][0]["kind"] == "span_out_of_range"
    assert data["problems"][0]["tag_id"] == added
    human = mm("doctor")
    assert (
        human.code == 1
        and "span_out_of_range" not in human.out
        and "ends past the end of the file" in human.out
    )
    fixed = mm("doctor", "--fix")
    assert fixed.code == 0 and "[fixed]" in fixed.out and "backups of rewritten files" in fixed.out
    assert mm("doctor").code == 0
