"""The local working-tree view: where each tag is in the files on disk now.

Derived from the committed pins (`pipeline.place`), never written into `.magicmarkup/`: it is
cached under the git directory (`Store.local_dir/view/`), one file per document, keyed by the
document's current content and each pin's own key. So `git status` never shows it, `git clean`,
`git stash --all` and checkouts cannot disturb it, and a stale or missing cache (a fresh clone,
`reset --hard`, a commit made without the hook) is simply recomputed from the pins, which is
cheap. A reader never sees a placement computed for other text than the one on disk.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from magicmarkup.advance import place_carried
from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.documents import text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Candidate, Status, Tag
from magicmarkup.pincache import write_cache
from magicmarkup.pipeline import Placed, Progress, Request
from magicmarkup.report import RetagReport, TagChange
from magicmarkup.store import Store, atomic_write

VIEW_VERSION = 1


def pin_key(pin: Tag) -> str:
    """What a placement depends on: the pin's anchor, path and status (not its note)."""
    data = orjson.dumps(
        [pin.path, pin.span, pin.anchor, pin.status.value, pin.confidence, pin.confirmed_text]
    )
    return hashlib.sha1(data).hexdigest()[:20]


@dataclass
class Current:
    """Tags placed in the working tree now (copies of the pins: `path` is where the document is
    now, `span`/`status`/`confidence`/`method`/`candidates` are for the text on disk)."""

    tags: list[Tag]
    report: RetagReport = field(default_factory=RetagReport)
    texts: dict[str, str] = field(default_factory=dict)  # the documents as read, by current path
    problems: list[str] = field(default_factory=list)  # store files that could not be read


def current(
    store: Store,
    paths: Sequence[str] | None = None,
    *,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    texts: dict[str, str] | None = None,
    renames: dict[str, str] | None = None,
    progress: Progress | None = None,
    history: bool = False,
) -> Current:
    """The working-tree view of every tag (or of the documents `paths`, given by their pinned
    path). `texts` overrides what is on disk (an editor's unsaved buffer); `renames` maps a
    pinned path to where its document is now (else git's renames are followed). With a
    `resolver`, unsure placements not yet put to the model are recomputed with it."""
    began = time.perf_counter()
    report = RetagReport(llm_used=resolver is not None)
    rels = list(paths) if paths is not None else store.paths()
    pins_by_doc: dict[str, list[Tag]] = {}
    for rel in rels:
        try:
            pins = store.load(rel, history=history)
        except MagicMarkupError as exc:
            report.errors.append(str(exc))
            continue
        if pins:
            pins_by_doc[rel] = pins
    problems = list(store.problems)  # store files that could not be read
    report.errors += problems
    store.problems = []
    missing = [rel for rel in pins_by_doc if not (texts and rel in texts) and not _is_file(store, rel)]
    moved = {**local_renames(store), **(renames or {})}
    moved = {old: new for old, new in moved.items() if old in missing and _is_file(store, new)}
    if missing and any(rel not in moved for rel in missing):
        from magicmarkup.git import follow_renames

        moved.update({k: v for k, v in follow_renames(store, [m for m in missing if m not in moved]).items()})
    cache = _Cache(store)
    out: list[Tag] = []
    todos: dict[str, list[Tag]] = {}
    # (rel, path, pins, placements taken from the cache, how many entries the cache had)
    pending: list[tuple[str, str, list[Tag], dict[str, Placed], int]] = []
    texts_out: dict[str, str] = {}
    others: dict[str, str | None] = {}  # texts of other files tags' code moved to

    def other_text(path: str) -> str | None:
        if path not in others:
            if texts is not None and path in texts:
                others[path] = texts[path]
            elif path in texts_out:
                others[path] = texts_out[path]
            else:
                try:
                    others[path] = store.read_document(path) if _is_file(store, path) else None
                except MagicMarkupError:
                    others[path] = None
        return others[path]

    for rel, pins in pins_by_doc.items():
        report.documents += 1
        path = moved.get(rel, rel) if rel in missing else rel
        text: str | None = None
        if texts is not None and path in texts:
            text = texts[path]
        elif _exists(store, path):
            try:
                text = store.read_document(path)
            except MagicMarkupError as exc:  # unreadable (binary, a FIFO...): say so, keep its tags
                report.errors.append(f"{exc}; its tags are shown as orphaned until it can be read")
        if text is None:
            for pin in pins:
                reason = "deleted" if not _exists(store, path) else "unreadable"
                placed = Placed(None, None, Status.ORPHANED, 0.0, reason)
                _count(report, pin, path, placed)
                out.append(placed_as(pin, path, placed))
            continue
        texts_out[path] = text
        sha = text_hash(text)
        cached = cache.get(rel, path, sha)
        todo = []
        hits: dict[str, Placed] = {}
        for pin in pins:
            entry = cached.get(pin.id)
            if entry is not None and entry[0] == pin_key(pin):
                placed, asked, at = entry[1], entry[2], entry[3]
                if placed.path is not None:
                    elsewhere = other_text(placed.path)
                    if elsewhere is None or text_hash(elsewhere) != at:
                        todo.append(pin)
                        continue
                unsure = placed.status is Status.NEEDS_REVIEW or (
                    thresholds is not None and placed.confidence < thresholds.llm and placed.status.placed
                )
                if resolver is None or asked or not unsure:
                    hits[pin.id] = placed
                    continue
            todo.append(pin)
        if todo:
            todos[rel] = todo
        pending.append((rel, path, pins, hits, len(cached)))
    requests = [Request(path, texts_out[path], todos[rel]) for rel, path, *_ in pending if rel in todos]
    owners = [rel for rel, _path, *_ in pending if rel in todos]
    results = (
        place_carried(store, requests, resolver, thresholds, progress, report.errors, other_text)
        if requests
        else []
    )
    computed = dict(zip(owners, results, strict=True))
    for rel, path, pins, hits, had in pending:
        fresh = computed.get(rel, {})
        text = texts_out[path]
        placements = {**hits, **fresh} if fresh else hits
        buffer = texts is not None and path in texts  # an editor's unsaved text: not the file's view
        if not buffer and (fresh or len(hits) != had):
            moved_to = {
                k: text_hash(t)
                for k, p in placements.items()
                if p.path is not None and (t := other_text(p.path)) is not None
            }
            cache.put(
                rel,
                path,
                text_hash(text),
                pins,
                placements,
                asked=resolver is not None,
                fresh=set(fresh),
                at=moved_to,
            )
        for pin in pins:
            placed = placements[pin.id]
            report.llm_calls += placed.llm_calls
            report.llm_tokens += placed.llm_tokens
            report.llm_failed += placed.llm_error is not None
            where = placed.path or path
            _count(report, pin, where, placed, text if where == path else other_text(where))
            out.append(placed_as(pin, where, placed))
    out.sort(key=lambda t: (t.path, t.span.start, t.id))
    report.seconds = time.perf_counter() - began
    return Current(out, report, texts_out, problems)


def _count(report: RetagReport, pin: Tag, path: str, placed: Placed, text: str | None = None) -> None:
    report.tags += 1
    report.counts[placed.status.value] = report.counts.get(placed.status.value, 0) + 1
    moved = placed.start != pin.span.start or placed.end != pin.span.end or path != pin.path
    if moved or placed.status is not pin.status:
        report.changes.append(
            TagChange(
                pin.id,
                path,
                pin.path if path != pin.path else None,
                pin.span.start,
                pin.span.end,
                placed.start,
                placed.end,
                placed.status.value,
                placed.method,
                placed.confidence,
            ).place(text)
        )


def placed_as(pin: Tag, path: str, placed: Placed) -> Tag:
    """`placed_copy`, but `pin` itself when it is placed where and as it is pinned (most tags of
    a big store: a copy each cost a sixth of a `list` of 100,000). Only for a pin no one else
    holds (as `current` loads them)."""
    if (
        path == pin.path
        and placed.status is pin.status
        and placed.confidence == pin.confidence
        and placed.method == pin.method
        and placed.candidates == pin.candidates
        and (
            placed.start is None
            or placed.end is None
            or (placed.start, placed.end) == (pin.span.start, pin.span.end)
        )
    ):
        return pin
    return placed_copy(pin, path, placed)


def placed_copy(pin: Tag, path: str, placed: Placed) -> Tag:
    """A copy of `pin` as it is placed now (at `path`, in the text `placed` was computed for)."""
    copy = pin.model_copy()
    copy.path = path
    copy.status, copy.confidence, copy.method = placed.status, placed.confidence, placed.method
    copy.candidates = placed.candidates
    if placed.span is not None:
        copy.span = placed.span
    return copy


def _is_file(store: Store, rel: str) -> bool:
    try:
        return store.document_path(rel).is_file()
    except MagicMarkupError:
        return False


def _exists(store: Store, rel: str) -> bool:
    """Is there anything at `rel` (a file, a special file, a link, even one leading out)?"""
    full = store.root / rel
    return full.exists() or full.is_symlink()


# -- renames seen by the watcher (a file moved on disk, not yet through git) ---------------------


def _renames_file(store: Store) -> Path:
    return store.local_dir / "renames.json"


def local_renames(store: Store) -> dict[str, str]:
    """pinned path -> the path a watcher saw its document moved to."""
    try:
        data = orjson.loads(_renames_file(store).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def record_local_rename(store: Store, pinned: str, new: str) -> None:
    """Remember that the document pinned at `pinned` is now at `new`."""
    renames = local_renames(store)
    renames[pinned] = new
    renames = {k: v for k, v in renames.items() if k != v}
    atomic_write(_renames_file(store), orjson.dumps(renames, option=orjson.OPT_SORT_KEYS))


# -- the cache ---------------------------------------------------------------------------------


def _encode(placed: Placed) -> list[Any]:
    return [
        placed.start,
        placed.end,
        placed.status.value,
        placed.confidence,
        placed.method,
        [[c.start, c.end, c.score, c.method, c.text] for c in placed.candidates],
        placed.path,
    ]


def _decode(raw: list[Any]) -> Placed:
    start, end, status, confidence, method, candidates = raw[:6]
    path = raw[6] if len(raw) > 6 and isinstance(raw[6], str) else None
    return Placed(
        start,
        end,
        Status(status),
        float(confidence),
        str(method),
        [Candidate(start=c[0], end=c[1], score=c[2], method=c[3], text=c[4]) for c in candidates],
        path=path,
    )


class _Cache:
    """One small file per document under the local dir; a bad or foreign file is a miss."""

    def __init__(self, store: Store) -> None:
        self.dir = store.local_dir / "view"
        self._loaded: dict[str, dict[str, Any]] = {}

    def _file(self, rel: str) -> Path:
        return self.dir / f"{hashlib.sha1(rel.encode('utf-8', 'surrogatepass')).hexdigest()}.json"

    def _read(self, rel: str) -> dict[str, Any]:
        if rel not in self._loaded:
            try:
                data = orjson.loads(self._file(rel).read_bytes())
                ok = isinstance(data, dict) and data.get("v") == VIEW_VERSION and data.get("rel") == rel
                self._loaded[rel] = data if ok else {}
            except (OSError, orjson.JSONDecodeError):
                self._loaded[rel] = {}
        return self._loaded[rel]

    def get(self, rel: str, path: str, sha: str) -> dict[str, tuple[str, Placed, bool, str | None]]:
        data = self._read(rel)
        if data.get("path") != path or data.get("text") != sha:
            return {}
        out = {}
        for tag_id, entry in data.get("tags", {}).items():
            try:
                at = entry.get("at")
                out[tag_id] = (entry["key"], _decode(entry["p"]), bool(entry.get("llm")), at)
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def put(
        self,
        rel: str,
        path: str,
        sha: str,
        pins: list[Tag],
        placements: dict[str, Placed],
        asked: bool,
        fresh: set[str],
        at: dict[str, str] | None = None,
    ) -> None:
        old = self.get(rel, path, sha)
        tags = {}
        for pin in pins:
            placed = placements[pin.id]
            # a model that failed (timeout, 500...) was not really asked: ask again next time
            fresh_asked = asked and placed.llm_error is None
            was_asked = fresh_asked if pin.id in fresh else (old[pin.id][2] if pin.id in old else False)
            tags[pin.id] = {"key": pin_key(pin), "p": _encode(placed), "llm": was_asked}
            if at and pin.id in at:  # its code is in another file: valid while that file is unchanged
                tags[pin.id]["at"] = at[pin.id]
        data = {"v": VIEW_VERSION, "rel": rel, "path": path, "text": sha, "tags": tags}
        self._loaded[rel] = data
        write_cache(self._file(rel), orjson.dumps(data))  # no fsync: 1,000 of them took 1 s
