"""The transport: chat completions through the `openai` package, with retries, JSON-constrained
output, token counting and an on-disk cache. It never raises for a model or network fault: it
returns a result with `error` set, so the cascade can fall back to its own answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicmarkup.agent.models import cache_root
from magicmarkup.errors import MagicMarkupError
from magicmarkup.safeio import MiB, check_inside, read_regular

if TYPE_CHECKING:  # imported when the first request is made (it takes ~0.3 s)
    import openai

CACHE_SUBDIR = Path("cache") / "llm"
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 30.0


@dataclass
class Counters:
    """What the model cost: shown by `retag`, the scorer and `llm status`."""

    calls: int = 0  # HTTP requests that got an answer (retries included)
    attempts: int = 0  # HTTP requests made, failed ones included
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    failures: int = 0  # requests given up on (after retries) or answers never valid
    invalid: int = 0  # answers that failed validation (each may be retried once)
    retries: int = 0
    schema_fallbacks: int = 0
    seconds: float = 0.0  # time spent waiting for answered requests

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class ChatResult:
    content: str | None = None
    tokens: int = 0
    calls: int = 0
    cached: bool = False
    error: str | None = None
    seconds: float = 0.0


CACHE_ENTRY_LIMIT = 1 * MiB


@dataclass
class ResponseCache:
    """Answers on disk, one JSON file per request hash. Only the answer and its token count are
    stored: never the API key, never the endpoint's credentials.

    In a store (`confine` = the repository root) the cache may come with a clone: entries are read
    only as regular files of at most CACHE_ENTRY_LIMIT, and nothing is read or written through a
    symbolic link leading out of the repository (such an entry is a cache miss)."""

    root: Path
    enabled: bool = True
    _warned: bool = field(default=False, repr=False)
    confine: Path | None = None

    @classmethod
    def for_store(
        cls, store_dir: Path | None, enabled: bool = True, cache_dir: str | None = None
    ) -> ResponseCache:
        if store_dir is not None:
            return cls(store_dir / CACHE_SUBDIR, enabled, confine=store_dir.parent)
        return cls(cache_root(cache_dir) / "llm", enabled)

    def _path(self, key: str) -> Path:
        path = self.root / key[:2] / f"{key}.json"
        if self.confine is not None:
            check_inside(self.confine, path)  # raises SafeIOError: a miss, or no write
        return path

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:
            raw = read_regular(self._path(key), CACHE_ENTRY_LIMIT, follow_symlinks=False)
            data = json.loads(raw.decode("utf-8"))
        except (MagicMarkupError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("content"), str) else None

    def put(self, key: str, content: str, tokens: int) -> None:
        if not self.enabled:
            return
        tmp = ""
        try:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path = self._path(key)  # again, now that the directories exist
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"content": content, "tokens": tokens, "time": time.time()}, fh)
            os.replace(tmp, path)
        except (OSError, MagicMarkupError):
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def request_key(identity: str, prompt_version: str, payload: dict[str, Any]) -> str:
    """sha256 over what determines the answer: the model, the prompt version and the request."""
    blob = json.dumps(
        {"model": identity, "prompt_version": prompt_version, "request": payload},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    if value is None:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        return None


class ChatClient:
    """One model behind one async client, shared by the concurrent requests of a resolve() call."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        identity: str,
        prompt_version: str,
        *,
        temperature: float = 0.0,
        retries: int = 2,
        timeout: float = 60.0,
        cache: ResponseCache | None = None,
        counters: Counters | None = None,
        backoff: float = 0.5,
    ) -> None:
        self.client = client
        self.model = model
        self.identity = identity
        self.prompt_version = prompt_version
        self.temperature = temperature
        self.retries = retries
        self.timeout = timeout
        self.cache = cache
        self.counters = counters or Counters()
        self.backoff = backoff
        self.schema_ok = True  # flips to False once the server refuses json_schema

    async def complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        schema_name: str,
        max_tokens: int,
        validate: Callable[[str], str | None],
    ) -> ChatResult:
        """Ask once (with retries for transport faults); `validate` returns an error message or
        None, and only valid answers are cached."""
        payload = {
            "messages": messages,
            "schema": schema,
            "temperature": self.temperature,
            "max_tokens": max_tokens,
        }
        key = request_key(self.identity, self.prompt_version, payload)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None and validate(hit["content"]) is None:
                self.counters.cache_hits += 1
                return ChatResult(hit["content"], 0, 0, cached=True)
        result = await self._ask(messages, schema, schema_name, max_tokens)
        if result.content is not None and self.cache is not None and validate(result.content) is None:
            self.cache.put(key, result.content, result.tokens)
        return result

    async def complete_logprobs(
        self, messages: list[dict[str, str]], top_k: int, validate: Callable[[str], str | None]
    ) -> ChatResult:
        """Ask for ONE token and return, as `content`, the JSON list of [token, logprob] pairs of
        its `top_logprobs` (the answer's probabilities, not its text). An answer without them is an
        error (`content` None); `validate` judges the list, and only valid lists are cached."""
        payload = {
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": 1,
            "top_logprobs": top_k,
        }
        key = request_key(self.identity, self.prompt_version, payload)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None and validate(hit["content"]) is None:
                self.counters.cache_hits += 1
                return ChatResult(hit["content"], 0, 0, cached=True)
        result = await self._ask(messages, {}, "", 1, top_logprobs=top_k)
        if result.content is not None and self.cache is not None and validate(result.content) is None:
            self.cache.put(key, result.content, result.tokens)
        return result

    async def _ask(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        name: str,
        max_tokens: int,
        top_logprobs: int | None = None,
    ) -> ChatResult:
        import asyncio

        import openai

        last = "no attempt"
        attempt = 0
        calls = 0
        while True:
            self.counters.attempts += 1
            began = time.perf_counter()
            use_schema = self.schema_ok
            fmt: dict[str, Any] = (
                {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}
                if use_schema
                else {"type": "json_object"}
            )
            delay: float | None = None
            extra: dict[str, Any] = (
                {"response_format": fmt}
                if top_logprobs is None
                else {"logprobs": True, "top_logprobs": top_logprobs}
            )
            try:
                resp = await self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=self.temperature,
                    max_tokens=max_tokens,
                    timeout=self.timeout,
                    **extra,
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if (
                    use_schema and top_logprobs is None
                ):  # the server refuses json_schema: json_object from now on
                    self.schema_ok = False
                    self.counters.schema_fallbacks += 1
                    continue
                last = f"HTTP {exc.status_code}: {_short(exc)}"
                break
            except openai.APITimeoutError:
                last = f"timed out after {self.timeout:g} s"
            except openai.APIConnectionError as exc:
                last = f"connection failed ({_short(exc)})"
            except (openai.RateLimitError, openai.InternalServerError) as exc:
                last = f"HTTP {exc.status_code}: {_short(exc)}"
                delay = _retry_after(exc)
            except openai.APIStatusError as exc:
                if exc.status_code in (408, 409) or exc.status_code >= 500:
                    last = f"HTTP {exc.status_code}: {_short(exc)}"
                    delay = _retry_after(exc)
                else:
                    last = f"HTTP {exc.status_code}: {_short(exc)}"
                    break
            except Exception as exc:  # a broken body, a client bug: never crash the run
                last = f"{type(exc).__name__}: {_short(exc)}"
                break
            else:
                seconds = time.perf_counter() - began
                calls += 1
                self.counters.calls += 1
                self.counters.seconds += seconds
                usage = getattr(resp, "usage", None)
                tokens = int(getattr(usage, "total_tokens", 0) or 0) if usage is not None else 0
                self.counters.tokens += tokens
                if usage is not None:
                    self.counters.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                    self.counters.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                choices = getattr(resp, "choices", None) or []
                if top_logprobs is not None:
                    content = _top_logprobs(choices)
                    if content is None:
                        self.counters.failures += 1
                        return ChatResult(
                            None, tokens, calls, error="no token probabilities", seconds=seconds
                        )
                    return ChatResult(content, tokens, calls, seconds=seconds)
                content = choices[0].message.content if choices and choices[0].message else None
                if not isinstance(content, str) or not content.strip():
                    self.counters.failures += 1
                    return ChatResult(None, tokens, calls, error="empty answer", seconds=seconds)
                return ChatResult(content, tokens, calls, seconds=seconds)
            if attempt >= self.retries:
                last = f"gave up after {attempt + 1} attempts: {last}"
                break
            attempt += 1
            self.counters.retries += 1
            wait = delay if delay is not None else min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
            await asyncio.sleep(wait * (0.75 + 0.5 * random.random()))
        self.counters.failures += 1
        return ChatResult(None, 0, calls, error=last)


def _top_logprobs(choices: list[Any]) -> str | None:
    """The first answer token's `top_logprobs` as a JSON list of [token, logprob] pairs, or None
    when the server sent none (a server without logprob support answers with text only)."""
    try:
        first = choices[0].logprobs.content[0]
        top = [[str(t.token), float(t.logprob)] for t in (first.top_logprobs or [])]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return json.dumps(top) if top else None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] + ("…" if len(text) > 160 else "")
