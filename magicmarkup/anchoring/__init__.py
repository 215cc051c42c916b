"""The re-anchoring cascade: pure functions from (old text, new text, spans) to placements."""

from magicmarkup.anchoring.cascade import Job, Thresholds, reanchor, reanchor_many
from magicmarkup.anchoring.types import (
    Candidate,
    LLMAnswer,
    LLMQuery,
    OldSpan,
    Placement,
    Resolver,
)

__all__ = [
    "Candidate",
    "Job",
    "LLMAnswer",
    "LLMQuery",
    "OldSpan",
    "Placement",
    "Resolver",
    "Thresholds",
    "reanchor",
    "reanchor_many",
]
