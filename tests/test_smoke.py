"""End to end through the real entry point: init, add, list, retag."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CliRunner


def test_init_add_list_retag(repo: Path, mm: CliRunner) -> None:
    (repo / "app.py").write_text("def f(x):\n    return x + 1\n", encoding="utf-8")
    assert mm("init").code == 0
    added = mm("add", "app.py", "--match", "x + 1", "--note", "hi")
    assert added.code == 0, added.err
    listed = mm("list", "--json").json()
    assert [(t["text"], t["start"], t["end"], t["metadata"]["note"]) for t in listed] == [
        ("x + 1", 21, 26, "hi")
    ]
    (repo / "app.py").write_text("import os\n\ndef f(x):\n    return x + 1\n", encoding="utf-8")
    report = mm("retag", "--worktree", "--no-llm", "--json").json()
    assert report["counts"]["moved"] == 1
    moved = mm("list", "--json").json()[0]
    assert (moved["start"], moved["end"], moved["status"]) == (32, 37, "moved")
