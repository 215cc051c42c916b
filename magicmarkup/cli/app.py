"""The root command, shared options and the one place errors become one-line messages."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson
from rich.console import Console

from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Status
from magicmarkup.store import Store

# name -> "module:attribute" of a click command; imported on first use.
LAZY_COMMANDS: dict[str, str] = {
    "init": "magicmarkup.cli.tagcmds:init_cmd",
    "add": "magicmarkup.cli.tagcmds:add_cmd",
    "list": "magicmarkup.cli.tagcmds:list_cmd",
    "show": "magicmarkup.cli.tagcmds:show_cmd",
    "edit": "magicmarkup.cli.tagcmds:edit_cmd",
    "rm": "magicmarkup.cli.tagcmds:rm_cmd",
    "export": "magicmarkup.cli.tagcmds:export_cmd",
    "import": "magicmarkup.cli.tagcmds:import_cmd",
    "gc": "magicmarkup.cli.tagcmds:gc_cmd",
    "retag": "magicmarkup.cli.retagcmd:retag_cmd",
    "demo": "magicmarkup.cli.democmd:demo_cmd",
    "llm": "magicmarkup.cli.llmcmds:llm_group",
    "bench": "magicmarkup.cli.benchcmds:bench_group",
    "watch": "magicmarkup.cli.watchcmd:watch_cmd",
    "hooks": "magicmarkup.cli.gitcmds:hooks_group",
    "tui": "magicmarkup.cli.tuicmd:tui_cmd",
    "doctor": "magicmarkup.cli.doctorcmd:doctor_cmd",
}


def _available(name: str) -> bool:
    module = LAZY_COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


# Rich styles per status. Status is a StrEnum, so this answers `STATUS_STYLE["moved"]` too.
STATUS_STYLE: dict[str, str] = {
    Status.ANCHORED: "green",
    Status.MOVED: "cyan",
    Status.CHANGED: "yellow",
    Status.NEEDS_REVIEW: "bold magenta",
    Status.ORPHANED: "bold red",
}

console = Console()
err_console = Console(stderr=True)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if _available(n))})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and _available(cmd_name):
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


class State:
    """Per-invocation options shared by every subcommand."""

    def __init__(self, debug: bool, repo: Path | None) -> None:
        self.debug = debug
        self.repo = repo

    def store(self) -> Store:
        return Store.discover(self.repo)


pass_state = click.make_pass_decorator(State)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="MAGICMARKUP_DEBUG", help="Show tracebacks on errors.")
@click.option(
    "-C",
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if started in this directory.",
)
@click.version_option(package_name="magicmarkup")
@click.pass_context
def cli(ctx: click.Context, debug: bool, repo: Path | None) -> None:
    """Keep notes on spans of code, outside the code, on the right code as it changes.

    \b
    Tags live in .magicmarkup/ at the repository root (commit it with the code).
    Start with:
      magicmarkup init
      magicmarkup add src/app.py --match "total = price * qty" --note "why not Decimal?"
      magicmarkup list
      (edit the code)
      magicmarkup retag --worktree
    """
    ctx.obj = State(debug=debug, repo=repo)


def print_json(data: Any) -> None:
    # orjson: `list --json` of 100,000 tags is 36 MB, which the json module took seconds to write.
    try:
        out = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:  # what orjson refuses (an int beyond 64 bits, say): the json module's way
        out = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
    click.echo(out)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected failures are one line on stderr; tracebacks only with --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("MAGICMARKUP_DEBUG", "") not in ("", "0")
    try:
        cli.main(args=args, prog_name="magicmarkup", standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted", 130)
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
