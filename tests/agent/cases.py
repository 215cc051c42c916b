"""Small re-anchoring cases that reach the LLM stage (the cheap stages are unsure about them)."""

from __future__ import annotations

from dataclasses import dataclass

from magicmarkup.anchoring import Job, Thresholds
from magicmarkup.anchoring.cascade import cheap_placements


@dataclass(frozen=True)
class AgentCase:
    name: str
    old: str
    new: str
    start: int
    end: int
    language: str | None = "python"

    def job(self) -> Job:
        return Job(self.old, self.new, [(self.start, self.end)], self.language)


def _case(name: str, old: str, new: str, needle: str, nth: int = 0) -> AgentCase:
    pos = -1
    for _ in range(nth + 1):
        pos = old.index(needle, pos + 1)
    return AgentCase(name, old, new, pos, pos + len(needle))


TOTALS_OLD = (
    "def total(items):\n    s = 0\n    for it in items:\n        s += it.price\n    return s\n\n\n"
    "def count(items):\n    s = 0\n    for it in items:\n        s += it.qty\n    return s\n"
)
TOTALS_NEW = (
    "def count(items):\n    s = 0\n    for it in items:\n        s += it.qty\n    return s\n\n\n"
    "def total(items):\n    s = 0\n    for it in items:\n{comment}        s += it.price\n    return s\n"
)


def hostile_case(comment: str) -> AgentCase:
    """Two functions swapped; the tagged line's true place is the exact match (candidate 2 in
    document order), and a comment in the new code tries to steer the model to candidate 1."""
    return _case("hostile", TOTALS_OLD, TOTALS_NEW.format(comment=comment), "s += it.price")


CASES: list[AgentCase] = [
    _case(
        "edited-line",
        "def f(a):\n    x = a + 1\n    return x\n\ndef g(b):\n    x = a + 1\n    return b\n",
        "def f(a):\n    y = a + 2  # note\n    return y\n\ndef g(b):\n    z = b * 1\n    return b\n",
        "x = a + 1",
    ),
    hostile_case(""),
    _case(
        "renamed-call",
        "def load(path):\n    data = read_file(path)\n    return parse(data)\n\n\ndef save(path, data):\n"
        "    write_file(path, dump(data))\n",
        "def load(path, encoding='utf-8'):\n    raw = open_and_read(path, encoding)\n    return parse(raw)\n\n\n"
        "def save(path, data):\n    write_file(path, dump(data))\n",
        "data = read_file(path)",
    ),
    _case(
        "rewritten-block",
        "def area(r):\n    return 3.14 * r * r\n\n\ndef perimeter(r):\n    return 2 * 3.14 * r\n",
        "import math\n\n\ndef area(r):\n    print(r)\n    return math.pi * r ** 2\n\n\ndef perimeter(r):\n"
        "    return 2 * math.pi * r\n",
        "return 3.14 * r * r",
    ),
]

# The tagged line is deleted: the cheap stages orphan it with no plausible candidate, and the
# agent does not spend a call on it.
DELETED = _case(
    "deleted",
    "a = 1\nb = compute_b(a)\nc = 3\nprint(a, c)\n",
    "a = 1\nc = 3\nprint(a, c)\n",
    "b = compute_b(a)",
)


def uncertain(case: AgentCase, th: Thresholds | None = None) -> bool:
    """Whether the cascade would ask the model about this case."""
    _, pending = cheap_placements(case.job(), th or Thresholds())
    return bool(pending)
