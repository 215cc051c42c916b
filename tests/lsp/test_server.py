"""`magicmarkup lsp` driven by a real LSP client over stdio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from magicmarkup.documents import text_hash
from magicmarkup.model import Status
from magicmarkup.store import Store
from magicmarkup.view import current
from tests.lsp.conftest import (
    change,
    command,
    diagnostics,
    eventually,
    hints,
    hover,
    lenses,
    make_repo,
    open_doc,
    start,
)

TAG_LINE = 5  # `    s = "😀"; return price * qty` (0-based)
TAG_COL16 = 14  # "return" in UTF-16 units (the emoji is two)
TAG_COL32 = 13  # ... and in code points


async def test_open_hover_hints_lenses_and_no_diagnostics(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    result = await start(client, root)
    assert result.capabilities.position_encoding == "utf-16"
    uri = await open_doc(client, root / "app.py")
    await client.wait_for_notification("textDocument/publishDiagnostics")
    assert diagnostics(client, uri) == []

    text = await hover(client, uri, TAG_LINE, TAG_COL16 + 2)
    assert text is not None and "why not Decimal?" in text and "`anchored`" in text and "1.00" in text
    assert await hover(client, uri, TAG_LINE, 4) is None  # `s = ...` is not tagged
    meta = await hover(client, uri, 8, 2)
    assert meta is not None and "unused?" in meta and "| author | ana |" in meta

    line5_end = len('    s = "😀"; return price * qty'.encode("utf-16-le")) // 2
    assert await hints(client, uri) == [
        (TAG_LINE, line5_end, "◆ why not Decimal?"),
        (8, len("def other():"), "◆ unused?"),
    ]
    assert await lenses(client, uri) == [(TAG_LINE, TAG_COL16, "◆ why not Decimal?"), (8, 0, "◆ unused?")]


async def test_utf32_is_preferred_when_offered(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    result = await start(client, root, encodings=["utf-8", "utf-32", "utf-16"])
    assert result.capabilities.position_encoding == "utf-32"
    uri = await open_doc(client, root / "app.py")
    assert [h[:2] for h in await lenses(client, uri)] == [(TAG_LINE, TAG_COL32), (8, 0)]
    # the character after the emoji is "just before" `return` in code points
    assert await hover(client, uri, TAG_LINE, TAG_COL32) is not None
    assert await hover(client, uri, TAG_LINE, TAG_COL32 - 2) is None


async def test_typing_above_inside_deleting_and_pasting_back(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    await start(client, root)
    uri = await open_doc(client, root / "app.py")
    await client.wait_for_notification("textDocument/publishDiagnostics")

    # two lines typed above the tag: it moves down with the code, at once
    change(client, uri, 2, (0, 0), (0, 0), "# one\n# two\n")
    assert await hover(client, uri, TAG_LINE + 2, TAG_COL16 + 1) is not None
    assert await hover(client, uri, TAG_LINE, TAG_COL16 + 1) is None
    assert [h[:2] for h in await lenses(client, uri)] == [(TAG_LINE + 2, TAG_COL16), (10, 0)]
    moved = await hover(client, uri, TAG_LINE + 2, TAG_COL16 + 1)
    assert moved is not None and "`moved`" in moved

    # typing inside the tag grows it; its status says the code changed
    col = TAG_COL16 + len("return price")
    change(client, uri, 3, (TAG_LINE + 2, col), (TAG_LINE + 2, col), " * 2")
    grown = await hover(client, uri, TAG_LINE + 2, TAG_COL16 + len("return price * 2 * qty") - 1)
    assert grown is not None and "`changed`" in grown
    (start_line, start_col, _), _second = await lenses(client, uri)
    assert (start_line, start_col) == (TAG_LINE + 2, TAG_COL16)

    # deleting the whole function loses the tag: orphaned after the cascade, with a diagnostic
    change(client, uri, 4, (5, 0), (9, 0), "")  # lines 5-8: `def total` .. blank line
    await eventually(lambda: _diag_codes(client, uri), lambda codes: codes == ["orphaned"])
    (orphan,) = diagnostics(client, uri)
    assert orphan.severity == lsp.DiagnosticSeverity.Information
    assert "why not Decimal?" in orphan.message and "orphaned" in orphan.message
    assert "unused?" in (await hover(client, uri, 6, 2) or "")  # the other tag moved up exactly

    # pasting the function back below: the cascade finds it again
    pasted = 'def total(price, qty):\n    """Sum it up."""\n    s = "😀"; return price * qty\n\n\n'
    change(client, uri, 5, (9, 0), (9, 0), "\n\n" + pasted)
    await eventually(lambda: _diag_codes(client, uri), lambda codes: codes == [])
    assert diagnostics(client, uri) == []
    back = await hover(client, uri, 12, TAG_COL16 + 1)
    assert back is not None and "why not Decimal?" in back and "`moved`" in back

    # the shared store was never written by typing
    assert (root / "app.py").read_text(encoding="utf-8").startswith("import os")
    assert (
        subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
        == ""
    )


async def _diag_codes(client: LanguageClient, uri: str) -> list[str]:
    return [str(d.code) for d in diagnostics(client, uri)]


async def test_full_document_changes_move_tags_too(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    await start(client, root)
    uri = await open_doc(client, root / "app.py")
    text = (root / "app.py").read_text(encoding="utf-8")
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text="# header\n" + text)],
        )
    )
    assert [h[:2] for h in await lenses(client, uri)] == [(TAG_LINE + 1, TAG_COL16), (9, 0)]
    # closing the buffer drops its state: nothing is shown for it any more
    client.text_document_did_close(
        lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )
    assert await hover(client, uri, TAG_LINE + 1, TAG_COL16 + 1) is None
    assert await lenses(client, uri) == []


async def test_save_refreshes_the_local_view(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    store, ids = make_repo(root)
    await start(client, root)
    uri = await open_doc(client, root / "app.py")
    change(client, uri, 2, (0, 0), (0, 0), "# new line\n")
    new_text = "# new line\n" + (root / "app.py").read_text(encoding="utf-8")
    (root / "app.py").write_text(new_text, encoding="utf-8")
    client.text_document_did_save(
        lsp.DidSaveTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )
    shown = await command(client, "magicmarkup.show", ids["why not Decimal?"])
    assert shown["range"]["start"] == {"line": TAG_LINE + 1, "character": TAG_COL16}
    # the server refreshed the local view (the cache every reader uses) for the saved text
    caches = [json.loads(f.read_bytes()) for f in (store.local_dir / "view").glob("*.json")]
    assert [c.get("text") for c in caches if c.get("rel") == "app.py"] == [text_hash(new_text)]
    view = current(Store(root), ["app.py"])
    tag = next(t for t in view.tags if t.id == ids["why not Decimal?"])
    assert new_text[tag.span.start : tag.span.end] == "return price * qty" and tag.status is Status.MOVED
    assert (store.local_dir / "view").is_dir()


async def test_a_cli_add_while_the_server_runs_shows_up(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    await start(client, root)
    uri = await open_doc(client, root / "app.py")
    assert await hover(client, uri, 0, 2) is None
    subprocess.run(
        [
            sys.executable,
            "-m",
            "magicmarkup",
            "add",
            "app.py",
            "--match",
            "import os",
            "--note",
            "from the CLI",
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    text = await eventually(lambda: hover(client, uri, 0, 2), lambda t: t is not None)
    assert text is not None and "from the CLI" in text


async def test_actions_add_edit_accept_reattach_remove(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    store, ids = make_repo(root)
    app = root / "app.py"
    app.write_text("# header\n" + app.read_text(encoding="utf-8"), encoding="utf-8")  # not the pinned text
    await start(client, root)
    uri = await open_doc(client, root / "app.py")

    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(lsp.Position(1, 0), lsp.Position(1, 9)),
            context=lsp.CodeActionContext(diagnostics=[]),
        )
    )
    titles = [a.title for a in actions or []]  # (the client may read them as commands)
    assert "Magic Markup: add a tag to the selection" in titles

    sel = {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 9}}
    added = await command(client, "magicmarkup.add", uri, sel, "imports")
    assert added["start"] == 9 and added["end"] == 18
    assert "imports" in (await hover(client, uri, 1, 3) or "")

    at = await command(client, "magicmarkup.tagAt", uri, {"line": 1, "character": 4})
    assert at["id"] == added["id"] and at["note"] == "imports"
    assert await command(client, "magicmarkup.tagAt", uri, {"line": 3, "character": 0}) is None
    assert (
        await command(client, "magicmarkup.edit", added["id"]) is None
    )  # no note: says how, changes nothing
    assert any("second argument" in m.message for m in client.messages)
    await command(client, "magicmarkup.edit", added["id"], "the imports")
    assert "the imports" in (await hover(client, uri, 1, 3) or "")

    # a guess to review: diagnostics, then accepted through the library
    with store.edit("app.py") as tags:
        guess = next(t for t in tags if t.id == ids["unused?"])
        guess.status, guess.confidence = Status.NEEDS_REVIEW, 0.4
    codes = await eventually(lambda: _diag_codes(client, uri), lambda c: c == ["needs_review"])
    assert codes == ["needs_review"]
    accepted = await command(client, "magicmarkup.accept", ids["unused?"])
    assert accepted["status"] == "anchored"
    assert await eventually(lambda: _diag_codes(client, uri), lambda c: c == []) == []

    # re-attach with unsaved changes is refused with save-first guidance
    change(client, uri, 2, (0, 0), (0, 0), "# dirty\n")
    with pytest.raises(Exception, match="unsaved changes: save it first"):
        await command(client, "magicmarkup.reattach", ids["unused?"], uri, sel)
    change(client, uri, 3, (0, 0), (1, 0), "")  # undone: the buffer is the file again
    moved = await command(client, "magicmarkup.reattach", ids["unused?"], uri, sel)
    assert (moved["start"], moved["end"]) == (9, 18)
    assert "unused?" in (await hover(client, uri, 1, 3) or "")

    removed = await command(client, "magicmarkup.remove", added["id"])
    assert removed["removed"] is True
    assert [t.id for t in Store(root).load("app.py")].count(added["id"]) == 0
    # the re-attach, logged (pending under the git dir until a commit shares it)
    [kept] = [t for t in Store(root).load("app.py") if t.id == ids["unused?"]]
    assert "manual" in [e.method for e in kept.history]

    report = await command(client, "magicmarkup.retag", uri)
    assert report["tags"] == 2


async def test_symbols(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    (root / "b.py").write_text("x = 1\n", encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "magicmarkup",
            "add",
            "b.py",
            "--match",
            "x = 1",
            "--note",
            "Decimal elsewhere",
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    await start(client, root)
    uri = await open_doc(client, root / "app.py")
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )
    assert [(s.name, s.range.start.line) for s in symbols or [] if isinstance(s, lsp.DocumentSymbol)] == [
        ("why not Decimal?", TAG_LINE),
        ("unused?", 8),
    ]
    found = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="decimal"))
    names = sorted((s.name, Path(s.location.uri).name) for s in found or [])  # type: ignore[union-attr]
    assert names == [("Decimal elsewhere", "b.py"), ("why not Decimal?", "app.py")]


async def test_bad_inputs_never_crash_the_server(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    plain = tmp_path / "plain"  # a workspace folder in no git repository and with no store
    plain.mkdir()
    await start(client, root, more=[plain])
    # a file outside the workspace: no tags
    outside = tmp_path / "elsewhere" / "app.py"
    outside.parent.mkdir()
    outside.write_text((root / "app.py").read_text(encoding="utf-8"), encoding="utf-8")
    out_uri = await open_doc(client, outside)
    assert await hover(client, out_uri, TAG_LINE, TAG_COL16 + 1) is None
    assert await lenses(client, out_uri) == []
    # a document in no git repository and no store: no tags, and actions say why
    (plain / "lib.py").write_text("x = 1\n", encoding="utf-8")
    plain_uri = await open_doc(client, plain / "lib.py")
    assert await hover(client, plain_uri, 0, 0) is None
    assert await lenses(client, plain_uri) == []
    with pytest.raises(Exception, match=r"no \.magicmarkup/ store"):
        await command(
            client,
            "magicmarkup.add",
            plain_uri,
            {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 5}},
            "n",
        )
    # a non-file uri
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri="untitled:1", language_id="python", version=1, text="x")
        )
    )
    assert await hover(client, "untitled:1", 0, 0) is None
    # a file not UTF-8 on disk (the buffer is whatever the editor decoded it as)
    (root / "latin.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    latin_uri = await open_doc(client, root / "latin.py", text="x = 'café'\n")
    with pytest.raises(Exception, match=r"not UTF-8|cannot read"):
        await command(
            client,
            "magicmarkup.add",
            latin_uri,
            {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 5}},
            "n",
        )
    # a lone surrogate in the buffer, a stale version, an unknown tag id, bad arguments
    uri = await open_doc(client, root / "app.py")
    change(client, uri, 2, (0, 0), (0, 0), "\ud800\n")
    change(client, uri, 2, (0, 0), (1, 0), "")  # stale: version 2 again
    with pytest.raises(Exception, match=r"(?i)no such tag|not found|no tag"):
        await command(client, "magicmarkup.remove", "zzzzzzzzzzzz")
    with pytest.raises(Exception, match="must be"):
        await command(client, "magicmarkup.add", 42)
    # the server is still answering, and the stale change was resynchronised
    text = await hover(client, uri, TAG_LINE, TAG_COL16 + 1)
    assert text is not None and "why not Decimal?" in text


async def test_a_renamed_file_keeps_its_tags(client: LanguageClient, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    subprocess.run(["git", "mv", "app.py", "moved.py"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "rename"], cwd=root, check=True)
    await start(client, root)
    uri = await open_doc(client, root / "moved.py")
    text = await hover(client, uri, TAG_LINE, TAG_COL16 + 1)
    assert text is not None and "why not Decimal?" in text and "`moved`" in text
