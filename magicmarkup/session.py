"""What every re-anchoring front end (CLI commands, hooks, the watcher, the TUI) needs from the
settings: thresholds, and the LLM stage when wanted. The LLM client is imported only then, so
hooks and `--no-llm` runs start fast."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.config import Settings

NO_LLM_NOTE = "LLM stage off (--no-llm or llm = false): cheap stages only"


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        review=settings.review_threshold, orphan=settings.orphan_threshold, llm=settings.llm_threshold
    )


@contextmanager
def resolver_session(
    settings: Settings, store_dir: Path | None, no_llm: bool
) -> Iterator[tuple[Resolver | None, str]]:
    """The model when wanted (and available), else None, with a one-line note saying which."""
    if no_llm or not settings.llm:
        yield None, NO_LLM_NOTE
        return
    from magicmarkup.agent import llm_session

    with llm_session(settings, store_dir) as pair:
        yield pair
