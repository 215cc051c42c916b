"""`magicmarkup retag`: re-anchor tags after the code changed."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from magicmarkup.cli.app import State, console, err_console, pass_state, print_json, progress
from magicmarkup.errors import MagicMarkupError
from magicmarkup.retag import RetagReport, retag_worktree
from magicmarkup.session import Session
from magicmarkup.store import Store


def print_report(report: RetagReport, llm_note: str, store: Store | None = None) -> None:
    """The run's counts and a table of the tags that moved; ids are shortened to prefixes
    unique among all of the store's tags (`show` takes them)."""
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items() if v)
    console.print(
        f"{report.tags} tags in {report.documents} documents: {counts or 'nothing to do'} "
        f"[dim]({report.seconds:.2f} s)[/]"
    )
    if report.changes:
        from magicmarkup.positions import short_ids

        shown = short_ids([*(c.id for c in report.changes), *(store.tag_ids() if store is not None else [])])
        table = Table(box=None, header_style="bold")
        for col in ("tag", "where now", "status", "by", "conf"):
            table.add_column(col, no_wrap=col in ("tag", "where now"), overflow="fold")
        for c in report.changes[:200]:
            renamed = f" (was {c.old_path})" if c.old_path else ""
            table.add_row(
                shown.get(c.id, c.id),
                escape(c.where + renamed),
                c.status,
                escape(c.method),
                f"{c.confidence:.2f}",
            )
        console.print(table)
        if len(report.changes) > 200:
            console.print(f"… and {len(report.changes) - 200} more (use --json for all)")
    console.print(f"[dim]{escape(llm_note)}[/]")
    if report.llm_used and (report.llm_calls or report.llm_failed):
        console.print(
            f"LLM: {report.llm_calls} calls, {report.llm_tokens} tokens; "
            f"{report.llm_failed} tags it could not help with (left for review)"
        )
    if report.skipped:
        console.print(f"{report.skipped} tags changed while retagging and were left for the next run")
    for err in report.errors:
        err_console.print(f"[yellow]warning:[/] {escape(err)}")


@click.command("retag")
@click.argument("rev_range", required=False)
@click.option("--worktree", is_flag=True, help="Re-anchor to the files as they are on disk now.")
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Only these files (with --worktree).",
)
@click.option("--no-llm", is_flag=True, help="Cheap stages only; never ask a model.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def retag_cmd(
    state: State, rev_range: str | None, worktree: bool, paths: tuple[Path, ...], no_llm: bool, as_json: bool
) -> None:
    """Re-anchor tags after the code changed.

    \b
    magicmarkup retag --worktree            every tag, to the files on disk
    magicmarkup retag --worktree --path a.py   only the tags of a.py
    magicmarkup retag HEAD~3..HEAD          follow the commits of a range (git)
    """
    store = state.store()
    session = Session.open(store.dir, no_llm)
    if rev_range is not None:
        from magicmarkup.cli.gitcmds import retag_range

        retag_range(store, session, rev_range, as_json)
        return
    if not worktree:
        raise MagicMarkupError("say what to retag: --worktree, or a revision range such as HEAD~1..HEAD")
    rels = [store.relpath(p, state.repo) for p in paths] or None
    report, note = run_worktree(store, session, rels, show_progress=not as_json)
    if as_json:
        data = report.to_json()
        data["llm"]["note"] = note
        print_json(data)
    else:
        print_report(report, note, store)
    if report.errors:  # every other document was retagged; scripts still learn of the failures
        raise SystemExit(1)


def run_worktree(
    store: Store, session: Session, rels: list[str] | None, show_progress: bool
) -> tuple[RetagReport, str]:
    with (
        session.resolver() as (resolver, note),
        progress("retag", disable=not show_progress) as report_progress,
    ):
        report = retag_worktree(store, rels, resolver, session.thresholds, report_progress)
    return report, note
