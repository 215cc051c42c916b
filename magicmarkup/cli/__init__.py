"""The `magicmarkup` / `mm` command line: a thin layer over the library API.

Subcommand groups live in their own modules and are imported only when used, so
`magicmarkup list` does not pay for importing the LLM client, Textual or matplotlib.
"""

from __future__ import annotations

from magicmarkup.cli.app import main

__all__ = ["main"]
