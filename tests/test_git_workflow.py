"""Scripted team workflows with real git, real processes and the hooks installed (issue #12).

A bare "origin", clone A and clone B (`magicmarkup hooks install` in both), more fresh clones,
and the commands a team really runs:
1. a feature branch (edits above tags, a tagged function edited, `git mv` plus an edit, a commit
   without the hook, a deleted function and file, amend), 20 checkouts, `git bisect run` over 30
   commits (the bisect script checks the tags at every commit it visits);
2. rebase onto a moved main, cherry-pick, revert, restore, stash/pop, checkout of one file,
   reset --hard, pull --rebase, rebase -i squashing;
3. merges: tags added on both sides, different notes edited, a rename merged with an edit, a
   code conflict in a tagged function resolved by hand, the same note edited on both sides
   (`doctor` reports it; every other tag still listed), then settled;
4. a worktree, an uncommitted tag across checkouts, partial staging, fresh clones (same
   placements as the author with no magicmarkup command run), renames across commits made
   without the hook, git clean, tagged files under cache/ backup/ tmp/;
5. core.autocrlf=true and an eol=crlf filter: offsets in the text on disk;
6. the hooks chained with a user's own hooks (still run, exit status respected), core.hooksPath;
7. git commands while `magicmarkup watch` runs.

After EVERY git command (`Clone.git`, tests/workflow_helpers.py) three things are checked, and a
failure names the clone and the step: the exit status, that `git status --porcelain` shows only
what the user changed, and that `magicmarkup list --json` has each tag on the right code of the
file on disk (or flagged where its code is gone). Only what a user sees is checked: the CLI's
output, the files on disk, and what git shows (status, and which paths a commit holds); no
library import, no file of `.magicmarkup/` read.

Against a work tree of the library: PYTHONPATH=/path/to/it python -m pytest tests/test_git_workflow.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.workflow_helpers import (
    MM,
    Clone,
    Exp,
    check_deferred,
    clone,
    edited,
    env,
    git_out,
    gone,
    in_conflict,
    run,
    same,
    same_placements,
)

pytestmark = pytest.mark.timeout(240)

BILLING = '''"""Billing helpers."""

TAX = 0.2


def load(path):
    with open(path) as handle:
        return handle.read()


def total(prices):
    result = 0
    for price in prices:
        result += price * TAX
    return result


def legacy(x):
    return x - 5
'''

UTIL = '''"""Small helpers."""


def clamp(value, low, high):
    if value < low:
        return low
    if value > high:
        return high
    return value


def slug(text):
    cleaned = text.strip().lower()
    return "-".join(cleaned.split())


def chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]
'''

REPORT = '''"""Reports."""

from billing import total


def render(rows):
    lines = []
    for name, prices in rows:
        lines.append(f"{name}: {total(prices):.2f}")
    return "\\n".join(lines)


def header(title):
    return title.upper() + "\\n" + "=" * len(title)
'''

TOTAL = "def total(prices):\n    result = 0\n    for price in prices:\n        result += price * TAX\n    return result"
LEGACY = "def legacy(x):\n    return x - 5"
TOTAL_F = TOTAL.replace("result = 0\n", "result = 0.0\n")
TOTAL_D = TOTAL.replace("result = 0\n", "result = Decimal(0)\n")
CLAMP = "if value > high:\n        return high"

# label -> (file, tagged text, note): the team's first tags, all in clone A.
FIRST_TAGS = {
    "call": ("billing.py", "result += price * TAX", "why TAX here?"),
    "total": ("billing.py", TOTAL, "sums **gross** prices"),
    "read": ("billing.py", "return handle.read()", "no encoding given"),
    "legacy": ("billing.py", LEGACY, "remove after v2"),
    "clamp": ("util.py", CLAMP, "inclusive bound"),
    "slug": ("util.py", 'return "-".join(cleaned.split())', "unicode?"),
    "render": ("report.py", 'lines.append(f"{name}: {total(prices):.2f}")', "two decimals"),
}


def first_expectations() -> dict[str, Exp]:
    return {label: same(rel, text) for label, (rel, text, _note) in FIRST_TAGS.items()}


@dataclass
class Team:
    tmp: Path
    origin: Path
    a: Clone
    ids: dict[str, str]
    deferred: list[str]
    _b: Clone | None = None

    @property
    def b(self) -> Clone:
        """Clone B, made when a workflow first needs it: cloned from origin as A pushed the first
        tags (it lists them as A does before any magicmarkup command), then hooks installed."""
        if self._b is None:
            b = self.fresh_clone("B")
            b.expected = first_expectations()
            b.check_tags("[B] fresh clone, before any magicmarkup command")
            same_placements(self.a, b, "fresh clone B")
            install_hooks(b)
            self._b = b
        return self._b

    def fresh_clone(self, name: str, *args: str) -> Clone:
        """A new clone where no magicmarkup command is run (except the `list` that checks it)."""
        return clone(self.origin, self.tmp / name, name, self.ids, *args, deferred=self.deferred)

    def check_deferred(self) -> None:
        check_deferred(self.deferred)


def assert_hooks_installed(c: Clone) -> None:
    """git's hooks directory (core.hooksPath honoured) has an executable pre-commit hook."""
    hooks = Path(git_out(c.root, "rev-parse", "--git-path", "hooks").strip())
    hooks = hooks if hooks.is_absolute() else c.root / hooks
    for name in ("pre-commit", "post-checkout", "post-merge", "post-rewrite"):
        hook = hooks / name
        assert hook.is_file() and os.access(hook, os.X_OK), f"[{c.name}] hooks install: no executable {hook}"


def install_hooks(c: Clone) -> None:
    c.mm_ok("hooks", "install")
    assert_hooks_installed(c)
    c.check_status(f"[{c.name}] after `magicmarkup hooks install`")


@pytest.fixture
def team(tmp_path: Path) -> Team:
    """origin (bare) + clone A (files, init, hooks, the first tags, all committed and pushed);
    clone B (hooks installed) is made when first used."""
    origin = tmp_path / "origin.git"
    origin.mkdir()
    git_out(origin, "init", "-q", "--bare", "-b", "main")
    ids: dict[str, str] = {}
    deferred: list[str] = []
    a = clone(origin, tmp_path / "A", "A", ids, deferred=deferred)
    a.write("billing.py", BILLING)
    a.write("util.py", UTIL)
    a.write("report.py", REPORT)
    a.git("add", "-A", status=["A  billing.py", "A  report.py", "A  util.py"], tags=False)
    a.git("commit", "-q", "-m", "code", tags=False)
    a.mm_ok("init")
    install_hooks_after_init(a)
    for label, (rel, text, note) in FIRST_TAGS.items():
        a.tag(label, rel, text, note)
    a.check_tags("[A] after adding the first tags")
    commit_store(a, "first tags")
    a.git("push", "-q", "-u", "origin", "main")
    return Team(tmp_path, origin, a, ids, deferred)


def install_hooks_after_init(c: Clone) -> None:
    """Hooks right after `init`: the store is new (untracked), nothing else may show."""
    before = c.porcelain()
    c.mm_ok("hooks", "install")
    assert_hooks_installed(c)
    assert c.porcelain() == before, f"[{c.name}] hooks install changed the tree: {before} -> {c.porcelain()}"


def only_store(*code: str) -> Callable[[str, list[str]], None]:
    """A `git status` check after `git add -A` of tag changes: only files under .magicmarkup/
    (and the store's own .gitattributes, if it writes one) besides the given code files, all
    staged (added or modified) by the user's act."""

    def check(step: str, lines: list[str]) -> None:
        assert lines, f"{step}: nothing staged"
        for line in lines:
            path = line[3:]
            store = path.startswith(".magicmarkup/") or path == ".gitattributes"
            assert line[0] in "AMD" and line[1] == " " and (store or path in code), (
                f"{step}: unexpected in git status: {line!r} (all: {lines})"
            )

    return check


def only_untracked_store(lines: list[str]) -> list[str]:
    """`git status` after adding a tag (not yet committed): new files in the store only."""
    assert lines and all(line.startswith("?? .magicmarkup/") for line in lines), lines
    return lines


def only_code_conflict(rel: str) -> Callable[[str, list[str]], None]:
    """`git status` in a merge stopped on a conflict in `rel`: that file unmerged; besides it only
    store files, merged cleanly (never a conflict in the store: re-pins of both sides merge)."""

    def check(step: str, lines: list[str]) -> None:
        assert f"UU {rel}" in lines, f"{step}: expected 'UU {rel}' in git status: {lines}"
        for line in lines:
            if line == f"UU {rel}":
                continue
            assert line[3:].startswith(".magicmarkup/") and line[0] in "AMD" and line[1] == " ", (
                f"{step}: unexpected in git status during the conflict: {line!r} (all: {lines})"
            )

    return check


def commit_store(c: Clone, message: str, *code: str) -> None:
    """The user commits tag changes they made (add/edit/rm), and the code files named, with
    `git add -A; git commit`."""
    c.git("add", "-A", status=only_store(*code))
    c.git("commit", "-q", "-m", message)


def renamed_file(expected: dict[str, Exp], old: str, new: str) -> dict[str, Exp]:
    """The expectations once `old` is renamed `new`: its tags follow, with the same text."""
    return {k: (Exp(new, e.text, e.statuses) if e.path == old else e) for k, e in expected.items()}


def head(c: Clone, rev: str = "HEAD") -> str:
    return git_out(c.root, "rev-parse", rev).strip()


def assert_commit_repinned(c: Clone, what: str) -> None:
    """The last commit moved tagged code: the pre-commit hook re-pinned the tags and the
    store's changes went into that same commit (what git shows for the commit)."""
    changed = git_out(c.root, "diff-tree", "--no-commit-id", "--name-only", "-r", "-M", "HEAD").split()
    assert any(p.startswith(".magicmarkup/") for p in changed), (
        f"[{c.name}] {what}: the commit moved tagged code but holds no store change "
        f"(pre-commit did not re-pin and stage): {changed}"
    )


# -- 1. a feature branch: commits, git mv, checkouts back and forth, bisect ----------------------


def test_feature_branch_checkouts_and_bisect(team: Team) -> None:
    a = team.a
    on_main = first_expectations()
    a.git("checkout", "-q", "-b", "feature")

    # edits above every tag of billing.py
    a.replace("billing.py", '"""Billing helpers."""\n', '"""Billing helpers."""\n\nimport os\nimport sys\n')
    a.check_tags()
    a.git("commit", "-q", "-am", "imports above")
    assert_commit_repinned(a, "imports above")

    # a tagged function edited (inside its body); the nested tag `call` is untouched
    a.replace("billing.py", "    result = 0\n", "    result = 0.0\n")
    total2 = TOTAL.replace("result = 0\n", "result = 0.0\n")
    a.expected["total"] = edited("billing.py", total2)
    a.check_tags()
    a.git("commit", "-q", "-am", "float total")  # `total` stays edited: anchored, moved or changed

    # git mv, then an edit before the commit: a staged rename is followed at once
    a.path("shop").mkdir()
    renamed = renamed_file(a.expected, "billing.py", "shop/billing.py")
    a.git("mv", "billing.py", "shop/billing.py", status=["R  billing.py -> shop/billing.py"], expect=renamed)
    a.replace("shop/billing.py", "TAX = 0.2\n", "TAX = 0.2\nRATE = 1.5  # shop\n")
    a.check_tags()
    a.check_show("[A] staged rename and an edit, before the commit", "total", "call")
    a.git("commit", "-q", "-am", "move billing into shop/")

    # an edit to a tagged line of util.py, and a commit WITHOUT the hook (stale pins)
    a.replace("util.py", '"""Small helpers."""\n', '"""Small helpers."""\n\nLOW = 0\n')
    a.replace("util.py", "    if value > high:\n", "    if value >= high:\n")
    clamp2 = CLAMP.replace(">", ">=")
    a.expected["clamp"] = edited("util.py", clamp2)
    a.git("commit", "-q", "--no-verify", "-am", "clamp: inclusive (no hooks)")
    # the legacy function deleted: its tag is orphaned, never put on other code
    a.replace("shop/billing.py", "\n\ndef legacy(x):\n    return x - 5\n", "\n")
    a.expected["legacy"] = gone("shop/billing.py")
    a.check_tags()
    a.git("commit", "-q", "-am", "drop legacy")
    # a tagged file deleted: its tags are orphaned
    a.git(
        "rm", "-q", "report.py", status=["D  report.py"], expect={**a.expected, "render": gone("report.py")}
    )
    a.git("commit", "-q", "-m", "no more reports")
    # amend (post-rewrite): one more line above the tags of util.py
    a.replace("util.py", '"""Small helpers."""\n', '"""Small helpers."""\n\nHIGH = 9\n')
    a.git("commit", "-q", "-a", "--amend", "--no-edit")
    on_feature = dict(a.expected)

    # checkout back and forth: 20 checkouts
    for _ in range(10):
        a.git("checkout", "-q", "main", expect=on_main)
        a.git("checkout", "-q", "feature", expect=on_feature)
    a.git("push", "-q", "origin", "feature")
    fresh = team.fresh_clone("A-feature", "-b", "feature")
    fresh.expected = dict(on_feature)
    fresh.check_tags("[A-feature] fresh clone of the feature branch (renamed file, stale pins)")
    same_placements(a, fresh, "fresh clone of feature vs its author")

    # bisect run over 30 commits: each moves the tagged code down; commit 17 adds a bug
    a.git("checkout", "-q", "-b", "calc", "main", expect=on_main)
    good = head(a)
    shas = []
    for i in range(1, 31):
        a.replace("util.py", '"""Small helpers."""\n', f'"""Small helpers."""\n\nLIMIT_{i} = {i}\n')
        if i % 3 == 0:
            a.replace("billing.py", "TAX = 0.2\n", f"TAX = 0.2\n# revision {i}\n")
        if i == 17:
            a.replace("util.py", "range(0, len(items), size)", "range(1, len(items), size)")
        a.git("commit", "-q", "-am", f"calc {i}")
        shas.append(head(a))
    checker = team.tmp / "bisect_check.py"
    log = team.tmp / "bisect.log"
    expect_file = team.tmp / "bisect_expect.json"
    expect_file.write_text(
        json.dumps({a.ids[k]: [e.path, e.text, sorted(e.statuses)] for k, e in on_main.items()}),
        encoding="utf-8",
    )
    checker.write_text(BISECT_CHECK, encoding="utf-8")
    a.git("bisect", "start", "calc", good)
    proc = a.git("bisect", "run", sys.executable, str(checker), str(expect_file), str(log))
    assert f"{shas[16]} is the first bad commit" in proc.stdout, proc.stdout[-2000:]
    steps = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(steps) >= 4, steps
    bad_steps = [s for s in steps if s["errors"]]
    assert not bad_steps, f"during git bisect run, at some commits tags were wrong: {bad_steps}"
    a.git("bisect", "reset")
    assert head(a) == shas[-1]
    team.check_deferred()


BISECT_CHECK = r'''
"""git bisect run: record whether every tag is on its code here, then test for the bug."""
import json, subprocess, sys

expect = json.load(open(sys.argv[1], encoding="utf-8"))
errors = []
out = subprocess.run([sys.executable, "-m", "magicmarkup", "list", "--json"], capture_output=True, text=True)
if out.returncode:
    errors.append(f"list exit {out.returncode}: {out.stderr[-500:]}")
else:
    rows = {row["id"]: row for row in json.loads(out.stdout)}
    if set(rows) != set(expect):
        errors.append(f"listed {sorted(rows)} expected {sorted(expect)}")
    for tag_id, (path, text, statuses) in expect.items():
        row = rows.get(tag_id)
        if row is None:
            continue
        disk = open(row["path"], encoding="utf-8", newline="").read()
        got = disk[row["start"]:row["end"]]
        if row["path"] != path or got != text or row["status"] not in statuses or row.get("text") != got:
            errors.append(f"{tag_id}: {row['status']} {row['path']}[{row['start']}:{row['end']}] = {got!r}")
status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout
if status.strip():
    errors.append(f"git status: {status!r}")
sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
with open(sys.argv[2], "a", encoding="utf-8") as log:
    log.write(json.dumps({"head": sha, "errors": errors}) + "\n")
bug = "range(1, len(items), size)" in open("util.py", encoding="utf-8").read()
sys.exit(1 if bug else 0)
'''


# -- 2. rebase onto a moved main, cherry-pick, stash, reset --hard, pull --rebase ---------------


def test_rebase_cherry_pick_stash_reset_pull_rebase(team: Team) -> None:
    a, b = team.a, team.b
    a.git("checkout", "-q", "-b", "topic")
    a.replace("util.py", "    if value > high:\n", "    if value >= high:\n")
    clamp2 = CLAMP.replace(">", ">=")
    a.git(
        "commit",
        "-q",
        "-am",
        "topic: clamp inclusive",
        expect={**a.expected, "clamp": edited("util.py", clamp2)},
    )
    a.replace("billing.py", "    return x - 5\n", "    return x - 6\n")
    legacy2 = LEGACY.replace("5", "6")
    a.git(
        "commit", "-q", "-am", "topic: legacy", expect={**a.expected, "legacy": edited("billing.py", legacy2)}
    )

    # meanwhile main moves: imports above the tags of billing.py, and a new tag in report.py
    b.replace("billing.py", '"""Billing helpers."""\n', '"""Billing helpers."""\n\nimport decimal\n')
    b.tag("header", "report.py", 'return title.upper() + "\\n" + "=" * len(title)', "underline")
    commit_store(b, "main: decimal import, tag header", "billing.py")
    b.git("push", "-q", "origin", "main")

    a.git("fetch", "-q")
    a.git("rebase", "origin/main", expect={**a.expected, "header": b.expected["header"]})
    assert "decimal" in a.read("billing.py")
    legacy_commit = head(a)
    rebased = dict(a.expected)

    # cherry-pick the legacy change onto main
    a.git("checkout", "-q", "main", expect=first_expectations())
    a.git("pull", "-q", "--ff-only", expect=b.expected)
    main_tags = dict(a.expected)
    a.git("cherry-pick", legacy_commit, expect={**main_tags, "legacy": edited("billing.py", legacy2)})
    picked = dict(a.expected)
    # revert it (a commit made by the sequencer), then drop the revert
    a.git("revert", "--no-edit", "HEAD", expect=main_tags)
    a.git("reset", "-q", "--hard", "HEAD~1", expect=picked)

    # stash and pop an edit of tagged code
    a.replace("billing.py", "def total(prices):\n", "# gross\ndef total(prices):\n")
    a.replace("billing.py", "result += price * TAX", "result += price * 2 * TAX")
    dirty = {
        **picked,
        "call": edited("billing.py", "result += price * 2 * TAX"),
        "total": edited("billing.py", TOTAL.replace("price * TAX", "price * 2 * TAX")),
    }
    a.expected = dirty
    a.check_tags()
    a.git("restore", "billing.py", expect=picked)  # discard the edit, then make it again
    a.replace("billing.py", "def total(prices):\n", "# gross\ndef total(prices):\n")
    a.replace("billing.py", "result += price * TAX", "result += price * 2 * TAX")
    a.expected = dirty
    a.check_tags()
    a.git("stash", "-q", expect=picked)
    a.git("stash", "pop", "-q", status=[" M billing.py"], expect=dirty)

    # reset --hard: the edit goes, then the cherry-pick goes
    a.git("reset", "-q", "--hard", expect=picked)
    # one file checked out from another commit (post-checkout with flag 0), and back
    a.git("checkout", "HEAD~1", "--", "billing.py", status=["M  billing.py"], expect=main_tags)
    a.git("checkout", "HEAD", "--", "billing.py", expect=picked)
    a.git("reset", "-q", "--hard", "HEAD~1", expect=main_tags)

    # pull --rebase: B moves util.py's tags down and pushes; A has a local commit on report.py
    b.replace("util.py", '"""Small helpers."""\n', '"""Small helpers."""\n\nimport re\nimport unicodedata\n')
    b.git("commit", "-q", "-am", "util imports")
    b.git("push", "-q", "origin", "main")
    a.replace(
        "report.py", "def header(title):\n", "def footer():\n    return '-- end --'\n\n\ndef header(title):\n"
    )
    a.git("commit", "-q", "-am", "report footer")
    a.git("pull", "-q", "--rebase")
    assert "unicodedata" in a.read("util.py") and "footer" in a.read("report.py")
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--ff-only", expect=a.expected)
    same_placements(a, b, "B after pulling A's rebased commit")

    # rebase -i: the topic's two commits squashed into one, onto the new main
    topic = {**a.expected, "clamp": edited("util.py", clamp2), "legacy": edited("billing.py", legacy2)}
    a.git("checkout", "-q", "topic", expect=rebased)
    a.git(
        "rebase",
        "-q",
        "-i",
        "origin/main",
        extra_env={"GIT_SEQUENCE_EDITOR": "sed -i -e '2s/^pick/squash/'"},
        expect=topic,
    )
    assert git_out(a.root, "rev-list", "--count", "origin/main..HEAD").strip() == "1"
    team.check_deferred()


# -- 3. merges: tags added on both sides, notes edited on both sides ----------------------------


def test_merges_of_tags_and_notes(team: Team) -> None:
    a, b = team.a, team.b
    # both sides add a tag to billing.py, and both edit its code (in different places)
    a.tag("open", "billing.py", "with open(path) as handle:", "close it")
    a.replace("billing.py", "TAX = 0.2\n", "TAX = 0.2\nFEE = 1\n")
    commit_store(a, "A: tag open, FEE", "billing.py")
    b.tag("minus", "billing.py", "return x - 5", "magic number")
    b.write("billing.py", b.read("billing.py") + "\n\ndef fee():\n    return 1\n")
    commit_store(b, "B: tag minus, fee()", "billing.py")
    b.git("push", "-q", "origin", "main")
    both = {**a.expected, "minus": b.expected["minus"]}
    a.git("pull", "-q", "--no-rebase", expect=both)
    assert "FEE = 1" in a.read("billing.py") and "def fee()" in a.read("billing.py")
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--ff-only", expect=both)
    same_placements(a, b, "both tags merged")

    # different notes of one file edited on both sides: no conflict, both edits kept
    a.mm_ok("edit", a.ids["read"], "--note", "utf-8 please")
    commit_store(a, "A: note on read")
    b.mm_ok("edit", b.ids["total"], "--note", "net, not gross")
    # `commit -a` takes the whole note edit: nothing of it is left behind as an untracked file
    b.git("commit", "-q", "-am", "B: note on total")
    b.git("push", "-q", "origin", "main")
    a.git("pull", "-q", "--no-rebase")
    assert (a.note("read"), a.note("total")) == ("utf-8 please", "net, not gross")
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--ff-only", expect=a.expected)
    assert (b.note("read"), b.note("total")) == ("utf-8 please", "net, not gross")

    # B renames billing.py (git mv) while A edits it: the merge carries A's edit into the
    # renamed file, and the tags follow
    b.path("shop").mkdir()
    b.git(
        "mv",
        "billing.py",
        "shop/billing.py",
        status=["R  billing.py -> shop/billing.py"],
        expect=renamed_file(b.expected, "billing.py", "shop/billing.py"),
    )
    b.git("commit", "-q", "-m", "B: billing into shop/")
    b.git("push", "-q", "origin", "main")
    a.replace("billing.py", "FEE = 1\n", "FEE = 1\nMIN_FEE = 0.5\n")
    a.git("commit", "-q", "-am", "A: MIN_FEE")
    a.git("pull", "-q", "--no-rebase", expect=renamed_file(a.expected, "billing.py", "shop/billing.py"))
    assert "MIN_FEE" in a.read("shop/billing.py") and not a.path("billing.py").exists()
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--ff-only", expect=a.expected)
    a.git(
        "mv",
        "shop/billing.py",
        "billing.py",
        status=["R  shop/billing.py -> billing.py"],
        expect=renamed_file(a.expected, "shop/billing.py", "billing.py"),
    )
    a.git("commit", "-q", "-m", "A: billing back at the top")
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--ff-only", expect=a.expected)

    # both sides edit the same line of a tagged function: a real code conflict, resolved by hand
    a.replace("billing.py", "    result = 0\n", "    result = 0.0\n")
    a.git(
        "commit", "-q", "-am", "A: float total", expect={**a.expected, "total": edited("billing.py", TOTAL_F)}
    )
    b.replace("billing.py", "    result = 0\n", "    result = Decimal(0)\n")
    b.git(
        "commit",
        "-q",
        "-am",
        "B: decimal total",
        expect={**b.expected, "total": edited("billing.py", TOTAL_D)},
    )
    b.git("push", "-q", "origin", "main")
    resolved = dict(a.expected)
    a.git(
        "pull",
        "-q",
        "--no-rebase",
        rc=1,
        status=only_code_conflict("billing.py"),
        expect={**a.expected, "total": in_conflict("billing.py", "def total(prices):", "return result")},
    )
    # the user keeps their line
    markers = re.compile(r"<<<<<<< [^\n]*\n.*?>>>>>>> [^\n]*\n", re.S)
    assert len(markers.findall(a.read("billing.py"))) == 1, a.read("billing.py")
    a.write("billing.py", markers.sub("    result = 0.0\n", a.read("billing.py")))
    a.expected = resolved
    a.check_tags()
    a.git("add", "billing.py", status=only_store("billing.py"))
    a.git("commit", "-q", "--no-edit")
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--ff-only", expect=a.expected)

    # the same note edited on both sides: a real conflict, which doctor reports; every other
    # tag stays listed on its code
    a.mm_ok("edit", a.ids["call"], "--note", "A: TAX is gross")
    commit_store(a, "A: note on call")
    b.mm_ok("edit", b.ids["call"], "--note", "B: TAX is net")
    commit_store(b, "B: note on call")
    b.git("push", "-q", "origin", "main")
    a.git("fetch", "-q")
    merge = run(["git", "merge", "--no-edit", "origin/main"], a.root)
    step = "[A] git merge origin/main (both edited the note of `call`)"
    status = a.porcelain()
    if merge.returncode == 0:
        assert status == [], f"{step}: merged, but git status shows {status}"
    else:
        # git stops on the conflict: only store files may be in conflict (the code merged)
        assert merge.returncode == 1, f"{step}: exit {merge.returncode}: {merge.stderr}"
        unmerged = [line for line in status if line[:2] in {"UU", "AA", "DU", "UD", "AU", "UA", "DD"}]
        assert unmerged, f"{step}: exit 1 but nothing unmerged: {status}"
        outside = [line for line in status if not line[3:].startswith(".magicmarkup/")]
        assert not outside, f"{step}: the conflict touched files outside the store: {outside}"
    doctor = a.mm("doctor", "--json")
    assert doctor.returncode == 1, (
        f"{step}: doctor exit {doctor.returncode} (expected 1: a conflict)\n{doctor.stdout}"
    )
    report = json.loads(doctor.stdout)
    call_id = a.ids["call"]
    named = [
        p
        for p in report.get("problems", [])
        if call_id in json.dumps(p) and "conflict" in json.dumps(p).lower()
    ]
    assert named, f"{step}: doctor does not report a conflict naming the tag {call_id}: {report}"
    others = {k: e for k, e in a.expected.items() if k != "call"}
    rows = {a.label(r["id"]) for r in a.listed(step)}
    if "call" in rows:  # listed with one side's note: then on its (unchanged) code
        others["call"] = a.expected["call"]
    a.check_tags(f"{step}: list", others)

    # the user settles it: one note kept by `magicmarkup edit`, the store added, the merge committed
    a.mm_ok("edit", call_id, "--note", "TAX: gross in, net out")
    if merge.returncode == 0:
        commit_store(a, "settle the note of call")
    else:
        a.git("add", "-A", status=only_store())
        a.git("commit", "-q", "--no-edit")
    doctor = a.mm("doctor", "--json")
    assert doctor.returncode == 0, f"[A] doctor after the conflict was settled: {doctor.stdout}"
    assert a.note("call") == "TAX: gross in, net out"
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--no-rebase", expect=a.expected)
    assert b.note("call") == "TAX: gross in, net out"

    # each side removes a different tag of billing.py: both removals merge, nothing else moves
    a.mm_ok("rm", a.ids["open"])
    del a.expected["open"]
    commit_store(a, "A: rm open")
    b.mm_ok("rm", b.ids["minus"])
    del b.expected["minus"]
    commit_store(b, "B: rm minus")
    b.git("push", "-q", "origin", "main")
    a.git("pull", "-q", "--no-rebase", expect={k: e for k, e in a.expected.items() if k != "minus"})
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--ff-only", expect=a.expected)
    team.check_deferred()


# -- 4. worktrees, partial staging, fresh clones, renames across commits without the hook -------


LRU = '''"""A tiny LRU cache."""


def get(store, key):
    value = store.pop(key)
    store[key] = value
    return value
'''


def test_worktree_partial_staging_fresh_clones_and_renames(team: Team) -> None:
    a = team.a
    on_main = dict(a.expected)
    side = team.tmp / "A-side"
    a.git("worktree", "add", "-q", "-b", "side", str(side))
    w = Clone(side, "A-side", team.ids, expected=dict(on_main), deferred=team.deferred)
    w.check_status("[A-side] new worktree")
    w.check_tags("[A-side] new worktree: list")
    w.replace("billing.py", "TAX = 0.2\n", "TAX = 0.2\nVAT = 0.1\n")
    w.git("commit", "-q", "-am", "side: VAT")
    a.check_status("[A] after a commit in worktree A-side")
    a.check_tags("[A] after a commit in worktree A-side")

    # a tag added and not committed yet survives checkouts (git leaves it as the user's change)
    a.tag("pending", "billing.py", "with open(path) as handle:", "not committed yet")
    pending = only_untracked_store(a.porcelain())
    a.git("checkout", "-q", "-b", "elsewhere", status=pending)
    a.git("checkout", "-q", "main", status=pending)
    commit_store(a, "tag pending")

    # partial staging: billing.py staged, util.py not; report.py staged in part (one hunk)
    a.replace("billing.py", '"""Billing helpers."""\n', '"""Billing helpers."""\n\nimport os\n')
    a.replace("util.py", '"""Small helpers."""\n', '"""Small helpers."""\n\nimport re\n')
    staged_report = REPORT.replace('"""Reports."""\n', '"""Reports."""\n\nimport io\n')
    a.write("report.py", staged_report)
    a.git("add", "billing.py", "report.py", status=["M  billing.py", "M  report.py", " M util.py"])
    a.replace("report.py", "    lines = []\n", "    lines = []  # output\n    lines.append('total')\n")
    a.check_tags()
    a.git("commit", "-q", "-m", "partial", status=[" M report.py", " M util.py"])
    a.git("push", "-q", "origin", "main", status=[" M report.py", " M util.py"])
    c = team.fresh_clone("C")
    c.expected = dict(a.expected)
    c.check_tags("[C] fresh clone after a partially staged commit")
    a.git("stash", "-q")  # A's disk = the commit: same placements as the fresh clone
    same_placements(a, c, "fresh clone C vs its author A at the same commit")
    a.git("stash", "pop", "-q", status=[" M report.py", " M util.py"])
    a.git("commit", "-q", "-am", "the rest")

    # renames across several commits, none with the hook (the pins go stale)
    a.path("helpers").mkdir()
    moved1 = renamed_file(a.expected, "util.py", "helpers/util.py")
    a.git("mv", "util.py", "helpers/util.py", status=["R  util.py -> helpers/util.py"], expect=moved1)
    a.git("commit", "-q", "--no-verify", "-m", "move util")
    a.replace("helpers/util.py", "import re\n", "import re\nimport string\n")
    a.git("commit", "-q", "--no-verify", "-am", "util: string")
    a.path("lib").mkdir()
    moved2 = renamed_file(a.expected, "helpers/util.py", "lib/tools.py")
    a.git(
        "mv", "helpers/util.py", "lib/tools.py", status=["R  helpers/util.py -> lib/tools.py"], expect=moved2
    )
    a.replace("lib/tools.py", "import string\n", "import string\nimport textwrap\n")  # and an edit
    a.git("commit", "-q", "--no-verify", "-am", "util is lib/tools")
    # git clean -fdx removes nothing the tags need (the local view lives under the git dir)
    a.write("build/out.txt", "junk\n")
    a.git("clean", "-q", "-fdx")
    a.replace("billing.py", "import os\n", "import os\nimport sys\n")
    a.git("commit", "-q", "-am", "billing: sys (with the hook)")
    a.git("push", "-q", "origin", "main")
    d = team.fresh_clone("D")
    d.expected = dict(a.expected)
    d.check_tags("[D] fresh clone after renames across commits made without the hook")
    same_placements(a, d, "fresh clone D vs A")

    # tagged files in directories named like local state ("cache", "backup", "tmp"): their tags
    # are shared like any other
    for rel in ("web/cache/lru.py", "ops/backup/lru.py", "tmp/lru.py"):
        a.write(rel, LRU)
        a.tag(rel, rel, "store[key] = value", "move to the end")
    commit_store(a, "LRU copies, tagged", "web/cache/lru.py", "ops/backup/lru.py", "tmp/lru.py")
    a.git("push", "-q", "origin", "main")
    f = team.fresh_clone("F")
    f.expected = dict(a.expected)
    f.check_tags("[F] fresh clone: tags of files under cache/, backup/, tmp/")
    team.check_deferred()


# -- 5. CRLF: core.autocrlf=true, offsets in the text on disk -----------------------------------


def test_autocrlf_offsets_in_the_text_on_disk(team: Team) -> None:
    crlf = team.fresh_clone("W", "-c", "core.autocrlf=true")
    assert "\r\n" in crlf.read("billing.py"), "precondition: autocrlf=true checks out CRLF"
    crlf.expected = {k: e.crlf() for k, e in first_expectations().items()}
    crlf.check_tags("[W] fresh CRLF clone")
    install_hooks(crlf)
    # a multi-line tag added on CRLF text
    crlf.tag("chunks", "util.py", "for start in range(0, len(items), size):\r\n        yield", "slices")
    commit_store(crlf, "W: tag chunks")
    crlf.replace("billing.py", "TAX = 0.2\r\n", "TAX = 0.2\r\nFEE = 1\r\n\r\n")
    crlf.replace("util.py", "def chunks(items, size):\r\n", "def chunks(items, size):\r\n    # lazily\r\n")
    crlf.check_tags()
    crlf.check_show("[W] CRLF edits, before the commit", "chunks", "total")
    crlf.git("commit", "-q", "-am", "W: FEE, comment")
    assert_commit_repinned(crlf, "a commit in a CRLF checkout")
    crlf.git("checkout", "-q", "HEAD~1", expect={**crlf.expected})
    crlf.git("checkout", "-q", "main")
    crlf.git("push", "-q", "origin", "main")

    crlf2 = team.fresh_clone("W2", "-c", "core.autocrlf=true")
    crlf2.expected = dict(crlf.expected)
    crlf2.check_tags("[W2] fresh CRLF clone of W's work")
    same_placements(crlf, crlf2, "CRLF clones")
    lf = team.fresh_clone("L")
    assert "\r\n" not in lf.read("billing.py")
    lf.expected = {
        k: Exp(e.path, None if e.text is None else e.text.replace("\r\n", "\n"), e.statuses)
        for k, e in crlf.expected.items()
    }
    lf.check_tags("[L] LF clone of W's work (offsets in LF text)")
    team.a.git("pull", "-q", "--ff-only", expect=lf.expected)

    # an eol filter instead: .gitattributes asks for CRLF .py files in every checkout
    a = team.a
    a.write(".gitattributes", "*.py text eol=crlf\n")
    a.git("add", ".gitattributes", status=["A  .gitattributes"])
    a.git("commit", "-q", "-m", "CRLF python files")
    a.git("push", "-q", "origin", "main")
    g = team.fresh_clone("G")
    assert "\r\n" in g.read("util.py"), "precondition: eol=crlf checks out CRLF"
    g.expected = {k: e.crlf() for k, e in lf.expected.items()}
    g.check_tags("[G] fresh clone with eol=crlf")
    install_hooks(g)
    g.replace("util.py", "def slug(text):\r\n", "# slugs\r\ndef slug(text):\r\n")
    g.git("commit", "-q", "-am", "G: comment above slug")
    assert_commit_repinned(g, "a commit in an eol=crlf checkout")
    g.git("push", "-q", "origin", "main")
    g2 = team.fresh_clone("G2")
    g2.expected = dict(g.expected)
    g2.check_tags("[G2] fresh clone with eol=crlf, after G's commit")
    same_placements(g, g2, "eol=crlf clones")
    team.check_deferred()


# -- 6. the hooks chained with a user's own hooks, and with core.hooksPath ------------------------

USER_HOOK = """#!/bin/sh
echo "user {name} $*" >> "{log}"
if [ "{name}" = pre-commit ] && git diff --cached | grep -q FORBIDDEN; then
    echo "user hook: FORBIDDEN is not allowed" >&2
    exit 3
fi
exit 0
"""


def _user_hook(directory: Path, name: str, log: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / name
    hook.write_text(USER_HOOK.format(name=name, log=log), encoding="utf-8")
    hook.chmod(0o755)


def _chained_flow(team: Team, c: Clone, hooks_dir: Path, log: Path) -> None:
    _user_hook(hooks_dir, "pre-commit", log)
    _user_hook(hooks_dir, "post-checkout", log)
    install_hooks(c)
    c.replace("billing.py", "TAX = 0.2\n", "TAX = 0.2\n# allowed\n")
    c.git("commit", "-q", "-am", f"{c.name}: allowed")
    assert_commit_repinned(c, "a commit with the user's pre-commit hook chained")
    assert log.read_text().count("user pre-commit") == 1, log.read_text()
    c.replace("util.py", '"""Small helpers."""\n', '"""Small helpers."""\n\n# FORBIDDEN\n')
    # the user's hook says no: the commit fails; nothing but the user's change is staged
    c.git("add", "util.py", status=["M  util.py"])
    c.git("commit", "-q", "-m", f"{c.name}: forbidden", rc=1, status=["M  util.py"])
    assert log.read_text().count("user pre-commit") == 2, log.read_text()
    c.replace("util.py", "# FORBIDDEN\n", "# fine\n")
    c.git("commit", "-q", "-am", f"{c.name}: fine")
    c.git("checkout", "-q", "-b", f"{c.name}-branch")
    # the user's post-checkout hook got git's arguments: old head, new head, branch flag
    assert re.search(r"user post-checkout [0-9a-f]{40} [0-9a-f]{40} 1", log.read_text()), log.read_text()
    c.git("checkout", "-q", "HEAD~2", expect=first_expectations())
    c.git("checkout", "-q", f"{c.name}-branch")
    c.git("push", "-q", "origin", f"{c.name}-branch")
    fresh = team.fresh_clone(f"{c.name}-fresh", "-b", f"{c.name}-branch")
    fresh.expected = dict(c.expected)
    fresh.check_tags(f"[{c.name}-fresh] fresh clone of {c.name}'s commits")
    same_placements(c, fresh, f"fresh clone of {c.name}")


def test_hooks_chain_a_users_hooks_and_core_hookspath(team: Team) -> None:
    # clone B: the user's hooks in .git/hooks were there before `hooks install` (fixture's
    # install is undone by putting the user's hooks first, then installing again)
    b = team.b
    proc = b.mm_ok("hooks", "uninstall")
    assert proc.returncode == 0
    _chained_flow(team, b, b.root / ".git" / "hooks", team.tmp / "b-hooks.log")

    # clone E with core.hooksPath (outside the repository) holding the user's hooks
    e = team.fresh_clone("E")
    e.expected = first_expectations()
    shared = team.tmp / "shared-hooks"
    git_out(e.root, "config", "core.hooksPath", str(shared))
    _chained_flow(team, e, shared, team.tmp / "e-hooks.log")
    team.check_deferred()


# -- 7. git commands while `magicmarkup watch` refreshes the same view -------------------------


def test_git_commands_with_the_watcher_running(team: Team) -> None:
    a = team.a
    log = team.tmp / "watch.log"
    with open(log, "w", encoding="utf-8") as out:
        watcher = subprocess.Popen(
            [*MM, "watch", "--no-llm", "--debounce", "50"],
            cwd=a.root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env(),
            stdin=subprocess.DEVNULL,
        )
    try:
        time.sleep(1.5)
        assert watcher.poll() is None, log.read_text()
        on_main = dict(a.expected)
        for i in range(4):
            a.replace("billing.py", "TAX = 0.2\n", f"TAX = 0.2\nSTEP_{i} = {i}\n")
            a.replace("util.py", '"""Small helpers."""\n', f'"""Small helpers."""\n\nSTEP_{i} = {i}\n')
            time.sleep(0.2)  # the watcher sees the saves while git runs
            a.git("commit", "-q", "-am", f"step {i}")
            a.git("checkout", "-q", "-b", f"w{i}", "HEAD~1")
            a.git("checkout", "-q", "main")
        a.git("reset", "-q", "--hard", "HEAD~4", expect=on_main)
        a.git("merge", "-q", "--ff-only", "w3")  # back to "step 2" (post-merge)
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    team.check_deferred()
