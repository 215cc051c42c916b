"""Helpers for the scripted team workflows (tests/test_git_workflow.py).

Everything here drives what a user drives: real `git` commands (with the hooks that
`magicmarkup hooks install` put in place) and the real `magicmarkup` CLI, each as a subprocess.
Nothing imports the library: a workflow passes or fails on what a user would see.

`Clone.git(...)` is the one way a workflow runs a git command. After EVERY git command it checks,
and a failure names the clone and the step:
  1. the command's exit status (0 unless the step says otherwise);
  2. `git status --porcelain` shows exactly what the user changed (usually nothing);
  3. `magicmarkup list --json` puts every expected tag (and no other) on the right code: the
     text of the file on disk at [start:end] is the expected snippet, with a confident status
     (`anchored`/`moved`, or `changed` where the tagged code was edited), or the tag is flagged
     (`needs_review`/`orphaned`) where the step says its code is gone or ambiguous.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import GIT_ENV

MM = [sys.executable, "-m", "magicmarkup"]

PLACED_SAME = frozenset({"anchored", "moved"})
PLACED_EDITED = frozenset({"anchored", "moved", "changed"})
FLAGGED = frozenset({"needs_review", "orphaned"})
ALL_STATUSES = frozenset({"anchored", "moved", "changed", "needs_review", "orphaned"})

# What a failing magicmarkup hook prints (it must never fail, so it must never print these).
HOOK_FAILURE = re.compile(
    r"Traceback|^magicmarkup\b.*\b(error|unexpected|failed|interrupted|problems?)\b|"
    r"not re-(pinned|anchored)|refreshed by the next|run 'magicmarkup hooks install' again",
    re.IGNORECASE | re.MULTILINE,
)


def env(**extra: str) -> dict[str, str]:
    """The environment of every command: test identity, no LLM, no editor, no pager."""
    return {
        **os.environ,
        **GIT_ENV,
        "MAGICMARKUP_LLM": "0",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "GIT_EDITOR": "true",
        "GIT_SEQUENCE_EDITOR": "true",
        "GIT_MERGE_AUTOEDIT": "no",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "GIT_TERMINAL_PROMPT": "0",
        **extra,
    }


def run(
    cmd: list[str], cwd: Path, timeout: float = 120, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env(**(extra or {})),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def git_out(cwd: Path, *args: str) -> str:
    """A git command the test needs for itself (not a user's step): must succeed."""
    proc = run(["git", *args], cwd)
    assert proc.returncode == 0, f"git {' '.join(args)} in {cwd}: {proc.stderr}"
    return proc.stdout


# -- expectations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exp:
    """Where a tag must be: `text` at [start:end] of `path` on disk, with one of `statuses`."""

    path: str
    text: str | None
    statuses: frozenset[str]
    # for code in a merge conflict: flagged, or placed on a span holding all of these
    holding: tuple[str, ...] = ()

    def crlf(self) -> Exp:
        return Exp(self.path, None if self.text is None else self.text.replace("\n", "\r\n"), self.statuses)


def same(path: str, text: str) -> Exp:
    """The tagged code is there, unchanged (perhaps elsewhere in the file, or in a renamed file)."""
    return Exp(path, text, PLACED_SAME)


def edited(path: str, text: str) -> Exp:
    """The tagged code was edited (slightly): the tag must be on the new code, placed."""
    return Exp(path, text, PLACED_EDITED)


def flagged(path: str) -> Exp:
    """The code is ambiguous or gone: `needs_review` or `orphaned`, never confidently placed."""
    return Exp(path, None, FLAGGED)


def in_conflict(path: str, *holding: str) -> Exp:
    """The tagged code is inside git's conflict markers: flagged, or placed on a span that holds
    each of `holding` (the code's first and last lines, say) and marked as not the same text
    (`changed`/`needs_review`), never elsewhere."""
    return Exp(path, None, frozenset({"changed", "needs_review", "orphaned"}), holding)


def gone(path: str) -> Exp:
    """The tagged code was deleted: `orphaned`."""
    return Exp(path, None, frozenset({"orphaned"}))


@dataclass
class Placement:
    path: str
    start: int
    end: int
    status: str
    text: str | None
    note: Any

    @classmethod
    def of(cls, row: dict[str, Any]) -> Placement:
        return cls(
            row["path"],
            row["start"],
            row["end"],
            row["status"],
            row.get("text"),
            (row.get("metadata") or {}).get("note"),
        )


# -- one clone (or worktree) of the team's repository --------------------------------------------


@dataclass
class Clone:
    root: Path
    name: str
    ids: dict[str, str]  # label -> tag id, shared by every clone of one team
    expected: dict[str, Exp] = field(default_factory=dict)  # label -> where it must be
    steps: int = 0
    last_list: list[dict[str, Any]] = field(default_factory=list)
    # `list --json`'s "text" differing from the file's text at the tag's span: reported at the
    # end of the workflow (`check_deferred`), so that worse problems of later steps show first
    deferred: list[str] = field(default_factory=list)

    # -- files ---------------------------------------------------------------------------------

    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        """The text the user sees (no newline translation: CRLF stays CRLF)."""
        with open(self.root / rel, encoding="utf-8", newline="") as handle:
            return handle.read()

    def write(self, rel: str, text: str) -> None:
        file = self.root / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    def replace(self, rel: str, old: str, new: str) -> None:
        """Edit a file like a user in an editor: one exact, unique replacement."""
        text = self.read(rel)
        assert text.count(old) == 1, f"{self.name}: test bug: {old!r} is not unique in {rel}"
        self.write(rel, text.replace(old, new))

    # -- commands ------------------------------------------------------------------------------

    def git(
        self,
        *args: str,
        rc: int = 0,
        status: list[str] | tuple[str, ...] | Callable[[str, list[str]], None] = (),
        expect: dict[str, Exp] | None = None,
        tags: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """A user's git command, then the three checks (exit status, git status, tags)."""
        self.steps += 1
        step = f"[{self.name}] step {self.steps}: git {' '.join(args)}"
        proc = run(["git", *args], self.root, extra=extra_env)
        assert proc.returncode == rc, (
            f"{step}: exit status {proc.returncode}, expected {rc}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
        failure = HOOK_FAILURE.search(proc.stderr)
        assert failure is None, f"{step}: a hook reported a failure:\n{proc.stderr[-3000:]}"
        self.check_status(step, status)
        if expect is not None:
            self.expected = dict(expect)
        if tags:
            self.check_tags(step)
        return proc

    def mm(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run([*MM, *args], self.root, timeout=timeout)

    def mm_ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = self.mm(*args)
        assert proc.returncode == 0, f"[{self.name}] magicmarkup {' '.join(args)}: {proc.stderr}"
        return proc

    def porcelain(self) -> list[str]:
        out = run(["git", "status", "--porcelain=v1", "--untracked-files=all"], self.root)
        assert out.returncode == 0, out.stderr
        return sorted(line for line in out.stdout.splitlines() if line)

    def check_status(
        self, step: str, status: list[str] | tuple[str, ...] | Callable[[str, list[str]], None] = ()
    ) -> None:
        now = self.porcelain()
        if callable(status):
            status(step, now)
            return
        assert now == sorted(status), (
            f"{step}: `git status --porcelain` shows {now}, expected {sorted(status)} "
            "(only what the user changed)"
        )

    # -- tags ----------------------------------------------------------------------------------

    def tag(self, label: str, rel: str, match: str, note: str, nth: int | None = None) -> str:
        """`magicmarkup add REL --match TEXT --note NOTE --json`; expects it `same` there."""
        args = ["add", rel, "--match", match, "--note", note, "--json"]
        if nth is not None:
            args += ["--nth", str(nth)]
        proc = self.mm_ok(*args)
        tag_id = json.loads(proc.stdout)["id"]
        self.ids[label] = tag_id
        self.expected[label] = same(rel, match)
        return tag_id

    def label(self, tag_id: str) -> str:
        for label, known in self.ids.items():
            if known == tag_id:
                return label
        return tag_id

    def listed(self, step: str = "") -> list[dict[str, Any]]:
        proc = self.mm("list", "--json")
        assert proc.returncode == 0, (
            f"{step}: `magicmarkup list --json` exit {proc.returncode}: {proc.stderr}"
        )
        rows = json.loads(proc.stdout)
        assert isinstance(rows, list), f"{step}: list --json is not a list: {proc.stdout[:300]}"
        self.last_list = rows
        return rows

    def placements(self) -> dict[str, Placement]:
        """label -> placement, from `magicmarkup list --json`."""
        return {self.label(row["id"]): Placement.of(row) for row in self.listed(f"[{self.name}] list")}

    def check_tags(self, step: str | None = None, expected: dict[str, Exp] | None = None) -> None:
        step = step or f"[{self.name}] after step {self.steps} (no git command)"
        expected = self.expected if expected is None else expected
        for label, exp in expected.items():  # the test's own expectations must hold on disk
            if exp.text is not None:
                disk = self.read(exp.path) if self.path(exp.path).is_file() else ""
                assert exp.text in disk, f"{step}: TEST BUG: {label}'s {exp.text!r} is not in {exp.path}"
        rows = self.listed(step)
        by_label = {self.label(row["id"]): row for row in rows}
        problems: list[str] = []
        missing = sorted(set(expected) - set(by_label))
        extra = sorted(set(by_label) - set(expected))
        if missing:
            problems.append(f"tags missing from the list: {missing}")
        if extra:
            problems.append(f"unexpected tags listed: {extra}")
        for label, exp in sorted(expected.items()):
            row = by_label.get(label)
            if row is None:
                continue
            problems += self._tag_problems(step, label, exp, row)
        assert not problems, f"{step}: tags not on the right code:\n  " + "\n  ".join(problems)

    def _tag_problems(self, step: str, label: str, exp: Exp, row: dict[str, Any]) -> list[str]:
        status = row.get("status")
        where = f"{label} ({row.get('status')} {row.get('path')}[{row.get('start')}:{row.get('end')}])"
        if status not in ALL_STATUSES:
            return [f"{where}: unknown status {status!r}"]
        if exp.holding and status not in FLAGGED:
            disk = self.read(row["path"]) if self.path(str(row.get("path"))).is_file() else ""
            start, end = row.get("start"), row.get("end")
            span = disk[start:end] if isinstance(start, int) and isinstance(end, int) else ""
            missing = [piece for piece in exp.holding if piece not in span]
            if row.get("path") != exp.path or missing:
                return [f"{where}: placed on {span!r}, which lacks {missing} (its code is in conflict)"]
            if status not in exp.statuses:
                return [f"{where}: {status} on code in conflict (expected {sorted(exp.statuses)})"]
            return []
        if exp.text is None:  # gone or ambiguous: must be flagged, whatever its span
            if status not in exp.statuses:
                return [
                    f"{where}: expected {sorted(exp.statuses)} (its code is gone/ambiguous), got {status}"
                ]
            return []
        problems: list[str] = []
        if row.get("path") != exp.path:
            problems.append(f"{where}: path {row.get('path')!r}, expected {exp.path!r}")
        if status in FLAGGED:
            return [*problems, f"{where}: flagged {status}, but its code {exp.text!r} is plainly there"]
        try:
            disk = self.read(row["path"])
        except (OSError, TypeError) as exc:
            return [*problems, f"{where}: cannot read its file: {exc}"]
        start, end = row.get("start"), row.get("end")
        actual = disk[start:end] if isinstance(start, int) and isinstance(end, int) else None
        if actual != exp.text:
            problems.append(f"{where}: file text at its span is {actual!r}, expected {exp.text!r}")
        elif status not in exp.statuses:
            problems.append(f"{where}: status {status}, expected one of {sorted(exp.statuses)}")
        if row.get("text") != actual:
            self.deferred.append(
                f"{step}: {where}: list's text {row.get('text')!r} differs from the file's {actual!r}"
            )
        return problems

    def check_show(self, step: str, *labels: str) -> None:
        """`magicmarkup show ID --json` places each tag where `list --json` does (every reader
        sees the same placement for the text on disk)."""
        rows = {self.label(row["id"]): row for row in self.listed(step)}
        for label in labels:
            proc = self.mm("show", self.ids[label], "--json")
            assert proc.returncode == 0, f"{step}: show {label}: exit {proc.returncode}: {proc.stderr}"
            data = json.loads(proc.stdout)
            span = data.get("span") or {}
            shown = (data.get("path"), span.get("start"), span.get("end"), data.get("status"))
            row = rows[label]
            listed = (row["path"], row["start"], row["end"], row["status"])
            assert shown == listed, f"{step}: show {label} gives {shown}, list gives {listed}"

    def note(self, label: str) -> Any:
        proc = self.mm_ok("show", self.ids[label], "--json")
        data = json.loads(proc.stdout)
        return (data.get("metadata") or {}).get("note")


def check_deferred(deferred: list[str]) -> None:
    """At the end of a workflow: `list --json` gave each placed tag's current text, always."""
    assert not deferred, (
        f"`magicmarkup list --json` gave a \"text\" that is not the file's text at the tag's span "
        f"({len(deferred)} times; first ones):\n  " + "\n  ".join(deferred[:8])
    )


def clone(
    origin: Path, dest: Path, name: str, ids: dict[str, str], *args: str, deferred: list[str] | None = None
) -> Clone:
    """`git clone` (no magicmarkup command run)."""
    proc = run(["git", "clone", "-q", *args, str(origin), str(dest)], dest.parent)
    assert proc.returncode == 0, f"git clone {origin} {dest}: {proc.stderr}"
    git_out(dest, "config", "commit.gpgsign", "false")
    return Clone(dest, name, ids, deferred=[] if deferred is None else deferred)


def same_placements(author: Clone, other: Clone, step: str) -> None:
    """`other` lists every tag exactly where `author` does (same files at the same commit)."""
    mine = author.placements()
    theirs = other.placements()
    assert set(mine) == set(theirs), (
        f"{step}: {other.name} lists {sorted(theirs)}, {author.name} {sorted(mine)}"
    )

    def key(p: Placement) -> tuple[Any, ...]:  # list's "text" is checked on its own (deferred)
        return (p.path, p.start, p.end, p.status, p.note)

    diff = {k: (mine[k], theirs[k]) for k in mine if key(mine[k]) != key(theirs[k])}
    assert not diff, f"{step}: placements differ ({author.name}, {other.name}): {diff}"
