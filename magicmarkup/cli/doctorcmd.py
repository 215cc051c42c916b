"""`magicmarkup doctor`: check the store; `--fix` repairs what can be repaired without losing a tag."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from magicmarkup.cli import app
from magicmarkup.cli.app import State, pass_state, print_json
from magicmarkup.doctor import check
from magicmarkup.positions import printable


@click.command("doctor")
@click.option("--fix", is_flag=True, help="Repair what can be repaired (rewritten files are backed up).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@pass_state
def doctor_cmd(state: State, fix: bool, as_json: bool) -> None:
    """Check the tag store: schema, duplicate ids, snapshots, spans, paths.

    \b
    Exits 1 while errors remain (warnings do not count; unreferenced snapshots are only
    information: `magicmarkup gc` collects them). With --fix: duplicate ids get new ids,
    placed tags whose span no longer fits become orphaned (retag re-finds them), dangling
    snapshot references are cleared or restored, stray temp files are removed. Every rewritten file is
    first copied to .magicmarkup/backup/<time>/. Unparsable or newer-schema files are
    never touched.
    """
    store = state.store()
    report = check(store, fix=fix)
    if as_json:
        print_json(report.to_json())
    else:
        for problem in report.problems:
            style = "red" if problem.severity == "error" and not problem.fixed else "yellow"
            if problem.fixed:
                style = "green"
            elif problem.severity == "info":
                style = "dim"
            app.console.print(
                f"[{style}]{escape(printable(problem.line()))}[/]", highlight=False, soft_wrap=True
            )
        problems = [p for p in report.problems if p.severity != "info"]
        unreferenced = len(report.problems) - len(problems)
        summary = (
            f"{report.files} store files, {report.tags} tags, {report.snapshots} snapshots"
            + (f" ({unreferenced} unreferenced)" if unreferenced else "")
            + f": {len(problems)} problems, {sum(p.fixed for p in problems)} fixed, "
            f"{len(report.remaining)} errors remaining"
        )
        app.console.print(
            ("[green]ok[/] " if report.ok else "[bold red]not ok[/] ") + summary, highlight=False
        )
        if report.backup_dir:
            app.console.print(f"backups of rewritten files: {escape(report.backup_dir)}")
    if not report.ok:
        sys.exit(1)
