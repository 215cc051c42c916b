"""Magic Markup: document-external markup that stays on the right code as the code changes.

The public API is small: the models, the store, and `reanchor` (the cascade).

The names are imported on first use (PEP 562), so `import magicmarkup.cli` — every run of the
command line, `--help` included — does not pay for pydantic, rapidfuzz and tree-sitter up front.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "Candidate": "magicmarkup.anchoring",
    "Job": "magicmarkup.anchoring",
    "OldSpan": "magicmarkup.anchoring",
    "Placement": "magicmarkup.anchoring",
    "Thresholds": "magicmarkup.anchoring",
    "reanchor": "magicmarkup.anchoring",
    "reanchor_many": "magicmarkup.anchoring",
    "MagicMarkupError": "magicmarkup.errors",
    "Anchor": "magicmarkup.model",
    "RetagEvent": "magicmarkup.model",
    "Span": "magicmarkup.model",
    "Status": "magicmarkup.model",
    "Tag": "magicmarkup.model",
    "Store": "magicmarkup.store",
}

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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'magicmarkup' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
