"""A real client (pytest-lsp) driving the real `magicmarkup lsp` over stdio, in real temp git
repositories whose stores are made with the library."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from magicmarkup.store import Store
from magicmarkup.tags import add_tag
from tests.conftest import git

T = TypeVar("T")

SOURCE = '''import os


def total(price, qty):
    """Sum it up."""
    s = "😀"; return price * qty


def other():
    return os.getcwd()
'''

POLL = "0.2"


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "magicmarkup", "lsp", "--poll", POLL])
)
async def client(lsp_client: LanguageClient) -> Any:
    refreshes: list[str] = []

    @lsp_client.feature(lsp.WORKSPACE_INLAY_HINT_REFRESH)
    def inlay_refresh(params: None) -> None:
        refreshes.append("inlay")

    @lsp_client.feature(lsp.WORKSPACE_CODE_LENS_REFRESH)
    def lens_refresh(params: None) -> None:
        refreshes.append("lens")

    yield
    await lsp_client.shutdown_session()


def make_repo(root: Path, text: str = SOURCE, name: str = "app.py") -> tuple[Store, dict[str, str]]:
    """A git repository with `name` committed and two tags on it; returns the store and the
    tag ids by note."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / name).write_text(text, encoding="utf-8")
    store = Store.init(root)
    a = add_tag(store, name, match="return price * qty", note="why not Decimal?")
    b = add_tag(store, name, match="def other():", note="unused?", metadata={"author": "ana"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return store, {"why not Decimal?": a.id, "unused?": b.id}


def capabilities(encodings: list[str] | None = None) -> lsp.ClientCapabilities:
    return lsp.ClientCapabilities(
        general=lsp.GeneralClientCapabilities(position_encodings=encodings or ["utf-16"]),
        workspace=lsp.WorkspaceClientCapabilities(
            inlay_hint=lsp.InlayHintWorkspaceClientCapabilities(refresh_support=True),
            code_lens=lsp.CodeLensWorkspaceClientCapabilities(refresh_support=True),
        ),
        text_document=lsp.TextDocumentClientCapabilities(
            hover=lsp.HoverClientCapabilities(content_format=[lsp.MarkupKind.Markdown]),
        ),
    )


async def start(
    client: LanguageClient,
    root: Path,
    encodings: list[str] | None = None,
    debounce: float = 0.1,
    more: list[Path] | None = None,
) -> lsp.InitializeResult:
    return await client.initialize_session(
        lsp.InitializeParams(
            capabilities=capabilities(encodings),
            root_uri=root.as_uri(),
            workspace_folders=[
                lsp.WorkspaceFolder(uri=p.as_uri(), name=p.name) for p in [root, *(more or [])]
            ],
            initialization_options={"debounce": debounce, "pollInterval": float(POLL)},
        )
    )


async def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(
                uri=uri,
                language_id="python",
                version=1,
                text=path.read_text(encoding="utf-8") if text is None else text,
            )
        )
    )
    return uri


def change(
    client: LanguageClient, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str
) -> None:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(lsp.Position(*start), lsp.Position(*end)), text=text
                )
            ],
        )
    )


async def hover(client: LanguageClient, uri: str, line: int, character: int) -> str | None:
    result = await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line, character)
        )
    )
    if result is None:
        return None
    assert isinstance(result.contents, lsp.MarkupContent)
    return result.contents.value


async def hints(client: LanguageClient, uri: str) -> list[tuple[int, int, str]]:
    result = await client.text_document_inlay_hint_async(
        lsp.InlayHintParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(10_000, 0)),
        )
    )
    return [(h.position.line, h.position.character, str(h.label)) for h in result or []]


async def lenses(client: LanguageClient, uri: str) -> list[tuple[int, int, str]]:
    result = await client.text_document_code_lens_async(
        lsp.CodeLensParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )
    return [
        (c.range.start.line, c.range.start.character, c.command.title if c.command else "")
        for c in result or []
    ]


async def command(client: LanguageClient, name: str, *args: Any) -> Any:
    return await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=name, arguments=list(args))
    )


async def eventually(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 8.0, step: float = 0.05
) -> T:
    """Ask `probe` until `ok` says yes (the server works on its own schedule: debounce, polling)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if ok(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(step)


def diagnostics(client: LanguageClient, uri: str) -> list[lsp.Diagnostic]:
    return list(client.diagnostics.get(uri, []))
