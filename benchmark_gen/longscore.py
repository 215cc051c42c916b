"""Scoring the long-history suite: the history walk against a single jump and a line diff.

Every case is scored three ways in one run, from the same repository (a bundle beside the case
file, cloned bare into a temp dir):

- **walk**: what the view and hooks do for a committed pin whose document changed since: the
  history walk (`magicmarkup.walk`), except where one jump finds exactly the tagged text once
  (`walk.sure_jump`: not walked), and a tag the walk lost that a jump places confidently is a
  `needs_review` guess (`walk.rescued_by_jump`);
- **jump**: the cascade from the first release's text straight to the last (the file followed
  by git's rename detection between the two ends), what a reader without history does;
- **line diff**: the baseline, the tag's first and last lines mapped through a line diff of the
  same two texts (a span on a changed line is lost).

Outcomes: `exact` (confident and right: file and offsets, or orphaned when the code is gone),
`review_right` (flagged `needs_review`, the guess right), `honest` (flagged or orphaned, wrong),
`silent` (confident and wrong: the failure that matters). The line diff has no confidence: it
is right or lost, or silently wrong when its lines land on other code.
"""

from __future__ import annotations

import difflib
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark_gen.longhistory import LongCase
from magicmarkup.anchoring import Placement, Thresholds, reanchor
from magicmarkup.model import Status
from magicmarkup.walk import History, Start, Track, rescued_by_jump, sure_jump, walk

METHODS = ("walk", "jump", "line_diff")
OUTCOMES = ("exact", "review_right", "honest", "silent")


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def rate(self, outcome: str) -> float:
        return self.counts[outcome] / self.n if self.n else 0.0


def _outcome(case: LongCase, path: str | None, span: tuple[int, int] | None, status: str) -> str:
    right = (
        span is None
        if case.expected_path is None
        else path == case.expected_path and span == (case.expected_start, case.expected_end)
    )
    if status == "orphaned":
        return "exact" if case.expected_path is None else "honest"
    if status == "needs_review":
        return "review_right" if right else "honest"
    return "exact" if right else "silent"


def _lines(text: str, start: int, end: int) -> tuple[int, int]:
    return text.count("\n", 0, start), text.count("\n", 0, max(start, end - 1))


def line_diff(old: str, new: str, start: int, end: int) -> tuple[int, int] | None:
    """The tag's lines mapped through a line diff: (first, last) line in `new`, or None."""
    a, b = old.splitlines(), new.splitlines()
    first, last = _lines(old, start, end)
    mapped: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            mapped[block.a + k] = block.b + k
    if first not in mapped or last not in mapped:
        return None
    return mapped[first], mapped[last]


def _renamed(root: Path, a: str, b: str, path: str) -> str:
    out = subprocess.run(
        ["git", "diff", "--name-status", "-M", "-z", a, b], cwd=root, capture_output=True, check=False
    ).stdout.split(b"\0")
    for i, token in enumerate(out):
        if token.startswith(b"R") and i + 2 < len(out) and out[i + 1].decode() == path:
            return out[i + 2].decode()
    return path


def score(
    cases: list[LongCase],
    bundle_dir: Path,
    thresholds: Thresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score every case three ways. The tags of one file are carried together, as the view
    carries the pins of one document: one cascade per version for all of them."""
    th = thresholds or Thresholds()
    totals = {m: Tally() for m in METHODS}
    by_cat: dict[str, dict[str, Tally]] = defaultdict(lambda: {m: Tally() for m in METHODS})
    by_repo: dict[str, list[LongCase]] = defaultdict(list)
    for case in cases:
        by_repo[case.repo].append(case)
    done = 0
    for repo_name, members in sorted(by_repo.items()):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "repo.git"
            subprocess.run(
                ["git", "clone", "-q", "--bare", str(bundle_dir / repo_name), str(root)],
                check=True,
                capture_output=True,
            )
            history = History(root)
            try:
                groups: dict[tuple[str, str, str], list[LongCase]] = defaultdict(list)
                for case in members:
                    groups[(case.from_commit, case.to_commit, case.path)].append(case)
                for group in groups.values():
                    for case, results in zip(
                        group, _score_group(history, root, group, th, totals), strict=True
                    ):
                        for method, outcome in results.items():
                            totals[method].add(outcome)
                            by_cat[case.meta.get("category", "?")][method].add(outcome)
                    done += len(group)
                    if progress:
                        progress(done, len(cases))
            finally:
                history.close()
    return {
        "cases": len(cases),
        "total": {m: _row(t) for m, t in totals.items()},
        "categories": {c: {m: _row(t) for m, t in rows.items()} for c, rows in sorted(by_cat.items())},
    }


def _row(t: Tally) -> dict[str, Any]:
    return {"n": t.n, **{o: t.counts[o] for o in OUTCOMES}, "cpu_s": round(t.seconds, 3)}


def _score_group(
    history: History, root: Path, group: list[LongCase], th: Thresholds, totals: dict[str, Tally]
) -> list[dict[str, str]]:
    first = group[0]
    blobs = history.blobs
    old_blob = blobs.at(first.from_commit, first.path)
    old = blobs.text(old_blob) if old_blob else None
    if old is None or old_blob is None:
        raise ValueError(f"{first.id}: {first.path} unreadable at {first.from_commit[:10]}")
    out: list[dict[str, str]] = [{} for _ in group]
    # walk: every tag of the file at once
    began = time.process_time()
    tracks = {str(i): Track(c.start, c.end) for i, c in enumerate(group)}
    got = walk(history, Start(first.from_commit, first.path, old_blob, tracks), first.to_commit, th)
    totals["walk"].seconds += time.process_time() - began
    # jump and line diff share the rename lookup and texts (not timed: both need them)
    new_path = _renamed(root, first.from_commit, first.to_commit, first.path)
    new_blob = blobs.at(first.to_commit, new_path)
    new = blobs.text(new_blob) if new_blob else None
    began = time.process_time()
    jumps: list[Placement | None] = [None] * len(group)
    if new is None:
        for i, case in enumerate(group):
            out[i]["jump"] = _outcome(case, None, None, "orphaned")
    else:
        placements = reanchor(old, new, [(c.start, c.end) for c in group], first.language, None, th)
        for i, (case, p) in enumerate(zip(group, placements, strict=True)):
            jumps[i] = p
            status = (
                "orphaned"
                if not p.placed
                else ("needs_review" if p.status is Status.NEEDS_REVIEW else "placed")
            )
            span = (p.start, p.end) if p.placed and p.start is not None and p.end is not None else None
            out[i]["jump"] = _outcome(case, new_path, span, status)
    totals["jump"].seconds += time.process_time() - began
    for i, case in enumerate(group):
        if got is None:
            out[i]["walk"] = "honest"
            continue
        o = got[str(i)]
        t = o.track
        status = "orphaned" if not t.placed or o.blob is None else ("needs_review" if t.unsure else "placed")
        span = (t.start, t.end) if t.placed and t.start is not None and t.end is not None else None
        path = o.path
        jumped = jumps[i]
        if (
            jumped is not None
            and jumped.start is not None
            and jumped.end is not None
            and new is not None
            and sure_jump(jumped, new, old[case.start : case.end])
        ):
            status, span, path = "placed", (jumped.start, jumped.end), new_path  # not walked (advance.py)
        elif (
            status == "orphaned"
            and jumped is not None
            and jumped.start is not None
            and jumped.end is not None
            and rescued_by_jump(jumped.status, jumped.confidence, th.review)
        ):
            status, span, path = "needs_review", (jumped.start, jumped.end), new_path  # as the view does
        out[i]["walk"] = _outcome(case, path, span, status)
    for i, case in enumerate(group):
        began = time.process_time()
        mapped = line_diff(old, new, case.start, case.end) if new is not None else None
        totals["line_diff"].seconds += time.process_time() - began
        if mapped is None:
            out[i]["line_diff"] = "exact" if case.expected_path is None else "honest"
        elif case.expected_path is None or case.expected_start is None or case.expected_end is None:
            out[i]["line_diff"] = "silent"
        else:
            assert new is not None
            want = _lines(new, case.expected_start, case.expected_end)
            out[i]["line_diff"] = "exact" if new_path == case.expected_path and mapped == want else "silent"
    return out


def print_report(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(
        title=f"long history: {result['cases']} cases (exact / flagged right / honest miss / silent)"
    )
    table.add_column("category")
    table.add_column("n", justify="right")
    for m in METHODS:
        table.add_column(m, justify="right")

    def cell(row: dict[str, Any]) -> str:
        n = row["n"] or 1
        return (
            f"{100 * row['exact'] / n:.1f}% / {100 * row['review_right'] / n:.1f}% / "
            f"{100 * row['honest'] / n:.1f}% / {100 * row['silent'] / n:.1f}%"
        )

    for cat, rows in result["categories"].items():
        table.add_row(cat, str(rows["walk"]["n"]), *(cell(rows[m]) for m in METHODS))
    total = result["total"]
    table.add_row("all", str(total["walk"]["n"]), *(cell(total[m]) for m in METHODS), style="bold")
    console.print(table)
    console.print(
        "CPU (process time, git reads in the walk included): "
        + ", ".join(f"{m} {total[m]['cpu_s']:.2f} s" for m in METHODS)
    )
