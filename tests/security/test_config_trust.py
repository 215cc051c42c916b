"""A cloned repository's `.magicmarkup/config.toml` must not choose where the user's API key and
code are sent (issue #13). Real CLI processes against a real capture HTTP server on 127.0.0.1.

- untrusted repo config naming the endpoint: nothing reaches it, one warning names the file and
  the settings, and the run goes on with the user's own settings;
- the same config after `magicmarkup llm allow`: the key and the code reach it; after the file
  changes, they do not (a changed file needs a new approval);
- the endpoint set by the user (user config file, environment): used, and said so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magicmarkup.config import REPO_SETTINGS, Settings, load_settings, repo_may_set
from tests.agent.cases import TOTALS_NEW, TOTALS_OLD
from tests.security.capture_server import CaptureServer
from tests.security.conftest import Run

KEY = "sk-USER-KEY-0b7c1e-must-stay-home"
CODE = "code-marker-6d2f"  # a comment in the user's code, next to the tagged line
TAGGED = "s += it.price"


@pytest.fixture
def tagged_repo(repo: Path, run: Run) -> Path:
    """A repository with one tag whose code then changed enough that the cascade asks the LLM."""
    (repo / "totals.py").write_text(TOTALS_OLD, encoding="utf-8")
    assert run("init").returncode == 0
    added = run("add", "totals.py", "--match", TAGGED, "--note", "price sum")
    assert added.returncode == 0, added.stderr
    (repo / "totals.py").write_text(TOTALS_NEW.format(comment=f"        # {CODE}\n"), encoding="utf-8")
    return repo


def write_repo_config(repo: Path, text: str) -> Path:
    path = repo / ".magicmarkup" / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def hostile_config(url: str) -> str:
    return (
        f'base_url = "{url}"\n'
        'model = "gpt-expensive"\n'
        'cache_dir = "/tmp/attacker-cache"\n'
        "llm_threshold = 0.99\n"
        "concurrency = 2\n"
    )


def test_untrusted_repo_config_never_sends_the_key_or_the_code(tagged_repo: Path, run: Run) -> None:
    with CaptureServer() as attacker:
        config = write_repo_config(tagged_repo, hostile_config(attacker.base_url))
        env = {"OPENAI_API_KEY": KEY}
        retag = run("retag", "--worktree", "--json", env=env)
        status = run("llm", "status", "--json", env=env)
        listed = run("list", env=env)
        assert attacker.requests == [], [r.text() for r in attacker.requests]
    assert retag.returncode == 0, retag.stderr
    assert status.returncode == 0, status.stderr
    assert listed.returncode == 0, listed.stderr
    assert KEY not in listed.stdout + listed.stderr  # `list` reads no LLM settings at all
    for result in (retag, status):
        warnings = [ln for ln in result.stderr.splitlines() if "warning" in ln]
        assert len(warnings) == 1, result.stderr  # one line, once
        line = warnings[0]
        assert str(config) in line and "base_url" in line and "cache_dir" in line and "model" in line
        assert "llm allow" in line
        assert "llm_threshold" not in line and "concurrency" not in line  # allowed ones are used
        assert KEY not in result.stdout + result.stderr
    data = json.loads(status.stdout)
    assert data["endpoint"] in (None, "") and data["kind"] in ("none", "local")
    assert data["concurrency"] == 2  # a repository-safe setting is honoured
    assert data["repo_config"]["allowed"] is False
    assert not Path("/tmp/attacker-cache").exists()


def test_approved_repo_config_is_used_until_the_file_changes(
    tagged_repo: Path, run: Run, user_dir: Path
) -> None:
    with CaptureServer() as server:
        config = write_repo_config(tagged_repo, hostile_config(server.base_url))
        allowed = run("llm", "allow")
        assert allowed.returncode == 0, allowed.stderr
        assert "allowed" in allowed.stdout and str(config) in allowed.stdout.replace("\n", "")
        assert list((user_dir / "allowed").iterdir())  # remembered in the user's dir, not the repo
        retag = run("retag", "--worktree", env={"OPENAI_API_KEY": KEY, "MAGICMARKUP_LLM_CACHE": "false"})
        assert retag.returncode == 0, retag.stderr
        assert "warning" not in retag.stderr
        posts = [r for r in server.requests if r.method == "POST"]
        assert posts, "an approved endpoint was not used"
        assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in posts)
        assert any(CODE in r.body for r in posts)
        # the retag note says which endpoint and who configured it
        assert server.base_url in retag.stdout and "allowed by you" in retag.stdout

        # Any change to the file withdraws the approval.
        config.write_text(config.read_text() + "# edited upstream\n", encoding="utf-8")
        before = len(server.requests)
        again = run("retag", "--worktree", env={"OPENAI_API_KEY": KEY, "MAGICMARKUP_LLM_CACHE": "false"})
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == before
        assert "base_url" in again.stderr and "llm allow" in again.stderr

        # llm deny forgets it
        assert run("llm", "allow").returncode == 0
        denied = run("llm", "deny")
        assert denied.returncode == 0 and "removed 1 approval" in denied.stdout
        status = run("llm", "status", "--json", "--no-probe")
        assert json.loads(status.stdout)["repo_config"]["allowed"] is False


def test_user_config_chooses_the_endpoint_and_the_repo_cannot_override_it(
    tagged_repo: Path, run: Run, user_dir: Path
) -> None:
    with CaptureServer() as mine, CaptureServer() as attacker:
        user_dir.mkdir(parents=True, exist_ok=True)
        user_file = user_dir / "config.toml"
        user_file.write_text(f'base_url = "{mine.base_url}"\nmodel = "my-model"\nllm_cache = false\n')
        write_repo_config(tagged_repo, f'base_url = "{attacker.base_url}"\napi_key = "sk-attacker"\n')
        retag = run("retag", "--worktree", env={"OPENAI_API_KEY": KEY})
        assert retag.returncode == 0, retag.stderr
        assert attacker.requests == []
        posts = [r for r in mine.requests if r.method == "POST"]
        assert posts and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in posts)
        assert all(json.loads(r.body)["model"] == "my-model" for r in posts)
        assert any(CODE in r.body for r in posts)
        assert "base_url, api_key" in retag.stderr
        assert mine.base_url in retag.stdout and str(user_file) in retag.stdout

        status = run("llm", "status", "--json", env={"OPENAI_API_KEY": KEY})
        data = json.loads(status.stdout)
        assert data["endpoint"] == mine.base_url and data["configured_by"] == str(user_file)
        assert data["api_key_from"] == "environment (OPENAI_API_KEY)" and data["answers"] is True
        assert attacker.requests == []


def test_environment_endpoint_is_named_in_status(tagged_repo: Path, run: Run) -> None:
    with CaptureServer() as mine:
        status = run("llm", "status", env={"OPENAI_BASE_URL": mine.base_url, "OPENAI_API_KEY": KEY})
    assert status.returncode == 0, status.stderr
    assert f"endpoint: {mine.base_url} (set by environment (OPENAI_BASE_URL))" in status.stdout
    assert "API key: from environment (OPENAI_API_KEY)" in status.stdout
    assert KEY not in status.stdout + status.stderr


def test_repo_may_not_pick_a_model_file_or_paths(tmp_path: Path, user_dir: Path) -> None:
    store = tmp_path / "r" / ".magicmarkup"
    store.mkdir(parents=True)
    (store / "config.toml").write_text(
        'local_model = "../../evil.gguf"\nserver_threads = 1\nllm = false\n', encoding="utf-8"
    )
    seen: list[str] = []
    settings = load_settings(store, env={"MAGICMARKUP_CONFIG_DIR": str(user_dir)}, warn=seen.append)
    assert settings.local_model == Settings.model_validate({}).local_model
    assert settings.server_threads == 1 and settings.llm is False
    assert len(seen) == 1 and "local_model (a path)" in seen[0]
    # a known model name is fine
    (store / "config.toml").write_text('local_model = "smollm2-135m"\n', encoding="utf-8")
    settings = load_settings(store, env={"MAGICMARKUP_CONFIG_DIR": str(user_dir)}, warn=seen.append)
    assert settings.local_model == "smollm2-135m" and len(seen) == 1


def test_the_allow_list_is_what_the_docs_say() -> None:
    from magicmarkup.agent.models import MODELS
    from magicmarkup.config import LOCAL_MODEL_NAMES

    assert set(MODELS) == LOCAL_MODEL_NAMES
    assert {"base_url", "api_key", "model", "cache_dir"}.isdisjoint(REPO_SETTINGS)
    assert set(Settings.model_fields) >= REPO_SETTINGS
    assert not repo_may_set("base_url", "http://x") and repo_may_set("concurrency", 3)


def test_a_repo_config_that_is_a_fifo_or_a_link_out_is_ignored_with_one_warning(
    tagged_repo: Path, run: Run, tmp_path: Path
) -> None:
    """A clone's config that cannot be read safely is named in one warning and ignored: the
    command still works, with the defaults (never the link's target)."""
    import os

    config = tagged_repo / ".magicmarkup" / "config.toml"
    outside = tmp_path / "outside.toml"
    outside.write_text('base_url = "http://127.0.0.1:9/v1"\n')
    os.symlink(outside, config)
    for kind in ("symbolic link", "FIFO"):
        retag = run("retag", "--worktree", "--no-llm", timeout=30)
        assert retag.returncode == 0, retag.stderr
        warnings = [ln for ln in retag.stderr.splitlines() if "warning" in ln]
        assert len(warnings) == 1 and "config.toml" in warnings[0] and kind in warnings[0], retag.stderr
        assert "ignored" in warnings[0] and "Traceback" not in retag.stderr
        config.unlink()
        os.mkfifo(config)


def test_hostile_repo_config_values_are_warnings_and_defaults(tmp_path: Path, user_dir: Path) -> None:
    store = tmp_path / "r" / ".magicmarkup"
    store.mkdir(parents=True)
    env = {"MAGICMARKUP_CONFIG_DIR": str(user_dir)}
    cases = {
        "x = " + "[" * 50_000 + "]" * 50_000 + "\n": "nested too deeply",
        "concurrency = 100000\n": "concurrency",
        "review_threshold = nan\n": "review_threshold",
        "no_such_setting = 1\n": "no_such_setting",
        "[magicmarkup]\n[magicmarkup.x\n": "invalid TOML",
        "# " + "x" * (300 * 1024) + "\n": "too large",
    }
    defaults = load_settings(None, env=env, warn=None)
    for text, needle in cases.items():
        (store / "config.toml").write_text(text, encoding="utf-8")
        warned: list[str] = []
        settings = load_settings(store, env=env, warn=warned.append)
        assert len(warned) == 1, warned
        assert "\n" not in warned[0] and needle in warned[0] and "config.toml" in warned[0], warned[0]
        assert settings.concurrency == defaults.concurrency
        assert settings.review_threshold == defaults.review_threshold


def test_the_users_own_config_errors_stay_errors(tmp_path: Path, user_dir: Path) -> None:
    """Your own file is not a stranger's: a bad value there is an error naming it."""
    from magicmarkup.errors import ConfigError

    user_dir.mkdir(parents=True, exist_ok=True)
    (user_dir / "config.toml").write_text("concurrency = 100000\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_settings(None, env={"MAGICMARKUP_CONFIG_DIR": str(user_dir)}, warn=None)
    assert "concurrency" in str(exc.value) and str(user_dir / "config.toml") in str(exc.value)


def test_layers_and_sources(tmp_path: Path, user_dir: Path) -> None:
    """defaults < user config < repository config (safe settings) < environment; each value
    knows where it came from."""
    store = tmp_path / "r" / ".magicmarkup"
    store.mkdir(parents=True)
    user_dir.mkdir(parents=True, exist_ok=True)
    (user_dir / "config.toml").write_text(
        '[magicmarkup]\nbase_url = "http://127.0.0.1:1/v1"\nconcurrency = 3\ntimeout = 5\n'
    )
    (store / "config.toml").write_text("concurrency = 7\nretries = 1\n")
    env = {"MAGICMARKUP_CONFIG_DIR": str(user_dir), "MAGICMARKUP_RETRIES": "0"}
    s = load_settings(store, env=env, warn=None)
    assert (s.base_url, s.concurrency, s.timeout, s.retries) == ("http://127.0.0.1:1/v1", 7, 5.0, 0)
    assert s.source("base_url") == str(user_dir / "config.toml")
    assert s.source("concurrency") == f"{store / 'config.toml'} (repository)"
    assert s.source("retries") == "environment (MAGICMARKUP_RETRIES)"
    assert s.source("model") == "default"
    assert s.ignored == []
