"""Shared fixtures: real temp git repositories and the real CLI entry point.

Area-specific fixtures belong in the area's own test module or a sub-folder conftest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run (CI included), so a run's verdict does not
# depend on luck; `HYPOTHESIS_PROFILE=explore` draws fresh ones, to look for new failures.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# Tests press Ctrl-C (SIGINT) on real child processes (`watch`, `llm serve`). A shell starts a
# background job with SIGINT ignored, and children inherit an ignored signal, so under such a
# runner they could not be interrupted at all. A handler (unlike "ignore") is reset to the
# default in every child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    """No test sees the developer's git identity, LLM endpoint, LLM switches or debug settings.
    Tests marked `llm_policy_full` (the client-path tests, which need every kind of prompt to
    reach a server) get MAGICMARKUP_LLM_POLICY=full; the default asks only guesses an answer
    could confirm."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MAGICMARKUP_DEBUG", "MAGICMARKUP_LLM_VERDICT"):
        monkeypatch.delenv(var, raising=False)
    if request.node.get_closest_marker("llm_policy_full") is not None:
        monkeypatch.setenv("MAGICMARKUP_LLM_POLICY", "full")
    else:
        monkeypatch.delenv("MAGICMARKUP_LLM_POLICY", raising=False)


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    return out.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository (main branch) in a temp dir."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "commit.gpgsign", "false")
    return root


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CliRunner = Callable[..., Result]


@pytest.fixture
def mm(repo: Path) -> CliRunner:
    """Run the real `magicmarkup` entry point as a subprocess inside `repo`."""

    def run(
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "magicmarkup", *args],
            cwd=cwd or repo,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def cli(repo: Path) -> CliRunner:
    """The same entry point as `mm` (`magicmarkup.cli.main`: one-line errors, exit codes,
    --debug tracebacks), run in this process with click's CliRunner: no interpreter start-up
    and imports per call. Use `mm` for what needs a real process (signals, crashes, hooks)."""
    import click
    from click.testing import CliRunner as ClickRunner

    from magicmarkup.cli import app

    @click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def entry(args: tuple[str, ...]) -> None:
        app.main(list(args))

    def run(
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> Result:
        del timeout  # same signature as `mm`
        runner = ClickRunner()
        app.reset_consoles()
        before = Path.cwd()
        os.chdir(cwd or repo)
        try:
            result = runner.invoke(
                entry,
                list(args),
                input=input,
                env={"COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
                catch_exceptions=True,
            )
        finally:
            os.chdir(before)
            app.reset_consoles()
        err = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            assert result.exc_info is not None
            err += "".join(traceback.format_exception(*result.exc_info))  # what python would print
        return Result(result.exit_code, result.stdout, err)

    return run
