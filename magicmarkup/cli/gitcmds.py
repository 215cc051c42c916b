"""`magicmarkup retag REV_RANGE` and `magicmarkup hooks ...`: tags follow git operations."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click
from rich.markup import escape

from magicmarkup import git as gitlib
from magicmarkup.cli.app import State, console, pass_state, print_json, progress
from magicmarkup.errors import MagicMarkupError
from magicmarkup.report import RetagReport
from magicmarkup.session import Session
from magicmarkup.store import Store


def retag_range(store: Store, session: Session, rev_range: str, as_json: bool) -> None:
    """Follow the commits of a range (called by `magicmarkup retag REV_RANGE`)."""
    from magicmarkup.cli.retagcmd import print_report

    with (
        session.resolver() as (resolver, note),
        progress("retag commits", disable=as_json) as report_progress,
    ):
        result = gitlib.retag_range(store, rev_range, resolver, session.thresholds, report_progress)
    if as_json:
        data = result.to_json()
        data["llm"]["note"] = note
        print_json(data)
        return
    if not result.steps:
        console.print(f"{escape(rev_range)}: no commits in this range")
    for step in result.steps:
        moved = Counter(c.status for c in step.report.changes)
        what = ", ".join(f"{n} {s}" for s, n in sorted(moved.items())) or "no tag moved"
        console.print(
            f"[bold]{step.commit[:10]}[/] {escape(step.subject[:60])}: {step.files} tagged files, {what}"
        )
    print_report(result.total, note, store)


@click.group("hooks")
def hooks_group() -> None:
    """Git hooks that keep tags on the code through commits, pulls, checkouts and rebases.

    \b
    magicmarkup hooks install     pre-commit, post-checkout, post-merge, post-rewrite
    magicmarkup hooks uninstall   remove them (a hook that was there before comes back)

    pre-commit re-pins the tags of the staged files to the staged text and stages the
    store's changes with the commit; the others only refresh the local view. A hook never
    fails, never blocks a git command, and never leaves a change for `git status` to show.
    """


def _hook_repo(state: State) -> Path:
    """The repository the hooks go into: its git root (a store is not needed: in a clone
    before its first pull, the hooks act once the team's store arrives)."""
    from magicmarkup.store import find_repo_root

    root = find_repo_root((state.repo or Path.cwd()).resolve())
    if gitlib.git_dir_of(root) is None:
        raise MagicMarkupError(f"{root}: not a git repository; hooks need one (run `git init` first)")
    return root


@hooks_group.command("install")
@click.option(
    "--llm/--no-llm",
    default=False,
    help="Let hooks ask the model about uncertain tags (slower git commands). Default: cheap "
    "stages only; uncertain tags become needs_review and a later `retag --worktree` can ask.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@pass_state
def install_cmd(state: State, llm: bool, as_json: bool) -> None:
    """Install the hooks, chaining any hook already there (it keeps running first)."""
    root = _hook_repo(state)
    command = [sys.executable, "-m", "magicmarkup"]
    directory, actions = gitlib.install_hooks(root, command, [] if llm else ["--no-llm"])
    _print_actions(directory, actions, command, as_json)
    if not as_json and not (root / ".magicmarkup").is_dir():
        where = gitlib.store_elsewhere(root)
        hint = (
            f"{where[0]} has the team's store: `git pull` brings it"
            if where
            else "`magicmarkup init` starts one"
        )
        console.print(
            f"[dim]no tag store in this checkout yet; the hooks act once there is one ({escape(hint)})[/]"
        )


@hooks_group.command("uninstall")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@pass_state
def uninstall_cmd(state: State, as_json: bool) -> None:
    """Remove magicmarkup's hooks and put back the hooks they chained."""
    directory, actions = gitlib.uninstall_hooks(_hook_repo(state))
    _print_actions(directory, actions, None, as_json)


def _print_actions(
    directory: Path, actions: list[gitlib.HookAction], command: list[str] | None, as_json: bool
) -> None:
    if as_json:
        print_json(
            {
                "hooks_dir": str(directory),
                "command": command,
                "hooks": [
                    {
                        "name": a.name,
                        "path": a.path,
                        "action": a.action,
                        "chained": a.chained,
                        "detail": a.detail,
                    }
                    for a in actions
                ],
            }
        )
        return
    for a in actions:
        extra = f" (runs {Path(a.chained).name} first)" if a.chained and a.action != "restored" else ""
        detail = f": {a.detail}" if a.detail else ""
        console.print(f"{a.name}: {a.action}{escape(extra)}{escape(detail)}")
    console.print(f"[dim]hooks directory: {escape(str(directory))}[/]")


@hooks_group.command(
    "run", hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.argument("hook")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--no-llm", is_flag=True)
@pass_state
def run_cmd(state: State, hook: str, args: tuple[str, ...], no_llm: bool) -> None:
    """What the installed hooks call. Never fails: errors are one line, exit status 0."""
    try:
        _run_hook(state, hook, list(args), no_llm)
    except KeyboardInterrupt:
        click.echo(f"magicmarkup {hook}: interrupted; run `magicmarkup retag --worktree` later", err=True)
    except BaseException as exc:  # a hook must never fail the git command
        if state.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, MagicMarkupError):
            msg = f"unexpected {type(exc).__name__}: {msg}"
        click.echo(
            f"magicmarkup {hook}: {msg} ({_what_was_skipped(hook)})",
            err=True,
        )
    sys.exit(0)


@hooks_group.command("merge-pin", hidden=True)
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("ours", type=click.Path(path_type=Path))
@click.argument("theirs", type=click.Path(path_type=Path))
@click.argument("name", default="")
def merge_pin_cmd(base: Path, ours: Path, theirs: Path, name: str) -> None:
    """git's merge driver for pin files (registered by `hooks install`)."""
    from magicmarkup.pinmerge import merge_files

    sys.exit(0 if merge_files(base, ours, theirs, name) else 1)


def _run_hook(state: State, hook: str, args: list[str], no_llm: bool) -> None:
    try:
        store = state.store()
    except MagicMarkupError:
        return  # no store in this repository (e.g. a shared core.hooksPath): nothing to do
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    session = Session.open(store.dir, no_llm)
    with session.resolver() as (resolver, _note):
        report = gitlib.run_hook(store, hook, args, stdin, resolver, session.thresholds)
    if report is not None:
        line = hook_summary(hook, report)
        if line:
            click.echo(line, err=True)


def _what_was_skipped(hook: str) -> str:
    if hook == "pre-commit":
        return "tags not re-pinned; the commit went ahead; `magicmarkup doctor` checks the store"
    return "the local view is refreshed by the next `magicmarkup list`"


def hook_summary(hook: str, report: RetagReport) -> str:
    """One line for the terminal after a git command, or "" when nothing needs a look."""
    counts = Counter(c.status for c in report.changes)
    review, orphaned = counts.get("needs_review", 0), counts.get("orphaned", 0)
    if hook != "pre-commit" and not review and not orphaned and not report.errors:
        return ""  # tags that simply followed the code are not news after a checkout
    staged = ""
    if report.published:
        n = len(report.published)
        staged = f"staged {n} new tag{'s' if n != 1 else ''} with the commit"
    if not report.changes and not report.errors:
        return f"magicmarkup {hook}: {staged}" if staged else ""
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items())]
    verb = "re-pinned" if hook == "pre-commit" else "away from their pins"
    line = f"magicmarkup {hook}: {len(report.changes)} of {report.tags} tags {verb}"
    if parts:
        line += " (" + ", ".join(parts) + ")"
    if staged:
        line += f"; {staged}"
    if review or orphaned:
        which = "needs_review" if review and not orphaned else "orphaned" if orphaned and not review else None
        line += f"; see `magicmarkup list --status {which}`" if which else "; see `magicmarkup list`"
    if report.errors:
        line += f"; {len(report.errors)} problems, first: {report.errors[0]}"
    return line
