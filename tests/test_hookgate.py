"""The hooks' fast path (magicmarkup/hookgate.py): it starts magicmarkup only when a git
operation touches a tagged file or the store, in a real repository."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from magicmarkup import hookgate
from magicmarkup.git import GATE, hook_script
from tests.conftest import git


@pytest.fixture
def tagged_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """a.py tagged (a folder of pins), b.txt not; both committed; cwd is the work tree (as a
    hook's is)."""
    (repo / "a.py").write_text("x = 1\n", encoding="utf-8")
    (repo / "b.txt").write_text("notes\n", encoding="utf-8")
    pins = repo / ".magicmarkup" / "pins" / "a.py"
    pins.mkdir(parents=True)
    (pins / "01abc.json").write_text("{}", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    monkeypatch.chdir(repo)
    return repo


def test_pre_commit_starts_only_for_a_tagged_file(tagged_repo: Path) -> None:
    (tagged_repo / "b.txt").write_text("more notes\n", encoding="utf-8")
    git(tagged_repo, "add", "b.txt")
    assert not hookgate.has_work("pre-commit", [])
    (tagged_repo / "a.py").write_text("x = 2\n", encoding="utf-8")
    git(tagged_repo, "add", "a.py")
    assert hookgate.has_work("pre-commit", [])


def test_checkouts_merges_and_rewrites(tagged_repo: Path) -> None:
    first = git(tagged_repo, "rev-parse", "HEAD").strip()
    (tagged_repo / "b.txt").write_text("v2\n", encoding="utf-8")
    git(tagged_repo, "commit", "-q", "-am", "untagged")
    second = git(tagged_repo, "rev-parse", "HEAD").strip()
    (tagged_repo / "a.py").write_text("x = 3\n", encoding="utf-8")
    git(tagged_repo, "commit", "-q", "-am", "tagged")
    third = git(tagged_repo, "rev-parse", "HEAD").strip()
    assert not hookgate.has_work("post-checkout", [first, second, "1"])
    assert not hookgate.has_work("post-checkout", [third, third, "1"])  # a new branch here
    assert hookgate.has_work("post-checkout", [second, third, "1"])
    assert hookgate.has_work("post-checkout", ["0" * 40, third, "1"])  # a clone: all of it
    git(tagged_repo, "update-ref", "ORIG_HEAD", first)
    assert hookgate.has_work("post-merge", ["0"]) and hookgate.has_work("post-rewrite", ["rebase"])
    git(tagged_repo, "reset", "-q", "--soft", second)
    git(tagged_repo, "update-ref", "ORIG_HEAD", first)  # a merge that brought b.txt only
    assert not hookgate.has_work("post-merge", ["0"])


def test_no_store_no_work_and_any_doubt_runs_the_hook(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    assert not hookgate.has_work("pre-commit", [])  # no store: a shared core.hooksPath
    (repo / ".magicmarkup" / "pins").mkdir(parents=True)
    assert hookgate.has_work("pre-commit", [])  # unborn HEAD: git's answer is an error
    assert hookgate.has_work("post-merge", [])  # no ORIG_HEAD


def test_the_installed_hook_runs_the_gate_first() -> None:
    script = hook_script("pre-commit", [sys.executable, "-m", "magicmarkup"], ["--no-llm"])
    assert f"-I -S {GATE}" in script and "hooks run pre-commit --no-llm" in script
    assert GATE.is_file()
    # the gate imports nothing but os and sys (it runs without site, isolated)
    source = GATE.read_text(encoding="utf-8")
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "os", "sys"}
