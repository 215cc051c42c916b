"""`magicmarkup lsp`: the language server (stdio), for tags in any editor."""

from __future__ import annotations

import logging

import click


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only transport).")
@click.option(
    "--poll",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="Seconds between checks for store changes made by others (0: never).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False),
    help="Write the server's log here (stdout carries the protocol).",
)
def lsp_cmd(stdio: bool, poll: float, log_file: str | None) -> None:
    """Run the language server on stdin/stdout: notes on hover, inlay hints, code lenses,
    diagnostics for tags to review, symbols, and code actions to add, edit, remove and repair
    tags. Tags follow unsaved edits live; only the code actions write the store.

    \b
    Editors start it as `magicmarkup lsp` (see the README's "Editors" section).
    """
    if log_file:
        logging.basicConfig(filename=log_file, level=logging.INFO)
    from magicmarkup.lsp.features import create_server

    server = create_server()
    server.poll_s = poll
    server.start_io()
