"""The LLM endpoint is opened on the first query, not when a session begins: a retag whose tags
are all certain starts no local server and imports no HTTP client (issue #13, part 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from magicmarkup.agent import llm_session
from magicmarkup.agent.resolver import LLMResolver
from magicmarkup.agent.server import LocalServer, xllamacpp_available
from magicmarkup.anchoring import reanchor_many
from magicmarkup.config import Settings
from tests.agent.cases import CASES

pytestmark = pytest.mark.skipif(not xllamacpp_available(), reason="xllamacpp is not installed")


@pytest.fixture
def fake_model(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-model.gguf"
    path.write_bytes(b"GGUF but not really")
    return path


def test_no_query_starts_nothing(fake_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []

    def start(self: LocalServer) -> LocalServer:
        started.append(self)
        return self

    monkeypatch.setattr(LocalServer, "start", start)
    settings = Settings.model_validate({"local_model": str(fake_model), "llm_cache": False})
    with llm_session(settings) as (res, note):
        assert isinstance(res, LLMResolver)
        assert "started when first needed" in note and fake_model.name in note
        assert res.resolve([]) == []
        assert not res.started
    assert started == []


def test_a_server_that_cannot_start_degrades_every_query(
    fake_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from magicmarkup.agent.server import ServerError

    calls: list[int] = []

    def broken(self: LocalServer) -> LocalServer:
        calls.append(1)
        raise ServerError(f"{fake_model.name}: the local server did not start (bad model)")

    monkeypatch.setattr(LocalServer, "start", broken)
    settings = Settings.model_validate({"local_model": str(fake_model), "llm_cache": False})
    case = next(c for c in CASES if c.name.startswith("hostile"))
    with llm_session(settings) as (res, _note):
        assert res is not None
        first = reanchor_many([case.job()], res)
        again = reanchor_many([case.job()], res)
    assert len(calls) == 1  # tried once, not once per batch
    for placements in (first, again):
        assert placements[0][0].llm_calls == 0  # the cheap stages' answer stands


def test_no_llm_session_imports_no_http_client(tmp_path: Path, fake_model: Path) -> None:
    code = f"""
import sys
from magicmarkup.config import Settings
from magicmarkup.session import resolver_session
s = Settings.model_validate({{"local_model": {str(fake_model)!r}}})
with resolver_session(s, None, False) as (res, note):
    assert res is not None and res.resolve([]) == []
bad = [m for m in ("openai", "httpx", "asyncio", "xllamacpp") if m in sys.modules]
print(bad)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
