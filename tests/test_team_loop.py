"""Two people tagging the same files on the same afternoon (issue 22): uncommitted tags never
block git.

Real git, two clones sharing a bare remote, the real hooks installed in both (they run as git
runs them, in their own processes); the magicmarkup commands a user types run in this process
(the `cli` fixture), since the process is not what these tests are about. After every git
command: its exit status, `git status --porcelain` (exactly what the user changed), and every
tag, committed or not, listed on its code.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.workflow_helpers import HOOK_FAILURE, env

SHOP = '''"""Prices and totals."""


def total(prices):
    return sum(prices)


def discount(price, rate):
    return price * (1 - rate)
'''

UTIL = """def slug(text):
    return "-".join(text.lower().split())


def clamp(x, lo, hi):
    return max(lo, min(x, hi))
"""


@dataclass
class Clone:
    """One person's clone: git commands run as a user runs them, with the three checks."""

    root: Path
    name: str
    cli: CliRunner
    expected: dict[str, str] = field(default_factory=dict)  # tag id -> the text it must be on
    steps: int = 0

    def git(
        self, *args: str, rc: int = 0, status: list[str] | Callable[[list[str]], bool] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A git command (hooks and all), then: its exit status, `git status`, the tags."""
        self.steps += 1
        step = f"[{self.name}] step {self.steps}: git {' '.join(args)}"
        proc = subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, env=env(), timeout=120
        )
        assert proc.returncode == rc, (
            f"{step}: exit {proc.returncode} (expected {rc})\n{proc.stdout}{proc.stderr}"
        )
        assert HOOK_FAILURE.search(proc.stderr) is None, f"{step}: a hook failed:\n{proc.stderr}"
        now = self.porcelain()
        ok = status(now) if callable(status) else now == sorted(status or [])
        assert ok, f"{step}: git status {now}"
        self.check_tags(step)
        return proc

    def out(self, *args: str) -> str:
        """A git command the test needs for itself (not a user's step)."""
        proc = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, env=env())
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def porcelain(self) -> list[str]:
        return sorted(self.out("status", "--porcelain=v1", "--untracked-files=all").splitlines())

    def mm(self, *args: str, code: int = 0) -> str:
        result = self.cli(*args, cwd=self.root)
        assert result.code == code, f"[{self.name}] magicmarkup {' '.join(args)}: {result.out}{result.err}"
        return result.out + result.err

    def tag(self, rel: str, match: str, note: str) -> str:
        tag_id = self.mm("add", rel, "--match", match, "--note", note).splitlines()[0].strip()
        self.expected[tag_id] = match
        return tag_id

    def check_tags(self, step: str) -> None:
        """Every expected tag listed on its text, confidently (and no other tag)."""
        if not (self.root / ".magicmarkup").is_dir():  # a checkout with no store: no tag to list
            assert not self.expected, f"{step}: no store here, but tags are expected"
            return
        result = self.cli("list", "--json", cwd=self.root)
        assert result.code == 0, f"{step}: list: {result.err}"
        rows = {row["id"]: row for row in result.json()}
        assert set(rows) == set(self.expected), (
            f"{step}: listed {sorted(rows)}, expected {sorted(self.expected)}"
        )
        for tag_id, text in self.expected.items():
            row = rows[tag_id]
            on_disk = (self.root / row["path"]).read_text(encoding="utf-8")[row["start"] : row["end"]]
            assert on_disk == text and row["status"] in ("anchored", "moved"), f"{step}: {tag_id}: {row}"

    def write(self, rel: str, text: str) -> None:
        (self.root / rel).write_text(text, encoding="utf-8")

    def pending_files(self) -> list[str]:
        pending = Path(self.out("rev-parse", "--absolute-git-dir").strip()) / "magicmarkup" / "pending"
        return sorted(str(p.relative_to(pending)) for p in pending.rglob("*") if p.is_file())


@dataclass
class Team:
    origin: Path
    a: Clone
    b: Clone


def _clone(origin: Path, dest: Path, name: str, cli: CliRunner, hooks: bool = True) -> Clone:
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True, env=env(), capture_output=True)
    c = Clone(dest, name, cli)
    c.out("config", "pull.rebase", "false")
    if hooks:
        c.mm("hooks", "install")
    return c


@pytest.fixture
def team(tmp_path: Path, cli: CliRunner) -> Team:
    """A remote whose code (shop.py, util.py) is committed and whose store already holds one tag
    (so both clones start from a shared store); A and B clone it, hooks installed."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    a = _clone(origin, tmp_path / "A", "A", cli)
    a.write("shop.py", SHOP)
    a.write("util.py", UTIL)
    a.mm("init")
    a.tag("util.py", "max(lo, min(x, hi))", "inclusive bounds")
    a.out("add", "-A")
    a.git("commit", "-q", "-m", "code and the first tag")
    a.git("push", "-q", "origin", "main")
    b = _clone(origin, tmp_path / "B", "B", cli)
    b.expected = dict(a.expected)
    b.check_tags("[B] after clone")
    return Team(origin, a, b)


def _same_snapshot_race(team: Team) -> tuple[str, str]:
    """A and B tag the same version of shop.py (never snapshotted before: same snapshot name,
    same history log); B commits and pushes, A's tag stays uncommitted."""
    a, b = team.a, team.b
    mine = a.tag("shop.py", "sum(prices)", "floats?")
    a.mm("edit", mine, "--note", "floats: rounding?")  # an event for the history log
    theirs = b.tag("shop.py", "price * (1 - rate)", "rate")
    b.mm("edit", theirs, "--note", "rate in 0..1")
    pin_b = f".magicmarkup/pins/shop.py/{theirs}.json"
    b.git("add", pin_b, status=[f"A  {pin_b}"])
    commit = b.git("commit", "-q", "-m", "B: a tag on discount")
    assert "staged" in commit.stderr or "re-pinned" in commit.stderr or commit.stderr == ""
    shared = b.out("show", "--name-only", "--format=", "HEAD").split()
    snapshot = next(p for p in shared if p.startswith(".magicmarkup/snapshots/"))
    assert ".magicmarkup/history/shop.py.jsonl" in shared, shared
    # A holds the same snapshot and a log of the same name, where no pull can trip on them
    assert {snapshot.removeprefix(".magicmarkup/"), "history/shop.py.jsonl"} <= set(a.pending_files())
    assert not (a.root / snapshot).exists() and not (a.root / ".magicmarkup/history/shop.py.jsonl").exists()
    b.git("push", "-q", "origin", "main")
    return mine, theirs


@pytest.mark.parametrize("pull", [["pull", "-q"], ["pull", "-q", "--rebase"], ["pull", "-q", "--autostash"]])
def test_an_uncommitted_tag_never_blocks_a_pull_of_the_same_snapshot(team: Team, pull: list[str]) -> None:
    a, b = team.a, team.b
    mine, theirs = _same_snapshot_race(team)
    pin = f".magicmarkup/pins/shop.py/{mine}.json"
    if "--autostash" in pull:
        a.write("util.py", UTIL + "\n# local work\n")  # a change of a tracked file, to be stashed
        local = [" M util.py", f"?? {pin}"]
    else:
        a.write("notes.txt", "todo\n")
        a.git("add", "notes.txt", status=["A  notes.txt", f"?? {pin}"])
        a.git("commit", "-q", "-m", "A: notes", status=[f"?? {pin}"])  # diverged: a real merge/rebase
        local = [f"?? {pin}"]
    a.expected[theirs] = b.expected[theirs]
    a.git(*pull, status=local)
    a.git("checkout", "-q", "-b", "elsewhere", status=local)
    a.git("checkout", "-q", "main", status=local)
    a.git("switch", "-q", "-", status=local)
    a.git("switch", "-q", "main", status=local)
    # A's next commit of shop.py carries A's tag, its snapshot and its history with it
    a.write("shop.py", SHOP.replace('"""Prices and totals."""', '"""Prices, totals, discounts."""'))
    committed = a.git("commit", "-q", "-am", "A: docstring", status=[])
    assert "staged 1 new tag" in committed.stderr
    assert a.pending_files() == [] or all(not f.startswith("history/") for f in a.pending_files())
    a.git("push", "-q", "origin", "main")
    b.expected[mine] = a.expected[mine]
    b.git("pull", "-q", status=[])
    assert "0 problems" in b.mm("doctor")


def test_add_then_rm_leaves_nothing_behind(team: Team) -> None:
    a, b = team.a, team.b
    before = a.pending_files()
    gone = a.tag("shop.py", "sum(prices)", "oops")
    a.mm("edit", gone, "--note", "oops, twice")
    assert a.porcelain() == [f"?? .magicmarkup/pins/shop.py/{gone}.json"] and a.pending_files() != before
    removed = a.mm("rm", gone)
    del a.expected[gone]
    assert "removed" in removed
    assert a.porcelain() == [] and a.pending_files() == before
    b.tag("shop.py", "sum(prices)", "same text, same snapshot")
    b.out("add", "-A")
    b.git("commit", "-q", "-m", "B: tag total")
    b.git("push", "-q", "origin", "main")
    a.expected.update(b.expected)
    a.git("pull", "-q", status=[])


def test_fresh_clone_before_the_first_pull_and_commits_older_than_the_store(
    tmp_path: Path, cli: CliRunner
) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    a = _clone(origin, tmp_path / "A", "A", cli, hooks=False)
    a.write("shop.py", SHOP)
    a.out("add", "-A")
    a.git("commit", "-q", "-m", "code, no store yet")
    a.git("push", "-q", "origin", "main")
    b = _clone(origin, tmp_path / "B", "B", cli, hooks=False)  # B clones before A starts a store
    a.mm("init")
    a.mm("hooks", "install")
    a.tag("shop.py", "sum(prices)", "floats?")
    a.git("add", "-A", status=[f"A  .magicmarkup/pins/shop.py/{next(iter(a.expected))}.json"])
    a.git("commit", "-q", "-m", "the store")
    a.git("push", "-q", "origin", "main")
    # B has not pulled: hooks install needs no store, and neither it nor init writes a file git sees
    installed = b.mm("hooks", "install")
    assert "no tag store in this checkout yet" in installed
    assert b.porcelain() == []
    b.git("fetch", "-q")
    inited = b.mm("init")
    assert "origin/main already has the team's store" in inited
    assert b.porcelain() == []
    b.expected = dict(a.expected)
    b.git("pull", "-q", status=[])
    # a commit older than the store: clean checkout, and the advice is where to find the store
    b.expected = {}
    b.out("checkout", "-q", "HEAD~1")
    assert b.porcelain() == []
    listed = b.cli("list", cwd=b.root)
    assert listed.code == 1 and "main has the team's" in listed.err and "git pull" in listed.err
    b.expected = dict(a.expected)
    b.git("checkout", "-q", "main", status=[])


def test_new_tags_ride_with_commit_am_commit_file_and_partial_staging(team: Team) -> None:
    a = team.a
    first = a.tag("shop.py", "sum(prices)", "floats?")
    a.write("shop.py", SHOP + "\n\nTAX = 0.2\n")
    done = a.git("commit", "-q", "-am", "tax", status=[])
    assert re.search(r"magicmarkup pre-commit: .*staged 1 new tag", done.stderr), done.stderr
    files = a.out("show", "--name-only", "--format=", "HEAD").split()
    assert (
        f".magicmarkup/pins/shop.py/{first}.json" in files and ".magicmarkup/history/shop.py.jsonl" in files
    )
    assert any(f.startswith(".magicmarkup/snapshots/") for f in files)
    # `git commit FILE`: the commit is built in a temporary index; the real one must agree
    second = a.tag("util.py", '"-".join(text.lower().split())', "unicode?")
    a.write("util.py", UTIL + "\n# end\n")
    a.git("commit", "-q", "-m", "util", "util.py", status=[])
    assert f".magicmarkup/pins/util.py/{second}.json" in a.out("show", "--name-only", "--format=", "HEAD")
    # partial staging: only the staged file's new tag goes with the commit
    third = a.tag("shop.py", "price * (1 - rate)", "rate in 0..1")
    fourth = a.tag("util.py", "def slug(text):", "ascii only")
    a.write("shop.py", SHOP.replace("def total", "# totals\ndef total") + "\n\nTAX = 0.2\n")
    a.write("util.py", UTIL + "\n# end\n# more\n")
    a.git(
        "add",
        "shop.py",
        status=[
            "M  shop.py",
            " M util.py",
            f"?? .magicmarkup/pins/shop.py/{third}.json",
            f"?? .magicmarkup/pins/util.py/{fourth}.json",
        ],
    )
    a.git(
        "commit",
        "-q",
        "-m",
        "shop only",
        status=[" M util.py", f"?? .magicmarkup/pins/util.py/{fourth}.json"],
    )
    assert f"pins/shop.py/{third}.json" in a.out("show", "--name-only", "--format=", "HEAD")


def test_without_hooks_status_and_publish_say_and_do_what_to_commit(team: Team) -> None:
    a = team.a
    a.mm("hooks", "uninstall")
    new = a.tag("shop.py", "sum(prices)", "floats?")
    a.mm("edit", new, "--note", "floats: rounding?")  # a history line, pending until published
    status = a.mm("status")
    assert "shop.py: 1 new tag" in status and "magicmarkup publish" in status
    published = a.cli("publish", "--json", cwd=a.root).json()
    assert published["new_tags"] == [new] and ".magicmarkup/history/shop.py.jsonl" in published["staged"]
    assert "shop.py: 2 store files staged" in a.mm("status")  # its pin and its log
    a.git("commit", "-q", "-m", "tags, published by hand", status=[])
    assert "nothing waiting" in a.mm("status") and a.pending_files() == []


def test_note_conflict_settled_by_following_doctor_leaves_a_clean_tree(team: Team) -> None:
    a, b = team.a, team.b
    [shared] = list(a.expected)
    a.mm("edit", shared, "--note", "A: inclusive")
    a.git("commit", "-q", "-am", "A: note", status=[])
    b.mm("edit", shared, "--note", "B: exclusive")
    b.git("commit", "-q", "-am", "B: note", status=[])
    b.git("push", "-q", "origin", "main")
    pin = f".magicmarkup/pins/util.py/{shared}.json"
    # the one pin both changed is in conflict; the logs merge by union (staged by the merge:
    # unless both edits logged the very same line, in the same second)
    log = "M  .magicmarkup/history/util.py.jsonl"
    a.git("pull", "-q", rc=1, status=lambda now: now in ([f"UU {pin}"], sorted([f"UU {pin}", log])))
    doctor = a.cli("doctor", cwd=a.root)
    assert doctor.code == 1
    advice = re.search(r"`(magicmarkup edit \S+) --note \.\.\.`.*then `(git add \S+)`", doctor.out)
    assert advice is not None, doctor.out
    a.mm(*advice.group(1).split()[1:], "--note", "inclusive (settled)")
    a.out(*advice.group(2).split()[1:])
    a.git("commit", "-q", "--no-edit", status=[])
    assert a.cli("doctor", cwd=a.root).code == 0


def test_gc_never_deletes_a_tracked_snapshot_unasked(team: Team) -> None:
    a = team.a
    [shared] = list(a.expected)
    a.write("util.py", "# header\n" + UTIL)
    a.git("commit", "-q", "-am", "move the tag: its old snapshot is unreferenced now", status=[])
    stray = a.root / ".magicmarkup" / "snapshots" / "00" / ("00" * 32 + ".gz")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left by an older version")
    result = a.cli("gc", "--json", cwd=a.root).json()
    assert result["removed_files"] == [str(stray.relative_to(a.root))] and len(result["kept_tracked"]) == 1
    assert a.porcelain() == [] and a.mm("gc").count("kept 1 unreferenced tracked") == 1
    a.git("pull", "-q", status=[])
    asked = a.cli("gc", "--tracked", "--json", cwd=a.root).json()
    assert asked["removed_tracked"] == result["kept_tracked"]
    assert a.porcelain() == [f"D  {result['kept_tracked'][0]}"]
    assert shared in a.expected
