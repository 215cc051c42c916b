"""Very long tags (a whole class or a 400-line function) are aligned line by line: the same
answers as a character alignment would give, without its cost (one `list` of a large file with
such tags used to take a minute)."""

from __future__ import annotations

from magicmarkup.anchoring import reanchor
from magicmarkup.anchoring.fuzzy import LONG_NEEDLE, align
from magicmarkup.model import Status


def _function(name: str, lines: int, salt: str = "") -> str:
    body = "".join(f"    value_{i} = compute_{i}(value_{i - 1}){salt}\n" for i in range(1, lines))
    return f"def {name}(value_0):\n{body}    return value_{lines - 1}\n"


def test_a_long_needle_is_aligned_to_its_lines() -> None:
    needle = _function("big", 150)
    assert len(needle) > LONG_NEEDLE
    edited = needle.replace("value_70 = compute_70", "value_70 = compute_seventy")
    text = _function("other", 60) + "\n\n" + edited + "\n\n" + _function("third", 60)
    found = align(needle, text, 0, len(text), min_score=0.5)
    assert found is not None
    start, end, score = found
    assert text[start:end] == edited.rstrip("\n") or text[start:end] == edited
    assert score > 0.95


def test_an_edited_long_definition_moved_down_is_found_and_confident() -> None:
    big = _function("big", 200)
    old = "import os\n\n\n" + big + "\n\n" + _function("tail", 30)
    new_big = big.replace("value_120 = compute_120", "value_120 = compute_120 + 1")
    new = (
        "import os\nimport sys\n\n\n"
        + _function("helper", 40)
        + "\n\n"
        + new_big
        + "\n\n"
        + _function("tail", 30)
    )
    start = old.index("def big")
    (placement,) = reanchor(old, new, [(start, start + len(big) - 1)], "python")
    assert placement.status in (Status.CHANGED, Status.MOVED)
    assert new[placement.start : placement.end] == new_big[:-1]
