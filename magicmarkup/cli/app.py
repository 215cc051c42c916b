"""The root command, shared options and the one place errors become one-line messages."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from magicmarkup.errors import MagicMarkupError

if TYPE_CHECKING:
    from rich.console import Console

    from magicmarkup.store import Store

# Nothing here imports a command module, the store, pydantic, rich or the LLM client at start-up:
# `magicmarkup --help` and shell completion stay fast. Commands import what they use.

# name -> "module:attribute" of a click command; imported on first use.
LAZY_COMMANDS: dict[str, str] = {
    "init": "magicmarkup.cli.tagcmds:init_cmd",
    "add": "magicmarkup.cli.tagcmds:add_cmd",
    "list": "magicmarkup.cli.tagcmds:list_cmd",
    "show": "magicmarkup.cli.tagcmds:show_cmd",
    "edit": "magicmarkup.cli.tagcmds:edit_cmd",
    "rm": "magicmarkup.cli.tagcmds:rm_cmd",
    "grep": "magicmarkup.cli.grepcmd:grep_cmd",
    "export": "magicmarkup.cli.exportcmds:export_cmd",
    "import": "magicmarkup.cli.exportcmds:import_cmd",
    "gc": "magicmarkup.cli.sharecmds:gc_cmd",
    "status": "magicmarkup.cli.sharecmds:status_cmd",
    "publish": "magicmarkup.cli.sharecmds:publish_cmd",
    "accept": "magicmarkup.cli.repaircmds:accept_cmd",
    "reattach": "magicmarkup.cli.repaircmds:reattach_cmd",
    "reject": "magicmarkup.cli.repaircmds:reject_cmd",
    "retag": "magicmarkup.cli.retagcmd:retag_cmd",
    "check": "magicmarkup.cli.checkcmd:check_cmd",
    "demo": "magicmarkup.cli.democmd:demo_cmd",
    "llm": "magicmarkup.cli.llmcmds:llm_group",
    "bench": "magicmarkup.cli.benchcmds:bench_group",
    "watch": "magicmarkup.cli.watchcmd:watch_cmd",
    "hooks": "magicmarkup.cli.gitcmds:hooks_group",
    "tui": "magicmarkup.cli.tuicmd:tui_cmd",
    "doctor": "magicmarkup.cli.doctorcmd:doctor_cmd",
    "lsp": "magicmarkup.cli.lspcmd:lsp_cmd",
}

# What `magicmarkup --help` lists, without importing every command module to ask it (that
# imported the LLM client: 2 s). tests/test_cli.py checks these against the commands' own help.
SHORT_HELP: dict[str, str] = {
    "add": "Tag a span of PATH, chosen by --span, --lines or --match; prints the new tag's id.",
    "bench": "Benchmarks: score the re-anchoring cascade, generate cases, measure speed.",
    "check": "Fail when tags need review or lost their code: the gate for CI and pre-commit.",
    "demo": "Tag a copy of the demo project in a git repository, change it over a few commits "
    "(insertions above, a rename, a refactored call, a deleted function), retag through the "
    "commits, and show where each tag went and which stage placed it.",
    "doctor": "Check the tag store: schema, duplicate ids, snapshots, spans, paths.",
    "edit": "Change a tag's note or metadata.",
    "export": "Export every tag (and the snapshots they are anchored to) as one JSON document.",
    "gc": "Delete snapshots that no tag is anchored to any more.",
    "status": "Tag changes no commit has shared yet, per document, and what to do with them.",
    "publish": "Stage tag changes for your next commit (what the pre-commit hook does by itself).",
    "accept": "Confirm a tag where it is now, or on one of its candidates (--candidate N).",
    "reattach": "Attach a tag to other code of its file: --lines A:B, --match TEXT or --span.",
    "reject": "Say a tag's guessed place is wrong: it becomes orphaned (kept, re-attachable).",
    "grep": "Search notes, metadata and tagged text; print path:line:col: note per tag.",
    "hooks": "Git hooks that keep tags on the code through commits, pulls, checkouts and rebases.",
    "import": "Import tags from an `export` file; tags whose id exists are skipped.",
    "init": "Create .magicmarkup/ at the repository root (the git root, else this directory).",
    "list": "List tags (of PATH, a file or a folder, or of the whole repository).",
    "lsp": "Run the language server on stdin/stdout: notes on hover, inlay hints, code lenses, "
    "diagnostics for tags to review, symbols, and code actions to add, edit, remove and repair "
    "tags.",
    "llm": "The local model and the LLM endpoint used for hard re-anchoring cases.",
    "retag": "Re-anchor tags after the code changed.",
    "rm": "Delete a tag.",
    "show": "Show a tag: its current text in context, its metadata and its history.",
    "tui": "Browse, read, edit and repair tags in a terminal UI.",
    "watch": "Watch the repository (or PATHs) and re-anchor tags whenever their files change.",
}


def _available(name: str) -> bool:
    module = LAZY_COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


# Rich styles per status (keys are the values of magicmarkup.model.Status, a StrEnum, so
# `STATUS_STYLE[Status.MOVED]` works too).
STATUS_STYLE: dict[str, str] = {
    "anchored": "green",
    "moved": "cyan",
    "changed": "yellow",
    "needs_review": "bold magenta",
    "orphaned": "bold red",
}

_consoles: dict[str, Console] = {}


def _console(name: str) -> Console:
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(stderr=name == "err_console")
    return _consoles[name]


def __getattr__(name: str) -> Any:
    # `console` and `err_console` are made on first use (importing rich costs start-up time), and
    # made again in a new `CliRunner` run: in-process tests swap sys.stdout per invocation.
    if name in ("console", "err_console"):
        return _console(name)
    raise AttributeError(name)


def reset_consoles() -> None:
    """Forget the consoles (they hold the sys.stdout/stderr of the moment they were made)."""
    _consoles.clear()


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if _available(n))})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and _available(cmd_name):
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            add_global_options(command)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from SHORT_HELP: no command module is imported to print it."""
        names = [n for n in self.list_commands(ctx) if n in SHORT_HELP or n not in LAZY_COMMANDS]
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in SHORT_HELP:
                text = click.Command(name, help=SHORT_HELP[name]).get_short_help_str(limit)
            else:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                text = cmd.get_short_help_str(limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    state = ctx.find_object(State)
    if value and state is not None:
        state.debug = True


def _refuse_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    state = ctx.find_object(State)
    if value or (state is not None and state.json):
        raise click.UsageError(f"{ctx.command_path} prints no data: it has no --json output", ctx)


def add_global_options(command: click.Command) -> None:
    """Let the root's --debug and --json be given after the subcommand too (`show X --debug`):
    every command (and every command of a group) gets a hidden --debug; one without a --json
    of its own gets a --json that says it has none instead of "no such option"."""
    if getattr(command, "_mm_globals", False):
        return
    command._mm_globals = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_global_options(sub)
        return
    flags = {opt for p in command.params for opt in getattr(p, "opts", [])}
    if any(p.name == "as_json" for p in command.params) and command.callback is not None:
        command.callback = _with_root_json(command.callback)
    if "--debug" not in flags:
        command.params.append(
            click.Option(["--debug"], is_flag=True, hidden=True, expose_value=False, callback=_set_debug)
        )
    if "--json" not in flags:
        command.params.append(
            click.Option(["--json"], is_flag=True, hidden=True, expose_value=False, callback=_refuse_json)
        )


def _with_root_json(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        state = click.get_current_context().find_object(State)
        if state is not None and state.json:
            kwargs["as_json"] = True
        return callback(*args, **kwargs)

    return run


class State:
    """Per-invocation options shared by every subcommand."""

    def __init__(self, debug: bool, repo: Path | None, as_json: bool = False) -> None:
        self.debug = debug
        self.repo = repo
        self.json = as_json

    def store(self) -> Store:
        from magicmarkup.errors import StoreError
        from magicmarkup.store import Store

        try:
            return Store.discover(self.repo)
        except StoreError as exc:
            if "no .magicmarkup/ store" not in str(exc):
                raise
            from magicmarkup.git import store_elsewhere
            from magicmarkup.store import find_repo_root

            where = store_elsewhere(find_repo_root((self.repo or Path.cwd()).resolve()))
            if not where:
                raise
            raise StoreError(
                f"{str(exc).split(';')[0]}; this checkout has none yet, but {where[0]} has the team's: "
                f"`git pull` (or check out a commit that has it) rather than `magicmarkup init`"
            ) from None


pass_state = click.make_pass_decorator(State)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug", is_flag=True, envvar="MAGICMARKUP_DEBUG", help="Show tracebacks on errors (any position)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as the command's own --json).")
@click.option(
    "-C",
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if started in this directory.",
)
@click.version_option(package_name="magicmarkup")
@click.pass_context
def cli(ctx: click.Context, debug: bool, as_json: bool, repo: Path | None) -> None:
    """Keep notes on spans of code, outside the code, on the right code as it changes.

    \b
    Tags live in .magicmarkup/ at the repository root (commit it with the code).
    Places are shown as path:line:col (a span: path:line:col-line:col, 1-based,
    end = last character). Ids may be shortened to any unique prefix.
    Start with:
      magicmarkup init
      magicmarkup add src/app.py --match "total = price * qty" --note "why not Decimal?"
      magicmarkup list
      (edit the code)
      magicmarkup retag --worktree
    """
    ctx.obj = State(debug=debug, repo=repo, as_json=as_json)


def print_json(data: Any) -> None:
    import orjson

    # orjson: `list --json` of 100,000 tags is 36 MB, which the json module took seconds to write.
    try:
        out = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:  # what orjson refuses (an int beyond 64 bits, say): the json module's way
        out = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
    click.echo(out)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr. The message is printed as plain text (never read as rich markup, and
    without control characters), whatever a user typed into it."""
    from magicmarkup.positions import printable

    line = " ".join(printable(message, keep_newlines=False).split("\n"))
    prefix = click.style("error:", fg="red", bold=True)
    click.echo(f"{prefix} {line}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected failures are one line on stderr; tracebacks only with --debug."""
    args = sys.argv[1:] if argv is None else argv
    words = args[: args.index("--")] if "--" in args else args
    debug = "--debug" in words or os.environ.get("MAGICMARKUP_DEBUG", "") not in ("", "0")
    try:
        cli.main(args=args, prog_name="magicmarkup", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C into Abort (after a newline, so the message is not after "^C")
        fail("interrupted" if isinstance(exc.__cause__, KeyboardInterrupt) else "aborted", 130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except MagicMarkupError as exc:
        if debug:
            raise
        fail(str(exc))
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        if debug:
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", 2)


ProgressFn = Callable[[int, int | None], None]


@contextmanager
def progress(label: str, *, disable: bool = False, every: float = 5.0) -> Iterator[ProgressFn]:
    """The one progress display of long commands. Yields `report(done, total)`.

    On a terminal (stderr): a rich bar, erased when done. Otherwise (a log, CI, a pipe): a plain
    line on stderr at most every `every` seconds (`label: 120/500 (24%), 10 s`) and, if any was
    printed, one last line when done; a run shorter than `every` prints nothing. `disable`
    (e.g. under --json) shows nothing at all."""
    if disable:
        yield lambda done, total: None
        return
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_console("err_console"),
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    plain = _PlainProgress(label, every)
    yield plain.report
    plain.finish()


class _PlainProgress:
    """Periodic progress lines for a stderr that is not a terminal."""

    def __init__(self, label: str, every: float) -> None:
        self.label, self.every = label, every
        self.began = time.monotonic()
        self.next = self.began + every
        self.printed = False
        self.done: int = 0
        self.total: int | None = None

    def line(self) -> str:
        share = f"/{self.total} ({100 * self.done // self.total}%)" if self.total else ""
        return f"{self.label}: {self.done}{share}, {time.monotonic() - self.began:.0f} s"

    def report(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        now = time.monotonic()
        if now >= self.next:
            self.next = now + self.every
            self.printed = True
            click.echo(self.line(), err=True)

    def finish(self) -> None:
        if self.printed:
            click.echo(self.line() + " done", err=True)
