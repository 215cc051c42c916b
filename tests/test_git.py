"""Tags follow git: range retags and hooks, in real repositories with the real CLI in hooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from magicmarkup import git as gitlib
from magicmarkup import tags as tagapi
from magicmarkup.documents import text_hash
from magicmarkup.model import Status, Tag
from magicmarkup.store import Store
from tests.conftest import GIT_ENV, CliRunner, git

APP = """def load(path):
    with open(path) as handle:
        return handle.read()


def total(prices):
    result = 0
    for price in prices:
        result += price * TAX
    return result


def legacy(x):
    return x - 5
"""


def write(root: Path, rel: str, text: str) -> None:
    file = root / rel
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A", "--", ".", ":!.magicmarkup")
    git(root, "commit", "-q", "-m", message)


def tagged_repo(root: Path, text: str = APP, rel: str = "app.py") -> tuple[Store, dict[str, Tag]]:
    """A committed file with three tags; the store itself stays uncommitted (per worktree)."""
    write(root, rel, text)
    commit_all(root, "initial")
    store = Store.init(root)
    tags = {
        "call": tagapi.add_tag(store, rel, match="result += price * TAX", note="why TAX here?"),
        "read": tagapi.add_tag(store, rel, match="return handle.read()"),
        "legacy": tagapi.add_tag(store, rel, match="def legacy(x):\n    return x - 5"),
    }
    return store, tags


def current(store: Store, tag: Tag) -> tuple[Tag, str | None]:
    """The tag where the working-tree view places it now, and the text at that place."""
    now = tagapi.find_tag(store, tag.id)
    if now.status is Status.ORPHANED:
        return now, None
    return now, store.read_document(now.path)[now.span.start : now.span.end]


def install(root: Path) -> None:
    gitlib.install_hooks(root, [sys.executable, "-m", "magicmarkup"], ["--no-llm"])


def porcelain(root: Path) -> list[str]:
    return git(root, "status", "--porcelain").splitlines()


def run_git(
    root: Path, *args: str, check: bool = True, hooks: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "MAGICMARKUP_HOOKS": "1" if hooks else "0"}
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


# -- pure helpers ------------------------------------------------------------------------------


def test_parse_name_status_and_batch() -> None:
    raw = b"M\0a.py\0R087\0old dir/b.py\0new/b.py\0D\0c.py\0"
    assert gitlib.parse_name_status(raw) == [
        gitlib.FileChange("M", "a.py"),
        gitlib.FileChange("R", "new/b.py", "old dir/b.py"),
        gitlib.FileChange("D", "c.py"),
    ]
    batch = b"abc blob 3\nxyz\nHEAD:nope missing\ndef tree 5\n12345\n"
    assert gitlib.parse_batch(batch, 3) == [b"xyz", None, None]


# -- retag REV_RANGE ---------------------------------------------------------------------------


def test_edit_above_and_commit_then_retag_range(repo: Path, mm: CliRunner) -> None:
    store, tags = tagged_repo(repo)
    write(repo, "app.py", "import os\nimport sys\n\nTAX = 2\n\n" + APP)
    commit_all(repo, "imports above")
    out = mm("retag", "HEAD~1..HEAD", "--no-llm", "--json")
    assert out.code == 0, out.err
    data = out.json()
    assert data["counts"]["moved"] == 3
    assert [c["subject"] for c in data["commits"]] == ["imports above"]
    for tag in tags.values():
        now, text = current(store, tag)
        assert text == tag.anchor.text
        assert now.span.start == tag.span.start + len("import os\nimport sys\n\nTAX = 2\n\n")
        assert now.history[-1].reason == gitlib.rev_parse(repo, "HEAD")[:12]  # type: ignore[index]


def test_rename_and_edit_in_one_commit(repo: Path) -> None:
    store, tags = tagged_repo(repo, rel="src/app.py")
    (repo / "lib").mkdir()
    git(repo, "mv", "src/app.py", "lib/billing.py")
    edited = APP.replace("result += price * TAX", "result += round(price * TAX, 2)")
    write(repo, "lib/billing.py", "# billing\n" + edited)
    commit_all(repo, "move and edit")
    result = gitlib.retag_range(store, "HEAD~1..HEAD")
    assert result.steps[0].files == 1
    assert store.paths() == ["lib/billing.py"]
    call, text = current(store, tags["call"])
    assert call.path == "lib/billing.py"
    assert text is not None and "price * TAX" in text and call.status.placed
    read, text = current(store, tags["read"])
    assert (read.path, text, read.status) == ("lib/billing.py", "return handle.read()", Status.MOVED)
    assert read.history[-1].old_path == "src/app.py"


def test_deleted_function_is_orphaned_and_range_walks_each_commit(repo: Path) -> None:
    store, tags = tagged_repo(repo)
    write(repo, "app.py", "# header\n" + APP)
    commit_all(repo, "one")
    write(repo, "app.py", ("# header\n" + APP).replace("\n\ndef legacy(x):\n    return x - 5\n", "\n"))
    commit_all(repo, "two: drop legacy")
    result = gitlib.retag_range(store, "HEAD~2..HEAD")
    assert [s.subject for s in result.steps] == ["one", "two: drop legacy"]
    legacy, text = current(store, tags["legacy"])
    assert legacy.status is Status.ORPHANED and text is None
    assert legacy.anchor.text == "def legacy(x):\n    return x - 5"  # the evidence is kept
    call, text = current(store, tags["call"])
    assert text == "result += price * TAX" and call.status.placed


def test_single_revision_and_bad_range(repo: Path, mm: CliRunner) -> None:
    store, tags = tagged_repo(repo)
    write(repo, "app.py", "\n" + APP)
    commit_all(repo, "blank line")
    assert len(gitlib.range_steps(repo, "HEAD")) == 1
    gitlib.retag_range(store, "HEAD")
    assert store.find(tags["read"].id).span.start == tags["read"].span.start + 1
    bad = mm("retag", "nope..HEAD", "--no-llm")
    assert bad.code == 1
    assert "nope: unknown revision" in bad.err and len(bad.err.strip().splitlines()) == 1


# -- hooks -------------------------------------------------------------------------------------


def test_hooks_commit_then_checkout_other_branch_and_back(repo: Path) -> None:
    store, tags = tagged_repo(repo)
    git(repo, "add", ".magicmarkup")
    git(repo, "commit", "-q", "-m", "tags")
    install(repo)
    before = {k: tagapi.find_tag(store, t.id) for k, t in tags.items()}
    git(repo, "checkout", "-q", "-b", "other")
    write(repo, "app.py", "import os\n\n" + APP.replace("\n\ndef legacy(x):\n    return x - 5\n", "\n"))
    committed = run_git(repo, "commit", "-q", "-am", "other: import, no legacy")
    assert "magicmarkup pre-commit" in committed.stderr  # re-pinned, and staged with the commit
    assert porcelain(repo) == []
    assert current(store, tags["read"])[1] == "return handle.read()"
    assert tagapi.find_tag(store, tags["legacy"].id).status is Status.ORPHANED
    pinned = git(repo, "show", "HEAD:.magicmarkup/pins/app.py/" + tags["legacy"].id + ".json")
    assert '"status": "orphaned"' in pinned  # the commit's store matches its code

    run_git(repo, "checkout", "-q", "main")
    assert porcelain(repo) == []
    for key, tag in tags.items():
        now, text = current(store, tag)
        assert (now.span, now.status, text) == (before[key].span, Status.ANCHORED, tag.anchor.text), key
    # and forth again: the other branch's placements come back too
    run_git(repo, "checkout", "-q", "other")
    assert porcelain(repo) == []
    assert tagapi.find_tag(store, tags["legacy"].id).status is Status.ORPHANED
    assert current(store, tags["call"])[1] == "result += price * TAX"


def test_pull_from_a_second_clone(tmp_path: Path, repo: Path) -> None:
    write(repo, "app.py", APP)
    commit_all(repo, "initial")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    store = Store.init(clone)
    tag = tagapi.add_tag(store, "app.py", match="result += price * TAX")
    install(clone)
    write(repo, "app.py", '"""Billing."""\n\nTAX = 3\n\n' + APP)
    commit_all(repo, "upstream: docstring")
    run_git(clone, "pull", "-q", "--no-rebase", "origin", "main")
    assert porcelain(clone) == ["?? .magicmarkup/"]  # the store was never committed here
    now, text = current(store, tag)
    assert text == "result += price * TAX" and now.status is Status.MOVED
    assert now.span.start == tag.span.start + len('"""Billing."""\n\nTAX = 3\n\n')


def test_rebase_rewriting_two_commits(repo: Path) -> None:
    write(repo, "app.py", APP)
    commit_all(repo, "initial")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "app.py", APP.replace("    result = 0\n", "    result = 0  # start\n"))
    commit_all(repo, "f1")
    write(repo, "app.py", (repo / "app.py").read_text().replace("def legacy(x):", "def legacy(x):  # old"))
    commit_all(repo, "f2")
    git(repo, "checkout", "-q", "main")
    write(repo, "app.py", "import math\n\n\n" + APP)
    commit_all(repo, "main: import")
    git(repo, "checkout", "-q", "feature")
    store = Store.init(repo)
    tags = {
        "call": tagapi.add_tag(store, "app.py", match="result += price * TAX"),
        "read": tagapi.add_tag(store, "app.py", match="return handle.read()"),
        "legacy": tagapi.add_tag(store, "app.py", match="def legacy(x):  # old\n    return x - 5"),
    }
    install(repo)
    pins = {f: f.read_bytes() for f in (repo / ".magicmarkup" / "pins").rglob("*.json")}
    run_git(repo, "rebase", "-q", "main")
    assert porcelain(repo) == ["?? .magicmarkup/"]
    assert [s for s in git(repo, "log", "--format=%s").splitlines()] == [
        "f2",
        "f1",
        "main: import",
        "initial",
    ]
    disk = (repo / "app.py").read_text()
    assert disk.startswith("import math") and "# start" in disk and "# old" in disk
    for tag in tags.values():
        now, text = current(store, tag)
        assert text == tag.anchor.text and now.status is Status.MOVED
    # the local view followed the rebase; the shared pins were not rewritten by it
    assert {f: f.read_bytes() for f in (repo / ".magicmarkup" / "pins").rglob("*.json")} == pins


def test_merge_with_conflict_resolved_by_hand(repo: Path) -> None:
    store, tags = tagged_repo(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "app.py", APP.replace("    result = 0\n", "    result = 1\n"))
    commit_all(repo, "feature: start at 1")
    git(repo, "checkout", "-q", "main")
    install(repo)  # tags are on the initial text; main moves on with the hooks in place
    write(repo, "app.py", "# main\n" + APP.replace("    result = 0\n", "    result = 2\n"))
    run_git(repo, "commit", "-q", "-am", "main: start at 2")
    merge = run_git(repo, "merge", "-q", "feature", check=False)
    assert merge.returncode != 0 and "<<<<<<<" in (repo / "app.py").read_text()
    resolved = "# main\n" + APP.replace("    result = 0\n", "    result = 1 + 2  # merged\n")
    write(repo, "app.py", resolved)
    git(repo, "add", "app.py")
    done = run_git(repo, "commit", "-q", "--no-edit")
    assert "magicmarkup pre-commit" in done.stderr, done.stderr
    for tag in tags.values():
        now, text = current(store, tag)
        assert text == tag.anchor.text and now.anchor.snapshot == text_hash(resolved)


def test_install_chains_user_hook_respects_hookspath_and_uninstall_restores(
    repo: Path, mm: CliRunner
) -> None:
    store, tag = tagged_repo(repo)[0], None
    git(repo, "config", "core.hooksPath", "my-hooks")
    user_hook = repo / "my-hooks" / "post-checkout"
    user_hook.parent.mkdir()
    user_hook.write_text(
        '#!/bin/sh\necho "user hook $3" >> "$(git rev-parse --show-toplevel)/user.log"\nexit 3\n'
    )
    user_hook.chmod(0o755)
    out = mm("hooks", "install", "--json")
    assert out.code == 0, out.err
    actions = {h["name"]: h for h in out.json()["hooks"]}
    assert actions["post-checkout"]["action"] == "chained"
    assert actions["pre-commit"]["action"] == "installed"
    assert actions["merge driver"]["action"] == "installed"
    assert Path(out.json()["hooks_dir"]) == (repo / "my-hooks").resolve()
    assert (repo / "my-hooks" / "post-checkout.pre-magicmarkup").read_text().startswith("#!/bin/sh\necho")

    first = run_git(repo, "checkout", "-q", "-b", "b2", check=False)
    assert first.returncode != 0  # the user's hook still decides checkout's exit status
    write(repo, "app.py", "# b2\n" + APP)
    run_git(repo, "commit", "-q", "-am", "b2", hooks=False)
    back = run_git(repo, "checkout", "-q", "main", check=False)
    assert back.returncode != 0
    assert (repo / "user.log").read_text().splitlines() == ["user hook 1", "user hook 1"]
    tag = store.all_tags()[0]
    assert current(store, tag)[1] == tag.anchor.text  # the view follows the checkout
    # installing twice only refreshes ours
    again = mm("hooks", "install", "--json").json()
    assert {h["action"] for h in again["hooks"]} == {"updated"}
    gone = mm("hooks", "uninstall", "--json").json()
    assert {h["name"]: h["action"] for h in gone["hooks"]}["post-checkout"] == "restored"
    assert user_hook.read_text().startswith("#!/bin/sh\necho")
    assert not (repo / "my-hooks" / "pre-commit").exists()
    assert gone["hooks"][-1] == {**gone["hooks"][-1], "name": "merge driver", "action": "removed"}
    driver = subprocess.run(
        ["git", "config", "--get", "merge.magicmarkup.driver"], cwd=repo, capture_output=True
    )
    assert driver.returncode == 1  # unset


@pytest.mark.parametrize("fault", ["bad-config", "missing-python"])
def test_failing_retag_never_fails_git(repo: Path, fault: str) -> None:
    tagged_repo(repo)
    install(repo)
    env = {**os.environ, **GIT_ENV}
    if fault == "bad-config":
        env["MAGICMARKUP_REVIEW_THRESHOLD"] = "not-a-number"
    else:
        hook = Path(gitlib.hooks_dir(repo)) / "pre-commit"
        hook.write_text(hook.read_text().replace(sys.executable, "/nonexistent/python"))
    write(repo, "app.py", "# x\n" + APP)
    proc = subprocess.run(
        ["git", "commit", "-q", "-am", "x"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "magicmarkup pre-commit" in lines[0], proc.stderr
    assert gitlib.rev_parse(repo, "HEAD~1") is not None  # the commit happened
