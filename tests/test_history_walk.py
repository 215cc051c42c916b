"""Placement follows history: pins committed long ago, read after many commits, merges, renames
and code moved between files (real git repositories, the real CLI in-process; after each git
command the user's view: `list --json` and `git status --porcelain`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmark_gen.longscore import line_diff
from magicmarkup.anchoring import Thresholds
from magicmarkup.walk import History, Start, Track, parse_raw_log, walk
from tests.conftest import GIT_ENV, CliRunner, git

GUARD = "    if order is None:\n        raise ValueError('no order')"
LOOP = "    for item in order.items:\n        total += item.price"
TWIN = "        if x is None:\n            continue"

SHOP = f'''"""The shop."""


def checkout(order):
{GUARD}
    total = 0
{LOOP}
    return total


def refund(order):
    return -checkout(order)
'''


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def listed(cli: CliRunner, repo: Path) -> dict[str, dict[str, Any]]:
    out = cli("list", "--json", cwd=repo)
    assert out.code == 0, out.err
    return {row["metadata"]["note"]: row for row in out.json()}


def clean(repo: Path) -> str:
    return git(repo, "status", "--porcelain")


def hooked_git(repo: Path, *args: str) -> None:
    """A git command run as the user runs it (hooks included); it must succeed."""
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    assert proc.returncode == 0, proc.stderr


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def tagged(repo: Path, cli: CliRunner) -> Path:
    """shop.py tagged on a guard and a loop, the pins committed (no hooks: nobody re-pins)."""
    (repo / "shop.py").write_text(SHOP)
    commit(repo, "shop")
    assert cli("init", cwd=repo).code == 0
    assert cli("add", "shop.py", "--match", GUARD, "--note", "guard", cwd=repo).code == 0
    assert cli("add", "shop.py", "--match", LOOP, "--note", "loop", cwd=repo).code == 0
    commit(repo, "tags")
    return repo


def upstream_history(repo: Path) -> None:
    """Many commits: lines above, the guard edited, the file renamed and edited in one commit,
    the loop's function moved to another file."""
    for i in range(6):
        edit(
            repo,
            "shop/__init__.py" if (repo / "shop/__init__.py").exists() else "shop.py",
            '"""The shop."""',
            f'"""The shop."""\nVERSION_{i} = {i}',
        )
        commit(repo, f"version {i}")
    edit(repo, "shop.py", "raise ValueError('no order')", "raise ValueError('an order is needed')")
    commit(repo, "clearer error")
    (repo / "shop").mkdir()
    git(repo, "mv", "shop.py", "shop/__init__.py")
    edit(repo, "shop/__init__.py", "def refund(order):", "def refund(order, reason=None):")
    commit(repo, "package, and refunds take a reason")
    text = (repo / "shop/__init__.py").read_text()
    start = text.index("def checkout(order):")
    end = text.index("def refund(")
    (repo / "shop/__init__.py").write_text(text[:start] + "from shop.pay import checkout\n\n\n" + text[end:])
    (repo / "shop/pay.py").write_text('"""Paying."""\n\n\n' + text[start:end].rstrip() + "\n")
    commit(repo, "checkout moves to pay.py")


def test_pins_committed_long_ago_follow_edits_a_rename_and_a_move_to_another_file(
    tagged: Path, cli: CliRunner
) -> None:
    repo = tagged
    upstream_history(repo)
    tags = listed(cli, repo)
    assert clean(repo) == ""
    guard, loop = tags["guard"], tags["loop"]
    assert guard["path"] == loop["path"] == "shop/pay.py"
    assert guard["current_text"] == "    if order is None:\n        raise ValueError('an order is needed')"
    assert guard["status"] == "changed" and guard["confidence"] >= 0.75
    assert loop["current_text"] == LOOP and loop["status"] == "moved"
    # the same pins without the history (a tarball, a clone without it) do worse, honestly
    local = Path(git(repo, "rev-parse", "--absolute-git-dir").strip()) / "magicmarkup"
    shutil.rmtree(local / "view")
    os.environ["MAGICMARKUP_HISTORY"] = "0"
    try:
        jumped = cli("list", "--json", cwd=repo).json()
    finally:
        del os.environ["MAGICMARKUP_HISTORY"]
    assert all(row["path"] != "shop/pay.py" for row in jumped)
    shutil.rmtree(local / "view")
    # checked out back where the pins were taken: exactly there again
    git(repo, "checkout", "-q", "HEAD~9")
    back = listed(cli, repo)
    assert back["guard"]["path"] == "shop.py" and back["guard"]["status"] == "anchored"
    assert clean(repo) == ""


def test_a_branch_tagged_long_ago_merges_a_moved_and_renamed_upstream(
    tagged: Path, cli: CliRunner, mm: CliRunner
) -> None:
    repo = tagged
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "notes.txt").write_text("feature work\n")
    commit(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    git(repo, "reset", "-q", "--hard", "HEAD~1")  # upstream never saw the tags
    upstream_history(repo)
    git(repo, "checkout", "-q", "feature")
    assert mm("hooks", "install", cwd=repo).code == 0
    hooked_git(repo, "merge", "-q", "--no-edit", "main")
    assert clean(repo) == ""
    tags = listed(cli, repo)
    assert tags["loop"]["path"] == "shop/pay.py" and tags["loop"]["current_text"] == LOOP
    assert tags["guard"]["path"] == "shop/pay.py" and tags["guard"]["status"] in ("changed", "needs_review")
    # the next commit re-pins them where they are now; the tree stays clean
    (repo / "notes.txt").write_text("feature work, merged\n")
    (repo / "shop/pay.py").write_text((repo / "shop/pay.py").read_text() + "\n# paid\n")
    hooked_git(repo, "commit", "-q", "-am", "after the merge")
    assert clean(repo) == ""
    again = listed(cli, repo)
    assert again["loop"]["path"] == "shop/pay.py" and again["loop"]["current_text"] == LOOP
    # back to the branch as it was before the merge, and forward again: each view is right
    hooked_git(repo, "checkout", "-q", "HEAD~2")
    assert clean(repo) == ""
    before = listed(cli, repo)
    assert before["loop"]["path"] == "shop.py" and before["loop"]["status"] == "anchored"
    hooked_git(repo, "checkout", "-q", "feature")
    assert clean(repo) == ""
    assert listed(cli, repo)["loop"]["path"] == "shop/pay.py"


def test_a_shallow_clone_without_the_pins_commit_falls_back_to_the_jump(
    tagged: Path, cli: CliRunner, tmp_path: Path
) -> None:
    repo = tagged
    for i in range(3):
        edit(repo, "shop.py", '"""The shop."""', f'"""The shop."""\nVERSION_{i} = {i}')
        commit(repo, f"version {i}")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    tags = listed(cli, shallow)
    assert tags["guard"]["status"] == "moved" and tags["guard"]["current_text"] == GUARD
    assert clean(shallow) == ""


def test_the_walk_cache_is_used_and_a_later_reader_resumes_from_it(tagged: Path, cli: CliRunner) -> None:
    repo = tagged
    upstream_history(repo)
    first = listed(cli, repo)
    walk_dir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip()) / "magicmarkup" / "walk"
    assert len(list(walk_dir.glob("*.json"))) == 1  # one file per pinned document
    edit(repo, "shop/pay.py", '"""Paying."""', '"""Paying, and more."""')
    commit(repo, "one more")
    second = listed(cli, repo)
    assert second["loop"]["path"] == first["loop"]["path"] == "shop/pay.py"
    assert second["loop"]["current_text"] == LOOP


def test_twins_are_told_apart_by_their_history(repo: Path, cli: CliRunner) -> None:
    body = f"def first(xs):\n    for x in xs:\n{TWIN}\n        print(x)\n\n\ndef second(ys):\n    for x in ys:\n{TWIN}\n        print(x * 2)\n"
    (repo / "twins.py").write_text(body)
    commit(repo, "twins")
    assert cli("init", cwd=repo).code == 0
    first_at = body.index(TWIN)
    second_at = body.index(TWIN, first_at + 1)
    assert (
        cli("add", "twins.py", "--span", f"{first_at}:{first_at + len(TWIN)}", "--note", "one", cwd=repo).code
        == 0
    )
    assert (
        cli(
            "add", "twins.py", "--span", f"{second_at}:{second_at + len(TWIN)}", "--note", "two", cwd=repo
        ).code
        == 0
    )
    commit(repo, "tags")
    # many commits: the functions swap places, one step at a time, with lines added between
    edit(repo, "twins.py", "def second(ys):", "def helper():\n    return 1\n\n\ndef second(ys):")
    commit(repo, "helper")
    text = (repo / "twins.py").read_text()
    a, b = text.index("def first"), text.index("def helper")
    (repo / "twins.py").write_text(text[b:] + "\n\n" + text[a:b].rstrip() + "\n")
    commit(repo, "first goes last")
    edit(repo, "twins.py", "print(x * 2)", "print(x * 3)")
    commit(repo, "thrice")
    tags = listed(cli, repo)
    text = (repo / "twins.py").read_text()
    in_first = text.index("def first")
    assert tags["one"]["start"] > in_first, "the first function's twin stays in the first function"
    assert tags["two"]["start"] < in_first
    assert tags["one"]["current_text"] == tags["two"]["current_text"] == TWIN


def test_retag_range_survives_a_commit_subject_with_a_line_separator(tagged: Path, cli: CliRunner) -> None:
    repo = tagged
    edit(repo, "shop.py", '"""The shop."""', '"""The shop."""\nA = 1')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "subject\u2028with a separator\u2029and another")
    out = cli("retag", "HEAD~1..HEAD", "--json", cwd=repo)
    assert out.code == 0, out.err
    data = out.json()
    assert len(data["commits"]) == 1 and "\u2028" in data["commits"][0]["subject"]


def test_raw_log_parser_keeps_renames_and_any_path() -> None:
    raw = (
        b"\0\x01"
        + b"a" * 40
        + b"\0\n:100644 100644 "
        + b"1" * 40
        + b" "
        + b"2" * 40
        + b" M\0we\xe2\x80\xa8ird.py\0"
        b":100644 100644 " + b"2" * 40 + b" " + b"3" * 40 + b" R090\0old.py\0new.py\0"
    )
    changes = parse_raw_log(raw)
    assert [(c.status, c.old_path, c.new_path) for c in changes] == [
        ("M", "we\u2028ird.py", "we\u2028ird.py"),
        ("R", "old.py", "new.py"),
    ]


def test_walk_through_a_merge_takes_the_side_that_changed(repo: Path) -> None:
    """Blob-keyed placements: a merge whose result equals one parent's version needs no step;
    one that merges both sides' edits is placed from a parent that had the tag."""
    text = "a = 1\n\n\ndef f():\n    return 1\n\n\nb = 2\n"
    (repo / "m.py").write_text(text)
    commit(repo, "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "side")
    edit(repo, "m.py", "a = 1", "a = 1\nc = 3")
    commit(repo, "side")
    git(repo, "checkout", "-q", "main")
    edit(repo, "m.py", "b = 2", "b = 2\nd = 4")
    commit(repo, "main")
    git(repo, "merge", "-q", "--no-edit", "side")
    head = git(repo, "rev-parse", "HEAD").strip()
    history = History(repo)
    try:
        blob = history.blobs.at(base, "m.py")
        assert blob is not None
        s = text.index("def f")
        got = walk(history, Start(base, "m.py", blob, {"f": Track(s, s + 23)}), head, Thresholds())
    finally:
        history.close()
    assert got is not None
    outcome = got["f"]
    merged = (repo / "m.py").read_text()
    assert outcome.track.start == merged.index("def f") and not outcome.track.unsure


def test_line_diff_baseline_maps_untouched_lines_only() -> None:
    old = "a\nb\nc\nd\n"
    new = "x\na\nb\nC\nd\n"
    assert line_diff(old, new, 0, 3) == (1, 2)
    assert line_diff(old, new, 4, 5) is None


def test_a_huge_blob_in_the_history_is_skipped_and_the_next_read_still_works(repo: Path) -> None:
    """A cloned history may hold an object far larger than any document: the blob reader skips
    it without holding it, and its stream stays in step for the next question."""
    from magicmarkup import walk as walk_module

    (repo / "big.txt").write_text("x" * 5000)
    (repo / "small.py").write_text("a = 1\n")
    commit(repo, "both")
    history = History(repo)
    limit = walk_module.MAX_BLOB_BYTES
    walk_module.MAX_BLOB_BYTES = 1000
    try:
        assert history.blobs.at("HEAD", "big.txt") is None
        blob = history.blobs.at("HEAD", "small.py")
        assert blob is not None and history.blobs.text(blob) == "a = 1\n"
    finally:
        walk_module.MAX_BLOB_BYTES = limit
        history.close()
