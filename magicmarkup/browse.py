"""Reading and repairing the store the way a browser (the TUI) needs: per-file summaries,
search over notes and tag text, rejecting a guessed placement, reverting a tag to an earlier
version (undo), and a cheap fingerprint to notice when another process changed the store.

Pure functions over lists of tags where possible; the writes go through the store's lock.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from magicmarkup.errors import StoreError
from magicmarkup.model import RetagEvent, Status, Tag, utcnow
from magicmarkup.store import Store

# The highlight colour of a tag without a `color` in its metadata.
STATUS_COLORS: dict[Status, str] = {
    Status.ANCHORED: "#3fb950",
    Status.MOVED: "#39c5cf",
    Status.CHANGED: "#d29922",
    Status.NEEDS_REVIEW: "#db61a2",
    Status.ORPHANED: "#f85149",
}

REVIEW_STATUSES = (Status.NEEDS_REVIEW, Status.ORPHANED)


def tag_color(tag: Tag) -> str:
    """The colour a user chose (`metadata.color`), else one that says the tag's status."""
    color = tag.metadata.get("color")
    if isinstance(color, str) and color.strip():
        return color.strip()
    return STATUS_COLORS[tag.status]


def first_line(text: str, width: int | None = None) -> str:
    """The first non-blank line of a note, cut to `width` with an ellipsis."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if width is not None and len(line) > width:
        return line[: max(0, width - 1)] + "…"
    return line


@dataclass(frozen=True, slots=True)
class FileSummary:
    """One annotated document: how many tags, and how many need a human."""

    path: str
    tags: int
    needs_review: int
    orphaned: int

    @property
    def attention(self) -> bool:
        return bool(self.needs_review or self.orphaned)


def summarize(tags: list[Tag]) -> list[FileSummary]:
    """Per-path counts, sorted by path."""
    counts: dict[str, list[int]] = {}
    for tag in tags:
        c = counts.setdefault(tag.path, [0, 0, 0])
        c[0] += 1
        c[1] += tag.status is Status.NEEDS_REVIEW
        c[2] += tag.status is Status.ORPHANED
    return [FileSummary(p, *counts[p]) for p in sorted(counts)]


def needing_review(tags: list[Tag]) -> list[Tag]:
    """needs_review and orphaned tags across the repo, in path then offset order."""
    return sorted(
        (t for t in tags if t.status in REVIEW_STATUSES), key=lambda t: (t.path, t.span.start, t.id)
    )


@dataclass(frozen=True, slots=True)
class SearchHit:
    tag: Tag
    field: str  # where the query matched: note, text, metadata, path
    score: float


def search_tags(tags: list[Tag], query: str, limit: int = 200) -> list[SearchHit]:
    """Tags whose note, anchored text, metadata or path contain every word of `query`
    (case-insensitive). Matches in the note rank first, then the tagged text."""
    words = query.casefold().split()
    if not words:
        return []
    weights = {"note": 3.0, "text": 2.0, "metadata": 1.5, "path": 1.0}
    hits: list[SearchHit] = []
    for tag in tags:
        fields = {
            "note": tag.note.casefold(),
            "text": tag.anchor.text.casefold(),
            "metadata": " ".join(f"{k} {v}" for k, v in tag.metadata.items() if k != "note").casefold(),
            "path": tag.path.casefold(),
        }
        haystack = " ".join(fields.values())
        if not all(w in haystack for w in words):
            continue
        best, score = "path", 0.0
        for name, value in fields.items():
            found = sum(w in value for w in words)
            if found and weights[name] * found > score:
                best, score = name, weights[name] * found
        hits.append(SearchHit(tag, best, score))
    hits.sort(key=lambda h: (-h.score, h.tag.path, h.tag.span.start, h.tag.id))
    return hits[:limit]


def reject_placement(store: Store, tag_id: str, reason: str = "rejected by hand") -> Tag:
    """A human says a needs_review guess is wrong: the tag becomes orphaned, keeping its last
    confident anchor and candidates so it can still be re-attached."""
    found = store.find(tag_id)
    with store.edit(found.path) as tags:
        tag = next((t for t in tags if t.id == found.id), None)
        if tag is None:
            raise StoreError(f"{found.path}: tag {found.id} vanished while rejecting it")
        tag.history.append(
            RetagEvent(
                from_snapshot=tag.anchor.snapshot,
                to_snapshot=tag.anchor.snapshot,
                old_span=tag.span,
                new_span=None,
                status=Status.ORPHANED,
                method="rejected",
                confidence=0.0,
                reason=reason,
            )
        )
        tag.status = Status.ORPHANED
        tag.confidence = 0.0
        tag.method = "rejected"
        tag.updated_at = utcnow()
    return tag


def revert_tag(store: Store, previous: Tag) -> Tag:
    """Put a tag back as `previous` (undo of an edit, a repair or a removal): whatever version is
    stored now is replaced, under one lock, so nothing else interleaves. The history log only
    grows, so undoing a change that recorded events records the undo as one more."""
    with store.edit(previous.path) as tags:
        current = next((t for t in tags if t.id == previous.id), None)
        restored = previous
        if current is not None and len(current.history) > len(previous.history):
            undo = RetagEvent(
                from_snapshot=current.anchor.snapshot,
                to_snapshot=previous.anchor.snapshot,
                old_span=current.span,
                new_span=None if previous.status is Status.ORPHANED else previous.span,
                status=previous.status,
                method="undo",
                confidence=previous.confidence,
                reason="undo",
            )
            history = current.history.copy()  # keeps what the store knows is logged
            history.append(undo)
            restored = previous.model_copy(update={"history": history})
        tags[:] = [t for t in tags if t.id != previous.id]
        tags.append(restored)
    return restored


def store_fingerprint(store: Store) -> tuple[tuple[str, int, int], ...]:
    """(relative file, mtime_ns, size) of every tag file: cheap to take every second, and it
    changes whenever the CLI, the watcher or a git hook writes the store."""
    out: list[tuple[str, int, int]] = []
    root = store.dir
    stack = [store.pins_dir, store.tags_dir]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.name.endswith(".json"):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                out.append((os.path.relpath(entry.path, root), st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


def document_stamp(store: Store, rel: str) -> tuple[int, int] | None:
    """(mtime_ns, size) of a source document, or None when it is missing."""
    try:
        st = store.document_path(rel).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def repo_files(store: Store, limit: int = 20000) -> list[str]:
    """Files a user could annotate: git's tracked and untracked-but-not-ignored files, else
    a walk of the directory (skipping dot-directories)."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=store.root,
            capture_output=True,
            check=False,
        )
    except OSError:
        proc = None
    if proc is not None and proc.returncode == 0:
        names = [n for n in proc.stdout.decode("utf-8", "replace").split("\0") if n]
        return sorted({n for n in names if not n.startswith(".magicmarkup/")})[:limit]
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(store.root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            found.append(Path(dirpath, name).relative_to(store.root).as_posix())
            if len(found) >= limit:
                return found
    return found
