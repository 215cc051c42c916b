"""A cloned store that links out of the repository: no command follows the links.

Each attack plants one symbolic link in `.magicmarkup/` (as a committed symlink arrives with a
clone) pointing at a decoy folder or file outside the repository. Then a user's whole session
runs through the real CLI and real git with the hooks installed: add, list, show, edit, retag,
grep, a commit (the pre-commit hook re-pins and writes logs), gc, doctor --fix, export. After
it, every file and folder outside the repository is as it was (the decoys included), and each
command either worked or said what it refused in one line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, git
from tests.security.conftest import Run, fingerprint

SNAP_NAME = "zz"  # a snapshot shard folder


def _decoy(tmp_path: Path) -> Path:
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "precious.txt").write_text("do not touch\n", encoding="utf-8")
    shard = decoy / "ab"
    shard.mkdir()
    (shard / ("ab" + "0" * 62 + ".gz")).write_bytes(b"not ours")
    (decoy / "a.py.jsonl").write_text("outside log\n", encoding="utf-8")
    return decoy


ATTACKS = {
    # a history log that is a link to a file outside: appends must not go there
    "history log": lambda store, decoy: _link(store / "history" / "a.py.jsonl", decoy / "a.py.jsonl"),
    # a snapshot shard that is a link to an outside folder: gc must not delete in it
    "snapshot shard": lambda store, decoy: _link(store / "snapshots" / "ab", decoy / "ab"),
    # the pins of a document that are a link to an outside folder: no write goes through it
    "pins folder": lambda store, decoy: _link(store / "pins" / "b.py", decoy),
    # the whole history folder is a link
    "history folder": lambda store, decoy: _link(store / "history", decoy),
}


def _link(at: Path, target: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    if at.is_dir() and not at.is_symlink():
        for child in at.iterdir():
            child.unlink()
        at.rmdir()
    at.symlink_to(target)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_no_command_follows_a_store_link_out_of_the_repository(
    repo: Path, run: Run, tmp_path: Path, attack: str
) -> None:
    (repo / "a.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    (repo / "b.py").write_text("y = 2\n", encoding="utf-8")
    assert run("init").returncode == 0
    first = run("add", "a.py", "--match", "return 1", "--note", "one", "--json")
    assert first.returncode == 0, first.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tagged")
    assert run("hooks", "install").returncode == 0
    decoy = _decoy(tmp_path)
    ATTACKS[attack](repo / ".magicmarkup", decoy)
    home = Path(os.environ["HOME"])
    before = fingerprint([tmp_path, home], skip=[repo])

    results = [
        run("add", "b.py", "--match", "y = 2", "--note", "two"),
        run("list"),
        run("show", first.stdout.strip()[:12] or "x"),
        run("edit", first.stdout.strip()[:12] or "x", "--note", "edited"),
        run("grep", "one"),
        run("retag", "--worktree", "--no-llm"),
    ]
    (repo / "a.py").write_text("# moved down\ndef f():\n    return 1\n", encoding="utf-8")
    commit = subprocess.run(
        ["git", "commit", "-q", "-am", "edit"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    )
    assert commit.returncode == 0, commit.stderr  # a hook never blocks the commit
    results += [run("gc"), run("doctor", "--fix"), run("export")]

    assert fingerprint([tmp_path, home], skip=[repo]) == before, attack  # nothing outside changed
    assert (decoy / "precious.txt").read_text() == "do not touch\n"
    assert (decoy / "a.py.jsonl").read_text() == "outside log\n"
    assert (decoy / "ab" / ("ab" + "0" * 62 + ".gz")).read_bytes() == b"not ours"
    for result in results:
        assert "Traceback" not in result.stderr, (result.args, result.stderr)
        if result.returncode != 0:  # a refusal is one line (a warning per problem, then the error)
            assert all(
                line.startswith(("error:", "warning:")) for line in result.stderr.splitlines() if line.strip()
            ), (result.args, result.stderr)
