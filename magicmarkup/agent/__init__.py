"""The LLM stage of the cascade: which model to talk to, and a session that provides it.

Endpoint resolution (shared by the cascade and by other users of the model, e.g. the LLM-written
benchmark generator):
1. `base_url` / `OPENAI_BASE_URL` set: that OpenAI-compatible endpoint, model `settings.model`.
2. otherwise a pulled local model (`settings.local_model`: a name from `llm models`, or a .gguf
   path): llama.cpp's server is started on 127.0.0.1 for the duration and stopped after.
3. otherwise nothing (the caller runs the cheap stages only and says so once).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from magicmarkup.agent.models import MODELS, ModelError, resolve_model
from magicmarkup.agent.server import LocalServer, ServerConfig, ServerError, xllamacpp_available
from magicmarkup.anchoring.types import Resolver
from magicmarkup.config import Settings

if TYPE_CHECKING:  # the client is imported only when a request is about to be made
    import openai

__all__ = ["Endpoint", "EndpointPlan", "chat_endpoint", "llm_session", "plan_endpoint"]

LOCAL_API_KEY = "local-no-key"  # the local server checks no key; the client insists on one


@dataclass
class Endpoint:
    """A ready OpenAI-compatible endpoint. `identity` names the model behind it for caching
    (a local alias such as "local" says nothing about which GGUF answers)."""

    client: openai.OpenAI
    async_client: openai.AsyncOpenAI
    model: str
    description: str
    base_url: str = ""
    identity: str = ""
    local: bool = False

    def new_async_client(self, timeout: float, max_retries: int = 0) -> openai.AsyncOpenAI:
        """A fresh async client (one per event loop: an httpx pool cannot cross loops)."""
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.client.api_key, timeout=timeout, max_retries=max_retries
        )


@dataclass(frozen=True)
class EndpointPlan:
    """What would be used, before anything is started: for `llm status` and the session note."""

    kind: str  # "remote" | "local" | "none"
    base_url: str | None
    model: str
    model_path: Path | None
    note: str
    configured_by: str = "default"  # where the endpoint (or the local model) was configured


def plan_endpoint(settings: Settings) -> EndpointPlan:
    """Which endpoint the settings name, and who named it (nothing is started or called)."""
    if settings.base_url:
        where = settings.source("base_url")
        return EndpointPlan(
            "remote",
            settings.base_url,
            settings.model,
            None,
            f"LLM: model {settings.model!r} at {settings.base_url} (endpoint set by {where})",
            where,
        )
    where = settings.source("local_model")
    try:
        path = resolve_model(settings.local_model, settings.cache_dir)
    except ModelError as exc:
        return EndpointPlan("none", None, settings.local_model, None, f"LLM not available: {exc}", where)
    if path is None:
        hint = "" if settings.local_model in MODELS else f" {settings.local_model}"
        return EndpointPlan(
            "none",
            None,
            settings.local_model,
            None,
            f"no LLM endpoint configured and no local model: run `magicmarkup llm pull{hint}` "
            "or set OPENAI_BASE_URL (cheap stages only)",
            where,
        )
    if not xllamacpp_available():
        return EndpointPlan(
            "none",
            None,
            settings.local_model,
            path,
            "a local model is pulled but xllamacpp is missing: pip install 'magicmarkup[local]' "
            "(cheap stages only)",
            where,
        )
    return EndpointPlan(
        "local",
        None,
        settings.local_model,
        path,
        f"LLM: local {path.name} on 127.0.0.1, started when first needed ({settings.server_threads} "
        f"threads; no base_url set; local_model from {where})",
        where,
    )


def _clients(base_url: str, api_key: str, settings: Settings) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
    import openai

    common = {"base_url": base_url, "api_key": api_key, "timeout": settings.timeout, "max_retries": 0}
    return openai.OpenAI(**common), openai.AsyncOpenAI(**common)  # type: ignore[arg-type]


@contextmanager
def chat_endpoint(settings: Settings, store_dir: Path | None = None) -> Iterator[Endpoint | None]:
    """Yield an Endpoint (starting the local server if that is what is configured), or None.

    Ignores `settings.llm` (that switch is about the cascade; a caller asking for an endpoint
    wants one). Raises ServerError if a pulled local model cannot be served.
    """
    plan = plan_endpoint(settings)
    if plan.kind == "remote":
        assert plan.base_url is not None
        key = settings.api_key.get_secret_value() if settings.api_key is not None else LOCAL_API_KEY
        client, aclient = _clients(plan.base_url, key, settings)
        try:
            yield Endpoint(
                client,
                aclient,
                settings.model,
                plan.note.removeprefix("LLM: "),
                plan.base_url.rstrip("/"),
                f"remote:{plan.base_url.rstrip('/')}:{settings.model}",
            )
        finally:
            client.close()
        return
    if plan.kind == "none":
        yield None
        return
    assert plan.model_path is not None
    config = ServerConfig(
        plan.model_path, threads=settings.server_threads, parallel=min(settings.concurrency, 4)
    )
    with LocalServer(config) as server:
        client, aclient = _clients(server.base_url, LOCAL_API_KEY, settings)
        try:
            yield Endpoint(
                client,
                aclient,
                config.alias,
                f"local {plan.model_path.name} at {server.url}",
                server.base_url,
                f"local:{plan.model_path.name}",
                local=True,
            )
        finally:
            client.close()


@contextmanager
def llm_session(settings: Settings, store_dir: Path | None = None) -> Iterator[tuple[Resolver | None, str]]:
    """Yield (resolver or None, a one-line description of what is used and who configured it).

    Nothing is started or imported here: the resolver opens the endpoint (starting the local
    server, importing the client) on its first real query, so a run with no uncertain tag costs
    no more than `--no-llm`. A server started that way is stopped when the session ends."""
    if not settings.llm:
        yield None, "LLM stage off (llm = false): cheap stages only"
        return
    plan = plan_endpoint(settings)
    if plan.kind == "none":
        yield None, plan.note
        return
    from magicmarkup.agent.resolver import LLMResolver

    with ExitStack() as stack:

        def open_endpoint() -> Endpoint:
            endpoint = stack.enter_context(chat_endpoint(settings, store_dir))
            if endpoint is None:
                raise ServerError("no LLM endpoint is available")
            return endpoint

        yield LLMResolver(open_endpoint, settings, store_dir), plan.note
