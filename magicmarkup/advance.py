"""Committed pins carried to HEAD through their documents' history (walk.py), for every reader.

`advance(store, pins)` answers, for each committed pin whose snapshot is not its document's
text at HEAD: where its code is at HEAD (file, span in that file's HEAD text) and how sure the
chain of steps is. The view then places that HEAD position in the text on disk (usually the
same text: nothing left to do) and judges the status against what the person tagged, as for
any pin. Pins it cannot walk (no git, an uncommitted pin, a shallow clone without the pin's
commit) are left out: the caller jumps from the snapshot as before.

The end of each walk is cached under the git dir (`walk/`, keyed by the pin's content and the
commit): a later reader at the same HEAD reads it, and one at a descendant of that commit
walks only the commits since.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from magicmarkup.anchoring import Placement, Resolver, Thresholds, reanchor
from magicmarkup.documents import language_for, text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Span, Status, Tag
from magicmarkup.pipeline import EXACT, Placed, Progress, Request, decide, make_anchor, place
from magicmarkup.store import Store, git_dir_of
from magicmarkup.walk import History, Start, Track, pin_commits, rescued_by_jump, step, sure_jump, walk

WALK_CACHE_VERSION = 1
HISTORY_ENV = "MAGICMARKUP_HISTORY"  # "0": jump only (to measure the walk against it)


@dataclass(slots=True)
class Advanced:
    """A pin's place at HEAD, found by walking its document's history."""

    path: str  # the file its code is in at HEAD
    text: str | None  # that file's text at HEAD (None: orphaned)
    placement: Placement  # in `text`; NEEDS_REVIEW when a step was unsure, ORPHANED when lost
    steps: int  # versions walked through
    elsewhere: bool = False  # its code left its document for `path` (else `path` is the document)


def enabled() -> bool:
    return os.environ.get(HISTORY_ENV, "1") != "0"


def advance(store: Store, pins: Sequence[Tag], thresholds: Thresholds | None = None) -> dict[str, Advanced]:
    """pin id -> its place at HEAD, for the committed pins whose snapshot is not the text of
    their document at HEAD (see the module docstring)."""
    if not pins or not enabled() or git_dir_of(store.root) is None:
        return {}
    th = thresholds or Thresholds()
    history = History(store.root)
    try:
        return _advance(store, history, pins, th)
    finally:
        history.close()


def _advance(store: Store, history: History, pins: Sequence[Tag], th: Thresholds) -> dict[str, Advanced]:
    head = history.head()
    if head is None:
        return {}
    stale: list[Tag] = []
    head_sha: dict[str, str | None] = {}  # path -> hash of its text at HEAD (once per document)
    for pin in pins:
        if pin.anchor.snapshot is None:
            continue
        if pin.path not in head_sha:
            blob = history.blobs.at(head, pin.path)
            text = history.blobs.text(blob) if blob is not None else None
            head_sha[pin.path] = text_hash(text) if text is not None else None
        if head_sha[pin.path] == pin.anchor.snapshot:
            continue  # pinned to HEAD's text: only uncommitted edits since, a jump sees them all
        stale.append(pin)
    if not stale:
        return {}
    cache = _WalkCache(store)
    out: dict[str, Advanced] = {}
    todo: list[Tag] = []
    for pin in stale:
        hit = cache.get(pin, head)
        if hit is not None:
            out[pin.id] = _advanced(history, pin, *hit)
        else:
            todo.append(pin)
    todo = _unsure_jumps(store, history, head, todo, th)
    if not todo:
        return out
    root = store.root
    files = {pin.id: _rel(root, store.pin_file(pin.path, pin.id)) for pin in todo}
    bases = pin_commits(root, [f for f in files.values() if f is not None])
    groups: dict[tuple[str, str, str], list[Tag]] = {}
    resumed: dict[tuple[str, str, str], dict[str, Track]] = {}
    by_id = {pin.id: pin for pin in todo}
    for pin in todo:
        again = cache.resume(pin, history)
        if again is not None:
            commit, path, blob, track = again
            resumed.setdefault((commit, path, blob), {})[pin.id] = track
            continue
        file = files[pin.id]
        base = bases.get(file) if file is not None else None
        if base is None:
            continue
        assert pin.anchor.snapshot is not None
        groups.setdefault((base, pin.path, pin.anchor.snapshot), []).append(pin)
    for (commit, path, blob), tracks in resumed.items():  # walked before: only the commits since
        got = walk(history, Start(commit, path, blob, tracks), head, th)
        for pin_id in tracks:
            if got is None:
                continue
            outcome = got[pin_id]
            cache.put(by_id[pin_id], head, outcome.path, outcome.blob, outcome.track)
            out[pin_id] = _advanced(history, by_id[pin_id], outcome.path, outcome.blob, outcome.track)
    for (base, path, snapshot), members in groups.items():
        start = _start(store, history, base, path, snapshot, members, th)
        if start is None:
            continue
        got = walk(history, start, head, th)
        if got is None:
            continue
        for pin in members:
            outcome = got[pin.id]
            cache.put(pin, head, outcome.path, outcome.blob, outcome.track)
            out[pin.id] = _advanced(history, pin, outcome.path, outcome.blob, outcome.track)
    cache.flush()
    return out


def _unsure_jumps(store: Store, history: History, head: str, pins: list[Tag], th: Thresholds) -> list[Tag]:
    """The pins a jump from their snapshot to HEAD cannot place surely (`walk.sure_jump`):
    only those are walked. The others are left to the caller's jump, which finds them."""
    groups: dict[tuple[str, str], list[Tag]] = {}
    for pin in pins:
        assert pin.anchor.snapshot is not None
        groups.setdefault((pin.path, pin.anchor.snapshot), []).append(pin)
    unsure: list[Tag] = []
    for (path, snapshot), members in groups.items():
        blob = history.blobs.at(head, path)
        new = history.blobs.text(blob) if blob is not None else None
        try:
            old = store.get_snapshot(snapshot) if new is not None else None
        except MagicMarkupError:
            old = None
        if new is None or old is None:
            unsure.extend(members)
            continue
        spans = [(_pin_start(p), _pin_start(p) + len(p.anchor.text)) for p in members]
        placements = reanchor(old, new, spans, language_for(path), None, th)
        unsure.extend(
            p for p, got in zip(members, placements, strict=True) if not sure_jump(got, new, p.anchor.text)
        )
    return unsure


def _rel(root: Path, path: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def _start(
    store: Store, history: History, base: str, path: str, snapshot: str, pins: list[Tag], th: Thresholds
) -> Start | None:
    """The pins placed in their document as it was in the commit that last wrote them (their
    snapshot, or one cascade step from it when the pin was committed with other text)."""
    blob = history.blobs.at(base, path)
    if blob is None:
        return None
    text = history.blobs.text(blob)
    if text is None:
        return None
    tracks = {pin.id: Track(_pin_start(pin), _pin_start(pin) + len(pin.anchor.text)) for pin in pins}
    if text_hash(text) != snapshot:
        try:
            old = store.get_snapshot(snapshot)
        except MagicMarkupError:
            return None
        tracks = step(old, text, tracks, language_for(path), th)
    return Start(base, path, blob, tracks)


def _pin_start(pin: Tag) -> int:
    return pin.anchor.start if pin.anchor.start is not None else pin.span.start


def _advanced(history: History, pin: Tag, path: str, blob: str | None, track: Track) -> Advanced:
    text = history.blobs.text(blob) if blob is not None else None
    if text is None or not track.placed or track.start is None or track.end is None:
        return Advanced(
            path, None, Placement(None, None, Status.ORPHANED, 0.0, f"history: {track.method}"), track.steps
        )
    if track.unsure:
        status = Status.NEEDS_REVIEW
    elif text[track.start : track.end] == pin.anchor.text:
        status = Status.MOVED
    else:
        status = Status.CHANGED
    label = f"history ({track.steps} versions): {track.method}"
    placement = Placement(track.start, track.end, status, track.confidence, label)
    return Advanced(path, text, placement, track.steps, track.moved_file is not None)


class _WalkCache:
    """One small file per pinned document under the local dir: each pin's walk end at a
    commit (keyed by the pin's content), written once per command (`flush`)."""

    def __init__(self, store: Store) -> None:
        self.dir = store.local_dir / "walk"
        self._docs: dict[str, dict[str, object]] = {}
        self._dirty: set[str] = set()

    def _file(self, rel: str) -> Path:
        return self.dir / f"{hashlib.sha1(rel.encode('utf-8', 'surrogatepass')).hexdigest()}.json"

    def _key(self, pin: Tag) -> str:
        data = orjson.dumps([pin.id, pin.path, pin.anchor, pin.span, pin.status.value])
        return hashlib.sha1(data).hexdigest()

    def _doc(self, rel: str) -> dict[str, object]:
        if rel not in self._docs:
            try:
                data = orjson.loads(self._file(rel).read_bytes())
            except (OSError, orjson.JSONDecodeError):
                data = {}
            ok = isinstance(data, dict) and data.get("v") == WALK_CACHE_VERSION and data.get("rel") == rel
            pins = data.get("pins") if ok else None
            self._docs[rel] = pins if isinstance(pins, dict) else {}
        return self._docs[rel]

    def _load(self, pin: Tag) -> dict[str, object]:
        entry = self._doc(pin.path).get(self._key(pin))
        return entry if isinstance(entry, dict) else {}

    def _entry(self, pin: Tag) -> tuple[str, str, str | None, Track] | None:
        data = self._load(pin)
        try:
            commit, path, blob = str(data["commit"]), str(data["path"]), data["blob"]
            raw = data["track"]
            assert isinstance(raw, list) and len(raw) == 6
            moved = data.get("moved_file")
            track = Track(
                raw[0],
                raw[1],
                float(raw[2]),
                bool(raw[3]),
                int(raw[4]),
                str(moved) if moved is not None else None,
                str(raw[5]),
            )
        except (KeyError, TypeError, ValueError, AssertionError):
            return None
        return commit, path, (str(blob) if blob is not None else None), track

    def get(self, pin: Tag, head: str) -> tuple[str, str | None, Track] | None:
        entry = self._entry(pin)
        if entry is None or entry[0] != head:
            return None
        return entry[1], entry[2], entry[3]

    def resume(self, pin: Tag, history: History) -> tuple[str, str, str, Track] | None:
        """The cached end of an earlier walk, when its commit is an ancestor of HEAD."""
        entry = self._entry(pin)
        if entry is None or entry[2] is None or not entry[3].placed:
            return None
        commit, path, blob, track = entry
        head = history.head()
        if blob is None or head is None or not history.is_ancestor(commit, head):
            return None
        return commit, path, blob, track

    def put(self, pin: Tag, head: str, path: str, blob: str | None, track: Track) -> None:
        data = {
            "v": WALK_CACHE_VERSION,
            "commit": head,
            "path": path,
            "blob": blob,
            "track": [track.start, track.end, track.confidence, track.unsure, track.steps, track.method],
            "moved_file": track.moved_file,
        }
        self._doc(pin.path)[self._key(pin)] = data
        self._dirty.add(pin.path)

    def flush(self) -> None:
        for rel in sorted(self._dirty):
            data = {"v": WALK_CACHE_VERSION, "rel": rel, "pins": self._docs[rel]}
            with contextlib.suppress(OSError):  # a cache that cannot be written is only slower next time
                self.dir.mkdir(parents=True, exist_ok=True)
                tmp = self._file(rel).with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(orjson.dumps(data))  # (no fsync: a cache lost in a crash is rebuilt)
                os.replace(tmp, self._file(rel))
        self._dirty.clear()


# -- placing pins in today's texts, carried through history first ----------------------------


def place_carried(
    store: Store,
    requests: Sequence[Request],
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
    problems: list[str] | None = None,
    other_text: Callable[[str], str | None] | None = None,
) -> list[dict[str, Placed]]:
    """As `pipeline.place`, but committed pins whose document changed since are first carried
    to HEAD through its history, then placed in the request's text from there (or in the text
    of the file their code moved to: `other_text(path)`, the result's `path` says which); the
    rest (and those with no history) are placed from their snapshot."""
    advanced = advance(store, [pin for req in requests for pin in req.pins], thresholds)
    if not advanced:
        return place(store, requests, resolver, thresholds, progress, problems)
    read_other = other_text or (lambda _path: None)
    out_requests: list[Request] = []
    owners: list[int] = []
    extra: dict[str, str] = {}
    carried: dict[str, tuple[Tag, Advanced, str, str]] = {}  # pin id -> (pin, advanced, where, text)
    for index, req in enumerate(requests):
        plain: list[Tag] = []
        by_file: dict[str, list[Tag]] = {}
        texts: dict[str, str] = {}
        for pin in req.pins:
            adv = advanced.get(pin.id)
            # the document itself (wherever it is now, a rename staged since HEAD included), or
            # the other file its code moved to
            where = adv.path if adv is not None and adv.elsewhere and adv.path != req.path else req.path
            text = req.text if where == req.path else read_other(where)
            if adv is None or adv.text is None or text is None:
                if adv is not None and adv.text is not None:
                    del advanced[pin.id]  # its file is gone from the disk: as without history
                plain.append(pin)
                continue
            assert adv.placement.start is not None and adv.placement.end is not None
            sha = text_hash(adv.text)
            extra[sha] = adv.text
            virtual = pin.model_copy()
            virtual.path = where
            virtual.anchor = make_anchor(
                adv.text, adv.placement.start, adv.placement.end, language_for(where), sha
            )
            virtual.span = Span(start=adv.placement.start, end=adv.placement.end)
            virtual.status, virtual.confidence, virtual.confirmed_text = Status.ANCHORED, 1.0, None
            by_file.setdefault(where, []).append(virtual)
            texts[where] = text
            carried[pin.id] = (pin, adv, where, text)
        if plain:
            out_requests.append(Request(req.path, req.text, plain))
            owners.append(index)
        for where, virtuals in by_file.items():
            out_requests.append(Request(where, texts[where], virtuals))
            owners.append(index)
    results = place(store, out_requests, resolver, thresholds, progress, problems, texts=extra)
    merged: list[dict[str, Placed]] = [{} for _ in requests]
    for index, result in zip(owners, results, strict=True):
        for pin_id, placed in result.items():
            if pin_id in carried:
                pin, adv, where, text = carried[pin_id]
                placed = _combine(pin, adv, placed, text, where, requests[index].path)
            elif pin_id in advanced:  # the history lost it; a confident jump is only a guess
                placed = _lost(advanced[pin_id], placed, (thresholds or Thresholds()).review)
            merged[index][pin_id] = placed
    return merged


def _combine(pin: Tag, adv: Advanced, placed: Placed, text: str, where: str, doc_path: str) -> Placed:
    """A pin carried to HEAD (`adv`) and from there into the text on disk (`placed`), judged
    against what the person tagged."""
    if placed.start is None or placed.end is None or placed.status is Status.ORPHANED:
        return Placed(None, None, Status.ORPHANED, 0.0, placed.method, placed.candidates)
    unsure = adv.placement.status is Status.NEEDS_REVIEW or placed.status is Status.NEEDS_REVIEW
    method = adv.placement.method
    if placed.method not in (EXACT, pin.method, adv.placement.method):
        method = f"{method}; {placed.method}"
    p = Placement(
        placed.start,
        placed.end,
        Status.NEEDS_REVIEW if unsure else Status.CHANGED,
        min(adv.placement.confidence, placed.confidence),
        method,
    )
    final = decide(pin, p, text, same_path=pin.path == where)
    final.path = where if where != doc_path else None
    return final


def _lost(adv: Advanced, jumped: Placed, review: float) -> Placed:
    """The walk saw the code go; a jump that still finds it confidently makes it a guess."""
    if rescued_by_jump(jumped.status, jumped.confidence, review) and jumped.start is not None:
        return Placed(
            jumped.start,
            jumped.end,
            Status.NEEDS_REVIEW,
            min(jumped.confidence, 0.5),
            f"{adv.placement.method}, but a jump found it: {jumped.method}",
            jumped.candidates,
        )
    if jumped.status is Status.ORPHANED:
        return jumped
    return Placed(None, None, Status.ORPHANED, 0.0, adv.placement.method, jumped.candidates)
