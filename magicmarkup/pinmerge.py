"""Three-way merge of one tag's pin file (git's merge driver for `.magicmarkup/pins/**`).

A pin holds two kinds of fields. What people wrote (the note and the other metadata) merges key
by key; both sides changing one key differently is a real conflict, left to a person. Where the
tag is pinned (span, anchor, status...) is derived from the code: when both branches re-pinned it
(both edited the tagged file), either pin finds the tag in the merged code, so one is taken (a
person's own repair first) and nothing stops the merge. `hooks install` registers the driver;
without it git's own text merge applies, which merges edits of different fields as well.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import JsonValue

from magicmarkup.errors import StoreError
from magicmarkup.model import Tag
from magicmarkup.store import atomic_write, dump_pin, parse_pin, read_store_file

PIN_FIELDS = ("path", "span", "anchor", "status", "confidence", "method", "candidates", "confirmed_text")
BY_HAND = ("manual", "accepted")  # methods of a person's own placement


def _pin(tag: Tag) -> tuple[object, ...]:
    return tuple(getattr(tag, name) for name in PIN_FIELDS)


def merge_pin(base: Tag | None, ours: Tag | None, theirs: Tag | None) -> tuple[Tag | None, list[str]]:
    """The merged tag (None: removed) and the metadata keys both sides changed differently."""
    if ours is None or theirs is None:
        kept = ours or theirs
        if kept is None or base is None:
            return kept, []
        # removed on one side: stays removed unless the other side changed what people wrote
        return (kept if kept.metadata != base.metadata else None), []
    if base is None:
        base = ours  # added on both sides with one id (a cherry-pick): ours is the base
    merged = ours.model_copy(deep=True)
    conflicts: list[str] = []
    meta: dict[str, JsonValue] = {}
    for key in sorted(set(base.metadata) | set(ours.metadata) | set(theirs.metadata)):
        b, o, t = (side.metadata.get(key, _MISSING) for side in (base, ours, theirs))
        if o == t or t == b:
            value = o
        elif o == b:
            value = t
        else:
            conflicts.append(key)
            value = o
        if value is not _MISSING:
            meta[key] = value  # type: ignore[assignment]
    merged.metadata = meta
    if (_pin(ours) == _pin(base) and _pin(theirs) != _pin(base)) or (
        _pin(theirs) != _pin(base) and theirs.method in BY_HAND and ours.method not in BY_HAND
    ):
        source = theirs
    else:
        source = ours
    for name in PIN_FIELDS:
        setattr(merged, name, getattr(source, name))
    merged.updated_at = max(ours.updated_at, theirs.updated_at)
    return merged, conflicts


_MISSING = object()


def _read(path: Path) -> Tag | None:
    """One side of the merge (git's temp copy of a pin from the repository: untrusted, bounded)."""
    data = read_store_file(path, str(path)) if path.is_file() else b""
    if not data.strip():
        return None
    return parse_pin(data, str(path))


def merge_files(base: Path, ours: Path, theirs: Path, name: str) -> bool:
    """git's merge driver: merge into `ours`; False (a conflict) leaves both versions in it
    between conflict markers, which the store still reads (ours first) and `doctor` reports."""
    try:
        b, o, t = _read(base), _read(ours), _read(theirs)
    except StoreError:
        return False  # not ours to understand: git shows the usual conflict
    merged, conflicts = merge_pin(b, o, t)
    if not conflicts:
        if merged is None:
            ours.write_bytes(b"")
        else:
            atomic_write(ours, dump_pin(merged))
        return True
    assert o is not None and t is not None and merged is not None
    theirs_side = merged.model_copy(
        update={"metadata": {**merged.metadata, **{k: t.metadata[k] for k in conflicts if k in t.metadata}}}
    )
    atomic_write(
        ours,
        b"<<<<<<< ours\n"
        + dump_pin(merged)
        + b"=======\n"
        + dump_pin(theirs_side)
        + b">>>>>>> theirs ("
        + name.encode()
        + b")\n",
    )
    return False
