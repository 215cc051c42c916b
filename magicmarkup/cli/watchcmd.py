"""`magicmarkup watch`: re-anchor tags live as files are saved, renamed and deleted."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click
from rich.markup import escape

from magicmarkup.cli.app import State, console, err_console, pass_state
from magicmarkup.session import Session
from magicmarkup.view import current
from magicmarkup.watch import Watcher, WatchEvent

STYLE = {"modified": "cyan", "renamed": "blue", "deleted": "bold red", "error": "yellow"}


@click.command("watch")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--no-llm", is_flag=True, help="Cheap stages only; never ask a model.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per change (JSON lines).")
@click.option(
    "--debounce",
    default=1000,
    show_default=True,
    type=click.IntRange(50, 60_000),
    help="Longest time (ms) to gather a burst of saves before re-anchoring.",
)
@pass_state
def watch_cmd(state: State, paths: tuple[Path, ...], no_llm: bool, as_json: bool, debounce: int) -> None:
    """Watch the repository (or PATHs) and re-anchor tags whenever their files change.

    \b
    Ignores what .gitignore ignores and .magicmarkup/ itself; follows renames; orphans the
    tags of deleted files; prints one line per change. Ctrl-C stops it.
    """
    store = state.store()
    session = Session.open(store.dir, no_llm)
    scope = [store.relpath(p, state.repo) for p in paths] if paths else None

    def emit(event: WatchEvent) -> None:
        if as_json:
            click.echo(json.dumps(event.to_json(), ensure_ascii=False), nl=True)
            return
        style = STYLE.get(event.kind, "")
        target = err_console if event.kind == "error" else console
        target.print(f"[{style}]{escape(event.line())}[/]", highlight=False)

    with session.resolver() as (resolver, note):
        watcher = Watcher(store, resolver, session.thresholds, scope, emit, debounce_ms=debounce)
        # Catch up with edits made while nobody was watching, then watch.
        in_scope = [p for p in store.paths() if watcher.in_scope(p)] if scope else None
        report = current(store, in_scope, resolver=resolver, thresholds=session.thresholds).report
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "event": "started",
                        "roots": [str(r) for r in watcher.roots()],
                        "llm": note,
                        "catch_up": report.to_json(),
                    }
                )
            )
        else:
            moved = len(report.changes)
            console.print(
                f"watching {escape(', '.join(str(r) for r in watcher.roots()))} "
                f"({report.tags} tags; {moved} away from their pins) [dim]{escape(note)}; Ctrl-C stops[/]"
            )
        for err in report.errors:
            err_console.print(f"[yellow]warning:[/] {escape(err)}")
        stop = threading.Event()
        try:
            watcher.run(stop)
        except KeyboardInterrupt:
            stop.set()
    if not as_json:
        console.print("stopped")
