"""Plain values passed between the cascade's stages (dataclasses: the core is pure and hot)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from magicmarkup.model import Status


@dataclass(frozen=True, slots=True)
class OldSpan:
    """A tag as the engine sees it: where it was, and what it was anchored by."""

    start: int
    end: int
    node_type: str | None = None  # tree-sitter type of the node the span covered, if any


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place a stage proposes, with a score in [0, 1] (higher is better)."""

    start: int
    end: int
    score: float
    method: str


@dataclass(slots=True)
class Placement:
    """Where the cascade put one tag, and why. `start`/`end` are None only when orphaned
    with no guess at all; an orphaned tag may still carry its best (rejected) guess."""

    start: int | None
    end: int | None
    status: Status
    confidence: float
    method: str
    candidates: list[Candidate] = field(default_factory=list)
    llm_calls: int = 0
    llm_tokens: int = 0
    llm_error: str | None = None  # set when the model was asked but could not help

    @property
    def placed(self) -> bool:
        return self.start is not None and self.status is not Status.ORPHANED


@dataclass(frozen=True, slots=True)
class LLMQuery:
    """One tag the cheap stages were unsure about, as the LLM stage receives it.

    `old_text`/`new_text` are whole documents; the agent cuts the context it needs.
    `candidates` are the cheap stages' best places, best first (possibly empty).
    """

    key: int  # the caller's index, echoed back in the answer
    old_text: str
    new_text: str
    old_start: int
    old_end: int
    candidates: tuple[Candidate, ...]
    language: str | None
    best: Placement  # what the cascade would do without the model
    proj_start: int | None = None  # where the diff maps the old span in the new text
    proj_end: int | None = None


@dataclass(frozen=True, slots=True)
class LLMAnswer:
    """The model's verdict on one query: a span that exists in the new text, or orphaned,
    or no help at all (`error` set: the cascade's own result stands, as needs_review)."""

    key: int
    start: int | None = None
    end: int | None = None
    orphaned: bool = False
    confidence: float = 0.0
    calls: int = 0
    tokens: int = 0
    cached: bool = False
    error: str | None = None


class Resolver(Protocol):
    """The LLM stage, as the cascade sees it: many queries in, one answer each out.

    Implementations run the queries concurrently; they never raise for a model fault
    (they answer with `error` set) so one bad tag cannot stop a run.
    """

    def resolve(self, queries: list[LLMQuery]) -> list[LLMAnswer]: ...
