"""Settings, layered: defaults < `.magicmarkup/config.toml` < environment variables.

The API key is only ever read from the environment (or the file) into memory: it is a
`SecretStr`, excluded from every dump, so it cannot reach the store, the cache or a log.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from magicmarkup.errors import ConfigError

CONFIG_FILE = "config.toml"


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


# env var -> setting name. OPENAI_* are honoured as the OpenAI client itself does.
ENV_VARS: dict[str, str] = {
    "OPENAI_BASE_URL": "base_url",
    "OPENAI_API_KEY": "api_key",
    **{f"MAGICMARKUP_{name.upper()}": name for name in Settings.model_fields},
}


def load_settings(store_dir: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings for a store (or none), with the environment applied last."""
    values: dict[str, Any] = {}
    if store_dir is not None:
        file = store_dir / CONFIG_FILE
        if file.is_file():
            try:
                data = tomllib.loads(file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{file}: invalid TOML ({exc})") from None
            section = data.get("magicmarkup", data)
            if not isinstance(section, dict):
                raise ConfigError(f"{file}: [magicmarkup] must be a table")
            values.update(section)
    environ = os.environ if env is None else env
    for var, name in ENV_VARS.items():
        if var in environ and environ[var] != "":
            values[name] = environ[var]
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        source = store_dir / CONFIG_FILE if store_dir else "environment"
        raise ConfigError(f"{source}: setting {where}: {err['msg']}") from None
