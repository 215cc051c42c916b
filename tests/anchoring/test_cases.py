"""Hand-made re-anchoring cases: every case type of the engine issue in every language.

Each recipe edits a program the way a programmer would and names the exact text the tag must
end on (or None: the tagged code is gone and the tag must be orphaned)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from magicmarkup import Status, reanchor
from tests.anchoring.programs import PROGRAMS, Program


@dataclass(frozen=True)
class Case:
    old: str
    start: int
    end: int
    new: str
    expected: tuple[int, int] | None


def _span(text: str, piece: str, after: int = 0) -> tuple[int, int]:
    start = text.index(piece, after)
    return start, start + len(piece)


def moved(p: Program) -> Case:
    new = p.insert_above + p.base
    return Case(p.base, *_span(p.base, p.call), new, _span(new, p.call))


def reformatted(p: Program) -> Case:
    new = p.base.replace(p.call, p.call_reformatted)
    return Case(p.base, *_span(p.base, p.call), new, _span(new, p.call_reformatted))


def renamed(p: Program) -> Case:
    new = re.sub(r"\bitem\b", "entry", p.base)
    return Case(p.base, *_span(p.base, p.call), new, _span(new, re.sub(r"\bitem\b", "entry", p.call)))


def wrapped(p: Program) -> Case:
    new = p.base.replace(p.stmt_line, p.stmt_wrapped)
    return Case(p.base, *_span(p.base, p.stmt), new, _span(new, p.stmt))


def method_call(p: Program) -> Case:
    new = p.base.replace(p.call, p.method_call)
    return Case(p.base, *_span(p.base, p.call), new, _span(new, p.method_call))


def loop_rewritten(p: Program) -> Case:
    new = p.base.replace(p.loop, p.loop_rewritten)
    return Case(p.base, *_span(p.base, p.loop), new, _span(new, p.loop_rewritten))


def constant_changed(p: Program) -> Case:
    new = p.base.replace(p.const_expr, p.const_changed)
    return Case(p.base, *_span(p.base, p.const_expr), new, _span(new, p.const_changed))


def duplicated(p: Program) -> Case:
    head = p.base.index(p.compute_head)
    new = p.base[:head] + p.dup_fn + p.base[head:]
    return Case(p.base, *_span(p.base, p.call), new, _span(new, p.call, new.index(p.compute_head)))


def deleted(p: Program) -> Case:
    new = p.base.replace(p.deleted_fn, "")
    return Case(p.base, *_span(p.base, p.deleted_piece), new, None)


def deleted_function(p: Program) -> Case:
    new = p.base.replace(p.deleted_fn, "")
    start = p.base.index(p.deleted_fn)
    return Case(p.base, start, start + len(p.deleted_fn.rstrip()), new, None)


def replaced_function(p: Program) -> Case:
    """A whole tagged function deleted, and unrelated code written where it was."""
    new = p.base.replace(p.deleted_fn, p.insert_above + "\n")
    start = p.base.index(p.deleted_fn)
    return Case(p.base, start, start + len(p.deleted_fn.rstrip()), new, None)


def emptied(p: Program) -> Case:
    return Case(p.base, *_span(p.base, p.call), "", None)


def moved_and_edited(p: Program) -> Case:
    """The tagged loop is edited and its function moved to the end of the file."""
    head = p.base.index(p.compute_head)
    end = p.base.index(p.deleted_fn)
    fn = p.base[head:end]
    new = p.base[:head] + p.base[end:] + "\n" + fn.replace(p.const_expr, p.const_changed)
    return Case(p.base, *_span(p.base, p.loop), new, _span(new, p.loop))


RECIPES: dict[str, Callable[[Program], Case]] = {
    "moved": moved,
    "reformatted": reformatted,
    "renamed": renamed,
    "wrapped": wrapped,
    "method_call": method_call,
    "loop_rewritten": loop_rewritten,
    "constant_changed": constant_changed,
    "duplicated": duplicated,
    "deleted": deleted,
    "deleted_function": deleted_function,
    "replaced_function": replaced_function,
    "emptied": emptied,
    "moved_and_edited": moved_and_edited,
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("program", PROGRAMS, ids=[p.language for p in PROGRAMS])
def test_case(program: Program, recipe: str) -> None:
    case = RECIPES[recipe](program)
    [placement] = reanchor(case.old, case.new, [(case.start, case.end)], language=program.language)
    if case.expected is None:
        assert placement.status is Status.ORPHANED, (
            f"expected orphaned, got {placement.status} on {case.new[placement.start : placement.end]!r}"
            if placement.start is not None
            else placement
        )
        return
    got = (placement.start, placement.end)
    assert placement.status is not Status.ORPHANED
    assert got == case.expected, (
        f"placed on {case.new[got[0] : got[1]]!r} ({placement.status}, {placement.method}, "
        f"{placement.confidence}), expected {case.new[case.expected[0] : case.expected[1]]!r}"
    )
    if case.new[got[0] : got[1]] == case.old[case.start : case.end]:
        assert placement.status in (Status.ANCHORED, Status.MOVED)
    else:
        assert placement.status in (Status.CHANGED, Status.NEEDS_REVIEW)
