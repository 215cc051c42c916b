"""A tag's history lives in an append-only log beside its pins (schemas 2 and 3).

Loading every tag (`list`) does not read the logs; loading one document does. The log only
grows, survives a crash mid-append, merges by union in git, a bad line is named and never hides
the tag, and schema-1 files (history inline) still load and move their history into the log (and
the tags into pins) when next saved.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import orjson
import pytest

from magicmarkup.doctor import BAD_HISTORY, TORN_HISTORY, check
from magicmarkup.model import Anchor, RetagEvent, Span, Status, Tag
from magicmarkup.store import Store


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "a.py").write_text("x = 1\ny = 2\n", encoding="utf-8")
    store = Store.init(repo)
    # The shared log as a commit writes it; a person's act appends to a pending copy under the
    # git dir until a commit publishes it (tests/test_team_loop.py).
    store.publishing = True
    return store


def event(method: str, start: int = 0) -> RetagEvent:
    return RetagEvent(
        old_span=Span(start=start, end=start + 5),
        new_span=Span(start=start, end=start + 5),
        status=Status.MOVED,
        method=method,
        confidence=1.0,
    )


def tag_with(*methods: str, path: str = "a.py") -> Tag:
    return Tag(
        path=path,
        span=Span(start=0, end=5),
        anchor=Anchor(text="x = 1", start=0),
        history=[event(m) for m in methods],
    )


def log_lines(store: Store, rel: str = "a.py") -> list[dict[str, object]]:
    return [json.loads(line) for line in store.history_file(rel).read_bytes().splitlines()]


def test_history_goes_to_the_log_not_the_tag_file(store: Store) -> None:
    tag = tag_with("diff", "fuzzy")
    with store.locked():
        store.save("a.py", [tag])
    on_disk = json.loads(store.pin_file("a.py", tag.id).read_bytes())
    assert on_disk["schema_version"] == 3 and "history" not in on_disk
    assert not store.tag_file("a.py").exists()
    assert [(r["tag"], r["method"]) for r in log_lines(store)] == [(tag.id, "diff"), (tag.id, "fuzzy")]
    assert [e.method for e in store.load("a.py")[0].history] == ["diff", "fuzzy"]
    assert store.all_tags()[0].history == []  # the bulk load does not read logs
    assert [e.method for e in store.all_tags(history=True)[0].history] == ["diff", "fuzzy"]
    assert [e.method for e in store.find(tag.id[-6:]).history] == ["diff", "fuzzy"]


def test_saving_appends_only_new_events_however_the_tag_was_loaded(store: Store) -> None:
    with store.locked():
        store.save("a.py", [tag_with("first")])
    with store.edit("a.py") as tags:  # loaded with its history
        tags[0].history.append(event("second"))
    [bulk] = store.all_tags()  # loaded without it
    bulk.history.append(event("third"))
    with store.locked():
        store.save("a.py", [bulk])
    with store.locked():
        store.save("a.py", [bulk])  # saving again adds nothing
    assert [r["method"] for r in log_lines(store)] == ["first", "second", "third"]
    assert [e.method for e in store.load("a.py")[0].history] == ["first", "second", "third"]


def test_a_renamed_document_takes_its_tags_whole_history(store: Store) -> None:
    with store.locked():
        store.save("a.py", [tag_with("one", "two")])
    [tag] = store.load("a.py")
    moved = tag.model_copy(update={"path": "b.py"})
    moved.history.append(event("renamed"))
    with store.locked():
        store.save("b.py", [moved])
        store.save("a.py", [])
    assert [e.method for e in store.load("b.py")[0].history] == ["one", "two", "renamed"]


def test_a_torn_append_is_ignored_then_cut_off(store: Store) -> None:
    with store.locked():
        store.save("a.py", [tag_with("one")])
    log = store.history_file("a.py")
    whole = log.read_bytes()
    log.write_bytes(whole + whole[: len(whole) // 2])  # a crash in the middle of an append
    assert [e.method for e in store.load("a.py")[0].history] == ["one"]
    report = check(store)
    assert report.ok and [p.kind for p in report.problems] == [TORN_HISTORY]
    with store.edit("a.py") as tags:
        tags[0].history.append(event("two"))
    assert log.read_bytes().count(b"\n") == 2 and log.read_bytes().endswith(b"\n")
    assert [e.method for e in store.load("a.py")[0].history] == ["one", "two"]
    assert check(store).problems == []


def test_a_bad_line_names_the_file_and_line_and_doctor_moves_it_to_the_backup(store: Store) -> None:
    with store.locked():
        store.save("a.py", [tag_with("one")])
    log = store.history_file("a.py")
    good = log.read_bytes()
    log.write_bytes(good + b'{"tag": "x", "method": 3}\n' + good)
    fresh = Store(store.root)
    [tag] = fresh.load("a.py")  # the tag is still there; only its history is not
    [problem] = fresh.problems
    assert "history/a.py.jsonl:2: invalid history event" in problem and "\n" not in problem
    assert len(Store(store.root).all_tags()) == 1  # `list` still works
    assert Store(store.root).find(tag.id).id == tag.id  # and so does `show`
    with store.edit("a.py") as tags:  # a write does not rewrite (or lose) the damaged log
        tags[0].metadata["k"] = 1
    assert log.read_bytes() == good + b'{"tag": "x", "method": 3}\n' + good
    report = check(store)
    assert not report.ok and [p.kind for p in report.problems] == [BAD_HISTORY]
    fixed = check(store, fix=True)
    assert fixed.ok and fixed.backup_dir is not None
    assert [e.method for e in store.load("a.py")[0].history] == ["one"]  # the repeat is dropped too
    backup = store.root / fixed.backup_dir / "history" / "a.py.jsonl"
    assert b'"method": 3' in backup.read_bytes()


def test_schema_1_files_load_and_move_their_history_to_the_log(store: Store) -> None:
    tag = tag_with("old-one", "old-two")
    doc = {"schema_version": 1, "path": "a.py", "tags": [tag.model_dump(mode="json")]}
    file = store.tag_file("a.py")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(orjson.dumps(doc))
    assert [e.method for e in store.all_tags()[0].history] == ["old-one", "old-two"]
    assert [e.method for e in store.load("a.py")[0].history] == ["old-one", "old-two"]
    with store.edit("a.py") as tags:
        tags[0].history.append(event("new"))
    assert not file.exists()  # migrated: one pin, no history in it
    pin = json.loads(store.pin_file("a.py", tag.id).read_bytes())
    assert pin["schema_version"] == 3 and "history" not in pin
    assert [r["method"] for r in log_lines(store)] == ["old-one", "old-two", "new"]
    assert [e.method for e in Store(store.root).load("a.py")[0].history] == ["old-one", "old-two", "new"]


def test_git_merges_history_logs_by_union(store: Store) -> None:
    with store.locked():
        store.save("a.py", [tag_with("one")])
    out = subprocess.run(
        ["git", "check-attr", "merge", ".magicmarkup/history/a.py.jsonl"],
        cwd=store.root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().endswith("merge: union")
