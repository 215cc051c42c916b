"""Text of a git-ignored file (a `.env`, build output) never reaches the committed store unasked."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CliRunner, git


def test_tagging_an_ignored_file_is_refused_unless_asked(repo: Path, mm: CliRunner) -> None:
    (repo / ".gitignore").write_text(".env\n", encoding="utf-8")
    (repo / ".env").write_text("API_KEY=sk-secret-value\n", encoding="utf-8")
    (repo / "app.py").write_text("x = 1\n", encoding="utf-8")
    git(repo, "add", ".gitignore", "app.py")
    git(repo, "commit", "-q", "-m", "init")
    assert mm("init").code == 0
    refused = mm("add", ".env", "--match", "API_KEY")
    assert refused.code == 1 and refused.out == ""
    assert refused.err.strip().splitlines() == [refused.err.strip()] and "git ignores" in refused.err
    store = repo / ".magicmarkup"
    assert not any("sk-secret" in f.read_text(errors="replace") for f in store.rglob("*") if f.is_file())
    assert not (store / "snapshots").exists() or not any((store / "snapshots").rglob("*.gz"))
    # asked explicitly, it is tagged (the user chose to share it)
    allowed = mm("add", ".env", "--match", "API_KEY", "--allow-ignored")
    assert allowed.code == 0, allowed.err
