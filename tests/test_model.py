"""The pydantic models: every one survives a JSON round trip, and invalid values are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from magicmarkup.model import (
    SCHEMA_VERSION,
    Anchor,
    Candidate,
    LineIndex,
    Position,
    RetagEvent,
    Span,
    Status,
    Tag,
    TagFile,
    new_id,
)

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def full_tag() -> Tag:
    """A tag with every field set to a non-default value, so a dropped field shows."""
    return Tag(
        id="01hzzzzzzzzzzzzzzzzzzzzzzz",
        path="src/ünï code.py",
        span=Span(start=3, end=9),
        anchor=Anchor(
            text="ab\r\ncd",
            start=2,
            prefix="pre\t",
            suffix="\u00e9suf",
            node_type="call",
            syntax_path=["module", "expression_statement", "call"],
            snapshot="a" * 64,
        ),
        metadata={"note": "**why?**", "n": 3, "f": 1.5, "ok": True, "none": None, "l": [1, {"x": "y"}]},
        status=Status.NEEDS_REVIEW,
        confidence=0.42,
        method="fuzzy",
        candidates=[Candidate(start=3, end=9, score=0.5, method="fuzzy", text="ab cd")],
        history=[
            RetagEvent(
                at=AT,
                from_snapshot="a" * 64,
                to_snapshot="b" * 64,
                old_span=Span(start=2, end=8),
                new_span=Span(start=3, end=9),
                status=Status.NEEDS_REVIEW,
                method="fuzzy",
                confidence=0.42,
                old_path="old/name.py",
                reason="HEAD~1..HEAD",
            ),
            RetagEvent(
                at=AT,
                old_span=Span(start=3, end=9),
                new_span=None,
                status=Status.ORPHANED,
                method="deleted",
                confidence=0.0,
            ),
        ],
        created_at=AT,
        updated_at=AT,
    )


@pytest.mark.parametrize(
    "model",
    [
        Span(start=0, end=0),
        Span(start=5, end=10),
        Position(line=3, column=7),
        full_tag().anchor,
        Anchor(text="x"),
        Candidate(start=1, end=2, score=0.9, method="search"),
        full_tag().history[0],
        full_tag().history[1],
        full_tag(),
        Tag(path="a.py", span=Span(start=0, end=1), anchor=Anchor(text="a")),
        TagFile(path="src/ünï code.py", tags=[full_tag()]),
        TagFile(path="empty.py"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_model_round_trips_through_json(model: object) -> None:
    adapter = TypeAdapter(type(model))
    assert adapter.validate_json(adapter.dump_json(model)) == model
    assert adapter.validate_python(adapter.dump_python(model, mode="json")) == model


def test_round_trip_keeps_types_and_unknown_fields() -> None:
    raw = full_tag().model_dump(mode="json")
    raw["from_the_future"] = {"kept": [1, 2]}
    tag = Tag.model_validate(raw)
    again = Tag.model_validate_json(tag.model_dump_json())
    assert again.model_dump(mode="json")["from_the_future"] == {"kept": [1, 2]}
    assert again.status is Status.NEEDS_REVIEW
    assert again.history[0].at == AT
    assert again.metadata["l"] == [1, {"x": "y"}]


def test_tagfile_defaults_to_current_schema() -> None:
    assert TagFile(path="a").schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(
    "bad",
    [
        {"start": 5, "end": 4},
        {"start": -1, "end": 4},
        {"start": "x", "end": 4},
        {"start": 0},
    ],
)
def test_span_refuses_invalid_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Span).validate_python(bad)


@pytest.mark.parametrize(
    "change",
    [
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"status": "lost"},
        {"path": ""},
        {"id": ""},
        {"metadata": "not an object"},
        {"span": {"start": 9, "end": 3}},
    ],
)
def test_tag_refuses_invalid_values(change: dict[str, object]) -> None:
    raw = full_tag().model_dump(mode="json") | change
    with pytest.raises(ValidationError):
        Tag.model_validate(raw)


def test_ids_are_unique_and_sort_by_creation() -> None:
    ids = [new_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert ids == sorted(ids)
    assert all(i == i.lower() and len(i) == 26 for i in ids)


def test_status_placed() -> None:
    assert {s for s in Status if s.placed} == {Status.ANCHORED, Status.MOVED, Status.CHANGED}


def test_line_index_round_trips_every_offset() -> None:
    text = "ab\ncd\r\n\n\u00e9f\ttail"
    index = LineIndex(text)
    assert index.line_count == 4
    for offset in range(len(text) + 1):
        pos = index.position(offset)
        assert index.offset(pos.line, pos.column) == offset
        assert text.count("\n", 0, offset) + 1 == pos.line
    assert index.line_end(1) == 2
    assert index.line_end(2) == 6  # CRLF: the \r is part of the line's text, the \n is not
    assert index.offset(0) == 0 and index.offset(99) == len(text)


def test_tag_position_and_summary() -> None:
    doc = "line one\nline two x\n"
    tag = Tag(path="a.txt", span=Span(start=14, end=17), anchor=Anchor(text="two"), metadata={"note": "n"})
    start, end = tag.position(doc)
    assert (start.line, start.column, end.line, end.column) == (2, 5, 2, 8)
    summary = tag.summary()
    assert summary["text"] == "two" and summary["start"] == 14 and summary["end"] == 17
    assert set(summary) >= {"id", "path", "start", "end", "text", "status", "confidence", "metadata"}
    assert tag.note == "n"
    assert Tag(path="a", span=Span(start=0, end=1), anchor=Anchor(text="a"), metadata={"note": 3}).note == ""
