"""The LLM stage of the cascade (see issue: the LLM agent). Placeholder until it lands:
`llm_session` yields no resolver, so callers run the cheap stages only and say so."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from magicmarkup.anchoring.types import Resolver
from magicmarkup.config import Settings


@contextmanager
def llm_session(settings: Settings, store_dir: Path | None = None) -> Iterator[tuple[Resolver | None, str]]:
    """Yield (resolver or None, a one-line description of what is used)."""
    yield None, "LLM stage not available in this build: cheap stages only"
