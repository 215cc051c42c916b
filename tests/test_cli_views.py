"""What people read from the CLI (issue 16): one position format, ids that work, tables that cut
nothing that matters, `grep`, flags anywhere, and text that cannot drive the terminal.
In-process (`cli` fixture); see test_cli_process.py for what needs a real process."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from magicmarkup.cli.app import LAZY_COMMANDS, SHORT_HELP
from magicmarkup.cli.app import cli as root
from magicmarkup.positions import Positions, printable, short_ids
from magicmarkup.store import Store
from tests.conftest import CliRunner, git

SOURCE = "def total(price, qty):\n    return price * qty\n\n\ndef twice(x):\n    return x * 2\n"
DEEP = "src/some/rather/deeply/nested/package/module_with_a_long_name.py"


@pytest.fixture
def tagged(repo: Path, cli: CliRunner) -> dict[str, str]:
    """A repository with three tags: two in app.py, one in a deeply nested file."""
    (repo / "app.py").write_text(SOURCE, encoding="utf-8")
    (repo / DEEP).parent.mkdir(parents=True)
    (repo / DEEP).write_text("import os\n\nVALUE = os.environ.get('X')\n", encoding="utf-8")
    assert cli("init").code == 0
    ids = {
        "qty": cli("add", "app.py", "--match", "price * qty", "--note", "why not Decimal?").out.strip(),
        "twice": cli(
            "add", "app.py", "--lines", "5:6", "--note", "doubles", "--meta", "author=ana"
        ).out.strip(),
        "deep": cli("add", DEEP, "--match", "os.environ.get('X')", "--note", "read once").out.strip(),
    }
    assert all(len(v) == 26 for v in ids.values())
    return ids


# -- positions ---------------------------------------------------------------------------------


def test_positions_are_one_based_with_an_inclusive_end() -> None:
    doc = Positions(SOURCE)
    start = SOURCE.index("price * qty")
    assert doc.where("app.py", start, start + 11) == "app.py:2:12-2:22"
    assert doc.where(None, 0, 3) == "1:1-1:3"
    assert doc.where("a", 5, 5) == "a:1:6"  # an empty span is one position
    twice = SOURCE.index("def twice")
    assert doc.where("a", twice, len(SOURCE) - 1) == "a:5:1-6:16"
    assert doc.region(0, 3).fields() == {"start_line": 1, "start_col": 1, "end_line": 1, "end_col": 3}
    crlf = Positions("ab\r\ncd")
    assert crlf.where(None, 4, 6) == "2:1-2:2"


def test_short_ids_are_unique_prefixes_for_prefix_or_suffix_lookup() -> None:
    ids = ["01abcdefgh1x", "01abcdefgh2y", "01zzzzzzzz9q", "q01zzzzzzzz"]
    shown = short_ids(ids)
    assert shown["01abcdefgh1x"] == "01abcdefgh1"
    assert shown["01abcdefgh2y"] == "01abcdefgh2"
    # "01zzzzzz" is a prefix of one id only, but also a piece no other id starts or ends with
    assert shown["01zzzzzzzz9q"] == "01zzzzzz"
    assert shown["q01zzzzzzzz"] == "q01zzzzz"
    for tag_id, prefix in shown.items():
        matches = [x for x in ids if x.startswith(prefix) or x.endswith(prefix)]
        assert matches == [tag_id]
    clash = short_ids(["aaaaaaaaXbbbbbbbb", "ccccccccaaaaaaaa"])  # a prefix that is another's suffix
    assert clash["aaaaaaaaXbbbbbbbb"] == "aaaaaaaaX"


def test_printable_strips_escapes_and_controls() -> None:
    assert printable("a\x1b[31mred\x1b[0m \x1b]0;title\x07b\u202ec\x00d\r") == "ared bcd"
    assert printable("x\ny", keep_newlines=False) == "x y"


# -- list ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["200", "80", "60", "40"])
def test_list_never_cuts_ids_paths_or_lines(tagged: dict[str, str], cli: CliRunner, columns: str) -> None:
    listed = cli("list", env={"COLUMNS": columns})
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert set(lines[0].split()[:4]) == {"id", "where", "status", "conf"}
    assert "…" not in "".join(line.split()[1] for line in lines[1:] if not line.startswith(" "))
    assert f"{DEEP}:3:9-3:27" in listed.out
    assert "app.py:2:12-2:22" in listed.out and "app.py:5:1-6:16" in listed.out
    rows = [line for line in lines[1:] if not line.startswith(" ")]
    assert len(rows) == 3
    for row in rows:
        shown = row.split()[0]
        assert len(shown) >= 8
        found = cli("show", shown, "--json")
        assert found.code == 0, (shown, found.err)
    # the current text is there, in a column or on the tag's second line
    assert "price * qty" in listed.out and "os.environ.get('X')" in listed.out
    if columns == "200":
        assert "why not Decimal?" in listed.out
        assert all(len(line) <= 200 for line in lines)


def test_list_piped_prints_whole_lines(tagged: dict[str, str], cli: CliRunner) -> None:
    listed = cli("list", env={"COLUMNS": ""})  # not a terminal, no COLUMNS: nothing is cut
    row = next(line for line in listed.out.splitlines() if DEEP in line)
    assert row.split()[1:4] == [f"{DEEP}:3:9-3:27", "anchored", "1.00"]
    assert row.endswith("read once")


def test_orphan_has_no_position_in_list_and_its_last_one_in_show(
    tagged: dict[str, str], cli: CliRunner, repo: Path
) -> None:
    (repo / "app.py").write_text(SOURCE.replace("def twice(x):\n    return x * 2\n", ""), encoding="utf-8")
    retag = cli("retag", "--worktree", "--no-llm", "--json")
    assert retag.code == 0, retag.err
    listed = cli("list", "--status", "orphaned")
    [row] = listed.out.splitlines()[1:]
    assert row.split()[1:3] == ["app.py", "orphaned"]
    assert "def twice(x):" in row  # the last anchored text
    shown = cli("show", row.split()[0])
    assert "last known at app.py:5:1-6:16" in shown.out
    data = cli("show", tagged["twice"], "--json").json()
    assert data["span"]["start_line"] is None and data["current_text"] is None
    assert data["last_known"] == {"start_line": 5, "start_col": 1, "end_line": 6, "end_col": 16}
    listed_json = cli("list", "--json").json()
    orphan = next(t for t in listed_json if t["id"] == tagged["twice"])
    assert orphan["start_line"] is None


def test_show_history_uses_positions(tagged: dict[str, str], cli: CliRunner, repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tagged")
    (repo / "app.py").write_text("# header\n\n" + SOURCE, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "header")
    assert cli("retag", "HEAD~1..HEAD", "--no-llm").code == 0  # re-pins, and records why
    shown = cli("show", tagged["qty"], env={"COLUMNS": "80"})
    assert shown.code == 0
    assert "app.py:2:12-2:22 → app.py:4:12-4:22  moved by" in shown.out  # the history, uncut
    head = shown.out.splitlines()[0]
    assert head.startswith(tagged["qty"]) and "app.py:4:12-4:22" in head and "moved" in head
    assert "app.py:2:12-2:22" in shown.out and "app.py:4:12-4:22" in shown.out  # from -> to
    assert not re.search(r"\b34:45\b", shown.out)  # no raw offsets
    data = cli("show", tagged["qty"], "--json").json()
    [event] = data["history"]
    assert event["old_span"]["start_line"] == 2 and event["new_span"]["start_line"] == 4
    assert (
        data["span"]["start"] == len("# header\n\n") + SOURCE.index("price * qty")
        and data["span"]["start_line"] == 4
    )


def test_messages_carry_positions(tagged: dict[str, str], cli: CliRunner) -> None:
    edited = cli("edit", tagged["qty"][:12], "--note", "n")
    assert edited.out.strip() == f"edited {tagged['qty']} at app.py:2:12-2:22"
    removed = cli("rm", tagged["qty"])
    assert removed.out.strip() == f"removed {tagged['qty']} at app.py:2:12-2:22: price * qty"


# -- grep ----------------------------------------------------------------------------------------


def test_grep_prints_ripgrep_style_lines(tagged: dict[str, str], cli: CliRunner) -> None:
    hit = cli("grep", "Decimal")
    assert hit.code == 0
    [line] = hit.out.splitlines()
    assert line.startswith("app.py:2:12: why not Decimal?  [")
    short = line.rsplit("[", 1)[1].rstrip("]")
    assert cli("show", short, "--json").json()["id"] == tagged["qty"]
    # tagged text and metadata are searched too; regex by default
    assert cli("grep", r"environ\.get").out.startswith(f"{DEEP}:3:9: read once")
    assert cli("grep", "author=ana").out.startswith("app.py:5:1: doubles")
    assert len(cli("grep", "Decimal|doubles").out.splitlines()) == 2
    # -F, -i
    assert cli("grep", "-F", "os.environ.get('X')").code == 0
    assert cli("grep", "DECIMAL").code == 1
    assert cli("grep", "-i", "DECIMAL").code == 0
    # PATH limits to a file or a directory
    assert len(cli("grep", ".", "app.py").out.splitlines()) == 2
    assert len(cli("grep", ".", "src").out.splitlines()) == 1
    assert len(cli("grep", ".", ".").out.splitlines()) == 3
    # nothing: exit 1, no output; a bad regex: exit 2, one line
    none = cli("grep", "nothing-like-this")
    assert none.code == 1 and none.out == "" and none.err == ""
    bad = cli("grep", "(")
    assert bad.code == 2 and bad.err.startswith("error: bad pattern") and len(bad.err.splitlines()) == 1


def test_grep_json(tagged: dict[str, str], cli: CliRunner) -> None:
    [row] = cli("grep", "ana", "--json").json()
    assert row["id"] == tagged["twice"] and row["matched"] == ["metadata.author"]
    assert (row["start_line"], row["start_col"], row["end_line"], row["end_col"]) == (5, 1, 6, 16)
    assert row["current_text"] == "def twice(x):\n    return x * 2"
    assert cli("grep", "zzz", "--json").json() == []


# -- hostile text ----------------------------------------------------------------------------------

HOSTILE = "see \x1b[2J\x1b]0;pwned\x07[bold red]loud[/] [/] done\x07"


def test_notes_cannot_drive_the_terminal_or_restyle_output(repo: Path, cli: CliRunner) -> None:
    (repo / "app.py").write_text("x = '\x1b[31m' # [/]\n", encoding="utf-8")
    assert cli("init").code == 0
    tag_id = cli("add", "app.py", "--lines", "1", "--note", HOSTILE, "--meta", "k=[/x]").out.strip()
    for args in (["list"], ["show", tag_id], ["grep", "done"], ["grep", "-F", "[/]"]):
        result = cli(*args)
        assert result.code == 0, (args, result.err)
        assert "\x1b" not in result.out and "\x07" not in result.out, args
        assert "[bold red]loud[/] [/] done" in result.out, args  # markup shown as typed
    assert "[/x]" in cli("show", tag_id).out


def test_markup_in_an_argument_is_an_ordinary_error(repo: Path, cli: CliRunner) -> None:
    (repo / "app.py").write_text(SOURCE, encoding="utf-8")
    assert cli("init").code == 0
    for args in (["show", "[/]"], ["add", "app.py", "--match", "[/bold]"], ["grep", "[/"]):
        result = cli(*args)
        assert result.code in (1, 2), args
        [line] = result.err.splitlines()
        assert line.startswith("error: ") and "[/" in line and "Traceback" not in result.err, args


# -- flags ---------------------------------------------------------------------------------------


def test_global_flags_after_the_subcommand(tagged: dict[str, str], cli: CliRunner) -> None:
    debug = cli("show", "zzzzzz", "--debug")
    assert debug.code != 0 and "Traceback" in debug.err and "TagNotFound" in debug.err
    assert cli("--json", "list").json()[0]["path"] == "app.py"
    assert cli("list", "--json").json() == cli("--json", "list").json()
    assert cli("--json", "show", tagged["qty"]).json()["id"] == tagged["qty"]
    no_json = cli("tui", "--json")
    assert no_json.code == 2 and "has no --json output" in no_json.err
    assert cli("--json", "tui").code == 2


def test_export_json_and_output_checks(
    tagged: dict[str, str], cli: CliRunner, repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "x.json"
    summary = cli("export", "-o", str(out), "--json")
    assert summary.code == 0 and summary.json() == {"exported": 3, "snapshots": 2, "output": str(out)}
    store = Store(repo)
    inside = cli("export", "-o", ".magicmarkup/tags/x.json")
    assert inside.code == 1 and "inside the tag store" in inside.err and len(inside.err.splitlines()) == 1
    assert not (store.dir / "tags" / "x.json").exists()
    missing = cli("export", "-o", str(tmp_path / "no" / "such" / "x.json"))
    assert missing.code == 1 and len(missing.err.splitlines()) == 1 and "does not exist" in missing.err


def test_edit_help_says_what_an_id_may_be(cli: CliRunner) -> None:
    text = cli("edit", "--help").out
    assert "suffix-free" not in text and "unique prefix" in text


def test_root_help_lists_every_command_with_its_own_short_help() -> None:
    """SHORT_HELP (printed without importing the commands) says what each command says."""
    ctx = click.Context(root)
    assert set(SHORT_HELP) == set(LAZY_COMMANDS)
    for name in LAZY_COMMANDS:
        command = root.get_command(ctx, name)
        assert command is not None
        assert command.get_short_help_str(300) == click.Command(
            name, help=SHORT_HELP[name]
        ).get_short_help_str(300), name


def test_progress_prints_plain_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from magicmarkup.cli.app import progress

    with progress("work", every=0.0) as report:
        report(1, 4)
        report(4, 4)
    assert capsys.readouterr().err.splitlines() == [
        "work: 1/4 (25%), 0 s",
        "work: 4/4 (100%), 0 s",
        "work: 4/4 (100%), 0 s done",
    ]
    with progress("quick") as report:  # shorter than a period: nothing
        report(1, None)
    with progress("quiet", disable=True, every=0.0) as report:  # --json: nothing
        report(1, 2)
    assert capsys.readouterr().err == ""


def test_help_imports_no_heavy_module() -> None:
    """`magicmarkup --help` was 2 s: listing the commands imported every command module (the LLM
    client included). A real process, so nothing is imported already."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom magicmarkup.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'openai', 'pydantic', 'rapidfuzz', 'textual', 'rich', 'magicmarkup.store'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "grep" in out and "Commands:" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_list_fits_wide_characters_in_the_width(repo: Path, cli: CliRunner) -> None:
    from rich.cells import cell_len

    (repo / "app.py").write_text("名前 = '東京都の郵便番号と住所の一覧表を読み込む'\n", encoding="utf-8")
    assert cli("init").code == 0
    assert (
        cli(
            "add", "app.py", "--lines", "1", "--note", "全角の文字は二つの桁を使うので幅の計算に注意する"
        ).code
        == 0
    )
    listed = cli("list", env={"COLUMNS": "80"})
    lines = listed.out.splitlines()
    assert "app.py:1:1-1:27" in listed.out and "名前" in listed.out and "全角" in listed.out
    assert all(cell_len(line) <= 80 for line in lines), [cell_len(x) for x in lines]


def test_list_and_grep_take_a_directory_the_root_or_a_deleted_path(
    tagged: dict[str, str], cli: CliRunner, repo: Path
) -> None:
    def ids(*args: str, cwd: Path | None = None) -> set[str]:
        result = cli(*args, "--json", cwd=cwd)
        assert result.code == 0, (args, result.err)
        return {t["id"] for t in result.json()}

    everything = set(tagged.values())
    assert ids("list", "src") == ids("list", "src/some/") == {tagged["deep"]}
    assert ids("list", ".") == ids("list", str(repo)) == everything
    assert ids("list", "..", cwd=repo / "src") == everything
    assert ids("list", "app.py") == {tagged["qty"], tagged["twice"]}
    assert ids("grep", ".", "src") == {tagged["deep"]}
    (repo / DEEP).unlink()
    (repo / DEEP).parent.rmdir()
    assert ids("list", "src/some/rather/deeply/nested/package") == {tagged["deep"]}  # gone from disk
    assert ids("list", DEEP) == {tagged["deep"]}
    assert cli("list", "nowhere").out == "no tags\n"


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (KeyboardInterrupt(), 130, "error: interrupted"),
        (RuntimeError("boom [/]"), 2, "error: unexpected RuntimeError: boom [/] (run with --debug"),
        (BrokenPipeError(), 0, ""),
    ],
    ids=["ctrl-c", "bug", "closed-pipe"],
)
def test_interrupts_and_bugs_are_one_line(
    tagged: dict[str, str],
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    exc: BaseException,
    code: int,
    message: str,
) -> None:
    from magicmarkup import tags as tagapi

    def explode(*_args: object, **_kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(tagapi, "list_tags", explode)
    result = cli("list")
    assert result.code == code
    if message:
        [line] = [x for x in result.err.splitlines() if x]  # click ends the "^C" line first
        assert line.startswith(message) and "Traceback" not in result.err
    else:
        assert result.err == ""
