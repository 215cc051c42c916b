"""llama.cpp's OpenAI-compatible server (`xllamacpp`) on 127.0.0.1, for as long as a command needs it.

`xllamacpp.Server` has no stop method: it stops only when the object is garbage-collected, and its
C++ threads write their logs straight to the process's stderr. So the server runs in a child
process (`python -m magicmarkup.agent.server`): its logs go to a file, it can be stopped for sure,
and it exits by itself when its parent dies (it watches its stdin, which the parent holds open).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from magicmarkup.agent.models import cache_root
from magicmarkup.errors import MagicMarkupError

DEFAULT_ALIAS = "local"
CTX_PER_SLOT = 4096
START_TIMEOUT = 180.0


class ServerError(MagicMarkupError):
    """The local model server could not be started or does not answer."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    model: Path
    port: int = 0  # 0: any free port (the server reports which)
    threads: int = 2
    parallel: int = 2  # request slots served concurrently (continuous batching)
    ctx_per_slot: int = CTX_PER_SLOT
    alias: str = DEFAULT_ALIAS
    host: str = "127.0.0.1"

    def args(self) -> list[str]:
        return [
            "--model",
            str(self.model),
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--parallel",
            str(self.parallel),
            "--ctx",
            str(self.ctx_per_slot),
            "--alias",
            self.alias,
            "--host",
            self.host,
        ]


def probe(base_url: str, timeout: float = 3.0) -> bool:
    """Whether an OpenAI-compatible server answers `GET {base_url}/models`."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def xllamacpp_available() -> bool:
    """Whether xllamacpp is installed (found, not imported: importing it loads llama.cpp, which a
    run that never asks the model should not pay for)."""
    import importlib.util

    try:
        return importlib.util.find_spec("xllamacpp") is not None
    except (ImportError, ValueError):
        return False


class LocalServer:
    """A context manager: start the child server, wait until `/v1/models` answers, stop it after."""

    def __init__(self, config: ServerConfig, log_path: Path | None = None, quiet: bool = True) -> None:
        self.config = config
        self.url = ""  # http://127.0.0.1:PORT (no /v1)
        self._proc: subprocess.Popen[str] | None = None
        self._quiet = quiet
        self._own_log = log_path is None
        self.log_path = log_path or self._new_log()

    @staticmethod
    def _new_log() -> Path:
        logs = cache_root() / "logs"
        try:
            logs.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log", dir=logs)
        except OSError:
            fd, name = tempfile.mkstemp(prefix="mm-llama-server-", suffix=".log")
        os.close(fd)
        return Path(name)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> LocalServer:
        if not xllamacpp_available():
            raise ServerError("the local model server needs xllamacpp: pip install 'magicmarkup[local]'")
        if not self.config.model.is_file():
            raise ServerError(f"{self.config.model}: no such model file")
        cmd = [sys.executable, "-m", "magicmarkup.agent.server", "--child", *self.config.args()]
        log = self.log_path.open("w", encoding="utf-8") if self._quiet else None
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log if log is not None else None,
                text=True,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop the child
            )
        finally:
            if log is not None:
                log.close()
        self.url = self._read_address(START_TIMEOUT)
        self._wait_ready(30.0)
        return self

    def _read_address(self, timeout: float) -> str:
        """The child's first JSON line on stdout names its address (other output is skipped)."""
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        found: list[str] = []

        def read() -> None:
            for raw in stdout:
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(data, dict) and "url" in data:
                    found.append(str(data["url"]).rstrip("/"))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            self.stop()
            raise ServerError(
                f"{self.config.model.name}: the local server did not start ({self._last_log_line()})"
            )
        return found[0]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            if probe(self.base_url, 2.0):
                return
            last = "no answer"
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.url}: the local server does not answer /v1/models ({last or 'exited'})")

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        errors = [ln for ln in lines if " E " in ln or "error" in ln.lower()]
        return (errors or lines or ["no log"])[-1].strip()[:200]

    def wait(self) -> int:
        assert self._proc is not None
        return self._proc.wait()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()  # the child exits on EOF
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        if self._own_log and proc.returncode in (0, -signal.SIGTERM):
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _serve_child(ns: argparse.Namespace) -> int:
    """In the child: start the server, report its address, and serve until stdin closes."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = ns.model
    params.hostnames = [ns.host]
    params.port = ns.port
    params.n_parallel = ns.parallel
    params.n_ctx = ns.ctx * ns.parallel
    params.n_gpu_layers = 0
    params.offline = True
    params.cpuparams.n_threads = ns.threads
    params.cpuparams_batch.n_threads = ns.threads
    params.model_alias = {ns.alias}
    server = xllamacpp.Server(params)
    address = server.listening_address
    if not address.startswith("http"):
        address = "http://" + address
    sys.stdout.write(json.dumps({"url": address}) + "\n")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while sys.stdin.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    del server
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m magicmarkup.agent.server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=CTX_PER_SLOT)
    parser.add_argument("--alias", default=DEFAULT_ALIAS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--child", action="store_true", help="internal: report the address on stdout")
    ns = parser.parse_args(argv)
    return _serve_child(ns)


if __name__ == "__main__":
    sys.exit(main())
