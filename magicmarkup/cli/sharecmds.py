"""`magicmarkup status`, `publish` and `gc`: what waits for a commit, and the store's garbage."""

from __future__ import annotations

import click
from rich.markup import escape

from magicmarkup.cli import app
from magicmarkup.cli.app import State, pass_state, print_json
from magicmarkup.cli.tagcmds import json_option


@click.command("status")
@json_option
@pass_state
def status_cmd(state: State, as_json: bool) -> None:
    """Tag changes no commit has shared yet, per document, and what to do with them."""
    from magicmarkup.publish import waiting

    store = state.store()
    docs = waiting(store)
    if as_json:
        print_json({"documents": [d.to_json() for d in docs], "git": store.pending_dir is not None})
        return
    if store.pending_dir is None:
        app.console.print("not a git repository: every change is written straight into .magicmarkup/")
        return
    if not docs:
        app.console.print("nothing waiting: every tag is committed")
        return
    for d in docs:
        parts = []
        if d.new_tags:
            parts.append(f"{len(d.new_tags)} new tag{'s' if len(d.new_tags) != 1 else ''}")
        if d.changed:
            parts.append(f"{len(d.changed)} changed store file{'s' if len(d.changed) != 1 else ''}")
        if d.pending:
            parts.append(f"{len(d.pending)} pending file{'s' if len(d.pending) != 1 else ''}")
        if d.staged:
            parts.append(f"{len(d.staged)} store file{'s' if len(d.staged) != 1 else ''} staged")
        app.console.print(f"{escape(d.path)}: {', '.join(parts)}", highlight=False)
    if any(d.new_tags or d.changed or d.pending for d in docs):
        app.console.print(
            "[dim]with `magicmarkup hooks install`, they ride with your next commit of each file; "
            "without hooks, `magicmarkup publish` stages them for your next commit[/]"
        )
    else:
        app.console.print("[dim]all staged: `git commit` shares them[/]")


@click.command("publish")
@click.argument("paths", nargs=-1, type=click.Path())
@json_option
@pass_state
def publish_cmd(state: State, paths: tuple[str, ...], as_json: bool) -> None:
    """Stage tag changes for your next commit (what the pre-commit hook does by itself).

    Moves the snapshots and history lines waiting under the git directory into .magicmarkup/
    and stages them with the pins of each document (of PATHS, or every document with tag
    changes): then `git commit` shares them."""
    from magicmarkup.publish import publish

    store = state.store()
    rels = [store.relpath(p, state.repo) for p in paths] if paths else None
    done = publish(store, rels)
    if as_json:
        print_json(done.to_json())
        return
    if store.pending_dir is None:
        app.console.print("not a git repository: nothing to publish")
        return
    if not done.documents:
        app.console.print("nothing to publish: every tag is committed")
        return
    new = f", {len(done.new_tags)} new tags" if done.new_tags else ""
    app.console.print(
        f"staged {len(done.staged)} store files of {len(done.documents)} documents{new}; "
        "`git commit` shares them",
        highlight=False,
    )


@click.command("gc")
@click.option(
    "--tracked",
    is_flag=True,
    help="Also delete unreferenced snapshots git tracks (the deletions are staged for your commit).",
)
@json_option
@pass_state
def gc_cmd(state: State, tracked: bool, as_json: bool) -> None:
    """Delete snapshots that no tag is anchored to any more.

    Untracked and pending ones are deleted; tracked ones are only listed unless --tracked."""
    from magicmarkup.publish import collect_snapshots

    result = collect_snapshots(state.store(), tracked_too=tracked)
    if as_json:
        print_json(result.to_json())
        return
    if result.blocked:
        app.console.print("nothing collected: a pin could not be read (see `magicmarkup doctor`)")
        return
    app.console.print(f"removed {len(result.removed)} unreferenced untracked snapshots")
    if result.removed_tracked:
        app.console.print(
            f"removed {len(result.removed_tracked)} unreferenced tracked snapshots "
            "(the deletions are staged: commit them)"
        )
    if result.kept_tracked:
        app.console.print(
            f"kept {len(result.kept_tracked)} unreferenced tracked snapshots "
            "(`magicmarkup gc --tracked` deletes them and stages the deletions)"
        )
