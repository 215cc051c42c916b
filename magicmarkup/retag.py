"""Re-anchoring entry points over the one pipeline (pipeline.py).

* `retag_worktree` refreshes the local view (view.py): where tags are in the files on disk. It
  never writes the shared store, so it never makes a change git would show.
* `repin_documents` moves pins onto new texts and saves them: what a commit does (the
  pre-commit hook, with the staged texts) and what `retag A..B` does through a range.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from magicmarkup.advance import place_carried
from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.documents import text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Status, Tag
from magicmarkup.pipeline import Progress, Request, orphan_deleted, place, repin
from magicmarkup.report import DocumentUpdate, RetagReport, TagChange
from magicmarkup.sharing import ignored_paths
from magicmarkup.store import Store
from magicmarkup.view import current

__all__ = [
    "DocumentUpdate",
    "Progress",
    "RetagReport",
    "TagChange",
    "repin_documents",
    "retag_worktree",
]


def retag_worktree(
    store: Store,
    paths: Sequence[str] | None = None,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
) -> RetagReport:
    """Re-anchor tags to the files as they are on disk now (the local view; the model, when
    given, is asked about the placements the cheap stages were unsure of)."""
    return current(store, paths, resolver=resolver, thresholds=thresholds, progress=progress).report


def repin_documents(
    store: Store,
    updates: Sequence[DocumentUpdate],
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    reason: str = "commit",
    progress: Progress | None = None,
    lock_timeout: float | None = None,
    history: bool = False,
) -> RetagReport:
    """Move the pins of each updated document onto its new text and save what changed: new
    pins are written before old ones are removed, each document read once, under the lock.
    `history`: the texts are HEAD's or newer (a commit), so committed pins whose document
    changed since they were pinned are carried through its history first."""
    began = time.perf_counter()
    report = RetagReport(llm_used=resolver is not None)
    # The sharing rule (sharing.py): a new text git ignores is never copied into a pin.
    private = ignored_paths(store.root, [u.path for u in updates if u.text is not None])
    with store.locked(lock_timeout):
        sources: dict[str, list[Tag]] = {}
        requests: list[Request] = []
        deleted: list[DocumentUpdate] = []
        live: list[DocumentUpdate] = []
        for update in updates:
            if update.path in private:
                report.errors.append(f"{update.path}: git ignores this file; its tags are not re-pinned")
                continue
            source = update.old_path or update.path
            try:
                pins = store.load(source)
            except MagicMarkupError as exc:
                report.errors.append(str(exc))
                continue
            if not pins:
                continue
            sources[source] = pins
            report.documents += 1
            if update.text is None:
                deleted.append(update)
            else:
                live.append(update)
                requests.append(Request(update.path, update.text, pins))
        report.errors += store.problems
        store.problems = []
        if history:
            results = place_carried(store, requests, resolver, thresholds, progress, report.errors)
        else:
            results = place(store, requests, resolver, thresholds, progress, report.errors)
        writes: dict[str, list[Tag]] = {}
        snapshots: list[str] = []
        for update, placements in zip(live, results, strict=True):
            assert update.text is not None
            source = update.old_path or update.path
            sha = text_hash(update.text)
            pins = sources[source]
            changed = False
            for pin in pins:
                placed = placements[pin.id]
                old_span, old_path = pin.span, pin.path
                if repin(pin, placed, update.text, update.path, sha, reason):
                    changed = True
                    report.changes.append(
                        TagChange(
                            pin.id,
                            update.path,
                            old_path if old_path != update.path else None,
                            old_span.start,
                            old_span.end,
                            placed.start,
                            placed.end,
                            placed.status.value,
                            placed.method,
                            placed.confidence,
                        ).place(update.text)
                    )
                report.tags += 1
                report.counts[pin.status.value] += 1
                report.llm_calls += placed.llm_calls
                report.llm_tokens += placed.llm_tokens
                report.llm_failed += placed.llm_error is not None
            if changed:
                if any(p.anchor.snapshot == sha for p in pins):
                    snapshots.append(update.text)
                if source != update.path:
                    writes[update.path] = store.load(update.path) + pins
                    writes.setdefault(source, [])
                else:
                    writes[update.path] = pins
        for update in deleted:
            source = update.old_path or update.path
            pins = sources[source]
            for pin in pins:
                report.tags += 1
                report.counts[Status.ORPHANED.value] += 1
                if orphan_deleted(pin, reason):
                    report.changes.append(
                        TagChange(
                            pin.id,
                            pin.path,
                            None,
                            pin.span.start,
                            pin.span.end,
                            None,
                            None,
                            "orphaned",
                            "deleted",
                            0.0,
                        )
                    )
                    writes[source] = pins
        store.put_snapshots(snapshots)
        store.save_many(writes)
    report.seconds = time.perf_counter() - began
    return report
