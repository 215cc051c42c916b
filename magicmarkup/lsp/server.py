"""`magicmarkup lsp`: tags in any editor through the Language Server Protocol (stdio, pygls).

Per open document the server keeps the buffer's text (`tracking.Buffer`) and where each tag is
in it (`tracking.Tracker`). On open the committed pins are placed in the buffer's text
(`view.current(..., texts=...)`); each `didChange` then moves the spans exactly, as an editor's
markers do; a tag whose whole span an edit removed is placed again by the re-anchoring cascade
(`pipeline.place`, cheap stages only) after a short pause in typing. Typing never writes the
shared store; a save refreshes the local view of the file on disk; closing drops the state.

The store is written only through the library (`tags`, `browse`), by `workspace/executeCommand`
(the code actions offer them), so the store's history records every change. Changes made by
someone else (the CLI, `watch`, the TUI, a git hook) are noticed by polling the store's
fingerprint; the open documents are then re-placed and their diagnostics published again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.capabilities import ServerCapabilitiesBuilder
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import from_fs_path, to_fs_path

from magicmarkup.advance import place_carried
from magicmarkup.anchoring import Placement, Thresholds
from magicmarkup.browse import store_fingerprint
from magicmarkup.errors import MagicMarkupError
from magicmarkup.lsp import render
from magicmarkup.lsp.tracking import UTF8, UTF16, UTF32, Buffer, Tracker
from magicmarkup.model import Span, Status, Tag
from magicmarkup.pipeline import Request, decide
from magicmarkup.positions import Positions, short_ids
from magicmarkup.store import Store
from magicmarkup.view import current, pin_key, placed_copy

log = logging.getLogger("magicmarkup.lsp")

SOURCE = "magicmarkup"
REQUEST_FAILED = -32803  # LSP's RequestFailed: a well-formed request the server could not do

CMD_ADD = "magicmarkup.add"
CMD_EDIT = "magicmarkup.edit"
CMD_REMOVE = "magicmarkup.remove"
CMD_ACCEPT = "magicmarkup.accept"
CMD_REJECT = "magicmarkup.reject"
CMD_REATTACH = "magicmarkup.reattach"
CMD_RETAG = "magicmarkup.retag"
CMD_SHOW = "magicmarkup.show"
CMD_TAG_AT = "magicmarkup.tagAt"
COMMANDS = (
    CMD_ADD,
    CMD_EDIT,
    CMD_REMOVE,
    CMD_ACCEPT,
    CMD_REJECT,
    CMD_REATTACH,
    CMD_RETAG,
    CMD_SHOW,
    CMD_TAG_AT,
)


def choose_position_encoding(client: lsp.ClientCapabilities) -> str:
    """utf-32 (code points, the store's own offsets) when the client offers it, else utf-16
    (which every client supports), else utf-8 when that is all it offers."""
    offered = [str(e) for e in ((client.general and client.general.position_encodings) or [])]
    if UTF32 in offered:
        return UTF32
    if not offered or UTF16 in offered:
        return UTF16
    return UTF8 if UTF8 in offered else UTF16


def _patch_encoding_choice() -> None:
    # pygls takes the client's first supported encoding; we prefer code points, else utf-16.
    def choose(cls: Any, client_capabilities: lsp.ClientCapabilities) -> str:
        return choose_position_encoding(client_capabilities)

    ServerCapabilitiesBuilder.choose_position_encoding = classmethod(choose)  # type: ignore[assignment,method-assign]


class Protocol(LanguageServerProtocol):
    """pygls's protocol, except that it keeps no copy of the open documents' text up to date:
    the server keeps its own (`tracking.Buffer`), and pygls's rewrites the whole document on
    every keystroke (several ms on a 5,000-line file)."""

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None


class Failed(JsonRpcException):
    """A request the server understood but could not carry out; the message says why."""

    CODE = REQUEST_FAILED


@dataclass
class Doc:
    """One open document."""

    uri: str
    version: int
    buffer: Buffer
    path: Path | None = None
    store: Store | None = None
    rel: str | None = None  # repo-relative path (the pins' path)
    why: str | None = None  # why it has no tags (outside the workspace, no store...)
    pins: dict[str, Tag] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)  # placed copies (status etc. when placed)
    tracker: Tracker = field(default_factory=Tracker)
    disk_text: str | None = None
    cascade: asyncio.TimerHandle | None = None
    pinned_lines: dict[str, int | None] = field(default_factory=dict)
    pinned: list[str] = field(default_factory=list)  # pinned paths of its tags (renames followed)
    published: list[Any] | None = None  # what the last diagnostics said
    _short: tuple[frozenset[str], dict[str, str]] | None = None
    review: list[str] = field(default_factory=list)  # ids of needs_review and orphaned tags
    orphans: set[str] = field(default_factory=set)

    def placed(self) -> None:
        """Call after `tags` changed: what diagnostics and the cascade look at, kept ready so a
        keystroke does not scan every tag."""
        self.review = [i for i, t in self.tags.items() if t.status in (Status.NEEDS_REVIEW, Status.ORPHANED)]
        self.orphans = {i for i, t in self.tags.items() if t.status is Status.ORPHANED}

    def short_ids(self) -> dict[str, str]:
        """The shortest unique prefix of each tag id (as the CLI shows them), cached."""
        key = frozenset(self.tags)
        if self._short is None or self._short[0] != key:
            self._short = (key, short_ids(key))
        return self._short[1]

    @property
    def dirty(self) -> bool:
        return self.disk_text is None or self.disk_text != self.buffer.text


class MarkupServer(LanguageServer):
    def __init__(self) -> None:
        _patch_encoding_choice()
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version("magicmarkup")
        except PackageNotFoundError:
            release = "0"
        super().__init__("magicmarkup", release, protocol_cls=Protocol)
        self.docs: dict[str, Doc] = {}
        self.stores: dict[Path, Store | None] = {}  # by the directory it was looked up from
        self.fingerprints: dict[Path, tuple[tuple[str, int, int], ...]] = {}
        self.thresholds: dict[Path, Thresholds] = {}
        self.roots: list[Path] = []
        self.poll_s = 1.0
        self.debounce_s = 0.3
        self._poller: asyncio.Task[None] | None = None

    # -- places ------------------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        try:
            enc = str(self.workspace.position_encoding or UTF16)
        except RuntimeError:
            return UTF16
        return enc if enc in (UTF8, UTF16, UTF32) else UTF16

    def in_workspace(self, path: Path) -> bool:
        return not self.roots or any(path.is_relative_to(root) for root in self.roots)

    def store_for(self, directory: Path) -> Store | None:
        """The store of a directory (looked up again while there is none: `init` may come)."""
        if self.stores.get(directory) is None:
            try:
                store: Store | None = Store.discover(directory)
            except (MagicMarkupError, OSError):
                store = None
            if store is not None:
                for known in self.stores.values():
                    if known is not None and known.root == store.root:
                        store = known  # one Store object per repository
                        break
            self.stores[directory] = store
            if store is not None and store.root not in self.fingerprints:
                self.fingerprints[store.root] = store_fingerprint(store)
        return self.stores[directory]

    def thresholds_for(self, store: Store) -> Thresholds:
        if store.root not in self.thresholds:
            from magicmarkup.session import Session

            try:
                self.thresholds[store.root] = Session.open(store.dir).thresholds
            except MagicMarkupError as exc:
                self.log(f"{store.dir}: {exc}; default thresholds", lsp.MessageType.Warning)
                self.thresholds[store.root] = Thresholds()
        return self.thresholds[store.root]

    def log(self, message: str, kind: lsp.MessageType = lsp.MessageType.Info) -> None:
        log.info(message)
        with contextlib.suppress(Exception):
            self.window_log_message(lsp.LogMessageParams(type=kind, message=render.plain(message)))

    def tell(self, message: str, kind: lsp.MessageType = lsp.MessageType.Info) -> None:
        with contextlib.suppress(Exception):
            self.window_show_message(lsp.ShowMessageParams(type=kind, message=render.plain(message)))

    # -- opening and placing ---------------------------------------------------------------

    def open(self, uri: str, version: int, text: str) -> Doc:
        doc = Doc(uri, version, Buffer(text, self.encoding))
        self.docs[uri] = doc
        fs = to_fs_path(uri) if uri.startswith("file:") else None
        if fs is None:
            doc.why = f"{uri}: not a file"
            return doc
        doc.path = Path(fs)
        if not (self.in_workspace(doc.path) or self.in_workspace(doc.path.resolve())):
            doc.why = f"{fs}: outside the workspace"
            return doc
        store = self.store_for(doc.path.parent)
        if store is None:
            doc.why = f"{fs}: no .magicmarkup/ store here or above"
            return doc
        try:
            doc.rel = store.relpath(doc.path)
        except MagicMarkupError as exc:
            doc.why = str(exc)
            return doc
        doc.store = store
        self.place_all(doc)
        return doc

    def place_all(self, doc: Doc) -> None:
        """Place every pin of the document in the buffer's text (the view, for this text)."""
        store, rel = doc.store, doc.rel
        if store is None or rel is None:
            return
        doc.disk_text = self._read_disk(doc)
        doc.pinned = self.pinned_paths(store, rel)
        view = current(store, doc.pinned, texts={rel: doc.buffer.text}, thresholds=self.thresholds_for(store))
        for problem in view.problems + view.report.errors:
            self.log(problem, lsp.MessageType.Warning)
        doc.pins = {pin.id: pin for pinned in doc.pinned for pin in self._load_pins(store, pinned)}
        doc.tags = {}
        doc.tracker = Tracker()
        doc.pinned_lines = {}
        for tag in view.tags:
            if tag.id not in doc.pins:
                continue
            doc.tags[tag.id] = tag
            doc.tracker.set(
                tag.id,
                (tag.span.start, tag.span.end)
                if tag.status.placed or (tag.status is Status.NEEDS_REVIEW)
                else None,
            )
        doc.placed()

    def _read_disk(self, doc: Doc) -> str | None:
        if doc.store is None or doc.rel is None:
            return None
        try:
            return doc.store.read_document(doc.rel)
        except (MagicMarkupError, OSError):
            return None

    def pinned_paths(self, store: Store, rel: str) -> list[str]:
        """The pinned paths whose document is `rel` now: its own, and those of documents moved
        there (seen by `watch`, or renamed through git) whose pins still name the old path."""
        try:
            pinned = store.paths()
        except MagicMarkupError:
            return [rel]
        out = [rel] if rel in pinned else []
        missing = [p for p in pinned if p != rel and not (store.root / p).exists()]
        if missing:
            from magicmarkup.git import follow_renames
            from magicmarkup.view import local_renames

            moved = {old: new for old, new in local_renames(store).items() if old in missing}
            rest = [p for p in missing if p not in moved]
            try:
                moved.update(follow_renames(store, rest) if rest else {})
            except (MagicMarkupError, OSError) as exc:
                self.log(f"following renames: {exc}", lsp.MessageType.Warning)
            out += sorted(old for old, new in moved.items() if new == rel)
        return out or [rel]

    def _load_pins(self, store: Store, rel: str) -> list[Tag]:
        try:
            pins = store.load(rel, history=False)
        except MagicMarkupError as exc:
            self.log(str(exc), lsp.MessageType.Warning)
            return []
        for problem in store.problems:
            self.log(problem, lsp.MessageType.Warning)
        store.problems = []
        return pins

    def place_some(self, doc: Doc, ids: Sequence[str]) -> None:
        """Place these pins in the buffer's text with the cascade (cheap stages)."""
        if doc.store is None or doc.rel is None:
            return
        pins = [doc.pins[i] for i in ids if i in doc.pins]
        if not pins:
            return
        errors: list[str] = []
        text = doc.buffer.text
        (result,) = place_carried(  # committed pins far behind HEAD follow the file's history
            doc.store, [Request(doc.rel, text, pins)], None, self.thresholds_for(doc.store), None, errors
        )
        for err in errors:
            self.log(err, lsp.MessageType.Warning)
        for pin in pins:
            placed = result.get(pin.id)
            if placed is None:
                continue
            doc.tags[pin.id] = placed_copy(pin, doc.rel, placed)
            span = placed.span
            doc.tracker.set(pin.id, (span.start, span.end) if span is not None else None)
        doc.placed()

    def refresh_from_store(self, doc: Doc) -> None:
        """The pins changed on disk (someone else wrote the store): keep the live positions of
        the tags whose anchors did not change, place the new and changed ones."""
        if doc.store is None or doc.rel is None:
            return
        doc.pinned = self.pinned_paths(doc.store, doc.rel)
        new = {pin.id: pin for pinned in doc.pinned for pin in self._load_pins(doc.store, pinned)}
        todo = []
        for tag_id in list(doc.tags):
            if tag_id not in new:
                del doc.tags[tag_id]
                doc.tracker.drop(tag_id)
        for tag_id, pin in new.items():
            old = doc.pins.get(tag_id)
            if old is not None and pin_key(old) == pin_key(pin) and tag_id in doc.tags:
                placed = doc.tags[tag_id]
                fresh = pin.model_copy()
                fresh.path = placed.path
                fresh.span, fresh.status, fresh.confidence = placed.span, placed.status, placed.confidence
                fresh.method, fresh.candidates = placed.method, placed.candidates
                doc.tags[tag_id] = fresh
            else:
                todo.append(tag_id)
        doc.pins = new
        doc.pinned_lines = {}
        doc.placed()
        self.place_some(doc, todo)

    # -- what the editor shows -------------------------------------------------------------

    def shown(self, doc: Doc, ids: Iterable[str] | None = None) -> list[Tag]:
        """The document's tags (or those of `ids`) where they are in the buffer now, in offset
        order, orphans last (at their pinned place); lost tags waiting for the cascade are not
        shown."""
        out = []
        text = doc.buffer.text
        for tag_id in doc.tags if ids is None else ids:
            tag = doc.tags.get(tag_id)
            if tag is None:
                continue
            span = doc.tracker.spans.get(tag_id)
            if span is None:
                if tag.status is Status.ORPHANED:
                    out.append(tag)
                continue
            out.append(self._live(doc, tag, span, text))
        out.sort(key=lambda t: (t.status is Status.ORPHANED, t.span.start, t.id))
        return out

    def _live(self, doc: Doc, tag: Tag, span: tuple[int, int], text: str) -> Tag:
        """The tag at its tracked span, with the status that span's text gives it now."""
        live = tag.model_copy()
        live.span = Span(start=span[0], end=span[1])
        pin = doc.pins.get(tag.id)
        moved = span != (tag.span.start, tag.span.end)
        if pin is not None and tag.status.placed and (moved or tag.id in doc.tracker.touched):
            p = Placement(span[0], span[1], Status.ANCHORED, tag.confidence, tag.method)
            placed = decide(pin, p, text, pin.path == doc.rel)
            live.status, live.method = placed.status, placed.method
        return live

    def tags_at(self, doc: Doc, offset: int) -> list[Tag]:
        """The placed tags whose span holds `offset` (its end included: a cursor just after)."""
        ids = [i for i, (s, e) in doc.tracker.spans.items() if s <= offset <= e]
        return [t for t in self.shown(doc, ids) if t.status is not Status.ORPHANED]

    def tags_on_lines(self, doc: Doc, first: int, last: int) -> list[Tag]:
        """The placed tags that start on lines first..last."""
        lo = doc.buffer.offset(first, 0)
        hi = doc.buffer.line_end(last)
        ids = [i for i, (s, _e) in doc.tracker.spans.items() if lo <= s <= hi]
        return [t for t in self.shown(doc, ids) if t.status is not Status.ORPHANED]

    def lsp_range(self, doc: Doc, start: int, end: int) -> lsp.Range:
        sl, sc = doc.buffer.position(start)
        el, ec = doc.buffer.position(end)
        return lsp.Range(lsp.Position(sl, sc), lsp.Position(el, ec))

    def pinned_line(self, doc: Doc, tag_id: str) -> int | None:
        """The 1-based line an orphan was at in the text it was pinned in (cached)."""
        if tag_id not in doc.pinned_lines:
            line = None
            pin = doc.pins.get(tag_id)
            if pin is not None and doc.store is not None and pin.anchor.snapshot:
                with contextlib.suppress(MagicMarkupError, OSError):
                    snapshot = doc.store.get_snapshot(pin.anchor.snapshot)
                    line = Positions(snapshot).point(pin.anchor.start or pin.span.start).line
            doc.pinned_lines[tag_id] = line
        return doc.pinned_lines[tag_id]

    def diagnostics(self, doc: Doc) -> list[lsp.Diagnostic]:
        """needs_review and orphaned tags (only those are looked at: cheap on every keystroke)."""
        review = doc.review
        if not review:
            return []
        ids = doc.short_ids()
        out = []
        for tag in self.shown(doc, review):
            if tag.status is Status.NEEDS_REVIEW:
                rng = self.lsp_range(doc, tag.span.start, tag.span.end)
                line = None
            elif tag.status is Status.ORPHANED:
                rng = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
                line = self.pinned_line(doc, tag.id)
            else:
                continue
            out.append(
                lsp.Diagnostic(
                    range=rng,
                    message=render.diagnostic_message(tag, line),
                    severity=lsp.DiagnosticSeverity.Information,
                    source=SOURCE,
                    code=tag.status.value,
                    data={"id": tag.id, "short_id": ids.get(tag.id, tag.id)},
                )
            )
        return out

    def publish(self, doc: Doc, force: bool = True) -> None:
        """Send the document's diagnostics (when `force` is False, only if they changed)."""
        found = self.diagnostics(doc)
        key = [
            (
                d.code,
                d.message,
                d.range.start.line,
                d.range.start.character,
                d.range.end.line,
                d.range.end.character,
            )
            for d in found
        ]
        if not force and key == doc.published:
            return
        doc.published = key
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=doc.uri, diagnostics=found, version=doc.version)
        )

    def refresh_views(self) -> None:
        """Ask the client to fetch inlay hints and code lenses again (when it can)."""
        try:
            caps = self.client_capabilities.workspace
        except AttributeError:  # not initialized
            return
        if caps and caps.inlay_hint and caps.inlay_hint.refresh_support:
            with contextlib.suppress(Exception):
                self.workspace_inlay_hint_refresh(None)
        if caps and caps.code_lens and caps.code_lens.refresh_support:
            with contextlib.suppress(Exception):
                self.workspace_code_lens_refresh(None)

    # -- edits -------------------------------------------------------------------------------

    def changed(self, doc: Doc) -> None:
        """After edits: place lost tags again after a pause in typing."""
        if doc.cascade is not None:
            doc.cascade.cancel()
            doc.cascade = None
        waiting = doc.tracker.lost | doc.orphans
        if not waiting or doc.store is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run_cascade(doc.uri)
            return
        doc.cascade = loop.call_later(self.debounce_s, self.run_cascade, doc.uri)

    def run_cascade(self, uri: str) -> None:
        doc = self.docs.get(uri)
        if doc is None:
            return
        doc.cascade = None
        waiting = doc.tracker.lost | doc.orphans
        try:
            self.place_some(doc, sorted(waiting))
        except Exception as exc:  # never let a bad placement take the server down
            log.exception("cascade failed")
            self.log(f"re-placing lost tags failed: {exc}", lsp.MessageType.Error)
            return
        self.publish(doc)
        self.refresh_views()

    # -- store watching ----------------------------------------------------------------------

    def start_polling(self) -> None:
        if self._poller is None and self.poll_s > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                self.check_stores()
            except Exception:
                log.exception("store poll failed")

    def check_stores(self, force: Store | None = None) -> None:
        """Refresh the open documents of every store that changed (or of `force`)."""
        stores = {d.store.root: d.store for d in self.docs.values() if d.store is not None}
        if force is not None:
            stores[force.root] = force
        changed = False
        for root, store in stores.items():
            fp = store_fingerprint(store)
            if fp == self.fingerprints.get(root) and store is not force:
                continue
            self.fingerprints[root] = fp
            self.thresholds.pop(root, None)  # config.toml may have changed too
            for doc in self.docs.values():
                if doc.store is not None and doc.store.root == root:
                    self.refresh_from_store(doc)
                    self.publish(doc)
                    changed = True
        if changed:
            self.refresh_views()


def uri_of(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()
