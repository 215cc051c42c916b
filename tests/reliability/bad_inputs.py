"""Bad inputs, each answered by a clear one-line error or a correct placement, never a crash or a
lost tag. Each case builds its own repository, does the hostile thing, checks the answer, and
returns a short description of it. `test_bad_input.py` runs every case; run this module to print
the table for a report:

    python -m tests.reliability.bad_inputs
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from magicmarkup import tags as tagapi
from magicmarkup.doctor import check
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Status, Tag
from magicmarkup.retag import retag_worktree
from magicmarkup.store import Store, dump_tag_file


def store_bytes(store: Store) -> dict[str, bytes]:
    """Every shared store file (not the local view and lock, which live under `store.local_dir`:
    inside `.magicmarkup/cache/` only outside git)."""
    return {
        p.relative_to(store.dir).as_posix(): p.read_bytes()
        for p in sorted(store.dir.rglob("*"))
        if p.is_file() and not p.is_relative_to(store.local_dir)
    }


def refused(store: Store, action: Callable[[], object], *needles: str) -> str:
    """`action` must fail with a one-line MagicMarkupError containing every needle, leaving the
    store byte-for-byte unchanged; returns the message."""
    before = store_bytes(store)
    try:
        action()
    except MagicMarkupError as exc:
        message = str(exc)
    else:
        raise AssertionError("expected an error, got success")
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    assert store_bytes(store) == before, "the store changed"
    return f"error: {message.replace(str(store.root) + '/', '')}"


def placed_exactly(
    store: Store, tag: Tag, statuses: tuple[Status, ...] = (Status.MOVED, Status.ANCHORED)
) -> str:
    """After a retag, the tag sits on exactly its old text in the working tree (the local view),
    and refreshing that view wrote nothing into the shared store."""
    before = store_bytes(store)
    report = retag_worktree(store)
    assert not report.errors, report.errors
    assert store_bytes(store) == before, "refreshing the view changed .magicmarkup/"
    now = tagapi.find_tag(store, tag.id)
    text = store.read_document(now.path)
    assert now.status in statuses, now.status
    assert text[now.span.start : now.span.end] == tag.anchor.text, (
        text[now.span.start : now.span.end],
        tag.anchor.text,
    )
    return f"placed: {now.status.value} {now.span.start}:{now.span.end} on the same text"


def repo(tmp: Path, files: dict[str, bytes | str]) -> Store:
    for name, data in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_bytes(data.encode("utf-8"))
        else:
            path.write_bytes(data)
    return Store.init(tmp)


SRC = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"

# -- documents ------------------------------------------------------------------------------


def binary_file(tmp: Path) -> str:
    store = repo(tmp, {"img.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"})
    return refused(store, lambda: tagapi.add_tag(store, "img.png", span=(0, 3)), "img.png", "binary file")


def invalid_utf8(tmp: Path) -> str:
    store = repo(tmp, {"l.py": "s = 'caf\u00e9'\n".encode("latin-1")})
    return refused(store, lambda: tagapi.add_tag(store, "l.py", span=(0, 1)), "l.py", "not UTF-8")


def became_binary(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    (tmp / "a.py").write_bytes(b"\0\0\0binary now")
    report = retag_worktree(store)
    assert len(report.errors) == 1 and "binary file" in report.errors[0], report.errors
    assert store.find(tag.id) == tag  # the pin is left alone
    assert tagapi.find_tag(store, tag.id).status is Status.ORPHANED  # shown as orphaned meanwhile
    return f"retag reports `{report.errors[0]}`; pin kept unchanged"


def bom(tmp: Path) -> str:
    store = repo(tmp, {"b.py": "\ufeff" + SRC})
    tag = tagapi.add_tag(store, "b.py", match="y * 2")
    assert tag.span.start == SRC.index("y * 2") + 1  # the BOM is one code point
    (tmp / "b.py").write_text("\ufeff# header\n" + SRC, encoding="utf-8")
    return "BOM counted as one code point; " + placed_exactly(store, tag)


def crlf(tmp: Path) -> str:
    store = repo(tmp, {"c.py": SRC.replace("\n", "\r\n")})
    tag = tagapi.add_tag(store, "c.py", lines=(2, 2))
    assert tag.anchor.text == "    return x + 1"  # no \r in the span
    (tmp / "c.py").write_bytes(("# new\r\n" + SRC.replace("\n", "\r\n")).encode())
    return "--lines excludes \\r; " + placed_exactly(store, tag)


def mixed_line_endings(tmp: Path) -> str:
    mixed = "a = 1\r\nb = 2\nc = 3\rd = 4\r\n"
    store = repo(tmp, {"m.py": mixed})
    tag = tagapi.add_tag(store, "m.py", match="b = 2")
    (tmp / "m.py").write_bytes(mixed.replace("\r\n", "\n").encode())  # an editor normalised it
    return placed_exactly(store, tag)


def tabs_to_spaces(tmp: Path) -> str:
    store = repo(tmp, {"t.py": "def f(x):\n\tif x:\n\t\treturn x + 1\n\treturn 0\n"})
    tag = tagapi.add_tag(store, "t.py", match="\t\treturn x + 1")
    (tmp / "t.py").write_text("def f(x):\n    if x:\n        return x + 1\n    return 0\n", encoding="utf-8")
    report = retag_worktree(store)
    assert not report.errors
    now = tagapi.find_tag(store, tag.id)
    text = store.read_document("t.py")
    assert now.status.placed and text[now.span.start : now.span.end].strip() == "return x + 1", now
    return f"placed: {now.status.value} (confidence {now.confidence:.2f}) on the re-indented line"


def big_file(tmp: Path, lines: int, width: int, label: str) -> str:
    body = "".join(f"v{i:07d} = {'x' * width}\n" for i in range(lines))
    store = repo(tmp, {"big.py": body})
    began = time.perf_counter()
    tag = tagapi.add_tag(store, "big.py", match=f"v{lines // 2:07d} = ")
    added = time.perf_counter() - began
    (tmp / "big.py").write_text("# top\n" + body + "# end\n", encoding="utf-8")
    began = time.perf_counter()
    answer = placed_exactly(store, tag)
    return f"{label}: add {added:.2f} s, retag {time.perf_counter() - began:.2f} s; {answer}"


def ten_mb_file(tmp: Path) -> str:
    return big_file(tmp, 100_000, 90, "10 MB")


def two_hundred_thousand_lines(tmp: Path) -> str:
    return big_file(tmp, 200_000, 4, "200,000 lines")


def empty_file(tmp: Path) -> str:
    store = repo(tmp, {"e.py": ""})
    answers = [
        refused(store, lambda: tagapi.add_tag(store, "e.py", lines=(1, 1)), "e.py", "past the end"),
        refused(store, lambda: tagapi.add_tag(store, "e.py", span=(0, 0)), "e.py", "empty"),
        refused(store, lambda: tagapi.add_tag(store, "e.py", match="x"), "e.py", "not found"),
    ]
    return " / ".join(answers)


def became_empty(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    (tmp / "a.py").write_text("", encoding="utf-8")
    retag_worktree(store)
    now = tagapi.find_tag(store, tag.id)
    assert now.status is Status.ORPHANED and now.anchor.text == "x + 1"
    assert store.find(tag.id) == tag  # the pin keeps its last anchor, for when the code returns
    return "orphaned (kept, with its last anchor)"


def became_directory(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    (tmp / "a.py").unlink()
    (tmp / "a.py").mkdir()
    report = retag_worktree(store)
    assert report.errors and "is a directory" in report.errors[0] and "a.py" in report.errors[0]
    assert store.find(tag.id) == tag
    assert tagapi.find_tag(store, tag.id).status is Status.ORPHANED  # shown orphaned meanwhile
    return f"retag reports `{report.errors[0]}`; pin kept unchanged"


def became_symlink_inside(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC, "real/a.py": "# moved\n" + SRC})
    tag = tagapi.add_tag(store, "a.py", match="y * 2")
    (tmp / "a.py").unlink()
    (tmp / "a.py").symlink_to(tmp / "real" / "a.py")
    return "followed the link inside the repo; " + placed_exactly(store, tag)


def became_symlink_outside(tmp: Path) -> str:
    outside = tmp.parent / f"{tmp.name}-outside.py"
    outside.write_text(SRC, encoding="utf-8")
    store = repo(tmp / "r", {"a.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="y * 2")
    (store.root / "a.py").unlink()
    (store.root / "a.py").symlink_to(outside)
    report = retag_worktree(store)  # reported for this file; the others would still be retagged
    [error] = report.errors
    assert "a.py" in error and "outside the repository" in error, error
    assert store.find(tag.id) == tag
    return f"retag: reported {error!r}; pin kept unchanged"


def span_past_end(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    return refused(
        store, lambda: tagapi.add_tag(store, "a.py", span=(5, len(SRC) + 10)), "a.py", "past the end"
    )


def start_after_end(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    return refused(store, lambda: tagapi.add_tag(store, "a.py", span=(9, 3)), "a.py", "start after end")


# -- the store ------------------------------------------------------------------------------


def _with_pin(
    tmp: Path, edit: Callable[[dict[str, object]], object] | None, raw: bytes | None = None
) -> tuple[Store, Tag]:
    """Two tags on a.py; the pin file of the first is then damaged (by `edit` or replaced by `raw`)."""
    store = repo(tmp, {"a.py": SRC, "b.py": SRC})
    victim = tagapi.add_tag(store, "a.py", match="x + 1")
    tagapi.add_tag(store, "a.py", match="def g")
    file = store.pin_file("a.py", victim.id)
    if raw is not None:
        file.write_bytes(raw)
    elif edit is not None:
        doc = json.loads(file.read_bytes())
        edit(doc)
        file.write_text(json.dumps(doc), encoding="utf-8")
    return store, victim


def _named_never_hiding(store: Store, victim: Tag, *needles: str) -> str:
    """The damaged pin is named (one line) wherever it is read; every other tag still lists; writes
    to its document work and never touch it; `doctor` flags it."""
    file = store.pin_file("a.py", victim.id)
    label = f".magicmarkup/pins/a.py/{victim.id}.json"
    damaged = file.read_bytes()
    fresh = Store(store.root)
    listed = tagapi.list_tags(fresh)
    assert [t.anchor.text for t in listed] == ["def g"], listed
    [problem] = fresh.problems
    assert label in problem and "\n" not in problem and all(n in problem for n in needles), problem
    answer = refused(store, lambda: Store(store.root).find(victim.id), label, *needles)
    added = tagapi.add_tag(store, "a.py", match="y * 2")  # the document keeps working
    tagapi.add_tag(store, "b.py", match="y * 2")  # and so do the others
    with store.edit("a.py") as tags:
        tags[:] = [t for t in tags if t.id == added.id]  # even a save that drops every other tag
    assert file.read_bytes() == damaged, "the damaged pin was overwritten or removed"
    report = check(store)
    assert not report.ok and report.remaining[0].file == label, report.to_json()
    assert check(store, fix=True).remaining and file.read_bytes() == damaged  # not "fixed" away
    return (
        f"list shows the others and names it: `{problem}`; show: {answer}; writes leave it; doctor flags it"
    )


def store_truncated(tmp: Path) -> str:
    store, victim = _with_pin(tmp, None)
    file = store.pin_file("a.py", victim.id)
    file.write_bytes(file.read_bytes()[:120])
    return _named_never_hiding(store, victim, "invalid JSON")


def store_wrong_types(tmp: Path) -> str:
    store, victim = _with_pin(tmp, lambda d: d["span"].update(start="ten"))  # type: ignore[attr-defined]
    return _named_never_hiding(store, victim, "span.start")


def store_unknown_fields(tmp: Path) -> str:
    def add_fields(doc: dict[str, object]) -> None:
        doc["colour_v2"] = {"rgb": [1, 2, 3]}

    store, victim = _with_pin(tmp, add_fields)
    fresh = Store(store.root)
    assert len(fresh.all_tags()) == 2 and fresh.problems == []
    tagapi.edit_tag(store, victim.id, note="still here")
    again = json.loads(store.pin_file("a.py", victim.id).read_bytes())
    assert again["colour_v2"] == {"rgb": [1, 2, 3]} and again["metadata"]["note"] == "still here"
    assert check(store).ok
    return "accepted; unknown tag fields kept through an edit"


def store_newer_schema(tmp: Path) -> str:
    store, victim = _with_pin(tmp, lambda d: d.update(schema_version=99))
    return _named_never_hiding(store, victim, "schema_version 99 is newer")


def store_not_json(tmp: Path) -> str:
    store, victim = _with_pin(tmp, None, raw=os.urandom(64) + b"\xff")
    return _named_never_hiding(store, victim, "corrupt store file")


def store_conflict_markers(tmp: Path) -> str:
    def ours_theirs(note: str) -> bytes:
        doc = dict(pin)
        doc["metadata"] = {"note": note}
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    store, victim = _with_pin(tmp, None)
    file = store.pin_file("a.py", victim.id)
    pin = json.loads(file.read_bytes())
    ours, theirs = (
        ours_theirs("ours").splitlines(keepends=True),
        ours_theirs("theirs").splitlines(keepends=True),
    )
    i = next(k for k, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
    file.write_bytes(
        b"".join(
            [
                *ours[:i],
                b"<<<<<<< HEAD\n",
                ours[i],
                b"=======\n",
                theirs[i],
                b">>>>>>> side\n",
                *ours[i + 1 :],
            ]
        )
    )
    fresh = Store(store.root)
    assert sorted(t.note for t in tagapi.list_tags(fresh)) == ["", "ours"] and fresh.problems == []
    assert tagapi.find_tag(store, victim.id).note == "ours"
    [problem] = check(store).remaining
    assert problem.kind == "merge_conflict" and problem.tag_id == victim.id
    tagapi.edit_tag(store, victim.id, note="resolved")
    assert b"<<<<<<<" not in file.read_bytes() and check(store).ok
    return "reads as ours; doctor names it and the command that resolves it; an edit resolves it"


def _legacy(store: Store, rel: str, edit: Callable[[dict[str, object]], object]) -> Path:
    """Turn `rel`'s pins into a schema-2 file (one per document), as an older version wrote it."""
    tags = store.load(rel)
    doc: dict[str, object] = json.loads(dump_tag_file(rel, tags))
    doc["schema_version"] = 2
    edit(doc)
    file = store.tag_file(rel)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(doc), encoding="utf-8")
    shutil.rmtree(store.pin_dir(rel))
    return file


def duplicate_ids_in_file(tmp: Path) -> str:
    """One tag per pin file: only a legacy (schema-2) file can hold an id twice."""
    store = repo(tmp, {"a.py": SRC, "b.py": SRC})
    tagapi.add_tag(store, "a.py", match="x + 1")
    other = tagapi.add_tag(store, "b.py", match="x + 1")
    file = _legacy(store, "a.py", lambda d: d["tags"].append(dict(d["tags"][0])))  # type: ignore[attr-defined]
    fresh = Store(store.root)
    assert [t.id for t in fresh.all_tags()] == [other.id]  # the other documents still list
    [problem] = fresh.problems
    assert "tags/a.py.json" in problem and "duplicate tag id" in problem, problem
    report = check(store, fix=True)
    assert report.ok and report.backup_dir, report.to_json()
    tags = store.all_tags()
    assert len(tags) == 3 and len({t.id for t in tags}) == 3 and not store.problems
    assert file.exists()
    return f"named: `{problem}`; doctor --fix gives one a new id (both kept, backup written)"


def duplicate_ids_across_files(tmp: Path) -> str:
    """The same tag pinned under two documents (a move cut short): deduped, one copy backed up."""
    store = repo(tmp, {"a.py": SRC, "b.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    copy = tag.model_copy(update={"path": "b.py"})
    with store.locked():
        store.save("b.py", [copy])
    assert sorted(t.path for t in Store(store.root).all_tags()) == ["a.py", "b.py"]
    report = check(store)
    assert [p.kind for p in report.remaining] == ["duplicate_id"]
    fixed = check(store, fix=True)
    assert fixed.ok and fixed.backup_dir and [t.id for t in store.all_tags()] == [tag.id]
    assert check(store).problems == []
    return "doctor: `" + report.remaining[0].message + "`; --fix keeps one copy (the other backed up)"


def tag_path_escapes(tmp: Path) -> str:
    store, victim = _with_pin(tmp, lambda d: d.update(path="../../etc/passwd"))
    fresh = Store(store.root)
    assert {t.path for t in fresh.all_tags()} == {"a.py"} and not fresh.problems  # the folder is the truth
    assert tagapi.find_tag(store, victim.id).path == "a.py"
    report = check(store)
    [problem] = report.remaining
    assert problem.kind == "path_mismatch" and "../../etc/passwd" in problem.message
    assert check(store, fix=True).ok
    assert json.loads(store.pin_file("a.py", victim.id).read_bytes())["path"] == "a.py"
    legacy_store = repo(tmp / "legacy", {"a.py": SRC})
    tagapi.add_tag(legacy_store, "a.py", match="x + 1")
    _legacy(legacy_store, "a.py", lambda d: d["tags"][0].update(path="../../etc/passwd"))  # type: ignore[index]
    old = Store(legacy_store.root)
    assert old.all_tags() == [] and "has path '../../etc/passwd'" in old.problems[0]
    return (
        "pin: its folder is the truth (read as a.py), doctor --fix rewrites the field; "
        f"legacy file: named `{old.problems[0]}`"
    )


def dotdot_path(tmp: Path) -> str:
    store = repo(tmp / "r", {"a.py": SRC})
    (tmp / "secret.py").write_text("k = 1\n")
    return refused(
        store, lambda: tagapi.add_tag(store, "../secret.py", span=(0, 1)), "escapes the repository"
    )


def absolute_path(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    return refused(store, lambda: store.relpath("/etc/hostname", store.root), "outside the repository")


def symlink_out(tmp: Path) -> str:
    (tmp / "secret.py").write_text("k = 1\n")
    store = repo(tmp / "r", {"a.py": SRC})
    (store.root / "link.py").symlink_to(tmp / "secret.py")
    return refused(store, lambda: tagapi.add_tag(store, "link.py", span=(0, 1)), "outside the repository")


def snapshot_missing(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="y * 2")
    assert tag.anchor.snapshot
    store.snapshot_file(tag.anchor.snapshot).unlink()
    (tmp / "a.py").write_text("# new\n" + SRC, encoding="utf-8")
    report = check(store)
    assert [p.kind for p in report.remaining] == ["missing_snapshot"]
    answer = placed_exactly(store, tag, (Status.MOVED, Status.ANCHORED, Status.CHANGED))
    fixed = check(store, fix=True)  # the document changed: the dangling reference is cleared
    assert fixed.ok and store.find(tag.id).anchor.snapshot is None, fixed.to_json()
    assert check(store).ok
    again = placed_exactly(store, tag, (Status.MOVED, Status.ANCHORED, Status.CHANGED))
    return f"doctor flags it; the view falls back to the anchor's context: {answer}; after --fix: {again}"


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Path], str]
    known_bug: str | None = None  # a library bug this case shows (the test is a strict xfail)


CASES = [
    Case("binary file", binary_file),
    Case("invalid UTF-8", invalid_utf8),
    Case("tagged file became binary", became_binary),
    Case("BOM", bom),
    Case("CRLF line endings", crlf),
    Case("mixed line endings (then normalised)", mixed_line_endings),
    Case("tabs re-indented as spaces", tabs_to_spaces),
    Case("10 MB file", ten_mb_file),
    Case("200,000-line file", two_hundred_thousand_lines),
    Case("empty file", empty_file),
    Case("tagged file emptied", became_empty),
    Case("file became a directory", became_directory),
    Case("file became a symlink (inside)", became_symlink_inside),
    Case("file became a symlink (outside)", became_symlink_outside),
    Case("span past the end", span_past_end),
    Case("span start > end", start_after_end),
    Case("store JSON truncated", store_truncated),
    Case("store JSON wrong types", store_wrong_types),
    Case("store JSON random bytes", store_not_json),
    Case("store JSON unknown fields", store_unknown_fields),
    Case("store newer schema_version", store_newer_schema),
    Case("store pin with merge-conflict markers", store_conflict_markers),
    Case("duplicate ids in one file", duplicate_ids_in_file),
    Case("duplicate ids across files", duplicate_ids_across_files),
    Case("tag path ../../etc/passwd in store", tag_path_escapes),
    Case("path ../", dotdot_path),
    Case("absolute path outside", absolute_path),
    Case("symlink pointing out", symlink_out),
    Case("snapshot missing", snapshot_missing),
]


def main() -> int:
    failed = 0
    print("| input | answer |\n|---|---|")
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                answer = case.run(Path(tmp))
            except BaseException as exc:
                if case.known_bug:
                    answer = f"KNOWN BUG: {case.known_bug}"
                else:
                    failed += 1
                    answer = f"FAILED: {type(exc).__name__}: {exc}"
        print(f"| {case.name} | {answer.replace('|', '/')} |")
    print(f"\n{len(CASES) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
