"""The benchmark case format: round trips through .jsonl and .jsonl.gz, and malformed lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from benchmark_gen.cases import BadLine, BenchError, Case, read_cases, read_ids, write_cases


def _case(i: int, deleted: bool = False) -> Case:
    old = f"def f{i}():\n    return {i} + 1\n"
    new = "# moved\n" + old
    start = old.index(f"{i} + 1")
    return Case(
        id=f"c{i}",
        old_text=old,
        old_start=start,
        old_end=start + len(f"{i} + 1"),
        new_text=new if not deleted else "pass\n",
        expected_start=None if deleted else start + 8,
        expected_end=None if deleted else start + 8 + len(f"{i} + 1"),
        language="python",
        meta={"category": "insert_above", "extra": {"kept": [1, 2]}},
    )


@pytest.mark.parametrize("name", ["cases.jsonl", "cases.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    cases = [_case(1), _case(2, deleted=True), _case(3)]
    path = tmp_path / name
    assert write_cases(path, cases) == 3
    back = read_cases([path])
    assert [c.model_dump() for c in back] == [c.model_dump() for c in cases]
    assert back[1].deleted and back[1].expected_piece is None
    assert back[0].expected_piece == back[0].old_piece == "1 + 1"
    assert back[0].meta["extra"] == {"kept": [1, 2]}
    if name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            assert json.loads(fh.readline())["id"] == "c1"


def test_gzip_append_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl.gz"
    write_cases(path, [_case(1)])
    write_cases(path, [_case(2)], append=True)
    assert [c.id for c in read_cases([path])] == ["c1", "c2"]
    assert read_ids(path) == {"c1", "c2"}
    assert read_ids(tmp_path / "missing.jsonl") == set()


def test_gzip_output_is_reproducible(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_cases(a, [_case(1), _case(2)])
    write_cases(b, [_case(1), _case(2)])
    assert a.read_bytes() == b.read_bytes()


def test_malformed_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    good = _case(1).to_json_line()
    lines = [
        good,
        "{not json",
        json.dumps({"id": "x", "old_text": "ab", "old_start": 0, "old_end": 5, "new_text": "ab"}),
        json.dumps(
            {
                "id": "y",
                "old_text": "ab",
                "old_start": 0,
                "old_end": 1,
                "new_text": "ab",
                "expected_start": 0,
                "expected_end": None,
            }
        ),
        "",
        _case(2).to_json_line(),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad: list[BadLine] = []
    cases = read_cases([path], bad)
    assert [c.id for c in cases] == ["c1", "c2"]
    assert [b.line for b in bad] == [2, 3, 4]
    assert all(b.path == str(path) for b in bad)
    assert "does not fit old_text" in bad[1].reason
    assert "both be null" in bad[2].reason
    assert str(bad[0]).startswith(f"{path}:2: ")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no such case file"):
        read_cases([tmp_path / "nope.jsonl"])


def test_category_default_and_unknown_fields_ignored() -> None:
    data = json.loads(_case(1).to_json_line())
    data["meta"] = {}
    data["future_field"] = 1
    case = Case.model_validate(data)
    assert case.category == "uncategorized"
