"""The live watcher: re-anchor a file's tags as soon as it is saved.

`Watcher.handle(changes)` is the whole decision for one burst of file-system events and is
driven directly by tests; `Watcher.run(stop_event)` feeds it from `watchfiles` (debounced).
What matters is the state on disk after the burst, not the event names: an editor's
"write a temp file, rename it over the original" leaves the original existing, so it is a
modification; an annotated file that is gone, with a new file of the same content (or of very
similar content) created in the same burst, is a rename; otherwise its tags are orphaned, and a
matching file appearing shortly after (a slow `mv` across bursts) still adopts them.

The store is shared with the CLI, the TUI and git hooks: `retag_documents` reloads under the
lock and never overwrites a tag changed meanwhile; a tag added while we worked is caught up by
re-running on the documents whose tags are behind the text on disk.
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
from magicmarkup.git import apply_updates
from magicmarkup.model import Tag
from magicmarkup.retag import DocumentUpdate, RetagReport, TagChange
from magicmarkup.store import STORE_DIR, Store

RENAME_WINDOW_S = 3.0  # a deleted file's tags can still follow a rename this long after
RENAME_SIMILARITY = 0.6  # below this, a new file is not taken for the deleted one
MAX_CATCH_UP_ROUNDS = 3

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
        """Re-anchor the tags of every annotated document this burst touched."""
        began = time.perf_counter()
        rels = {r for _, p in changes if (r := self._rel(p)) is not None}
        rels |= self._inside_new_dirs(rels)
        now = time.monotonic()
        self._pending = {p: t for p, t in self._pending.items() if now - t < RENAME_WINDOW_S}
        if not rels and not self._pending:
            return []
        annotated = set(self.store.paths())
        modified = sorted(r for r in rels if r in annotated and self._exists(r))
        gone = sorted(r for r in rels if r in annotated and not self._exists(r))
        created = sorted(r for r in rels if r not in annotated and self._exists(r))
        waiting = [p for p in self._pending if p not in gone and p in annotated and not self._exists(p)]
        if not modified and not gone and not (created and (waiting or gone)):
            return []

        events: list[WatchEvent] = []
        updates: list[DocumentUpdate] = []
        for rel in modified:
            try:
                updates.append(DocumentUpdate(rel, self.store.read_document(rel)))
            except MagicMarkupError as exc:
                events.append(WatchEvent("error", rel, error=str(exc)))
        renamed = self._match_renames([*gone, *waiting], self._unignored(created))
        for old, (new, text) in renamed.items():
            updates.append(DocumentUpdate(new, text, old))
            self._pending.pop(old, None)
        for rel in gone:
            if rel not in renamed:
                updates.append(DocumentUpdate(rel, None))
                self._pending[rel] = now
        if updates:
            report = apply_updates(self.store, updates, self.resolver, self.thresholds, reason="watch")
            self._catch_up(updates, report)
            events.extend(self._events(updates, report))
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

    def _match_renames(self, gone: list[str], created: list[str]) -> dict[str, tuple[str, str]]:
        """old path -> (new path, text): same content as a snapshot of the old file's tags
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
        out: dict[str, tuple[str, str]] = {}
        taken: set[str] = set()
        for old in gone:
            shas = self._snapshots_of(self.store.load(old))
            hit = next((by_hash[s] for s in shas if s in by_hash and by_hash[s] not in taken), None)
            if hit is None and shas and self.store.has_snapshot(shas[0]):
                last = self.store.get_snapshot(shas[0])
                best, best_score = None, RENAME_SIMILARITY
                for rel, text in texts.items():
                    if rel in taken or not _similar_size(last, text):
                        continue
                    score = Indel.normalized_similarity(last, text)
                    if score >= best_score:
                        best, best_score = rel, score
                hit = best
            if hit is not None:
                taken.add(hit)
                out[old] = (hit, texts[hit])
        return out

    @staticmethod
    def _snapshots_of(tags: list[Tag]) -> list[str]:
        """Texts the file is known to have had, most recent first."""
        seen: list[str] = []
        for tag in tags:
            for sha in (
                *(e.to_snapshot for e in reversed(tag.history)),
                tag.anchor.snapshot,
            ):
                if sha and sha not in seen:
                    seen.append(sha)
        return seen

    def _catch_up(self, updates: list[DocumentUpdate], report: RetagReport) -> None:
        """Re-run documents whose tags are behind their text (a tag added or edited while we
        computed): nothing written meanwhile is lost, and nothing is left stale."""
        for _ in range(MAX_CATCH_UP_ROUNDS):
            behind: list[DocumentUpdate] = []
            for u in updates:
                if u.text is None:
                    continue
                sha = text_hash(u.text)
                current = self.store.read_document(u.path) if self._exists(u.path) else None
                if current is None or text_hash(current) != sha:
                    continue  # changed again: the next burst handles it
                if any(_behind(t, sha) for t in self.store.load(u.path)):
                    behind.append(DocumentUpdate(u.path, current))
            if not behind:
                return
            again = apply_updates(self.store, behind, self.resolver, self.thresholds, reason="watch")
            report.merge(again)
            updates = behind

    def _events(self, updates: list[DocumentUpdate], report: RetagReport) -> list[WatchEvent]:
        by_path: dict[str, list[TagChange]] = {}
        for c in report.changes:
            by_path.setdefault(c.path, []).append(c)
        events = []
        for u in updates:
            changes = by_path.get(u.path, [])
            if u.text is None:
                tags = len(self.store.load(u.path))
                events.append(WatchEvent("deleted", u.path, tags=tags, changes=changes))
            else:
                kind = "renamed" if u.old_path else "modified"
                tags = len(self.store.load(u.path))
                events.append(WatchEvent(kind, u.path, u.old_path, tags=tags, changes=changes))
        for err in report.errors:
            events.append(WatchEvent("error", "", error=err))
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


def _behind(tag: Tag, sha: str) -> bool:
    """Never re-anchored to this text (fresh tags on an older text, or ones we skipped)."""
    if tag.anchor.snapshot == sha:
        return False
    return not tag.history or tag.history[-1].to_snapshot != sha


def _similar_size(a: str, b: str) -> bool:
    small, big = sorted((len(a), len(b)))
    return big == 0 or small / big >= RENAME_SIMILARITY
