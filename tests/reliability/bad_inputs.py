"""Bad inputs, each answered by a clear one-line error or a correct placement, never a crash or a
lost tag. Each case builds its own repository, does the hostile thing, checks the answer, and
returns a short description of it. `test_bad_input.py` runs every case; run this module to print
the table for a report:

    python -m tests.reliability.bad_inputs
"""

from __future__ import annotations

import json
import os
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
from magicmarkup.store import Store


def store_bytes(store: Store) -> dict[str, bytes]:
    return {
        p.relative_to(store.dir).as_posix(): p.read_bytes()
        for p in sorted(store.dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
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
    """After a retag, the tag sits on exactly its old text."""
    report = retag_worktree(store)
    assert not report.errors, report.errors
    now = store.find(tag.id)
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
    assert store.find(tag.id) == tag  # left alone, not orphaned
    return f"retag reports `{report.errors[0]}`; tag kept unchanged"


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
    now = store.find(tag.id)
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
    now = store.find(tag.id)
    assert now.status is Status.ORPHANED and now.anchor.text == "x + 1"
    return "orphaned (kept, with its last anchor)"


def became_directory(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    (tmp / "a.py").unlink()
    (tmp / "a.py").mkdir()
    report = retag_worktree(store)
    assert report.errors and "is a directory" in report.errors[0]
    assert store.find(tag.id) == tag
    return f"retag reports `{report.errors[0]}`; tag kept unchanged"


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
    return f"retag: reported {error!r}; tag kept unchanged"


def span_past_end(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    return refused(
        store, lambda: tagapi.add_tag(store, "a.py", span=(5, len(SRC) + 10)), "a.py", "past the end"
    )


def start_after_end(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC})
    return refused(store, lambda: tagapi.add_tag(store, "a.py", span=(9, 3)), "a.py", "start after end")


# -- the store ------------------------------------------------------------------------------


def _with_tag_file(
    tmp: Path, edit: Callable[[dict[str, object]], object] | None, raw: bytes | None = None
) -> Store:
    store = repo(tmp, {"a.py": SRC, "b.py": SRC})
    tagapi.add_tag(store, "a.py", match="x + 1")
    file = store.tag_file("a.py")
    if raw is not None:
        file.write_bytes(raw)
    elif edit is not None:
        doc = json.loads(file.read_bytes())
        edit(doc)
        file.write_text(json.dumps(doc), encoding="utf-8")
    return store


def _refused_everywhere(store: Store, *needles: str) -> str:
    answer = refused(store, lambda: tagapi.add_tag(store, "a.py", match="y * 2"), "tags/a.py.json", *needles)
    refused(store, lambda: store.all_tags(), "tags/a.py.json", *needles)
    tagapi.add_tag(store, "b.py", match="y * 2")  # other documents keep working
    report = check(store)
    assert not report.ok and report.remaining[0].file == ".magicmarkup/tags/a.py.json"
    return answer + "; other documents still work; doctor flags it"


def store_truncated(tmp: Path) -> str:
    store = _with_tag_file(tmp, None)
    file = store.tag_file("a.py")
    file.write_bytes(file.read_bytes()[:120])
    return _refused_everywhere(store, "invalid JSON")


def store_wrong_types(tmp: Path) -> str:
    store = _with_tag_file(tmp, lambda d: d["tags"][0]["span"].update(start="ten"))  # type: ignore[index]
    return _refused_everywhere(store, "span.start")


def store_unknown_fields(tmp: Path) -> str:
    def add_fields(doc: dict[str, object]) -> None:
        doc["tags"][0]["colour_v2"] = {"rgb": [1, 2, 3]}  # type: ignore[index]

    store = _with_tag_file(tmp, add_fields)
    tag_id = store.all_tags()[0].id
    tagapi.edit_tag(store, tag_id, note="still here")
    again = json.loads(store.tag_file("a.py").read_bytes())["tags"][0]
    assert again["colour_v2"] == {"rgb": [1, 2, 3]} and again["metadata"]["note"] == "still here"
    return "accepted; unknown tag fields kept through an edit"


def store_newer_schema(tmp: Path) -> str:
    store = _with_tag_file(tmp, lambda d: d.update(schema_version=99))
    return _refused_everywhere(store, "schema_version 99 is newer")


def store_not_json(tmp: Path) -> str:
    store = _with_tag_file(tmp, None, raw=os.urandom(64) + b"\xff")
    return _refused_everywhere(store, "corrupt store file")


def duplicate_ids_in_file(tmp: Path) -> str:
    store = _with_tag_file(tmp, lambda d: d["tags"].append(dict(d["tags"][0])))  # type: ignore[index, attr-defined]
    answer = refused(store, lambda: store.all_tags(), "duplicate tag id")
    report = check(store, fix=True)
    assert report.ok and report.backup_dir, report.to_json()
    tags = store.all_tags()
    assert len(tags) == 2 and len({t.id for t in tags}) == 2
    return answer + "; doctor --fix gives one a new id (both kept, backup written)"


def duplicate_ids_across_files(tmp: Path) -> str:
    store = repo(tmp, {"a.py": SRC, "b.py": SRC})
    tag = tagapi.add_tag(store, "a.py", match="x + 1")
    copy = tag.model_copy(update={"path": "b.py"})
    store.save("b.py", [copy])
    report = check(store)
    assert [p.kind for p in report.remaining] == ["duplicate_id"]
    fixed = check(store, fix=True)
    assert fixed.ok and len({t.id for t in store.all_tags()}) == 2
    return "doctor: `" + report.remaining[0].message + "`; --fix renames one (both kept)"


def tag_path_escapes(tmp: Path) -> str:
    store = _with_tag_file(tmp, lambda d: d["tags"][0].update(path="../../etc/passwd"))  # type: ignore[index]
    return _refused_everywhere(store, "has path '../../etc/passwd'")


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
    assert check(store).ok  # the retag re-anchored it in a fresh snapshot
    return "doctor flags it; retag falls back to the anchor's context: " + answer


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Path], str]


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
                failed += 1
                answer = f"FAILED: {type(exc).__name__}: {exc}"
        print(f"| {case.name} | {answer.replace('|', '/')} |")
    print(f"\n{len(CASES) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
