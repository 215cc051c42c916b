"""Speed of `magicmarkup lsp` (`python -m benchmark_gen.perf_lsp`).

Prints figures, never asserts them:

- keystroke: time from a `didChange` to updated tag positions, for 1,000 tags in a 5,000-line
  file (real standard-library code), typing at random places (characters, newlines,
  backspaces). Measured three ways: the tracking core alone (position conversion, buffer edit,
  every span moved); the server's whole `didChange` handler in process (the same, plus the
  diagnostics it recomputes); and over stdio against the real server process (a `didChange`
  then a hover on a tag below the edit, minus a hover alone);
- start: a real server process started, initialized, a file opened and its first hover
  answered, in a repository of 5,000 tags (200 files; every file edited since the tags were
  pinned, so opening one runs the cascade).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from benchmark_gen.perf import random_spans, stdlib_text
from benchmark_gen.perf_git import _git, build_repo
from magicmarkup.documents import language_for
from magicmarkup.lsp.tracking import UTF16, Buffer, Tracker
from magicmarkup.model import Span, Tag
from magicmarkup.store import Store
from magicmarkup.tags import make_anchor


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(_pct(ms, 0.95), 3),
        "max_ms": round(max(ms), 3),
        "n": len(ms),
    }


def keystrokes(text: str, n: int, seed: int) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
    """`n` keystrokes as LSP changes (utf-16 positions) against the evolving text."""
    rng = random.Random(seed)
    buf = Buffer(text, UTF16)
    out = []
    for _ in range(n):
        line = rng.randrange(buf.line_count)
        width = buf.position(buf.line_end(line))[1]
        col = rng.randint(0, width)
        roll = rng.random()
        if roll < 0.8:
            change = ((line, col), (line, col), rng.choice("abcdefgh ()=_"))
        elif roll < 0.9:
            change = ((line, col), (line, col), "\n")
        else:
            change = ((line, max(0, col - 1)), (line, col), "")
        buf.apply(*change)
        out.append(change)
    return out


def bench_tracking(text: str, spans: list[tuple[int, int]], n: int) -> dict[str, Any]:
    changes = keystrokes(text, n, seed=2)
    buf = Buffer(text, UTF16)
    tracker = Tracker((str(i), s, e) for i, (s, e) in enumerate(spans))
    times = []
    for start, end, new in changes:
        t0 = time.perf_counter()
        tracker.apply(buf.apply(start, end, new))
        times.append((time.perf_counter() - t0) * 1000)
    return _summary(times)


def build_one_file_repo(root: Path, lines: int, tags: int) -> tuple[str, list[tuple[int, int]]]:
    """A committed repository with one file of `lines` lines holding `tags` tags."""
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    text = stdlib_text(lines)
    (root / "big.py").write_text(text, encoding="utf-8")
    spans = random_spans(text, tags, seed=1)
    store = Store.init(root)
    with store.locked():
        sha = store.put_snapshot(text)
        made = [
            Tag(
                path="big.py",
                span=Span(start=s, end=e),
                anchor=make_anchor(text, s, e, language_for("big.py"), sha),
                metadata={"note": f"note {i}"},
            )
            for i, (s, e) in enumerate(spans)
        ]
        store.save("big.py", made)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    return text, spans


def bench_handler(root: Path, text: str, n: int) -> dict[str, Any]:
    """The server's didChange handler in process (diagnostics computed, not sent; inside an
    event loop, so a lost tag's cascade is scheduled after the pause, as in the server)."""
    return asyncio.run(_bench_handler(root, text, n))


async def _bench_handler(root: Path, text: str, n: int) -> dict[str, Any]:
    from magicmarkup.lsp.features import create_server

    server = create_server()
    server.roots = [root]
    server.text_document_publish_diagnostics = lambda params: None  # type: ignore[method-assign]
    uri = (root / "big.py").as_uri()
    t0 = time.perf_counter()
    server.open(uri, 1, text)
    open_s = time.perf_counter() - t0
    handler = server.protocol.fm.features[lsp.TEXT_DOCUMENT_DID_CHANGE]
    times = []
    for version, (start, end, new) in enumerate(keystrokes(text, n, seed=3), start=2):
        params = lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(lsp.Position(*start), lsp.Position(*end)), text=new
                )
            ],
        )
        t0 = time.perf_counter()
        handler(params)
        times.append((time.perf_counter() - t0) * 1000)
    doc = server.docs[uri]
    if doc.cascade is not None:
        doc.cascade.cancel()
    return {"open_1000_tags_s": round(open_s, 3), **_summary(times)}


async def _client(root: Path) -> Any:
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("perf", "1")

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        pass

    await client.start_io(sys.executable, "-m", "magicmarkup", "lsp", "--poll", "0")
    await client.initialize_async(
        lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(
                general=lsp.GeneralClientCapabilities(position_encodings=["utf-16"])
            ),
            root_uri=root.as_uri(),
        )
    )
    client.initialized(lsp.InitializedParams())
    return client


def _open(client: Any, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    return uri


async def _hover(client: Any, uri: str, line: int, col: int) -> Any:
    return await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line, col))
    )


async def bench_stdio(root: Path, text: str, spans: list[tuple[int, int]], n: int) -> dict[str, Any]:
    client = await _client(root)
    try:
        uri = _open(client, root / "big.py", text)
        # hover on the last tag of the file, followed on the client side as the text changes
        target = max(spans)
        buf = Buffer(text, UTF16)
        mirror = Tracker([("t", *target)])
        await _hover(client, uri, 0, 0)  # wait for the open to be done
        base = []
        for _ in range(50):
            t0 = time.perf_counter()
            await _hover(client, uri, *buf.position(target[0]))
            base.append((time.perf_counter() - t0) * 1000)
        times = []
        hits = 0
        for version, (start, end, new) in enumerate(keystrokes(text, n, seed=4), start=2):
            mirror.apply(buf.apply(start, end, new))
            where = buf.position(mirror.spans["t"][0]) if "t" in mirror.spans else (0, 0)
            t0 = time.perf_counter()
            client.text_document_did_change(
                lsp.DidChangeTextDocumentParams(
                    text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        lsp.TextDocumentContentChangePartial(
                            range=lsp.Range(lsp.Position(*start), lsp.Position(*end)), text=new
                        )
                    ],
                )
            )
            hits += await _hover(client, uri, *where) is not None
            times.append((time.perf_counter() - t0) * 1000)
        hover_only = statistics.median(base)
        return {
            "hover_on_a_tag_p50_ms": round(hover_only, 3),
            "change_plus_hover": _summary(times),
            "change_minus_hover_p95_ms": round(_pct(times, 0.95) - hover_only, 3),
            "hovers_that_found_the_tag": f"{hits}/{len(times)}",
        }
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()


async def bench_start(root: Path) -> dict[str, Any]:
    path = root / "pkg" / "mod000.py"
    text = path.read_text(encoding="utf-8")
    needle = "    total = x * 1 + y"
    line = text[: text.index(needle)].count("\n")
    t0 = time.perf_counter()
    client = await _client(root)
    t_init = time.perf_counter() - t0
    try:
        uri = _open(client, path, text)
        result = await _hover(client, uri, line, 6)
        t_hover = time.perf_counter() - t0
        ok = result is not None
        t1 = time.perf_counter()
        symbols = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query=""))
        t_symbols = time.perf_counter() - t1
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return {
        "initialized_s": round(t_init, 3),
        "first_hover_s": round(t_hover, 3),
        "hover_found_the_tag": ok,
        "workspace_symbols_all_s": round(t_symbols, 3),
        "workspace_symbols": len(symbols or []),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=1000, help="keystrokes per measurement")
    parser.add_argument("--repo-tags", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"lines": args.lines, "tags": args.tags}
    with tempfile.TemporaryDirectory(prefix="mm-perf-lsp-") as tmp:
        root = Path(tmp) / "one"
        text, spans = build_one_file_repo(root, args.lines, args.tags)
        out["tracking_core"] = bench_tracking(text, spans, args.keys)
        out["didchange_handler"] = bench_handler(root, text, args.keys)
        out["stdio"] = asyncio.run(bench_stdio(root, text, spans, min(args.keys, 300)))
        big = Path(tmp) / "many"
        t0 = time.perf_counter()
        build_repo(big, files=200, tags=args.repo_tags)
        out["repo_build_s"] = round(time.perf_counter() - t0, 1)
        out["start_to_first_hover"] = asyncio.run(bench_start(big))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key}: {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
