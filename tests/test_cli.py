"""The CLI end to end through its real entry point (`python -m magicmarkup` in a temp git repo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magicmarkup.store import Store
from tests.conftest import CliRunner
from tests.test_store import snapshot_bytes

SOURCE = "def total(price, qty):\n    return price * qty\n\n\ndef twice(x):\n    return x * 2\n"


@pytest.fixture
def ready(repo: Path, cli: CliRunner) -> Path:
    (repo / "app.py").write_text(SOURCE, encoding="utf-8")
    assert cli("init").code == 0
    return repo


def test_readme_flow_init_add_list_json(repo: Path, cli: CliRunner) -> None:
    (repo / "app.py").write_text(SOURCE, encoding="utf-8")
    init = cli("init", "--json")
    assert init.code == 0 and init.json()["store"] == str((repo / ".magicmarkup").resolve())
    added = cli("add", "app.py", "--match", "price * qty", "--note", "hi")
    assert added.code == 0, added.err
    tag_id = added.out.strip()
    assert len(tag_id) == 26  # stdout: the id alone, for scripts
    assert added.err == "tagged app.py:2:12-2:22: price * qty\n"
    [row] = cli("list", "--json").json()
    start = SOURCE.index("price * qty")
    assert row == {
        "id": tag_id,
        "path": "app.py",
        "start": start,
        "end": start + len("price * qty"),
        "text": "price * qty",
        "status": "anchored",
        "confidence": 1.0,
        "method": "manual",
        "metadata": {"note": "hi"},
        "start_line": 2,
        "start_col": 12,
        "end_line": 2,
        "end_col": 22,
        "current_text": "price * qty",
        "tagged_text": "price * qty",
    }


def test_add_variants_list_table_show_edit_rm(ready: Path, cli: CliRunner) -> None:
    by_lines = cli(
        "add", "app.py", "--lines", "5:6", "--meta", "author=ana", "--meta", "n=3", "--json"
    ).json()
    assert by_lines["anchor"]["text"] == "def twice(x):\n    return x * 2"
    assert by_lines["metadata"] == {"author": "ana", "n": 3}
    by_span = cli("add", "app.py", "--span", "0:3", "--json").json()
    assert by_span["anchor"]["text"] == "def"
    nth = cli("add", str(ready / "app.py"), "--match", "return", "--nth", "2", "--note", "second", "--json")
    assert nth.json()["span"]["start_line"] == 6  # absolute paths inside the repo are accepted
    sub = ready / "sub"
    sub.mkdir()
    from_sub = cli("add", "../app.py", "--match", "qty)", "--json", cwd=sub)
    assert from_sub.code == 0, from_sub.err
    assert from_sub.json()["path"] == "app.py"

    table = cli("list")
    assert table.code == 0
    for needle in ("app.py:5:1-6:16", "app.py:1:1-1:3", "anchored", "def twice(x):"):
        assert needle in table.out
    shown_ids = [line.split()[0] for line in table.out.splitlines()[1:]]
    assert len(shown_ids) == 4
    for shown in shown_ids:  # every id `list` shows is one `show` accepts
        assert cli("show", shown, "--json").json()["id"].startswith(shown)
    anchored = cli("list", "app.py", "--status", "anchored", "--json").json()
    assert anchored[0]["id"] == by_span["id"]
    assert cli("list", "--status", "orphaned", "--json").json() == []
    assert "no tags" in cli("list", "--status", "orphaned").out

    shown = cli("show", by_lines["id"][:14], "--json").json()
    assert shown["current_text"] == by_lines["anchor"]["text"] and shown["history"] == []
    human = cli("show", by_lines["id"])
    assert human.code == 0 and "return x * 2" in human.out and "author" in human.out

    edited = cli(
        "edit", by_lines["id"], "--note", "new note", "--meta", "color=red", "--unset", "n", "--json"
    )
    assert edited.json()["metadata"] == {"author": "ana", "color": "red", "note": "new note"}
    assert "edited" in cli("edit", by_lines["id"], "--meta", "k=v").out
    removed = cli("rm", by_span["id"], "--json")
    assert removed.json()["id"] == by_span["id"]
    assert by_span["id"] not in {t["id"] for t in cli("list", "--json").json()}
    assert "removed" in cli("rm", by_lines["id"]).out
    assert len(cli("list", "--json").json()) == 2


def test_export_import_between_repos(ready: Path, cli: CliRunner, tmp_path: Path) -> None:
    a = cli("add", "app.py", "--match", "twice", "--note", "n").out.strip()
    cli("add", "app.py", "--lines", "1")
    exported = cli("export", "--json")
    data = exported.json()
    assert {t["id"] for t in data["tags"]} >= {a} and len(data["snapshots"]) == 1
    out_file = tmp_path / "backup.json"
    assert "exported 2 tags" in cli("export", "-o", str(out_file)).out
    assert json.loads(out_file.read_text()) == data

    other = tmp_path / "other"
    other.mkdir()
    (other / "app.py").write_text(SOURCE, encoding="utf-8")
    assert cli("init", cwd=other).code == 0
    assert cli("import", str(out_file), "--json", cwd=other).json() == {"imported": 2, "skipped": 0}
    assert "imported 0 tags, skipped 2" in cli("import", str(out_file), cwd=other).out
    assert cli("list", "--json", cwd=other).json() == cli("list", "--json").json()
    assert cli("gc", "--json", cwd=other).json()["removed"] == 0


BAD_INPUTS = [
    (["add", "../outside.py", "--span", "0:1"], "outside the repository"),
    (["add", "latin.py", "--span", "0:1"], "latin.py: not UTF-8 text"),
    (["add", "blob.bin", "--span", "0:1"], "blob.bin: binary file"),
    (["add", "app.py", "--span", "0:100000"], "app.py: span 0:100000 is past the end of the file"),
    (["add", "app.py", "--span", "9:3"], "app.py: span 9:3 is empty or has start after end"),
    (["add", "app.py", "--span", "a:b"], "expected N or A:B"),
    (["add", "app.py", "--match", "nowhere"], "app.py: --match text not found"),
    (["add", "app.py", "--match", "return"], "app.py: --match text occurs 2 times"),
    (["add", "app.py", "--nth", "2", "--lines", "1"], "--nth goes with --match"),
    (["add", "app.py", "--lines", "1", "--meta", "novalue"], "expected KEY=VALUE"),
    (["add", "missing.py", "--lines", "1"], "missing.py: no such file"),
    (["show", "zzzzzz"], "zzzzzz: no such tag"),
    (["edit", "zzzzzz", "--note", "x"], "zzzzzz: no such tag"),
    (["rm", "zzzzzz"], "zzzzzz: no such tag"),
    (["import", "nothere.json"], "nothere.json: no such file"),
    (["retag"], "say what to retag"),
]


def test_bad_input_is_one_line_nonzero_and_store_unchanged(ready: Path, cli: CliRunner) -> None:
    """Every bad input of issue 2, in one repository (one `init`, to keep the suite fast)."""
    (ready / "latin.py").write_bytes("x = 'caf\u00e9'\n".encode("latin-1"))
    (ready / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (ready.parent / "outside.py").write_text("x = 1\n")
    assert cli("add", "app.py", "--match", "twice").code == 0
    store = Store(ready)
    before = snapshot_bytes(store)
    for args, message in BAD_INPUTS:
        result = cli(*args)
        assert result.code != 0, args
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, (args, result.err)
        assert lines[0].startswith("error: ") and message in lines[0], (args, lines[0])
        assert "Traceback" not in result.err and result.out == "", args
        assert snapshot_bytes(store) == before, args


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema_version": 1, "path": "app.py", "tags": [', "corrupt store file (invalid JSON"),
        ('{"schema_version": 99, "id": "x"}', "schema_version 99 is newer"),
    ],
    ids=["corrupt", "newer"],
)
def test_bad_store_file_names_the_file_and_is_never_overwritten(
    ready: Path, cli: CliRunner, content: str, message: str
) -> None:
    added = cli("add", "app.py", "--match", "twice", "--json")
    assert added.code == 0, added.err
    tag_id = added.json()["id"]
    pin = f".magicmarkup/pins/app.py/{tag_id}.json"
    (ready / pin).write_text(content, encoding="utf-8")
    store = Store(ready)
    # another tag on the same document is added beside it: the bad file is not touched
    other = cli("add", "app.py", "--lines", "1", "--json")
    assert other.code == 0, other.err
    before = snapshot_bytes(store)
    listed = cli("list", "--json")  # every other tag is listed, the bad file named, exit status 1
    assert listed.code == 1 and [t["id"] for t in listed.json()] == [other.json()["id"]]
    err = listed.err.strip()
    assert "\n" not in err and pin in err and message in err, err
    shown = cli("show", tag_id)
    assert shown.code == 1 and pin in shown.err and message in shown.err, shown.err
    exported = cli("export")  # a backup that silently left a tag out would be worse than none
    assert exported.code == 1 and pin in exported.err and exported.out == ""
    # retag goes on with the other documents and warns about this one
    retag = cli("retag", "--worktree", "--no-llm")
    assert f"warning: {pin}" in retag.err and message in retag.err
    doctor = cli("doctor", "--json")
    assert doctor.code == 1 and doctor.json()["problems"][0]["file"] == pin
    assert cli("doctor", "--fix").code == 1  # nothing it may repair: the file is left for a human
    assert snapshot_bytes(store) == before


def test_debug_shows_a_traceback_only_when_asked(ready: Path, cli: CliRunner) -> None:
    plain = cli("add", "app.py", "--match", "nowhere")
    assert plain.code == 1 and "Traceback" not in plain.err
    debug = cli("--debug", "add", "app.py", "--match", "nowhere")
    assert debug.code != 0
    assert "Traceback (most recent call last)" in debug.err and "SpanError" in debug.err


def test_no_store_is_a_clear_error(repo: Path, cli: CliRunner) -> None:
    result = cli("list")
    assert result.code == 1 and "run `magicmarkup init`" in result.err and "Traceback" not in result.err


def test_every_data_command_has_json(ready: Path, cli: CliRunner) -> None:
    """--json output parses for every command that prints data."""
    tag = cli("add", "app.py", "--match", "twice", "--json").json()
    for args in (
        ["init", "--json"],
        ["list", "--json"],
        ["show", tag["id"], "--json"],
        ["edit", tag["id"], "--note", "x", "--json"],
        ["export", "--json"],
        ["gc", "--json"],
        ["retag", "--worktree", "--no-llm", "--json"],
        ["doctor", "--json"],
        ["rm", tag["id"], "--json"],
    ):
        result = cli(*args)
        assert result.code == 0, (args, result.err)
        json.loads(result.out)


def test_help_lists_commands(cli: CliRunner) -> None:
    result = cli("--help")
    assert result.code == 0
    for name in ("init", "add", "list", "show", "edit", "rm", "export", "import", "retag", "doctor"):
        assert name in result.out


def test_list_of_many_tags_prints_plain_aligned_columns(ready: Path, cli: CliRunner) -> None:
    """`list` prints plain aligned columns, whatever the count (rich's table took minutes on
    100,000 tags). 600 tags: each is a pin file the store fsyncs, so more only slows the test."""
    from magicmarkup.model import Anchor, Span, Status, Tag

    text = "".join(f"value_{i} = {i}\n" for i in range(600))
    (ready / "big.py").write_text(text, encoding="utf-8")
    store = Store.discover(ready)
    tags = []
    for i in range(600):
        start = text.index(f"value_{i} = {i}\n")
        snippet = f"value_{i} = {i}"
        tags.append(
            Tag(
                path="big.py",
                span=Span(start=start, end=start + len(snippet)),
                anchor=Anchor(text=snippet, start=start),
                status=Status.ORPHANED if i == 7 else Status.ANCHORED,
                metadata={"note": f"note {i}"},
            )
        )
    with store.locked():
        store.save("big.py", tags)
    listed = cli("list")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0].split() == ["id", "where", "status", "conf", "text", "note"]
    assert len(lines) == 601
    by_note = {line.rsplit("note ", 1)[1]: line for line in lines[1:]}
    assert by_note["0"].split()[1:4] == ["big.py:1:1-1:11", "anchored", "1.00"]
    assert by_note["599"].split()[1] == "big.py:600:1-600:15"
    # an orphan whose text is in the file again is a guess until someone confirms it
    assert by_note["7"].split()[1:3] == ["big.py:8:1-8:11", "needs_review"]
    widths = {line.index(" big.py") for line in lines[1:]}
    assert len(widths) == 1  # the place column starts at one offset: ids padded alike
    shown_id = by_note["456"].split()[0]
    shown = cli("show", shown_id, "--json")
    assert shown.code == 0 and shown.json()["id"] == tags[456].id
