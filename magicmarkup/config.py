"""Settings, layered: defaults < user config < the repository's config < environment variables.

- **User config**: `config.toml` in the user config dir (platformdirs: `~/.config/magicmarkup/` on
  Linux; `MAGICMARKUP_CONFIG_DIR` overrides it). Yours: any setting.
- **Repository config**: `.magicmarkup/config.toml`, committed with the code, so it comes with
  every clone and may be written by a stranger. Unless you approved that exact file
  (`magicmarkup llm allow`), it may set only the settings in `REPO_SETTINGS`:

  review_threshold, orphan_threshold, llm, llm_threshold, temperature, concurrency, timeout,
  retries, server_threads, llm_cache, and local_model as a model *name* from `magicmarkup llm
  models` (not a path to a .gguf file).

  It may never choose, without approval, where your API key and your code are sent, nor what is
  run or read outside the repository: `base_url` (the endpoint), `api_key`, `model` (the model
  asked at a remote endpoint, billed to you), `cache_dir` (where models are loaded from and logs
  written), `local_model` as a file path (a model file to load into the server), and any setting
  added later unless it is added to `REPO_SETTINGS`. Such a setting is ignored with one warning
  line naming the file and the settings. So is any value that is invalid (out of range, unknown
  setting), and the whole file when it cannot be read or is not TOML: a stranger's config never
  stops the tool (nor the pre-commit re-pin), it falls back to the defaults.
- **Approval** (`magicmarkup llm allow`, like direnv's `allow`): remembered in the user config dir
  (`allowed/`), keyed by the real path of the repository's config file and the sha256 of its
  content; any change to the file needs a new approval (which replaces the old one; `llm deny`
  withdraws it).
- **Environment**: `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `MAGICMARKUP_<SETTING>`: yours, applied
  last.

`Settings.source(name)` says where each value came from, so `llm status` and the retag note can
say which endpoint is used and who configured it.

The API key is only ever read into memory: it is a `SecretStr`, excluded from every dump, so it
cannot reach the store, the cache or a log.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from magicmarkup.errors import ConfigError
from magicmarkup.safeio import KiB, check_inside, read_regular

CONFIG_FILE = "config.toml"
CONFIG_LIMIT = 256 * KiB
CONFIG_DIR_ENV = "MAGICMARKUP_CONFIG_DIR"
ALLOWED_DIR = "allowed"

# Names of the local models a repository may pick by name (kept here, not imported from
# magicmarkup.agent.models, so loading settings never imports the LLM client; a test checks the
# two lists agree).
LOCAL_MODEL_NAMES = frozenset({"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"})

#: What a repository's own `.magicmarkup/config.toml` may set without the user's approval.
#: Everything else (endpoint, key, remote model, paths, future settings) is user-only.
REPO_SETTINGS: frozenset[str] = frozenset(
    {
        "review_threshold",
        "orphan_threshold",
        "llm",
        "llm_threshold",
        "temperature",
        "concurrency",
        "timeout",
        "retries",
        "server_threads",
        "llm_cache",
        "local_model",  # only a name from LOCAL_MODEL_NAMES, never a path
    }
)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Re-anchoring
    review_threshold: float = Field(0.75, ge=0, le=1, description="below: needs_review")
    orphan_threshold: float = Field(0.45, ge=0, le=1, description="below: orphaned")
    # The LLM
    llm: bool = Field(True, description="use the LLM stage at all")
    llm_threshold: float = Field(0.9, ge=0, le=1, description="ask the model below this")
    base_url: str | None = None
    api_key: SecretStr | None = Field(None, exclude=True, repr=False)
    model: str = "local"
    local_model: str = "qwen2.5-coder-1.5b"
    temperature: float = Field(0.0, ge=0, le=2)
    concurrency: int = Field(4, ge=1, le=256)
    timeout: float = Field(60.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    server_threads: int = Field(2, ge=1, le=256, description="CPU threads of the local model server")
    llm_cache: bool = Field(True, description="reuse cached model answers (keyed by the request)")
    cache_dir: str | None = Field(None, description="user cache (models, logs); default: platformdirs")

    # Where each non-default value came from, and what a repository config tried but may not set.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _ignored: list[str] = PrivateAttr(default_factory=list)

    def source(self, name: str) -> str:
        """Where setting `name` came from: "default", "environment (VAR)", or a config file
        ("/path/config.toml", with " (repository, allowed by you)" for an approved repo file)."""
        return self._sources.get(name, "default")

    @property
    def ignored(self) -> list[str]:
        """Warnings about repository settings that were ignored (empty when none)."""
        return list(self._ignored)


# env var -> setting name. OPENAI_* are honoured as the OpenAI client itself does.
ENV_VARS: dict[str, str] = {
    "OPENAI_BASE_URL": "base_url",
    "OPENAI_API_KEY": "api_key",
    **{f"MAGICMARKUP_{name.upper()}": name for name in Settings.model_fields},
}


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's own magicmarkup config dir (never inside a repository)."""
    environ = os.environ if env is None else env
    override = environ.get(CONFIG_DIR_ENV, "")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("magicmarkup"))


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    return user_config_dir(env) / CONFIG_FILE


@dataclass(frozen=True)
class RepoConfig:
    """A repository's config file as read once: its real path, content hash and approval."""

    path: Path  # the real path (inside the repository, checked)
    data: bytes
    sha256: str
    allowed: bool


def _approval_key(real_path: Path, digest: str) -> str:
    return hashlib.sha256(f"{real_path}\0{digest}".encode()).hexdigest()


def read_repo_config(store_dir: Path, env: Mapping[str, str] | None = None) -> RepoConfig | None:
    """The repository's `config.toml` (None when absent): a regular file inside the repository
    (no symbolic link out of it), at most CONFIG_LIMIT bytes, with whether the user approved it."""
    file = store_dir / CONFIG_FILE
    if not os.path.lexists(file):
        return None
    root = store_dir.parent
    real = check_inside(root, file, label=str(file), error=ConfigError)
    data = read_regular(real, CONFIG_LIMIT, follow_symlinks=False, label=str(file), error=ConfigError)
    digest = hashlib.sha256(data).hexdigest()
    marker = user_config_dir(env) / ALLOWED_DIR / _approval_key(real, digest)
    return RepoConfig(real, data, digest, marker.is_file())


def allow_repo_config(store_dir: Path, env: Mapping[str, str] | None = None) -> RepoConfig:
    """Remember that the user trusts this repository's config file, as it is now."""
    config = read_repo_config(store_dir, env)
    if config is None:
        raise ConfigError(f"{store_dir / CONFIG_FILE}: no such file (nothing to allow)")
    parse_config(config.data, config.path)  # approve only a file that can be used
    deny_repo_config(store_dir, env)  # one approval per file: the content approved last
    folder = user_config_dir(env) / ALLOWED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / _approval_key(config.path, config.sha256)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(f"{config.path}\n{config.sha256}\n", encoding="utf-8")
    os.replace(tmp, marker)
    return RepoConfig(config.path, config.data, config.sha256, True)


def deny_repo_config(store_dir: Path, env: Mapping[str, str] | None = None) -> int:
    """Forget every approval of this repository's config file (any content); returns how many."""
    real = Path(os.path.realpath(store_dir / CONFIG_FILE))
    folder = user_config_dir(env) / ALLOWED_DIR
    removed = 0
    if folder.is_dir():
        for marker in folder.iterdir():
            try:
                first = marker.read_text(encoding="utf-8").split("\n", 1)[0]
            except (OSError, UnicodeDecodeError):
                continue
            if first == str(real):
                marker.unlink(missing_ok=True)
                removed += 1
    return removed


def parse_config(data: bytes, file: Path) -> dict[str, Any]:
    """The `[magicmarkup]` table (or the top level) of a config file's bytes; ConfigError if invalid."""
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: invalid TOML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise ConfigError(f"{file}: invalid TOML (nested too deeply)") from None
    section = parsed.get("magicmarkup", parsed)
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: [magicmarkup] must be a table")
    return section


def repo_may_set(name: str, value: object) -> bool:
    """Whether an unapproved repository config may set `name` to `value`."""
    if name not in REPO_SETTINGS:
        return False
    if name == "local_model":
        return isinstance(value, str) and value.lower() in LOCAL_MODEL_NAMES
    return True


def setting_problem(name: str, value: object) -> str | None:
    """Why `name = value` is not a valid setting (one short phrase), or None if it is."""
    if name not in Settings.model_fields:
        return "unknown setting"
    try:
        Settings.model_validate({name: value})
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
    except (RecursionError, TypeError, ValueError) as exc:
        return type(exc).__name__
    return None


_warned: set[str] = set()


def _warn_stderr(line: str) -> None:
    """Print each warning once per process (settings are loaded more than once by some commands)."""
    if line in _warned:
        return
    _warned.add(line)
    from magicmarkup.positions import printable  # a hostile key may hold terminal escapes

    print(f"magicmarkup: warning: {printable(line, keep_newlines=False)}", file=sys.stderr, flush=True)


def load_settings(
    store_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    warn: Callable[[str], None] | None = _warn_stderr,
) -> Settings:
    """Settings for a store (or none), layered as the module docstring says.

    `env` replaces os.environ (tests); `warn` receives the one-line warning about ignored
    repository settings (default: printed once to stderr; None: silent, still in `.ignored`).
    """
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    ignored: list[str] = []
    user_file = user_config_file(environ)
    if user_file.is_file():
        data = read_regular(user_file, CONFIG_LIMIT, follow_symlinks=True, error=ConfigError)
        for name, value in parse_config(data, user_file).items():
            values[name] = value
            sources[name] = str(user_file)
    repo_file: Path | None = None

    def note(line: str) -> None:
        ignored.append(line)
        if warn is not None:
            warn(line)

    if store_dir is not None:
        repo_file = store_dir / CONFIG_FILE
        # The repository's file comes with every clone: whatever is wrong with it (unreadable,
        # not TOML, a value out of range, a setting this version does not know) is named in one
        # warning and ignored, never a reason for the tool (or the pre-commit re-pin) to stop.
        try:
            repo = read_repo_config(store_dir, environ)
            table = parse_config(repo.data, repo_file) if repo is not None else {}
        except ConfigError as exc:
            note(f"{exc}; the file is ignored")
            repo, table = None, {}
        if repo is not None:
            where = str(repo_file) + (" (repository, allowed by you)" if repo.allowed else " (repository)")
            refused: list[str] = []
            bad: list[str] = []
            for name, value in table.items():
                problem = setting_problem(name, value)
                if problem is not None:
                    bad.append(f"{name} ({problem})")
                elif repo.allowed or repo_may_set(name, value):
                    values[name] = value
                    sources[name] = where
                else:
                    refused.append(name if name != "local_model" else "local_model (a path)")
            if bad:
                note(f"{repo_file}: ignoring {'; '.join(bad)}: the defaults are used instead")
            if refused:
                note(
                    f"{repo_file}: ignoring {', '.join(refused)}: a repository's config may not choose "
                    "the LLM endpoint, API key, remote model or paths; set them in "
                    f"{user_file} or the environment, or trust this file with `magicmarkup llm allow`"
                )
    for var, name in ENV_VARS.items():
        if var in environ and environ[var] != "":
            values[name] = environ[var]
            sources[name] = f"environment ({var})"
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where_name = ".".join(str(p) for p in err["loc"])
        source = sources.get(where_name) or (str(repo_file) if repo_file else "environment")
        raise ConfigError(f"{source}: setting {where_name}: {err['msg']}") from None
    settings._sources = sources
    settings._ignored = ignored
    return settings
