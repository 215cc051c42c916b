"""`magicmarkup check`: fail CI or a commit on the tags a change left unsure."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from magicmarkup.cli.app import State, fail, pass_state, print_json
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Status

if TYPE_CHECKING:
    from magicmarkup.store import Store

FORMATS = ("text", "json", "github", "sarif")
FAILABLE = [s.value for s in Status if s not in (Status.ANCHORED,)]


def _fail_on(values: tuple[str, ...]) -> frozenset[Status]:
    """`--fail-on` values, each one status or a comma-separated list."""
    out = set()
    for value in values:
        for word in value.split(","):
            if word.strip():
                out.add(Status(word.strip()))
    return frozenset(out)


def _check_fail_on(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        for word in value.split(","):
            if word.strip() and word.strip() not in FAILABLE:
                raise click.BadParameter(f"{word.strip()!r} is not one of {', '.join(FAILABLE)}", ctx, param)
    return values


def _relpath(store: Store, path: Path) -> str:
    """A PATH argument as a repo-relative path ("." for the whole repository)."""
    if Path(os.path.abspath(path)) == store.root:
        return "."
    return store.relpath(path)


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rev", metavar="REV", help="Check the tags of this commit (read with git, not checked out).")
@click.option(
    "--since",
    metavar="REF",
    help="Fail only on what changed since REF (e.g. the merge base with the target branch).",
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    metavar="STATUS[,STATUS]",
    callback=_check_fail_on,
    help="Statuses that fail (repeatable; default: needs_review,orphaned; e.g. add changed).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: path:line:col lines; json; github: workflow commands; sarif: SARIF 2.1.0.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--fix", is_flag=True, help="Accept the confident repairs (changed tags) and re-pin them.")
@click.option(
    "--llm/--no-llm", default=False, help="Ask the configured model about unsure tags (default: no)."
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@pass_state
def check_cmd(
    state: State,
    paths: tuple[Path, ...],
    rev: str | None,
    since: str | None,
    fail_on: tuple[str, ...],
    fmt: str,
    output: Path | None,
    fix: bool,
    llm: bool,
    as_json: bool,
) -> None:
    """Fail when tags need review or lost their code: the gate for CI and pre-commit.

    \b
    Places every tag (of the files or folders PATHS) in the working tree, or in
    commit --rev REV without checking it out, and prints one line per problem:
      src/app.py:12:5: needs_review: why 3?  [01jd3k4m]
    With --since REF only the tags this change made worse fail (placed at REF,
    unsure or gone now) and new tags that are already unsure; tags already unsure
    at REF are listed as information. REF needs no history: a shallow clone plus
    `git fetch --depth 1 origin REF` is enough. --fix accepts the repairs the
    engine is confident about (changed tags), as a person's confirmation would,
    and prints them; commit the store afterwards. Exit status: 0 nothing failing,
    1 problems, 2 errors (a bad revision, an unreadable store file).

    \b
    magicmarkup check
    magicmarkup check --since origin/main --format github
    magicmarkup check --rev HEAD~1 --format sarif -o magicmarkup.sarif
    magicmarkup check --fail-on needs_review,orphaned,changed --fix
    """
    from magicmarkup import checkformats
    from magicmarkup.check import DEFAULT_FAIL_ON, check
    from magicmarkup.session import Session

    fmt = "json" if as_json else fmt
    try:
        store = state.store()
        rels = [_relpath(store, p) for p in paths]
        session = Session.open(store.dir, no_llm=not llm)
        with session.resolver() as (resolver, _note):
            result = check(
                store,
                rels or None,
                rev=rev,
                since=since,
                fail_on=_fail_on(fail_on) or DEFAULT_FAIL_ON,
                fix=fix,
                resolver=resolver,
                thresholds=session.thresholds,
            )
    except MagicMarkupError as exc:
        if state.debug:
            raise
        fail(str(exc), 2)
    if fmt == "json":
        out = None
        data = checkformats.to_json(result)
    elif fmt == "sarif":
        out = None
        data = checkformats.to_sarif(result)
    else:
        lines = checkformats.text_lines(result) if fmt == "text" else checkformats.github_lines(result)
        out = "".join(line + "\n" for line in lines)
        data = None
    if output is not None:
        import orjson

        body = out if out is not None else orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
        try:
            output.write_text(body, encoding="utf-8")
        except OSError as exc:
            fail(f"{output}: cannot write ({exc.strerror or exc})", 2)
    elif out is not None:
        click.echo(out, nl=False)
    else:
        print_json(data)
    for line in checkformats.fixed_lines(result):
        click.echo(line, err=True)
    from magicmarkup.positions import printable

    for err in result.errors:
        click.echo(f"error: {printable(err, False)}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {printable(warning, False)}", err=True)
    if fmt in ("text", "github") or output is not None:
        click.echo(checkformats.summary_line(result), err=True)
    sys.exit(result.exit_code)
