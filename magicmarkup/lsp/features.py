"""The LSP features of `magicmarkup lsp`, registered on a `MarkupServer`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from magicmarkup.browse import reject_placement
from magicmarkup.errors import MagicMarkupError
from magicmarkup.lsp import render
from magicmarkup.lsp.server import (
    CMD_ACCEPT,
    CMD_ADD,
    CMD_EDIT,
    CMD_REATTACH,
    CMD_REJECT,
    CMD_REMOVE,
    CMD_RETAG,
    CMD_SHOW,
    CMD_TAG_AT,
    SOURCE,
    Doc,
    Failed,
    MarkupServer,
    uri_of,
)
from magicmarkup.lsp.tracking import Buffer
from magicmarkup.model import Status, Tag
from magicmarkup.store import Store

SYMBOL_LIMIT = 2000


def create_server() -> MarkupServer:
    server = MarkupServer()

    def doc_of(uri: str) -> Doc | None:
        return server.docs.get(uri)

    def offset_of(doc: Doc, pos: lsp.Position) -> int:
        return doc.buffer.offset(pos.line, pos.character)

    # -- lifecycle -------------------------------------------------------------------------

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: MarkupServer, params: lsp.InitializeParams) -> None:
        roots = []
        for folder in params.workspace_folders or []:
            path = to_fs_path(folder.uri)
            if path:
                roots.append(Path(path).resolve())
        if not roots and params.root_uri:
            path = to_fs_path(params.root_uri)
            if path:
                roots.append(Path(path).resolve())
        if not roots and params.root_path:
            roots.append(Path(params.root_path).resolve())
        ls.roots = roots
        options = params.initialization_options if isinstance(params.initialization_options, dict) else {}
        for key, attr in (("pollInterval", "poll_s"), ("debounce", "debounce_s")):
            value = options.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 3600:
                setattr(ls, attr, float(value))
        env = os.environ.get("MAGICMARKUP_LSP_POLL")
        if env:
            with contextlib.suppress(ValueError):
                ls.poll_s = max(0.0, float(env))

    @server.feature(lsp.INITIALIZED)
    def initialized(ls: MarkupServer, params: lsp.InitializedParams) -> None:
        ls.start_polling()

    # -- documents ---------------------------------------------------------------------------

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: MarkupServer, params: lsp.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        try:
            doc = ls.open(item.uri, item.version, item.text)
        except Exception as exc:  # a bad store file, an unreadable document: say so, carry on
            ls.log(f"{item.uri}: cannot place its tags: {exc}", lsp.MessageType.Error)
            doc = ls.docs[item.uri] = Doc(item.uri, item.version, Buffer(item.text, ls.encoding))
            doc.why = str(exc)
            return
        if doc.why:
            ls.log(f"{item.uri}: no tags ({doc.why})")
            return
        ls.publish(doc)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: MarkupServer, params: lsp.DidChangeTextDocumentParams) -> None:
        doc = doc_of(params.text_document.uri)
        if doc is None:
            return
        version = params.text_document.version
        stale = version is not None and version <= doc.version
        if stale:
            # Out of order or replayed: apply the change as sent (the client's text is what it
            # says), but do not trust tracking through it: place every tag in the text again.
            ls.log(
                f"{doc.uri}: change version {version} is not after {doc.version}; re-placing its tags",
                lsp.MessageType.Warning,
            )
        doc.version = version
        for change in params.content_changes:
            if isinstance(change, lsp.TextDocumentContentChangePartial):
                edit = doc.buffer.apply(
                    (change.range.start.line, change.range.start.character),
                    (change.range.end.line, change.range.end.character),
                    change.text,
                )
            else:
                edit = doc.buffer.set_text(change.text)
            doc.tracker.apply(edit)
        if doc.store is None:
            return
        if stale:
            ls.place_all(doc)
            ls.publish(doc)
            return
        ls.changed(doc)
        ls.publish(doc, force=False)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE, lsp.SaveOptions(include_text=False))
    def did_save(ls: MarkupServer, params: lsp.DidSaveTextDocumentParams) -> None:
        doc = doc_of(params.text_document.uri)
        if doc is None or doc.store is None or doc.rel is None:
            return
        from magicmarkup.view import current

        # The local view of the file on disk (what `list`, `show` and the TUI read) is refreshed.
        try:
            current(doc.store, doc.pinned or [doc.rel], thresholds=ls.thresholds_for(doc.store))
        except MagicMarkupError as exc:
            ls.log(f"{doc.rel}: {exc}", lsp.MessageType.Warning)
        doc.disk_text = ls._read_disk(doc)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: MarkupServer, params: lsp.DidCloseTextDocumentParams) -> None:
        doc = ls.docs.pop(params.text_document.uri, None)
        if doc is not None and doc.cascade is not None:
            doc.cascade.cancel()
        with contextlib.suppress(Exception):
            ls.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
            )

    # -- showing ------------------------------------------------------------------------------

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: MarkupServer, params: lsp.HoverParams) -> lsp.Hover | None:
        doc = doc_of(params.text_document.uri)
        if doc is None or doc.store is None:
            return None
        offset = offset_of(doc, params.position)
        found = ls.tags_at(doc, offset)
        if not found:
            return None
        ids = doc.short_ids()
        parts = []
        for tag in sorted(found, key=lambda t: (t.span.end - t.span.start, t.id)):
            where = doc.buffer.where(doc.rel, tag.span.start, tag.span.end)
            parts.append(render.hover_markdown(tag, where, ids.get(tag.id, tag.id)))
        inner = min(found, key=lambda t: t.span.end - t.span.start)
        return lsp.Hover(
            contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)),
            range=ls.lsp_range(doc, inner.span.start, inner.span.end),
        )

    @server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT, lsp.InlayHintOptions(resolve_provider=False))
    def inlay_hints(ls: MarkupServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
        doc = doc_of(params.text_document.uri)
        if doc is None or doc.store is None:
            return []
        first, last = params.range.start.line, params.range.end.line
        out = []
        for tag in ls.tags_on_lines(doc, first, last):
            line, _ = doc.buffer.position(tag.span.start)
            end_line, end_char = doc.buffer.position(doc.buffer.line_end(line))
            out.append(
                lsp.InlayHint(
                    position=lsp.Position(end_line, end_char),
                    label=render.hint_label(tag),
                    padding_left=True,
                    tooltip=lsp.MarkupContent(kind=lsp.MarkupKind.PlainText, value=render.tooltip(tag)),
                    data={"id": tag.id},
                )
            )
        return out

    def placed_ranges(ls: MarkupServer, uri: str) -> list[tuple[Tag, lsp.Range]]:
        """The placed (not orphaned) tags of an open document, with their ranges in the buffer."""
        doc = doc_of(uri)
        if doc is None or doc.store is None:
            return []
        return [
            (tag, ls.lsp_range(doc, tag.span.start, tag.span.end))
            for tag in ls.shown(doc)
            if tag.status is not Status.ORPHANED
        ]

    @server.feature(lsp.TEXT_DOCUMENT_CODE_LENS, lsp.CodeLensOptions(resolve_provider=False))
    def code_lens(ls: MarkupServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        return [
            lsp.CodeLens(
                range=rng,
                command=lsp.Command(title=render.hint_label(tag), command=CMD_SHOW, arguments=[tag.id]),
            )
            for tag, rng in placed_ranges(ls, params.text_document.uri)
        ]

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbols(ls: MarkupServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        return [
            lsp.DocumentSymbol(
                name=render.note_line(tag, 80),
                detail=tag.status.value,
                kind=lsp.SymbolKind.String,
                range=rng,
                selection_range=rng,
            )
            for tag, rng in placed_ranges(ls, params.text_document.uri)
        ]

    @server.feature(lsp.WORKSPACE_SYMBOL)
    def workspace_symbols(ls: MarkupServer, params: lsp.WorkspaceSymbolParams) -> list[lsp.WorkspaceSymbol]:
        query = params.query.casefold()
        stores: dict[Path, Store] = {}
        for root in ls.roots:
            store = ls.store_for(root)
            if store is not None:
                stores[store.root] = store
        for each in ls.docs.values():
            if each.store is not None:
                stores[each.store.root] = each.store
        out: list[lsp.WorkspaceSymbol] = []
        from magicmarkup.view import current

        for store in stores.values():
            open_docs = {d.rel: d for d in ls.docs.values() if d.store is store and d.rel}
            view = current(store, None, thresholds=ls.thresholds_for(store))
            buffers: dict[str, Buffer] = {}
            tags: list[tuple[Tag, Doc | None]] = [(t, None) for t in view.tags if t.path not in open_docs]
            for open_doc in open_docs.values():
                tags += [(t, open_doc) for t in ls.shown(open_doc)]
            for tag, doc in tags:
                if query and query not in tag.note.casefold() and not tag.id.startswith(query):
                    continue
                if doc is not None:
                    rng = ls.lsp_range(doc, tag.span.start, tag.span.end)
                elif tag.status is Status.ORPHANED or tag.path not in view.texts:
                    rng = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
                else:
                    if tag.path not in buffers:
                        buffers[tag.path] = Buffer(view.texts[tag.path], ls.encoding)
                    rng = _range(buffers[tag.path], tag)
                uri = doc.uri if doc is not None else uri_of(store.root / tag.path)
                out.append(
                    lsp.WorkspaceSymbol(
                        name=render.note_line(tag, 80),
                        kind=lsp.SymbolKind.String,
                        location=lsp.Location(uri=uri, range=rng),
                        container_name=f"{tag.path} ({tag.status.value})",
                    )
                )
                if len(out) >= SYMBOL_LIMIT:
                    return out
        return out

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix, lsp.CodeActionKind.Refactor]),
    )
    def code_actions(ls: MarkupServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        doc = doc_of(params.text_document.uri)
        if doc is None or doc.store is None:
            return []
        start = offset_of(doc, params.range.start)
        end = offset_of(doc, params.range.end)
        rng = params.range
        out = []

        def action(
            title: str, command: str, args: list[Any], kind: str = lsp.CodeActionKind.Refactor
        ) -> None:
            out.append(
                lsp.CodeAction(
                    title=title, kind=kind, command=lsp.Command(title=title, command=command, arguments=args)
                )
            )

        if end > start:
            action("Magic Markup: add a tag to the selection", CMD_ADD, [doc.uri, _range_json(rng), ""])
        shown = ls.shown(doc)
        here = [
            t
            for t in shown
            if t.status is not Status.ORPHANED and t.span.start <= max(start, end) and start <= t.span.end
        ]
        for tag in here:
            name = render.note_line(tag, 30)
            if tag.status is Status.NEEDS_REVIEW:
                action(
                    f"Magic Markup: accept the guess for '{name}'",
                    CMD_ACCEPT,
                    [tag.id],
                    lsp.CodeActionKind.QuickFix,
                )
                action(
                    f"Magic Markup: reject the guess for '{name}'",
                    CMD_REJECT,
                    [tag.id],
                    lsp.CodeActionKind.QuickFix,
                )
            elif tag.status is Status.CHANGED:
                action(f"Magic Markup: accept the tag '{name}' as it is now", CMD_ACCEPT, [tag.id])
            action(f"Magic Markup: edit the note of '{name}'", CMD_EDIT, [tag.id])
            action(f"Magic Markup: remove the tag '{name}'", CMD_REMOVE, [tag.id])
        if end > start:
            for tag in shown:
                if tag.status in (Status.NEEDS_REVIEW, Status.ORPHANED) or tag in here:
                    name = render.note_line(tag, 30)
                    action(
                        f"Magic Markup: re-attach '{name}' to the selection",
                        CMD_REATTACH,
                        [tag.id, doc.uri, _range_json(rng)],
                        lsp.CodeActionKind.QuickFix,
                    )
        action("Magic Markup: retag the workspace (the files on disk)", CMD_RETAG, [doc.uri])
        return out

    # -- acting ---------------------------------------------------------------------------------

    def store_of(uri_or_id: str | None) -> Store:
        if uri_or_id and uri_or_id in ls_docs():
            doc = ls_docs()[uri_or_id]
            if doc.store is None:
                raise Failed(f"{uri_or_id}: no tags here ({doc.why})")
            return doc.store
        stores = {d.store.root: d.store for d in ls_docs().values() if d.store is not None}
        for root in server.roots:
            store = server.store_for(root)
            if store is not None:
                stores.setdefault(store.root, store)
        if len(stores) == 1:
            return next(iter(stores.values()))
        if not stores:
            raise Failed("no .magicmarkup/ store in the workspace (run `magicmarkup init`)")
        raise Failed("several stores are open: pass the document's uri")

    def ls_docs() -> dict[str, Doc]:
        return server.docs

    def clean_doc(uri: str, verb: str) -> Doc:
        doc = server.docs.get(uri)
        if doc is None:
            raise Failed(f"{uri}: not open in the editor")
        if doc.store is None or doc.rel is None:
            raise Failed(f"{uri}: cannot be tagged ({doc.why})")
        doc.disk_text = server._read_disk(doc)
        if doc.disk_text is None:
            raise Failed(f"{doc.rel}: cannot read the file on disk (not UTF-8 text, or gone)")
        if doc.dirty:
            raise Failed(
                f"{doc.rel} has unsaved changes: save it first, then {verb} (tags are anchored to the "
                "file as it is on disk)"
            )
        return doc

    def find_store(tag_id: str) -> Store:
        for doc in server.docs.values():
            if tag_id in doc.tags and doc.store is not None:
                return doc.store
        return store_of(None)

    def done(store: Store) -> None:
        server.check_stores(force=store)

    def run(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except MagicMarkupError as exc:
            server.tell(f"magicmarkup: {exc}", lsp.MessageType.Error)
            raise Failed(str(exc)) from None

    def arg_str(args: tuple[Any, ...], index: int, name: str) -> str:
        if len(args) <= index or not isinstance(args[index], str):
            raise Failed(f"argument {index + 1} ({name}) must be a string")
        return str(args[index])

    def arg_range(doc: Doc, args: tuple[Any, ...], index: int) -> tuple[int, int]:
        raw = args[index] if len(args) > index else None
        try:
            rng = server.protocol._converter.structure(raw, lsp.Range)
        except Exception:
            raise Failed(f"argument {index + 1} must be an LSP range") from None
        start = offset_of(doc, rng.start)
        end = offset_of(doc, rng.end)
        if end <= start:
            raise Failed("select the code first (the range is empty)")
        return start, end

    @server.command(CMD_ADD)
    def cmd_add(ls: MarkupServer, *args: Any) -> dict[str, Any]:
        """[uri, range, note?]: tag the selection (the file must be saved)."""
        uri = arg_str(args, 0, "uri")
        doc = clean_doc(uri, "add the tag")
        start, end = arg_range(doc, args, 1)
        note = args[2] if len(args) > 2 and isinstance(args[2], str) else None
        from magicmarkup.tags import add_tag

        assert doc.store is not None and doc.rel is not None
        tag = run(lambda: add_tag(doc.store, doc.rel, span=(start, end), note=note or None))
        done(doc.store)
        return {"id": tag.id, "path": tag.path, "start": tag.span.start, "end": tag.span.end}

    @server.command(CMD_EDIT)
    def cmd_edit(ls: MarkupServer, *args: Any) -> dict[str, Any] | None:
        """[id, note]: change a tag's note. Without a note (a code action run by an editor that
        cannot prompt), says how to give one and changes nothing."""
        tag_id = arg_str(args, 0, "tag id")
        if len(args) < 2 or args[1] is None:
            server.tell(
                "Magic Markup: give the new note as the command's second argument (bind "
                f"magicmarkup.edit to a prompt, see the README's Editors section), or run "
                f'`magicmarkup edit {tag_id[:8]} --note "..."`'
            )
            return None
        note = arg_str(args, 1, "note")
        from magicmarkup.tags import edit_tag

        store = find_store(tag_id)
        tag = run(lambda: edit_tag(store, tag_id, note=note))
        done(store)
        return {"id": tag.id, "note": tag.note}

    @server.command(CMD_REMOVE)
    def cmd_remove(ls: MarkupServer, *args: Any) -> dict[str, Any]:
        """[id]: delete a tag."""
        tag_id = arg_str(args, 0, "tag id")
        from magicmarkup.tags import remove_tag

        store = find_store(tag_id)
        tag = run(lambda: remove_tag(store, tag_id))
        done(store)
        return {"id": tag.id, "removed": True}

    def doc_with_tag(tag_id: str) -> Doc | None:
        for doc in server.docs.values():
            if any(t.startswith(tag_id) or t.endswith(tag_id) for t in doc.tags):
                return doc
        return None

    @server.command(CMD_ACCEPT)
    def cmd_accept(ls: MarkupServer, *args: Any) -> dict[str, Any]:
        """[id]: confirm a tag where it is now in the file on disk."""
        tag_id = arg_str(args, 0, "tag id")
        from magicmarkup.tags import accept_placement

        doc = doc_with_tag(tag_id)
        if doc is not None:
            clean_doc(doc.uri, "accept the placement")
        store = find_store(tag_id)
        tag = run(lambda: accept_placement(store, tag_id))
        done(store)
        return {"id": tag.id, "status": tag.status.value, "start": tag.span.start, "end": tag.span.end}

    @server.command(CMD_REJECT)
    def cmd_reject(ls: MarkupServer, *args: Any) -> dict[str, Any]:
        """[id]: the guess is wrong; the tag becomes orphaned (re-attach it later)."""
        tag_id = arg_str(args, 0, "tag id")
        store = find_store(tag_id)
        tag = run(lambda: reject_placement(store, tag_id))
        done(store)
        return {"id": tag.id, "status": tag.status.value}

    @server.command(CMD_REATTACH)
    def cmd_reattach(ls: MarkupServer, *args: Any) -> dict[str, Any]:
        """[id, uri, range]: anchor a tag to the selection (the file must be saved)."""
        tag_id = arg_str(args, 0, "tag id")
        uri = arg_str(args, 1, "uri")
        doc = clean_doc(uri, "re-attach the tag")
        start, end = arg_range(doc, args, 2)
        from magicmarkup.tags import find_tag, reattach_tag

        assert doc.store is not None
        store = doc.store
        found = run(lambda: find_tag(store, tag_id))
        if found.path != doc.rel:
            raise Failed(f"tag {tag_id} is on {found.path}, not on {doc.rel}")
        tag = run(lambda: reattach_tag(store, found.id, start, end))
        done(store)
        return {"id": tag.id, "status": tag.status.value, "start": tag.span.start, "end": tag.span.end}

    @server.command(CMD_RETAG)
    def cmd_retag(ls: MarkupServer, *args: Any) -> dict[str, Any]:
        """[uri?]: refresh the local view of every tag in the files on disk (cheap stages)."""
        store = store_of(args[0] if args and isinstance(args[0], str) else None)
        from magicmarkup.retag import retag_worktree

        report = run(lambda: retag_worktree(store, None, None, server.thresholds_for(store)))
        for doc in server.docs.values():
            if doc.store is store:
                server.place_all(doc)
                server.publish(doc)
        server.refresh_views()
        return {"tags": report.tags, "counts": report.counts, "changes": len(report.changes)}

    @server.command(CMD_TAG_AT)
    def cmd_tag_at(ls: MarkupServer, *args: Any) -> dict[str, Any] | None:
        """[uri, position]: the innermost tag at a position of an open document (for an editor
        binding that edits the note under the cursor), or null."""
        uri = arg_str(args, 0, "uri")
        doc = server.docs.get(uri)
        if doc is None:
            raise Failed(f"{uri}: not open in the editor")
        try:
            pos = server.protocol._converter.structure(args[1] if len(args) > 1 else None, lsp.Position)
        except Exception:
            raise Failed("argument 2 must be an LSP position") from None
        found = server.tags_at(doc, offset_of(doc, pos))
        if not found:
            return None
        return _tag_json(server, doc, min(found, key=lambda t: (t.span.end - t.span.start, t.id)))

    @server.command(CMD_SHOW)
    def cmd_show(ls: MarkupServer, *args: Any) -> dict[str, Any]:
        """[id]: the tag as the editor shows it (note, status, place)."""
        tag_id = arg_str(args, 0, "tag id")
        for doc in server.docs.values():
            for tag in server.shown(doc):
                if tag.id.startswith(tag_id) or tag.id.endswith(tag_id):
                    return _tag_json(server, doc, tag)
        raise Failed(f"{tag_id}: no such tag in an open document")

    return server


def _range(buf: Buffer, tag: Tag) -> lsp.Range:
    sl, sc = buf.position(tag.span.start)
    el, ec = buf.position(tag.span.end)
    return lsp.Range(lsp.Position(sl, sc), lsp.Position(el, ec))


def _range_json(rng: lsp.Range) -> dict[str, Any]:
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def _tag_json(server: MarkupServer, doc: Doc, tag: Tag) -> dict[str, Any]:
    rng = server.lsp_range(doc, tag.span.start, tag.span.end)
    return {
        "id": tag.id,
        "note": tag.note,
        "metadata": tag.metadata,
        "status": tag.status.value,
        "confidence": tag.confidence,
        "method": tag.method,
        "path": doc.rel,
        "range": _range_json(rng),
        "source": SOURCE,
    }
