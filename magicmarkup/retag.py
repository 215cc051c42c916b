"""Applying the cascade to the store: from each tag's snapshot to a document's new text.

Used by `retag --worktree`, the git integration (blob to blob), the watcher and the TUI.
Placements are computed without holding the store lock (the LLM may take a while); the lock
is then taken, each document reloaded, and only tags still anchored where we computed from
are updated, so a concurrent `add` or `edit` is never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from magicmarkup.anchoring import Job, OldSpan, Placement, Resolver, Thresholds, reanchor_many
from magicmarkup.documents import language_for, text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Candidate, RetagEvent, Span, Status, Tag, utcnow
from magicmarkup.store import Store
from magicmarkup.tags import make_anchor

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DocumentUpdate:
    """A document's new state: `text` None means it was deleted; `old_path` names where its
    tags are stored when it was renamed."""

    path: str
    text: str | None
    old_path: str | None = None


@dataclass(slots=True)
class TagChange:
    id: str
    path: str
    old_path: str | None
    old_start: int
    old_end: int
    start: int | None
    end: int | None
    status: str
    method: str
    confidence: float


@dataclass
class RetagReport:
    documents: int = 0
    tags: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Status})
    changes: list[TagChange] = field(default_factory=list)
    llm_calls: int = 0
    llm_tokens: int = 0
    llm_failed: int = 0  # tags the model was asked about but could not help
    llm_used: bool = False
    skipped: int = 0  # tags left untouched because they changed while we worked
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: RetagReport) -> None:
        self.documents += other.documents
        self.tags += other.tags
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        self.changes.extend(other.changes)
        self.llm_calls += other.llm_calls
        self.llm_tokens += other.llm_tokens
        self.llm_failed += other.llm_failed
        self.llm_used = self.llm_used or other.llm_used
        self.skipped += other.skipped
        self.errors.extend(other.errors)
        self.seconds += other.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "tags": self.tags,
            "counts": self.counts,
            "changed": [asdict(c) for c in self.changes],
            "llm": {
                "used": self.llm_used,
                "calls": self.llm_calls,
                "tokens": self.llm_tokens,
                "failed": self.llm_failed,
            },
            "skipped": self.skipped,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Group:
    """Tags of one document anchored in one snapshot: one diff serves them all."""

    update: DocumentUpdate
    source: str  # the path the tags are stored under
    snapshot: str | None
    old_text: str
    tags: list[Tag]


def _stand_in(tag: Tag) -> str:
    """Without its snapshot, the text a tag was anchored in is rebuilt from the anchor's own
    context (offsets then refer to that stand-in)."""
    return tag.anchor.prefix + tag.anchor.text + tag.anchor.suffix


def retag_documents(
    store: Store,
    updates: Sequence[DocumentUpdate],
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    reason: str = "worktree",
    progress: Progress | None = None,
) -> RetagReport:
    """Re-anchor the tags of each updated document and save the results."""
    began = time.perf_counter()
    report = RetagReport(llm_used=resolver is not None)
    groups: list[_Group] = []
    deleted: list[DocumentUpdate] = []
    for update in updates:
        source = update.old_path or update.path
        try:
            tags = store.load(source)
        except MagicMarkupError as exc:
            report.errors.append(str(exc))
            continue
        if not tags:
            continue
        report.documents += 1
        if update.text is None:
            deleted.append(update)
            continue
        present = {sha: store.has_snapshot(sha) for sha in {t.anchor.snapshot for t in tags} if sha}
        by_snapshot: dict[str | None, list[Tag]] = {}
        for tag in tags:
            sha = tag.anchor.snapshot
            by_snapshot.setdefault(sha if sha and present[sha] else None, []).append(tag)
        new_sha = text_hash(update.text)
        for sha, members in by_snapshot.items():
            if sha == new_sha and source == update.path:
                report.tags += len(members)  # nothing changed since these tags were anchored
                for tag in members:
                    report.counts[tag.status.value] += 1
                continue
            if sha is not None:
                groups.append(_Group(update, source, sha, store.get_snapshot(sha), members))
            else:  # each tag is its own stand-in document
                for tag in members:
                    groups.append(_Group(update, source, None, _stand_in(tag), [tag]))

    jobs = []
    for g in groups:
        language = language_for(g.update.path)
        spans = []
        for tag in g.tags:
            start = len(tag.anchor.prefix) if g.snapshot is None else _anchor_start(tag)
            spans.append(OldSpan(start, start + len(tag.anchor.text), tag.anchor.node_type))
        jobs.append(Job(g.old_text, g.update.text or "", spans, language))
    results = _run_jobs(jobs, resolver, thresholds, progress)

    with store.locked():
        # The new texts become the snapshots of every tag placed in them; write them up front,
        # in parallel, rather than one fsync at a time inside the loop below.
        store.put_snapshots([g.update.text for g in groups if g.update.text is not None])
        touched: dict[str, tuple[list[Tag], str]] = {}  # path -> (tags, source path)
        for g, placements in zip(groups, results, strict=True):
            assert g.update.text is not None
            if g.update.path not in touched:
                current = store.load(g.source)
                if g.source != g.update.path:
                    current = store.load(g.update.path) + [
                        t.model_copy(update={"path": g.update.path}) for t in current
                    ]
                touched[g.update.path] = (current, g.source)
            current, _ = touched[g.update.path]
            by_id = {t.id: t for t in current}
            new_sha = text_hash(g.update.text)
            for tag, placement in zip(g.tags, placements, strict=True):
                live = by_id.get(tag.id)
                if live is None or live.anchor.snapshot != tag.anchor.snapshot or live.span != tag.span:
                    report.skipped += 1
                    continue
                report.tags += 1
                report.llm_calls += placement.llm_calls
                report.llm_tokens += placement.llm_tokens
                if placement.llm_error is not None:
                    report.llm_failed += 1
                change = _apply(store, live, placement, g, new_sha, reason)
                report.counts[live.status.value] += 1
                if change is not None:
                    report.changes.append(change)
        writes: dict[str, list[Tag]] = {}
        for path, (current, source) in touched.items():
            writes[path] = current
            if source != path:
                writes.setdefault(source, [])
        store.save_many(writes)
        for update in deleted:
            source = update.old_path or update.path
            current = store.load(source)
            for tag in current:
                report.tags += 1
                if tag.status is not Status.ORPHANED:
                    old = tag.span
                    tag.history.append(
                        RetagEvent(
                            from_snapshot=tag.anchor.snapshot,
                            to_snapshot=None,
                            old_span=old,
                            new_span=None,
                            status=Status.ORPHANED,
                            method="deleted",
                            confidence=0.0,
                            reason=f"{reason}: file deleted",
                        )
                    )
                    tag.status, tag.confidence, tag.method, tag.updated_at = (
                        Status.ORPHANED,
                        0.0,
                        "deleted",
                        utcnow(),
                    )
                    report.changes.append(
                        TagChange(
                            tag.id,
                            tag.path,
                            None,
                            old.start,
                            old.end,
                            None,
                            None,
                            tag.status.value,
                            tag.method,
                            0.0,
                        )
                    )
                report.counts[Status.ORPHANED.value] += 1
            store.save(source, current)
    report.seconds = time.perf_counter() - began
    return report


def _anchor_start(tag: Tag) -> int:
    """Where the anchor text starts in its snapshot (a needs_review tag's span is a guess in a
    newer text, so it cannot be used)."""
    if tag.anchor.start is not None:
        return tag.anchor.start
    return tag.span.start


def _run_jobs(
    jobs: list[Job], resolver: Resolver | None, thresholds: Thresholds | None, progress: Progress | None
) -> list[list[Placement]]:
    if progress is None or resolver is not None:
        results = reanchor_many(jobs, resolver, thresholds)
        if progress:
            progress(len(jobs), len(jobs))
        return results
    out = []
    for i, job in enumerate(jobs):
        out.extend(reanchor_many([job], None, thresholds))
        progress(i + 1, len(jobs))
    return out


def _apply(store: Store, tag: Tag, p: Placement, g: _Group, new_sha: str, reason: str) -> TagChange | None:
    """Write one placement into a tag; returns the change if anything moved or changed status."""
    assert g.update.text is not None
    old_span, old_status, old_path = tag.span, tag.status, g.source
    renamed = g.source != g.update.path
    new_span = Span(start=p.start, end=p.end) if p.start is not None and p.end is not None else None
    unchanged = (
        new_span == old_span
        and p.status is Status.ANCHORED
        and old_status is Status.ANCHORED
        and tag.anchor.snapshot == new_sha
        and not renamed
    )
    if unchanged:
        return None
    if p.status.placed and new_span is not None:
        tag.anchor = make_anchor(
            g.update.text,
            new_span.start,
            new_span.end,
            language_for(g.update.path),
            new_sha,  # written with the other new texts before the loop
        )
        tag.span = new_span
        tag.candidates = []
    else:
        # Keep the last confident anchor (text + snapshot): it is the evidence for later retags
        # and for a human repairing the tag. The span shows the best guess, if any.
        if new_span is not None and p.status is Status.NEEDS_REVIEW:
            tag.span = new_span
        tag.candidates = [
            Candidate(
                start=c.start,
                end=c.end,
                score=c.score,
                method=c.method,
                text=g.update.text[c.start : c.end][:2000],
            )
            for c in p.candidates
        ]
    tag.status = p.status
    tag.confidence = p.confidence
    tag.method = p.method
    tag.updated_at = utcnow()
    tag.history.append(
        RetagEvent(
            from_snapshot=g.snapshot,
            to_snapshot=new_sha,
            old_span=old_span,
            new_span=new_span,
            status=p.status,
            method=p.method,
            confidence=p.confidence,
            old_path=old_path if renamed else None,
            reason=reason,
        )
    )
    if new_span == old_span and p.status is old_status and not renamed:
        return None
    return TagChange(
        tag.id,
        g.update.path,
        old_path if renamed else None,
        old_span.start,
        old_span.end,
        p.start,
        p.end,
        p.status.value,
        p.method,
        p.confidence,
    )


def worktree_updates(
    store: Store, paths: Sequence[str] | None = None
) -> tuple[list[DocumentUpdate], list[str]]:
    """The current on-disk state of every annotated document (or of `paths`); unreadable
    files are reported, not treated as deleted (their tags are left alone)."""
    updates: list[DocumentUpdate] = []
    errors: list[str] = []
    for rel in paths if paths is not None else store.paths():
        try:
            full = store.document_path(rel)
            if not full.exists() and not full.is_symlink():
                updates.append(DocumentUpdate(rel, None))
                continue
            updates.append(DocumentUpdate(rel, store.read_document(rel)))
        except MagicMarkupError as exc:  # reported per file; this file's tags are left alone
            errors.append(str(exc))
    return updates, errors


def retag_worktree(
    store: Store,
    paths: Sequence[str] | None = None,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
) -> RetagReport:
    """Re-anchor tags from their snapshots to the files as they are on disk now."""
    updates, errors = worktree_updates(store, paths)
    report = retag_documents(store, updates, resolver, thresholds, reason="worktree", progress=progress)
    report.errors = errors + report.errors
    return report
