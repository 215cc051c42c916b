"""The Magic Markup terminal UI (Textual). Only the CLI's `tui` command imports it."""

from tui.app import MagicMarkupApp, run

__all__ = ["MagicMarkupApp", "run"]
