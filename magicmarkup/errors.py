"""One exception family, so the CLI can print any expected failure as one clear line."""

from __future__ import annotations


class MagicMarkupError(Exception):
    """An expected failure a user can act on; its message is one line that names the problem."""


class StoreError(MagicMarkupError):
    """The `.magicmarkup/` store is missing, corrupt, locked, or from a newer version."""


class DocumentError(MagicMarkupError):
    """A source document cannot be used: missing, binary, not UTF-8, outside the repository."""


class SpanError(MagicMarkupError):
    """A requested span does not fit its document, or a `--match` is missing or ambiguous."""


class TagNotFound(MagicMarkupError):
    """No tag has the given id (or the prefix names none)."""


class AmbiguousId(TagNotFound):
    """An id prefix names several tags; `matches` holds (id, document path) of each."""

    def __init__(self, message: str, matches: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.matches = matches


class ConfigError(MagicMarkupError):
    """A configuration file or variable has a value we cannot use."""
