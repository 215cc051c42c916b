"""What a re-anchoring run did, in the shape every front end prints (table, hook line, JSON)."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from magicmarkup.model import Status

if TYPE_CHECKING:
    from magicmarkup.positions import Positions


@functools.lru_cache(maxsize=8)
def _positions(text: str) -> Positions:
    """One line index per document text, shared by all of its tags' changes."""
    from magicmarkup.positions import Positions

    return Positions(text)


@dataclass(frozen=True, slots=True)
class DocumentUpdate:
    """A document's new state: `text` None means it was deleted; `old_path` names where its
    tags are pinned when it was renamed."""

    path: str
    text: str | None
    old_path: str | None = None


@dataclass(slots=True)
class TagChange:
    id: str
    path: str
    old_path: str | None
    old_start: int
    old_end: int
    start: int | None
    end: int | None
    status: str
    method: str
    confidence: float
    # where the tag is now, as people read it (1-based, end inclusive): None for an orphan
    start_line: int | None = None
    start_col: int | None = None
    end_line: int | None = None
    end_col: int | None = None

    def place(self, text: str | None) -> TagChange:
        """Fill in the line/column fields from the text the tag is placed in."""
        if text is not None and self.start is not None and self.end is not None and self.status != "orphaned":
            fields = _positions(text).region(self.start, self.end).fields()
            self.start_line, self.start_col = fields["start_line"], fields["start_col"]
            self.end_line, self.end_col = fields["end_line"], fields["end_col"]
        return self

    @property
    def where(self) -> str:
        """`path:line:col-line:col`, or `path (orphaned)`."""
        if self.start_line is None:
            return f"{self.path} ({self.status})" if self.status == "orphaned" else self.path
        end = (
            ""
            if (self.start_line, self.start_col) == (self.end_line, self.end_col)
            else f"-{self.end_line}:{self.end_col}"
        )
        return f"{self.path}:{self.start_line}:{self.start_col}{end}"


@dataclass
class RetagReport:
    documents: int = 0
    tags: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Status})
    changes: list[TagChange] = field(default_factory=list)
    llm_calls: int = 0
    llm_tokens: int = 0
    llm_failed: int = 0  # tags the model was asked about but could not help
    published: list[str] = field(default_factory=list)  # new tags a commit shared (pre-commit)
    llm_used: bool = False
    skipped: int = 0  # tags left untouched because they changed while we worked
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: RetagReport) -> None:
        self.documents += other.documents
        self.tags += other.tags
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        self.changes.extend(other.changes)
        self.llm_calls += other.llm_calls
        self.llm_tokens += other.llm_tokens
        self.llm_failed += other.llm_failed
        self.llm_used = self.llm_used or other.llm_used
        self.skipped += other.skipped
        self.errors.extend(other.errors)
        self.seconds += other.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "tags": self.tags,
            "counts": self.counts,
            "changed": [asdict(c) for c in self.changes],
            "llm": {
                "used": self.llm_used,
                "calls": self.llm_calls,
                "tokens": self.llm_tokens,
                "failed": self.llm_failed,
            },
            "skipped": self.skipped,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }
