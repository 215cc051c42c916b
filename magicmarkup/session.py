"""What every re-anchoring front end (CLI commands, hooks, the watcher, the TUI) needs from the
settings: one `Session` carries the settings, the thresholds and the LLM stage (when wanted) for
a command. The LLM client is imported only when a resolver is opened, so hooks and `--no-llm`
runs start fast."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.config import Settings, load_settings

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


@dataclass
class Session:
    """The settings of one command, with what they imply: `thresholds`, and `resolver()` (the
    model when wanted and available, with a one-line note saying which)."""

    settings: Settings
    store_dir: Path | None = None
    no_llm: bool = False

    @classmethod
    def open(cls, store_dir: Path | None, no_llm: bool = False) -> Session:
        """Settings for the store at `store_dir` (or none: user config and environment only)."""
        return cls(load_settings(store_dir), store_dir, no_llm)

    @cached_property
    def thresholds(self) -> Thresholds:
        return thresholds(self.settings)

    @contextmanager
    def resolver(self) -> Iterator[tuple[Resolver | None, str]]:
        with resolver_session(self.settings, self.store_dir, self.no_llm) as pair:
            yield pair
