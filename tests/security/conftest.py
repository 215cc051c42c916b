"""Fixtures for the security tests: a private user config dir, the real CLI run as a child
process with a timeout, and a fingerprint of everything outside the repository so a test can
assert that nothing there was touched."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's own magicmarkup config dir, private to the test (inherited by children)."""
    path = tmp_path / "user-config"
    monkeypatch.setenv("MAGICMARKUP_CONFIG_DIR", str(path))
    monkeypatch.setenv("MAGICMARKUP_CACHE_DIR", str(tmp_path / "user-cache"))
    return path


@pytest.fixture
def run(repo: Path, user_dir: Path) -> Run:
    """Run `python -m magicmarkup ARGS` in the repository, killed after `timeout` seconds."""

    def _run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "magicmarkup", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        )

    return _run


def fingerprint(roots: Iterable[Path], skip: Iterable[Path] = ()) -> dict[str, tuple[int, int, int]]:
    """(mode, size, mtime_ns) of every entry under `roots`, except under `skip`, links not followed."""
    skipped = [str(s) for s in skip]
    seen: dict[str, tuple[int, int, int]] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped]
            for name in [*dirnames, *filenames]:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                seen[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


def assert_one_clean_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A failure reported as one line naming the problem: no traceback, non-zero exit."""
    assert result.returncode != 0, result.stdout + result.stderr
    err = result.stderr.strip()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
