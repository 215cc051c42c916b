"""Magic Markup: document-external markup that stays on the right code as the code changes.

The public API is small: the models, the store, and `reanchor` (the cascade)."""

from magicmarkup.anchoring import (
    Candidate,
    Job,
    OldSpan,
    Placement,
    Thresholds,
    reanchor,
    reanchor_many,
)
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Anchor, RetagEvent, Span, Status, Tag
from magicmarkup.store import Store

__all__ = [
    "Anchor",
    "Candidate",
    "Job",
    "MagicMarkupError",
    "OldSpan",
    "Placement",
    "RetagEvent",
    "Span",
    "Status",
    "Store",
    "Tag",
    "Thresholds",
    "reanchor",
    "reanchor_many",
]
