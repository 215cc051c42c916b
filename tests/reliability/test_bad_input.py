"""Every bad input of issue 8 (see bad_inputs.py): a clear error or a correct placement, never a
crash or a lost tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.bad_inputs import CASES, Case


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.known_bug)] if c.known_bug else []
        )
        for c in CASES
    ],
)
def test_bad_input(case: Case, tmp_path: Path) -> None:
    answer = case.run(tmp_path)
    assert answer  # each case asserts its own outcome; the answer is the line for the report
