"""Repairing tags from the command line (`accept`, `reattach`, `reject`) and what `edit`, `rm`,
`list` and the errors print (issue 22): through the real CLI entry point, in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CliRunner

BEFORE = "def f(x):\n    total = x * 2\n    return total\n"
# the tagged line now exists twice (f was split into g and h): the tag is a guess to review
AFTER = (
    "def g(x):\n    total = x * 2\n    return total\n\n\ndef h(x):\n    total = x * 2\n    return total + 1\n"
)


@pytest.fixture
def guess(repo: Path, cli: CliRunner) -> str:
    """A tag whose code was duplicated: needs_review, with two candidates."""
    (repo / "a.py").write_text(BEFORE, encoding="utf-8")
    assert cli("init").code == 0
    tag_id = cli("add", "a.py", "--match", "total = x * 2", "--note", "why 2?").out.strip()
    (repo / "a.py").write_text(AFTER, encoding="utf-8")
    [row] = cli("list", "--json").json()
    assert row["status"] == "needs_review", row
    return tag_id


def _row(cli: CliRunner) -> dict[str, object]:
    [row] = cli("list", "--json").json()
    return row


def test_accept_a_candidate_then_the_guess(cli: CliRunner, guess: str) -> None:
    shown = cli("show", guess).out
    assert f"magicmarkup accept {guess} --candidate N" in shown
    candidates = cli("show", guess, "--json").json()["candidates"]
    second = candidates[1]
    out = cli("accept", guess[:10], "--candidate", "2")
    assert out.code == 0, out.err
    assert f"a.py:{second['start_line']}:{second['start_col']}" in out.out
    row = _row(cli)
    assert (row["status"], row["start"], row["end"]) == ("anchored", second["start"], second["end"])
    bad = cli("accept", guess, "--candidate", "7")
    assert (bad.code == 1 and "has no candidates" in bad.err) or "candidates 1.." in bad.err


def test_accept_where_it_is_and_reject(repo: Path, cli: CliRunner, guess: str) -> None:
    refused = cli("reject", guess, "--json")
    assert refused.code == 0, refused.err
    assert refused.json()["status"] == "orphaned" and _row(cli)["status"] == "orphaned"
    nothing = cli("accept", guess)
    assert nothing.code == 1 and f"reattach {guess}" in nothing.err and "\n" not in nothing.err.strip()
    again = cli("reject", guess)
    assert again.code == 1 and "no guess to reject" in again.err


def test_reattach_by_lines_and_match(repo: Path, cli: CliRunner, guess: str) -> None:
    by_lines = cli("reattach", guess, "--lines", "8")
    assert by_lines.code == 0 and "a.py:8:1-8:20" in by_lines.out, by_lines.out + by_lines.err
    assert _row(cli)["text"] == "    return total + 1"
    by_match = cli("reattach", guess, "--match", "total = x * 2", "--nth", "2", "--json")
    assert by_match.code == 0 and by_match.json()["current_text"] == "total = x * 2"
    row = _row(cli)
    assert (row["status"], row["start_line"]) == ("anchored", 7)
    history = [e["method"] for e in cli("show", guess, "--json").json()["history"]]
    assert history[-2:] == ["manual", "manual"]
    ambiguous = cli("reattach", guess, "--match", "total = x * 2")
    assert ambiguous.code == 1 and "(1: a.py:2:5, 2: a.py:7:5)" in ambiguous.err


def test_edit_and_rm_say_where_the_tag_is_now(repo: Path, cli: CliRunner) -> None:
    (repo / "a.py").write_text(BEFORE, encoding="utf-8")
    cli("init")
    tag_id = cli("add", "a.py", "--match", "return total").out.strip()
    (repo / "a.py").write_text("# a comment above\n\n" + BEFORE, encoding="utf-8")  # moved 2 lines down
    assert "a.py:5:5-5:16" in cli("edit", tag_id, "--note", "moved").out
    removed = cli("rm", tag_id, "--json").json()
    assert removed["current_text"] == "return total" and removed["span"]["start_line"] == 5


def test_ambiguous_id_lists_candidates_as_places(repo: Path, cli: CliRunner) -> None:
    (repo / "a.py").write_text(BEFORE, encoding="utf-8")
    cli("init")
    ids = [cli("add", "a.py", "--match", m).out.strip() for m in ("total = x * 2", "return total")]
    common = ids[0][: next(i for i in range(26) if ids[0][i] != ids[1][i])]
    shown = cli("show", common)
    assert shown.code == 1 and f"{ids[0]} a.py:2:5" in shown.err and f"{ids[1]} a.py:3:5" in shown.err


def test_list_keeps_the_note_at_80_columns(repo: Path, cli: CliRunner) -> None:
    deep = repo / "src" / "package" / "subpackage"
    deep.mkdir(parents=True)
    (deep / "module_name.py").write_text(BEFORE * 40, encoding="utf-8")
    cli("init")
    note = "the factor is the VAT rate"
    cli("add", "src/package/subpackage/module_name.py", "--lines", "110:111", "--note", note)
    for width in ("72", "76", "80", "84"):
        out = cli("list", env={"COLUMNS": width}).out
        [line] = [line for line in out.splitlines() if "the factor is" in line]
        assert len(line) <= int(width), f"COLUMNS={width}:\n{out}"  # (the place itself is never cut)
