"""`magicmarkup tui`: the terminal UI. Textual is imported only when the command runs."""

from __future__ import annotations

from pathlib import Path

import click

from magicmarkup.cli.app import State, pass_state


@click.command("tui")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--no-llm", is_flag=True, help="Retag from the UI with the cheap stages only.")
@click.option("--light", is_flag=True, help="Start with the light theme (ctrl+t switches).")
@pass_state
def tui_cmd(state: State, path: Path | None, no_llm: bool, light: bool) -> None:
    """Browse, read, edit and repair tags in a terminal UI.

    \b
    magicmarkup tui                 the repository of this directory
    magicmarkup tui src/app.py      open this file
    Press ctrl+p for every command; the footer shows the keys.
    """
    from tui import run

    run(path if path is not None else state.repo, use_llm=not no_llm, dark=not light)
