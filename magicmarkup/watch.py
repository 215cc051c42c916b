"""The live watcher: re-anchor a file's tags as soon as it is saved.

`Watcher.handle(changes)` is the whole decision for one burst of file-system events and is
driven directly by tests; `Watcher.run(stop_event)` feeds it from `watchfiles` (debounced).
What matters is the state on disk after the burst, not the event names: an editor's
"write a temp file, rename it over the original" leaves the original existing, so it is a
modification; an annotated file that is gone, with a new file of the same content (or of very
similar content) created in the same burst, is a rename; otherwise its tags are orphaned, and a
matching file appearing shortly after (a slow `mv` across bursts) still adopts them.

The watcher writes nothing shared: it refreshes the local view (view.py) of the files it saw
change, and remembers a rename it saw on disk (a `mv` git does not know of yet) in the local
state, so every reader follows it too. The pins move only when a commit re-pins them.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Indel
from watchfiles import Change, DefaultFilter

from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.documents import text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.report import TagChange
from magicmarkup.store import STORE_DIR, Store
from magicmarkup.view import Current, current, local_renames, record_local_rename

RENAME_WINDOW_S = 3.0  # a deleted file's tags can still follow a rename this long after
RENAME_SIMILARITY = 0.6  # below this, a new file is not taken for the deleted one

RawChange = tuple[Change | int, str]


@dataclass
class WatchEvent:
    """What one change of one annotated document did to its tags."""

    kind: str  # modified | renamed | deleted | error
    path: str
    old_path: str | None = None
    tags: int = 0
    changes: list[TagChange] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(c.status for c in self.changes))

    def line(self) -> str:
        """One line for the terminal."""
        counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(self.counts.items()))
        if self.kind == "error":
            return f"{self.path}: {self.error}"
        if self.kind == "deleted":
            return f"{self.path} deleted: {self.tags} tags orphaned"
        if self.kind == "renamed":
            return f"{self.old_path} -> {self.path}: {self.tags} tags followed the rename" + (
                f" ({counts})" if counts else ""
            )
        if not self.changes:
            return f"{self.path}: {self.tags} tags stay in place"
        return f"{self.path}: {counts} (of {self.tags} tags)"

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "path": self.path,
            "old_path": self.old_path,
            "tags": self.tags,
            "counts": self.counts,
            "changes": [asdict(c) for c in self.changes],
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }


class _Filter(DefaultFilter):
    """watchfiles' defaults (.git, caches, editor swap files) plus our own store."""

    def __init__(self) -> None:
        super().__init__(ignore_dirs=(*DefaultFilter.ignore_dirs, STORE_DIR))


class Watcher:
    """Re-anchors tags of changed files. Not thread-safe itself: one thread calls `handle`."""

    def __init__(
        self,
        store: Store,
        resolver: Resolver | None = None,
        thresholds: Thresholds | None = None,
        scope: Sequence[str] | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
        debounce_ms: int = 1000,
        step_ms: int = 50,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.thresholds = thresholds
        self.scope = [s.rstrip("/") for s in scope or []]
        self.on_event = on_event
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.ready = threading.Event()  # set once the file-system watch is in place
        self._pending: dict[str, float] = {}  # deleted annotated path -> when
        self._filter = _Filter()

    # -- scope -----------------------------------------------------------------------------

    def roots(self) -> list[Path]:
        """Directories to watch (a file in the scope means its directory)."""
        if not self.scope:
            return [self.store.root]
        out: list[Path] = []
        for rel in self.scope:
            full = self.store.root / rel
            out.append(full if full.is_dir() else full.parent)
        return sorted(set(out))

    def in_scope(self, rel: str) -> bool:
        return not self.scope or any(rel == s or rel.startswith(s + "/") for s in self.scope)

    def _rel(self, path: str) -> str | None:
        try:
            rel = Path(path).resolve().relative_to(self.store.root).as_posix()
        except ValueError:
            try:  # a path that no longer exists cannot be resolved through symlinks
                rel = Path(path).relative_to(self.store.root).as_posix()
            except ValueError:
                return None
        first = rel.split("/", 1)[0]
        if first in (STORE_DIR, ".git") or rel == "." or not self.in_scope(rel):
            return None
        return rel

    # -- one burst -------------------------------------------------------------------------

    def handle(self, changes: Iterable[RawChange]) -> list[WatchEvent]:
        """Refresh the local view of every annotated document this burst touched."""
        began = time.perf_counter()
        rels = {r for _, p in changes if (r := self._rel(p)) is not None}
        rels |= self._inside_new_dirs(rels)
        now = time.monotonic()
        self._pending = {p: t for p, t in self._pending.items() if now - t < RENAME_WINDOW_S}
        if not rels and not self._pending:
            return []
        moved = local_renames(self.store)
        pinned_at = {moved.get(rel, rel): rel for rel in self.store.paths()}  # current path -> pinned path
        annotated = set(pinned_at)
        modified = sorted(r for r in rels if r in annotated and self._exists(r))
        gone = sorted(r for r in rels if r in annotated and not self._exists(r))
        created = sorted(r for r in rels if r not in annotated and self._exists(r))
        waiting = [p for p in self._pending if p not in gone and p in annotated and not self._exists(p)]
        if not modified and not gone and not (created and (waiting or gone)):
            return []
        renamed = self._match_renames([*gone, *waiting], self._unignored(created), pinned_at)
        for old, new in renamed.items():
            record_local_rename(self.store, pinned_at[old], new)
            self._pending.pop(old, None)
        for rel in gone:
            if rel not in renamed:
                self._pending[rel] = now
        touched = [pinned_at[r] for r in [*modified, *renamed, *gone]]
        view = current(self.store, touched, resolver=self.resolver, thresholds=self.thresholds)
        deleted = [g for g in gone if g not in renamed]
        events = self._events(modified, renamed, deleted, pinned_at, view)
        elapsed = time.perf_counter() - began
        for event in events:
            event.seconds = elapsed
            if self.on_event is not None:
                self.on_event(event)
        return events

    def _inside_new_dirs(self, rels: set[str], limit: int = 2000) -> set[str]:
        """Files inside directories that appeared in this burst: a file moved into a brand-new
        directory can land before the directory is watched, so its own event may never come."""
        found: set[str] = set()
        for rel in rels:
            full = self.store.root / rel
            if not full.is_dir() or full.is_symlink():
                continue
            for file in full.rglob("*"):
                if len(found) >= limit:
                    return found
                if file.is_file():
                    sub = self._rel(str(file))
                    if sub is not None and self._filter(Change.added, str(file)):
                        found.add(sub)
        return found

    def _exists(self, rel: str) -> bool:
        return (self.store.root / rel).is_file()

    def _unignored(self, rels: list[str]) -> list[str]:
        """Drop paths git ignores (build output is never a rename target)."""
        if not rels:
            return []
        try:
            proc = subprocess.run(
                ["git", "check-ignore", "--stdin", "-z"],
                cwd=self.store.root,
                input="\0".join(rels).encode() + b"\0",
                capture_output=True,
                check=False,
            )
        except OSError:
            return rels
        if proc.returncode not in (0, 1):
            return rels  # not a git repository: nothing is ignored
        ignored = set(proc.stdout.decode("utf-8", "surrogateescape").split("\0"))
        return [r for r in rels if r not in ignored]

    def _match_renames(
        self, gone: list[str], created: list[str], pinned_at: dict[str, str]
    ) -> dict[str, str]:
        """old path -> new path: same content as the text the old file's tags are pinned in
        first, else the most similar new file above RENAME_SIMILARITY."""
        if not gone or not created:
            return {}
        texts: dict[str, str] = {}
        for rel in created:
            try:
                texts[rel] = self.store.read_document(rel)
            except MagicMarkupError:
                continue
        by_hash = {text_hash(t): rel for rel, t in texts.items()}
        out: dict[str, str] = {}
        taken: set[str] = set()
        for old in gone:
            shas = [
                t.anchor.snapshot for t in self.store.load(pinned_at[old], history=False) if t.anchor.snapshot
            ]
            hit = next((by_hash[s] for s in shas if s in by_hash and by_hash[s] not in taken), None)
            if hit is None and shas:
                try:
                    last = self.store.get_snapshot(shas[0])
                except MagicMarkupError:
                    last = None
                best, best_score = None, RENAME_SIMILARITY
                for rel, text in texts.items():
                    if last is None or rel in taken or not _similar_size(last, text):
                        continue
                    score = Indel.normalized_similarity(last, text)
                    if score >= best_score:
                        best, best_score = rel, score
                hit = best
            if hit is not None:
                taken.add(hit)
                out[old] = hit
        return out

    def _events(
        self,
        modified: list[str],
        renamed: dict[str, str],
        deleted: list[str],
        pinned_at: dict[str, str],
        view: Current,
    ) -> list[WatchEvent]:
        by_path: dict[str, list[TagChange]] = {}
        counts: Counter[str] = Counter(t.path for t in view.tags)
        for c in view.report.changes:
            by_path.setdefault(c.path, []).append(c)
        events = [
            WatchEvent("modified", rel, tags=counts[rel], changes=by_path.get(rel, [])) for rel in modified
        ]
        events += [
            WatchEvent("renamed", new, old, tags=counts[new], changes=by_path.get(new, []))
            for old, new in renamed.items()
        ]
        events += [  # a deleted document's tags are shown at the path they are pinned to
            WatchEvent("deleted", rel, tags=counts[pinned_at[rel]], changes=by_path.get(pinned_at[rel], []))
            for rel in deleted
        ]
        events += [WatchEvent("error", "", error=err) for err in view.report.errors]
        return events

    # -- the loop --------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None, timeout_ms: int = 500) -> None:
        """Watch until `stop_event` is set (or Ctrl-C, which returns normally)."""
        from watchfiles._rust_notify import RustNotify

        roots = [str(r) for r in self.roots()]
        stop = stop_event or threading.Event()
        try:
            from watchfiles.main import _default_force_polling

            polling = bool(_default_force_polling(None))
        except ImportError:  # private helper moved: inotify/FSEvents, as by default
            polling = False
        with RustNotify(roots, False, polling, 300, True, False) as notify:
            self.ready.set()
            while not stop.is_set():
                raw = notify.watch(self.debounce_ms, self.step_ms, timeout_ms, stop)
                if raw == "stop":
                    return
                if raw == "signal":
                    raise KeyboardInterrupt
                if raw == "timeout":
                    if self._pending:
                        self.handle([])  # let stale pending renames expire
                    continue
                changes = [(Change(c), p) for c, p in raw if self._filter(Change(c), p)]
                if changes:
                    self.handle(changes)


def _similar_size(a: str, b: str) -> bool:
    small, big = sorted((len(a), len(b)))
    return big == 0 or small / big >= RENAME_SIMILARITY
