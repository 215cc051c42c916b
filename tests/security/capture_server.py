"""A real HTTP server on 127.0.0.1 that records every request (method, path, headers, body) and
answers like a minimal OpenAI-compatible endpoint, so a test can see exactly what reached it:

    with CaptureServer() as srv:
        ...                      # point something at srv.base_url (http://127.0.0.1:PORT/v1)
        srv.requests             # [Captured(method, path, headers, body), ...]
        srv.saw("secret")        # whether the text appears anywhere in any request

It serves only loopback, a bounded number of requests (it is stopped by the `with`), and
never calls out.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: str

    def text(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n{self.body}"


class CaptureServer:
    MAX_BODY = 8 << 20

    def __init__(self, answer: str = '{"choice": 1}') -> None:
        self.answer = answer
        self.requests: list[Captured] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _record(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), owner.MAX_BODY)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                with owner._lock:
                    owner.requests.append(
                        Captured(
                            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                        )
                    )

            def _send(self, data: dict[str, object]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._record()
                self._send({"object": "list", "data": [{"id": "capture", "object": "model"}]})

            def do_POST(self) -> None:
                self._record()
                self._send(
                    {
                        "id": "cap-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "capture",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": owner.answer},
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                    }
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def saw(self, needle: str) -> bool:
        with self._lock:
            return any(needle in r.text() for r in self.requests)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
