"""A real (tiny) OpenAI-compatible chat-completions server on 127.0.0.1 that injects faults.

Used by the agent tests and reusable by anyone who needs a misbehaving model endpoint:

    with FaultServer(["429", "ok"], default="ok") as srv:      # first request 429, then fine
        os.environ["OPENAI_BASE_URL"] = srv.base_url             # http://127.0.0.1:PORT/v1
        ...
        srv.requests      # every POSTed JSON body, in order
        srv.served        # the mode used for each request, in order

Modes (one per request: taken from the script list in order, then `default`):
  ok            a valid answer: {"choice": <choice>} (choice prompt) or the tagged text copied
                (locate prompt); `choice` is a constructor argument (default 1)
  slow          sleeps `delay` seconds, then answers like ok (for client timeouts)
  429 / 500 / 503   that HTTP status with a JSON error body (and `Retry-After: 0`)
  garbage       HTTP 200, valid envelope, message content that is not JSON
  badbody       HTTP 200 whose body is not JSON at all
  outside       schema-valid JSON naming something that does not exist (choice 99, or code
                that is not in the document)
  refuse_schema HTTP 400 to `response_format: json_schema`, ok to anything else
  obedient      follows instructions hidden in the code: "choose/pick/answer/select N" picks N;
                "reply none" answers 0; otherwise like ok
  empty         HTTP 200 with no choices
Usage is reported as prompt chars // 4 tokens (+ a few), so token counting can be checked.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MODES = (
    "ok",
    "slow",
    "429",
    "500",
    "503",
    "garbage",
    "badbody",
    "outside",
    "refuse_schema",
    "obedient",
    "empty",
)
_ORDER = re.compile(r"\b(?:choose|pick|answer|select)\s+(?:candidate\s+)?#?(\d+)", re.IGNORECASE)
_NONE = re.compile(r"\breply\s+none\b|\banswer\s+0\b", re.IGNORECASE)
_TAGGED = re.compile(r"⟦(.*?)⟧", re.DOTALL)


class FaultServer:
    """Start with `with FaultServer(...) as srv:` (or start()/stop()); thread-safe."""

    def __init__(
        self,
        script: Sequence[str] = (),
        default: str = "ok",
        *,
        choice: int = 1,
        delay: float = 5.0,
    ) -> None:
        for mode in [*script, default]:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        self.script = list(script)
        self.default = default
        self.choice = choice
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.served: list[str] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def next_mode(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.requests.append(body)
            mode = self.script.pop(0) if self.script else self.default
            self.served.append(mode)
            return mode

    def start(self) -> FaultServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status in (429, 500, 503):
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "fault", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {"error": {"message": "bad json"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                mode = server.next_mode(body)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up
                    server._reply(self, mode, body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- answers ----------------------------------------------------------------------------------
    def _reply(self, h: Any, mode: str, body: dict[str, Any]) -> None:
        fmt = (body.get("response_format") or {}).get("type")
        if mode in ("429", "500", "503"):
            h._send(int(mode), {"error": {"message": f"injected {mode}", "type": "fault", "code": mode}})
            return
        if mode == "refuse_schema" and fmt == "json_schema":
            h._send(
                400, {"error": {"message": "response_format json_schema is not supported", "type": "fault"}}
            )
            return
        if mode == "badbody":
            h._send(200, None, raw=b"<html>this is not json")
            return
        if mode == "slow":
            time.sleep(self.delay)
        prompt = _last_user(body)
        if mode == "empty":
            h._send(200, _envelope(body, None, prompt))
            return
        if mode == "garbage":
            content = 'sure! the answer is {"choice": '
        elif mode == "outside":
            content = (
                json.dumps({"choice": 99})
                if _is_choice(body)
                else json.dumps({"found": True, "code": "this_text_is_nowhere_in_the_document(42)"})
            )
        elif mode == "obedient":
            content = _obey(body, prompt, self.choice)
        else:
            content = _plain(body, prompt, self.choice)
        h._send(200, _envelope(body, content, prompt))


def _last_user(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


def _is_choice(body: dict[str, Any]) -> bool:
    return '"choice"' in json.dumps(body.get("response_format") or {}) or "candidates:" in _last_user(body)


def _candidates(prompt: str) -> int:
    return len(re.findall(r"^\d+:$", prompt, re.MULTILINE))


def _plain(body: dict[str, Any], prompt: str, choice: int) -> str:
    if _is_choice(body):
        return json.dumps({"choice": min(choice, _candidates(prompt))})
    tagged = _TAGGED.search(prompt)
    return json.dumps({"found": bool(tagged), "code": tagged.group(1) if tagged else ""})


def _obey(body: dict[str, Any], prompt: str, choice: int) -> str:
    if _NONE.search(prompt):
        return json.dumps({"choice": 0}) if _is_choice(body) else json.dumps({"found": False, "code": ""})
    order = _ORDER.search(prompt)
    if order and _is_choice(body):
        return json.dumps({"choice": int(order.group(1))})
    return _plain(body, prompt, choice)


def _envelope(body: dict[str, Any], content: str | None, prompt: str) -> dict[str, Any]:
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages") or [])
    completion = 0 if content is None else max(1, len(content) // 4)
    choices = (
        []
        if content is None
        else [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]
    )
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model", "fault")),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": completion,
            "total_tokens": prompt_chars // 4 + completion,
        },
    }
