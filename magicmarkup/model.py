"""The data model: tags, their spans and anchors, and the history of every re-anchoring.

Spans are code-point offsets into the document text (end exclusive); line and column are
derived from the text on demand and never stored as the truth.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic.dataclasses import dataclass
from ulid import ULID

# 3: one file per tag under pins/<document>/ (a pin: the tag as people made it, anchored in the
#    content it was last committed or placed in); where it is now is derived locally (view.py).
# 2: one file per document under tags/, history in an append-only log; 1: history inline. Both read.
SCHEMA_VERSION = 3


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def new_id() -> str:
    """ULIDs sort by creation time, so stored files list tags in a stable, meaningful order."""
    return str(ULID()).lower()


class Status(StrEnum):
    ANCHORED = "anchored"  # text unchanged, same place
    MOVED = "moved"  # same text, new place
    CHANGED = "changed"  # text edited, placed confidently
    NEEDS_REVIEW = "needs_review"  # placed, but low confidence or ambiguous
    ORPHANED = "orphaned"  # its code is gone or could not be found; kept with its last anchor

    @property
    def placed(self) -> bool:
        return self in (Status.ANCHORED, Status.MOVED, Status.CHANGED)


# Span, Anchor and Candidate are slotted pydantic dataclasses, not models: validated the same
# way, but without a model's per-instance dict and fields-set (a third less memory, and time,
# when a store of 100,000 tags is loaded).
@dataclass(frozen=True, slots=True)
class Span:
    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.start > self.end:
            raise ValueError(f"span start {self.start} is after its end {self.end}")
        return self

    def __len__(self) -> int:
        return self.end - self.start

    def text(self, document: str) -> str:
        return document[self.start : self.end]


class Position(BaseModel):
    """A 1-based line and 0-based column (in code points), derived from a document."""

    line: int
    column: int


class LineIndex:
    """Offsets of line starts, so offset <-> line/column conversions are O(log n)."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        pos = text.find("\n")
        while pos != -1:
            self.starts.append(pos + 1)
            pos = text.find("\n", pos + 1)
        self.length = len(text)

    def position(self, offset: int) -> Position:
        line = bisect.bisect_right(self.starts, offset) - 1
        return Position(line=line + 1, column=offset - self.starts[line])

    def offset(self, line: int, column: int = 0) -> int:
        """Offset of 1-based `line` (clamped to the document) plus `column`."""
        if line < 1:
            return 0
        if line > len(self.starts):
            return self.length
        return min(self.starts[line - 1] + column, self.length)

    def line_end(self, line: int) -> int:
        """Offset just past the last character of 1-based `line`, excluding its newline."""
        if line >= len(self.starts):
            return self.length
        end = self.starts[line] - 1
        return end

    @property
    def line_count(self) -> int:
        return len(self.starts)


@dataclass(slots=True)
class Anchor:
    """What a tag is re-found by: its text, context on both sides, and its syntax."""

    text: str
    start: int | None = None  # offset of `text` in the snapshot (the span may since have moved)
    prefix: str = ""
    suffix: str = ""
    node_type: str | None = None
    syntax_path: list[str] = Field(default_factory=list)
    snapshot: str | None = None  # sha256 of the document text this anchor was taken from


@dataclass(slots=True)
class Candidate:
    """A place the engine considered for a tag, kept so a human can choose among them."""

    start: int
    end: int
    score: float
    method: str
    text: str = ""


class RetagEvent(BaseModel):
    """One re-anchoring decision, recorded so a user can see why a tag moved."""

    at: datetime = Field(default_factory=utcnow)
    from_snapshot: str | None = None
    to_snapshot: str | None = None
    old_span: Span
    new_span: Span | None = None
    status: Status
    method: str
    confidence: float
    old_path: str | None = None  # set when the document was renamed
    reason: str | None = None  # e.g. the git revision, "watch", "manual"


class History(list[RetagEvent]):
    """A tag's events as the store loaded them: the first `logged` are already in the history log
    of document `path`, so saving appends only the rest. (Bookkeeping on the list, not on the tag:
    pydantic private attributes cost 40 % of loading 100,000 tags.)"""

    def __init__(self, events: Iterable[RetagEvent] = (), logged: int = 0, path: str | None = None) -> None:
        super().__init__(events)
        self.logged = logged
        self.path = path

    def copy(self) -> History:
        return History(self, self.logged, self.path)


class Tag(BaseModel):
    # Unknown fields (written by a newer tool of the same schema) are kept, not dropped.
    model_config = ConfigDict(extra="allow")

    id: str = Field(default_factory=new_id, min_length=1)
    path: str = Field(min_length=1)
    span: Span
    anchor: Anchor
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    status: Status = Status.ANCHORED
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    method: str = "manual"
    candidates: list[Candidate] = Field(default_factory=list)
    # The text a person tagged or last confirmed, when the anchor's text has since changed (None:
    # the anchor's text is it). A status describes the change since then, not since the last step.
    confirmed_text: str | None = None
    history: list[RetagEvent] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def note(self) -> str:
        note = self.metadata.get("note")
        return note if isinstance(note, str) else ""

    def position(self, document: str) -> tuple[Position, Position]:
        index = LineIndex(document)
        return index.position(self.span.start), index.position(self.span.end)

    def summary(self) -> dict[str, Any]:
        """The flat shape `list --json` prints."""
        return {
            "id": self.id,
            "path": self.path,
            "start": self.span.start,
            "end": self.span.end,
            "text": self.anchor.text,
            "status": self.status.value,
            "confidence": self.confidence,
            "method": self.method,
            "metadata": self.metadata,
        }


class TagFile(BaseModel):
    """The on-disk shape of `.magicmarkup/tags/<path>.json`."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = Field(default=SCHEMA_VERSION, strict=True)
    path: str
    tags: list[Tag] = Field(default_factory=list)
