"""Magic Markup: notes on spans of code that stay on the right code as the code changes.

The operations people script, each a plain function over a `Store`::

    from magicmarkup import Store, add_tag, list_tags, retag_worktree

    store = Store.discover()                      # the repository's .magicmarkup/
    tag = add_tag(store, "src/app.py", match="retry(3)", note="why 3?")
    for t in list_tags(store):                    # where each tag is in the files now
        print(t.path, t.span, t.status, t.note)

and the engine itself, pure: `reanchor(old_text, new_text, spans, language)`.

Names are imported on first use, so `import magicmarkup` (and every CLI command) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # the store and the tags in it
    "Store": "magicmarkup.store",
    "add_tag": "magicmarkup.tags",
    "edit_tag": "magicmarkup.tags",
    "remove_tag": "magicmarkup.tags",
    "find_tag": "magicmarkup.tags",
    "list_tags": "magicmarkup.tags",
    "reattach_tag": "magicmarkup.tags",
    "accept_placement": "magicmarkup.tags",
    "accept_placements": "magicmarkup.tags",
    # keeping them on the code
    "retag_worktree": "magicmarkup.retag",
    "repin_documents": "magicmarkup.retag",
    "retag_range": "magicmarkup.git",
    "current": "magicmarkup.view",
    "Watcher": "magicmarkup.watch",
    # the engine (pure)
    "reanchor": "magicmarkup.anchoring",
    "reanchor_many": "magicmarkup.anchoring",
    "Job": "magicmarkup.anchoring",
    "OldSpan": "magicmarkup.anchoring",
    "Placement": "magicmarkup.anchoring",
    "Thresholds": "magicmarkup.anchoring",
    "Candidate": "magicmarkup.anchoring",
    # the models and errors
    "Tag": "magicmarkup.model",
    "Anchor": "magicmarkup.model",
    "Span": "magicmarkup.model",
    "Status": "magicmarkup.model",
    "RetagEvent": "magicmarkup.model",
    "MagicMarkupError": "magicmarkup.errors",
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
    "Watcher",
    "accept_placement",
    "accept_placements",
    "add_tag",
    "current",
    "edit_tag",
    "find_tag",
    "list_tags",
    "reanchor",
    "reanchor_many",
    "reattach_tag",
    "remove_tag",
    "repin_documents",
    "retag_range",
    "retag_worktree",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'magicmarkup' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from magicmarkup.anchoring import Candidate, Job, OldSpan, Placement, Thresholds, reanchor, reanchor_many
    from magicmarkup.errors import MagicMarkupError
    from magicmarkup.git import retag_range
    from magicmarkup.model import Anchor, RetagEvent, Span, Status, Tag
    from magicmarkup.retag import repin_documents, retag_worktree
    from magicmarkup.store import Store
    from magicmarkup.tags import (
        accept_placement,
        accept_placements,
        add_tag,
        edit_tag,
        find_tag,
        list_tags,
        reattach_tag,
        remove_tag,
    )
    from magicmarkup.view import current
    from magicmarkup.watch import Watcher
