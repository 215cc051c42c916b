"""Creating, editing and removing tags: the library API behind `add`, `edit`, `rm`, `import`
and the TUI. Everything that writes goes through the store's lock."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import JsonValue, ValidationError

from magicmarkup.documents import language_for
from magicmarkup.errors import (
    AmbiguousId,
    MagicMarkupError,
    SpanError,
    StoreError,
    TagNotFound,
)
from magicmarkup.model import (
    SCHEMA_VERSION,
    History,
    LineIndex,
    RetagEvent,
    Span,
    Status,
    Tag,
    utcnow,
    validate_metadata,
)
from magicmarkup.pipeline import CONTEXT_CHARS as CONTEXT_CHARS  # (the anchor is made by the pipeline)
from magicmarkup.pipeline import make_anchor as make_anchor
from magicmarkup.positions import Positions
from magicmarkup.safeio import load_json, read_regular
from magicmarkup.sharing import check_copyable
from magicmarkup.store import Store, bulk_load
from magicmarkup.view import current


def resolve_span(
    text: str,
    name: str,
    *,
    span: tuple[int, int] | None = None,
    lines: tuple[int, int] | None = None,
    match: str | None = None,
    nth: int | None = None,
) -> Span:
    """Turn exactly one of `span` (offsets), `lines` (1-based, inclusive) or `match` (the
    `nth` occurrence, 1-based; unique if not given) into a span of `text`."""
    given = sum(x is not None for x in (span, lines, match))
    if given != 1:
        raise SpanError("give exactly one of --span, --lines, --match")
    if span is not None:
        start, end = span
        if start < 0 or end < 0:
            raise SpanError(f"{name}: span {start}:{end} has a negative offset")
        if start >= end:
            raise SpanError(f"{name}: span {start}:{end} is empty or has start after end")
        if end > len(text):
            raise SpanError(
                f"{name}: span {start}:{end} is past the end of the file ({len(text)} characters)"
            )
        return Span(start=start, end=end)
    if lines is not None:
        first, last = lines
        index = LineIndex(text)
        line_count = text.count("\n") + (0 if not text or text.endswith("\n") else 1)
        if first < 1 or last < first:
            raise SpanError(f"{name}: lines {first}:{last} are not a 1-based range")
        if last > line_count:
            raise SpanError(f"{name}: lines {first}:{last} are past the end of the file ({line_count} lines)")
        start = index.offset(first)
        end = index.line_end(last)
        if end > start and text[end - 1] == "\r":
            end -= 1
        if start >= end:
            raise SpanError(f"{name}: lines {first}:{last} are empty")
        return Span(start=start, end=end)
    assert match is not None
    if not match:
        raise SpanError("--match text is empty")
    hits: list[int] = []
    pos = text.find(match)
    while pos != -1:
        hits.append(pos)
        pos = text.find(match, pos + 1)
    if not hits:
        raise SpanError(f"{name}: --match text not found: {match!r}")
    if nth is None:
        if len(hits) > 1:
            doc = Positions(text)
            places = ", ".join(f"{i}: {name}:{doc.point(at)}" for i, at in enumerate(hits[:10], 1))
            more = f", ... ({len(hits) - 10} more)" if len(hits) > 10 else ""
            raise SpanError(
                f"{name}: --match text occurs {len(hits)} times ({places}{more}); "
                f"choose one with --nth 1..{len(hits)}"
            )
        nth = 1
    if not 1 <= nth <= len(hits):
        raise SpanError(f"{name}: --nth {nth} is out of range (the text occurs {len(hits)} times)")
    start = hits[nth - 1]
    return Span(start=start, end=start + len(match))


def add_tag(
    store: Store,
    path: str,
    *,
    span: tuple[int, int] | None = None,
    lines: tuple[int, int] | None = None,
    match: str | None = None,
    nth: int | None = None,
    note: str | None = None,
    metadata: dict[str, JsonValue] | None = None,
    language: str | None = None,
    allow_ignored: bool = False,
) -> Tag:
    """Tag a span of a document (a repo-relative path) and save it. A file git ignores (a
    `.env`, build output) is refused unless `allow_ignored`: its text would be copied into the
    committed store (the tag's context and snapshot)."""
    rel = store.check_relpath(path)
    check_copyable(store.root, [rel], allow_ignored=allow_ignored)
    text = store.read_document(rel)
    where = resolve_span(text, rel, span=span, lines=lines, match=match, nth=nth)
    meta: dict[str, JsonValue] = validate_metadata(dict(metadata or {}))
    if note is not None:
        meta["note"] = note
    # Only the new pin is written (and its snapshot): the document's other pins are not read
    # or rewritten, however many there are and whatever tool wrote them.
    with store.locked():
        sha = store.put_snapshot(text)
        anchor = make_anchor(text, where.start, where.end, language or language_for(rel), sha)
        tag = Tag(path=rel, span=where, anchor=anchor, metadata=meta)
        store.put(rel, [tag])
    return tag


def list_tags(
    store: Store, path: str | None = None, status: Status | None = None, history: bool = False
) -> list[Tag]:
    """Tags where they are in the working tree now (the local view: placed in the files on
    disk, following renames), of one document (its current path) or all, optionally of one
    status, in path then offset order. Files that could not be read are named in
    `store.problems`."""
    rel = store.check_relpath(path) if path else None
    pinned = store.paths()
    with bulk_load() as loaded:  # 100,000 pins: the cyclic collector would cost a third
        if rel is not None and rel in pinned:
            view = current(store, [rel], history=history)
        else:
            view = current(store, None, history=history)
        loaded += view.tags
    store.problems = view.problems
    tags = [t for t in view.tags if rel is None or t.path == rel]
    if status is not None:
        tags = [t for t in tags if t.status is status]
    return tags


def find_pin(store: Store, tag_id: str) -> Tag:
    """The pin of the tag `tag_id` names (a unique prefix or suffix of its id). An ambiguous
    prefix is an error that lists the tags it matches, each as `id path:line:col` (where it is
    now), so the user can pick one."""
    try:
        return store.find(tag_id)
    except AmbiguousId as exc:
        shown = exc.matches[:10]
        view = current(store, sorted({rel for _, rel in shown}))
        placed = {t.id: t for t in view.tags}
        parts = []
        for found, rel in shown:
            tag = placed.get(found)
            place = rel
            if tag is not None and tag.status is not Status.ORPHANED and tag.path in view.texts:
                place = f"{tag.path}:{Positions(view.texts[tag.path]).point(tag.span.start)}"
            parts.append(f"{found} {place}")
        more = f", and {len(exc.matches) - len(shown)} more" if len(exc.matches) > len(shown) else ""
        raise TagNotFound(f"{exc}: {', '.join(parts)}{more}") from None


def find_tag(store: Store, tag_id: str) -> Tag:
    """The tag `tag_id` names (a unique prefix or suffix), with its history, where it is in the
    working tree now."""
    pin = find_pin(store, tag_id)
    view = current(store, [pin.path], history=True)
    return next((t for t in view.tags if t.id == pin.id), pin)


def edit_tag(
    store: Store,
    tag_id: str,
    *,
    note: str | None = None,
    metadata: dict[str, JsonValue] | None = None,
    unset: list[str] | None = None,
) -> Tag:
    """Change a tag's note and metadata (`unset` removes keys)."""
    found = find_pin(store, tag_id)
    with store.locked():
        tag = store.find(found.id)  # as it is now, under the lock
        if metadata:
            tag.metadata.update(validate_metadata(dict(metadata)))
        for key in unset or []:
            tag.metadata.pop(key, None)
        if note is not None:
            tag.metadata["note"] = note
        tag.updated_at = utcnow()
        _record(tag, "edited", "note or metadata edited by hand")
        store.put(tag.path, [tag])
    return tag


def _record(tag: Tag, method: str, reason: str) -> None:
    """A person's act in the tag's history (where it is does not change)."""
    tag.history.append(
        RetagEvent(
            from_snapshot=tag.anchor.snapshot,
            to_snapshot=tag.anchor.snapshot,
            old_span=tag.span,
            new_span=tag.span,
            status=tag.status,
            method=method,
            confidence=tag.confidence,
            reason=reason,
        )
    )


def remove_tag(store: Store, tag_id: str) -> Tag:
    """Remove a tag. One that was never committed leaves nothing behind (its pending history
    and snapshot go too); a shared one's log keeps why it is gone."""
    found = find_pin(store, tag_id)
    shared = is_shared(store, store.label(store.pin_file(found.path, found.id)))
    with store.edit(found.path) as tags:
        tag = _take(tags, found.id)
        if shared:
            _record(tag, "removed", "removed by hand")
            store.log_new_events(found.path, [tag])
        tags.remove(tag)
    if not shared:
        with store.locked():
            store.forget_pending(found.path, found.id, found.anchor.snapshot)
        if isinstance(tag.history, History):
            tag.history.logged = 0  # its log is gone: a restore (undo) writes it again
    return tag


def is_shared(store: Store, label: str) -> bool:
    """Is the store file `label` (repository-relative) tracked by git? True outside git (every
    file there is the store itself)."""
    if store.pending_dir is None:
        return True
    try:
        proc = subprocess.run(
            ["git", "--literal-pathspecs", "ls-files", "--error-unmatch", "--", label],
            cwd=store.root,
            capture_output=True,
            check=False,
        )
    except OSError:
        return True
    return proc.returncode == 0


def restore_tag(store: Store, tag: Tag) -> Tag:
    """Put back a tag exactly as it was (undo of a removal)."""
    with store.edit(tag.path) as tags:
        if any(t.id == tag.id for t in tags):
            raise StoreError(f"tag {tag.id} already exists")
        tags.append(tag)
    return tag


def reattach_tag(
    store: Store, tag_id: str, start: int, end: int, method: str = "manual", *, allow_ignored: bool = False
) -> Tag:
    """Anchor a tag to [start, end) of its document as it is now, at the path it is shown at
    (a human repair: the tag is confirmed there). This copies the document's text into the pin
    and a snapshot, so a file git ignores is refused unless `allow_ignored` (a cloned pin on
    `.env` must not carry the user's own `.env` into the store)."""
    found = find_tag(store, tag_id)
    pinned = store.find(found.id).path
    rel = found.path
    check_copyable(store.root, [rel], allow_ignored=allow_ignored)
    text = store.read_document(rel)
    where = resolve_span(text, rel, span=(start, end))
    with store.locked():
        sha = store.put_snapshot(text)
        tag = store.find(found.id)  # as it is now, under the lock
        anchor_at(
            tag, text, where, sha, method=method, reason="reattached by hand", language=language_for(rel)
        )
        if pinned == rel:
            store.put(rel, [tag])  # the document's other pins are left alone
        else:
            source = [t for t in store.load(pinned) if t.id != tag.id]
            tag.path = rel
            store.save_many({rel: [*store.load(rel), tag], pinned: source})
    return tag


def anchor_at(
    tag: Tag, text: str, span: Span, snapshot: str, *, method: str, reason: str, language: str | None
) -> None:
    """Anchor `tag` on `span` of `text` (whose snapshot is stored) for certain, and record the
    move in its history: a human repair, or a return to a version the tag was placed in."""
    tag.history.append(
        RetagEvent(
            from_snapshot=tag.anchor.snapshot,
            to_snapshot=snapshot,
            old_span=tag.span,
            new_span=span,
            status=Status.ANCHORED,
            method=method,
            confidence=1.0,
            reason=reason,
        )
    )
    tag.anchor = make_anchor(text, span.start, span.end, language, snapshot)
    tag.span = span
    tag.status = Status.ANCHORED
    tag.confidence = 1.0
    tag.method = method
    tag.candidates = []
    tag.confirmed_text = None  # a person placed it: this is now the tagged text
    tag.updated_at = utcnow()


def accept_placement(store: Store, tag_id: str, *, allow_ignored: bool = False) -> Tag:
    """Confirm a tag where it is now (a human says the guess, or the edit, is right)."""
    found = find_tag(store, tag_id)
    return reattach_tag(
        store, found.id, found.span.start, found.span.end, method="accepted", allow_ignored=allow_ignored
    )


def accept_placements(
    store: Store, placed: Sequence[Tag], texts: Mapping[str, str], reason: str = "accepted"
) -> list[Tag]:
    """Confirm many tags where the local view shows them (`path`, `span` in `texts[path]`, the
    text they were placed in), as `accept_placement` confirms one, under one lock and one write.
    A tag whose document changed on disk since it was placed is left as it is. Returns the
    confirmed pins."""
    by_path: dict[str, list[Tag]] = {}
    for shown in placed:
        by_path.setdefault(shown.path, []).append(shown)
    loaded: dict[str, list[Tag]] = {}

    def pins_of(rel: str) -> list[Tag]:
        if rel not in loaded:
            loaded[rel] = store.load(rel)
        return loaded[rel]

    accepted: list[Tag] = []
    changed: set[str] = set()
    with store.locked():
        for rel, group in by_path.items():
            try:
                text = store.read_document(rel)
            except MagicMarkupError:
                continue
            if text != texts.get(rel):
                continue  # edited since it was placed: the placement shown is not this text's
            sha = store.put_snapshot(text)
            for shown in group:
                pinned = rel if any(t.id == shown.id for t in pins_of(rel)) else store.find(shown.id).path
                tag = next((t for t in pins_of(pinned) if t.id == shown.id), None)
                if tag is None or shown.span.end > len(text):
                    continue
                anchor_at(
                    tag, text, shown.span, sha, method="accepted", reason=reason, language=language_for(rel)
                )
                if pinned != rel:
                    pins_of(pinned).remove(tag)
                    tag.path = rel
                    pins_of(rel).append(tag)
                changed |= {pinned, rel}
                accepted.append(tag)
        store.save_many({rel: loaded[rel] for rel in changed})
    return accepted


def export_tags(store: Store) -> dict[str, Any]:
    """All tags and the snapshots they are anchored to, for backup or moving to another repo."""
    tags = store.all_tags(history=True)
    if store.problems:  # an export is a backup: a partial one must not pass for whole
        more = f" (and {len(store.problems) - 1} more)" if len(store.problems) > 1 else ""
        raise StoreError(f"{store.problems[0]}{more}; nothing exported")
    snapshots = {}
    for tag in tags:
        sha = tag.anchor.snapshot
        if sha and sha not in snapshots and store.has_snapshot(sha):
            snapshots[sha] = store.get_snapshot(sha)
    return {
        "schema_version": SCHEMA_VERSION,
        "tags": [t.model_dump(mode="json") for t in tags],
        "snapshots": snapshots,
    }


EXPORT_PROBE_BYTES = 64 * 1024 * 1024
IMPORT_LIMIT = 1024 * 1024 * 1024  # an export file larger than this is refused, not read


def is_export_file(file: Path) -> bool:
    """Is `file` a magicmarkup export (so `export -o` may replace it)? A JSON object with a
    "tags" list and a "schema_version"; anything else, unreadable or huge, is not."""
    try:
        data = read_regular(file, EXPORT_PROBE_BYTES, follow_symlinks=False)
        raw = load_json(data, label=str(file))
    except MagicMarkupError:
        return False
    return isinstance(raw, dict) and isinstance(raw.get("tags"), list) and "schema_version" in raw


def import_tags(store: Store, file: Path, *, allow_ignored: bool = False) -> tuple[int, int]:
    """Add the tags of an export file; tags whose id already exists are skipped.
    Returns (imported, skipped). Validates everything before writing anything. Tags on files
    git ignores are refused unless `allow_ignored` (the sharing rule of `add`)."""
    data = read_regular(file, IMPORT_LIMIT, follow_symlinks=True, label=str(file), error=StoreError)
    raw = load_json(data, label=str(file), error=StoreError)  # deep nesting: one line, no RecursionError
    if not isinstance(raw, dict) or not isinstance(raw.get("tags"), list):
        raise StoreError(f'{file}: not a magicmarkup export (no "tags" list)')
    version = raw.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise StoreError(
            f"{file}: schema_version {version} is newer than this magicmarkup supports ({SCHEMA_VERSION})"
        )
    try:
        incoming = [Tag.model_validate(t) for t in raw["tags"]]
    except ValidationError as exc:
        err = exc.errors()[0]
        raise StoreError(f"{file}: invalid tag ({'.'.join(map(str, err['loc']))}: {err['msg']})") from None
    for tag in incoming:
        store.check_relpath(tag.path)
    check_copyable(store.root, {t.path for t in incoming}, allow_ignored=allow_ignored)
    snapshots = raw.get("snapshots") or {}
    imported = skipped = 0
    with store.locked():
        existing = {t.id for t in store.all_tags()}
        for text in snapshots.values():
            if isinstance(text, str):
                store.put_snapshot(text)
        by_path: dict[str, list[Tag]] = {}
        for tag in incoming:
            if tag.id in existing:
                skipped += 1
                continue
            existing.add(tag.id)
            by_path.setdefault(tag.path, []).append(tag)
            imported += 1
        for rel, new in by_path.items():
            with store.edit(rel) as tags:
                tags.extend(new)
    return imported, skipped


def _take(tags: list[Tag], tag_id: str) -> Tag:
    for tag in tags:
        if tag.id == tag_id:
            return tag
    raise TagNotFound(f"{tag_id}: no such tag (removed meanwhile?)")
