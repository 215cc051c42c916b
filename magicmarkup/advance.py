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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from magicmarkup.anchoring import Placement, Thresholds
from magicmarkup.documents import language_for, text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Status, Tag
from magicmarkup.store import Store, atomic_write, git_dir_of
from magicmarkup.walk import History, Start, Track, pin_commits, step, walk

WALK_CACHE_VERSION = 1
HISTORY_ENV = "MAGICMARKUP_HISTORY"  # "0": jump only (to measure the walk against it)


@dataclass(slots=True)
class Advanced:
    """A pin's place at HEAD, found by walking its document's history."""

    path: str  # the file its code is in at HEAD
    text: str | None  # that file's text at HEAD (None: orphaned)
    placement: Placement  # in `text`; NEEDS_REVIEW when a step was unsure, ORPHANED when lost
    steps: int  # versions walked through


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
    for pin in pins:
        if pin.anchor.snapshot is None:
            continue
        blob = history.blobs.at(head, pin.path)
        text = history.blobs.text(blob) if blob is not None else None
        if text is not None and text_hash(text) == pin.anchor.snapshot:
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
    if not todo:
        return out
    root = store.root
    files = {pin.id: _rel(root, store.pin_file(pin.path, pin.id)) for pin in todo}
    bases = pin_commits(root, [f for f in files.values() if f is not None])
    groups: dict[tuple[str, str, str], list[Tag]] = {}
    for pin in todo:
        resumed = cache.resume(pin, history)
        if resumed is not None:
            commit, path, blob, track = resumed
            got = walk(history, Start(commit, path, blob, {pin.id: track}), head, th)
            if got is not None:
                outcome = got[pin.id]
                cache.put(pin, head, outcome.path, outcome.blob, outcome.track)
                out[pin.id] = _advanced(history, pin, outcome.path, outcome.blob, outcome.track)
                continue
        file = files[pin.id]
        base = bases.get(file) if file is not None else None
        if base is None:
            continue
        assert pin.anchor.snapshot is not None
        groups.setdefault((base, pin.path, pin.anchor.snapshot), []).append(pin)
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
    return out


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
    return Advanced(
        path, text, Placement(track.start, track.end, status, track.confidence, label), track.steps
    )


class _WalkCache:
    """One small file per pin under the local dir: the walk's end at a commit."""

    def __init__(self, store: Store) -> None:
        self.dir = store.local_dir / "walk"
        self._read: dict[str, dict[str, object]] = {}

    def _key(self, pin: Tag) -> str:
        data = orjson.dumps([pin.id, pin.path, pin.anchor, pin.span, pin.status.value])
        return hashlib.sha1(data).hexdigest()

    def _load(self, pin: Tag) -> dict[str, object]:
        key = self._key(pin)
        if key not in self._read:
            try:
                data = orjson.loads((self.dir / f"{key}.json").read_bytes())
            except (OSError, orjson.JSONDecodeError):
                data = {}
            self._read[key] = data if isinstance(data, dict) and data.get("v") == WALK_CACHE_VERSION else {}
        return self._read[key]

    def _entry(self, pin: Tag) -> tuple[str, str, str | None, Track] | None:
        data = self._load(pin)
        try:
            commit, path, blob = str(data["commit"]), str(data["path"]), data["blob"]
            raw = data["track"]
            assert isinstance(raw, list) and len(raw) == 6
            track = Track(raw[0], raw[1], float(raw[2]), bool(raw[3]), int(raw[4]), None, str(raw[5]))
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
        }
        key = self._key(pin)
        self._read[key] = data
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower next time
            atomic_write(self.dir / f"{key}.json", orjson.dumps(data))
