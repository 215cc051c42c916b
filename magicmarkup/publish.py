"""What waits for a commit: tags added or changed since the last commit that shared them.

A new tag's pin is written at its place in `.magicmarkup/pins/` (its name is the tag's unique id:
no teammate's file can ever have it). Files whose names a teammate may write too (the
content-addressed snapshots, a document's history log, the store's meta files) wait in the
pending area under the git directory (store.py), so no pull, merge, rebase or checkout can
refuse to write the teammate's copy over ours. The pre-commit hook publishes the pending files of
the documents a commit shares and stages them with the new pins; without the hooks, `publish`
here does the same for every document (or the ones named), and `status` says what waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magicmarkup.git import (
    PINS_PREFIX,
    STORE_PREFIX,
    git,
    nul_paths,
    store_documents,
    untracked_pins,
)
from magicmarkup.store import Store


@dataclass
class Published:
    """What `publish` moved into `.magicmarkup/` and staged."""

    documents: list[str] = field(default_factory=list)
    new_tags: list[str] = field(default_factory=list)  # ids of the pins staged for the first time
    staged: list[str] = field(default_factory=list)  # every store file staged

    def to_json(self) -> dict[str, Any]:
        return {"documents": self.documents, "new_tags": self.new_tags, "staged": self.staged}


@dataclass
class Waiting:
    """One document's tag changes not yet committed."""

    path: str
    new_tags: list[str] = field(default_factory=list)  # untracked pins: tags never committed
    changed: list[str] = field(default_factory=list)  # store files changed, not staged (edits, rm)
    staged: list[str] = field(default_factory=list)  # store files staged for the next commit
    pending: list[str] = field(default_factory=list)  # files waiting in the pending area

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "new_tags": self.new_tags,
            "changed": self.changed,
            "staged": self.staged,
            "pending": self.pending,
        }


def _store_changes(store: Store) -> tuple[list[str], list[str], list[str]]:
    """(untracked store files, store files with unstaged changes, store files staged)."""
    raw = git(store.root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", STORE_PREFIX)
    untracked: list[str] = []
    changed: list[str] = []
    staged: list[str] = []
    entries = raw.decode("utf-8", "surrogateescape").split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            i += 1  # the rename's source follows
        if code == "??":
            untracked.append(path)
            continue
        if code[1] != " ":
            changed.append(path)
        if code[0] != " ":
            staged.append(path)
    return untracked, changed, staged


def waiting(store: Store) -> list[Waiting]:
    """Every document with tag changes no commit has shared yet (empty outside git)."""
    if store.pending_dir is None:
        return []
    untracked, changed, staged = _store_changes(store)
    docs: dict[str, Waiting] = {}

    def doc(rel: str) -> Waiting:
        return docs.setdefault(rel, Waiting(rel))

    for path in untracked:
        for rel in store_documents([path]):
            if path.startswith(PINS_PREFIX):
                doc(rel).new_tags.append(Path(path).stem)
            else:
                doc(rel).changed.append(path)
    for path in changed:
        for rel in store_documents([path]):
            doc(rel).changed.append(path)
    for path in staged:
        for rel in store_documents([path]):
            doc(rel).staged.append(path)
    for rel in {*store.pending_documents(), *store.paths()}:
        pending = [str(p) for p in store.pending_for(rel)]
        if pending:
            doc(rel).pending = pending
    return [docs[rel] for rel in sorted(docs)]


def publish(store: Store, documents: list[str] | None = None) -> Published:
    """Move the pending files of `documents` (default: every document with tag changes) into
    `.magicmarkup/` and stage them with the documents' pins (new, edited and removed), so the
    next commit shares them. For repositories without the hooks (the pre-commit hook does this
    for the documents each commit touches)."""
    result = Published()
    if store.pending_dir is None:
        return result
    rels = sorted(documents if documents is not None else [w.path for w in waiting(store)])
    if not rels:
        return result
    with store.locked():
        store.touched = {}
        store.publish(rels)
        new = untracked_pins(store, rels)
        written = list(store.touched)
    specs = sorted({*(f"{PINS_PREFIX}{rel}/" for rel in rels), *written})
    specs += [f"{STORE_PREFIX}history/{rel}.jsonl" for rel in rels if (store.history_file(rel)).is_file()]
    existing = [s for s in sorted(set(specs)) if _known(store, s)]
    if existing:
        git(
            store.root,
            "--literal-pathspecs",
            "add",
            "-A",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
            input=b"\0".join(s.encode("utf-8", "surrogateescape") for s in existing),
        )
    staged = nul_paths(git(store.root, "diff", "--cached", "--name-only", "-z", "--", STORE_PREFIX))
    result.documents = rels
    result.new_tags = [Path(p).stem for p in new]
    result.staged = sorted(staged)
    return result


def _known(store: Store, spec: str) -> bool:
    """Does `spec` name something on disk or in the index (a pathspec matching nothing is an
    error for `git add`)?"""
    if (store.root / spec).exists():
        return True
    return bool(git(store.root, "--literal-pathspecs", "ls-files", "-z", "--", spec).strip())


@dataclass
class Collected:
    """What `gc` did with the snapshots no tag refers to."""

    removed: list[str] = field(default_factory=list)  # untracked or pending files deleted
    removed_tracked: list[str] = field(default_factory=list)  # tracked files deleted (asked for)
    kept_tracked: list[str] = field(default_factory=list)  # tracked files left alone
    blocked: bool = False  # a pin could not be read: nothing was collected

    def to_json(self) -> dict[str, Any]:
        return {
            "removed": len(self.removed) + len(self.removed_tracked),
            "removed_files": self.removed,
            "removed_tracked": self.removed_tracked,
            "kept_tracked": self.kept_tracked,
            "blocked": self.blocked,
        }


def collect_snapshots(store: Store, tracked_too: bool = False) -> Collected:
    """Delete the snapshots no tag refers to. Untracked and pending ones go; a tracked one is a
    file of the shared history, deleted only when asked (`tracked_too`), and then the deletion
    is staged for the user's next commit."""
    result = Collected()
    with store.locked():
        unreferenced, complete = store.unreferenced_snapshots()
        if not complete:
            result.blocked = True
            return result
        labels = [store.label(f) for _, f, pending in unreferenced if not pending]
        tracked: set[str] = set()
        if store.pending_dir is not None and labels:
            raw = git(store.root, "ls-files", "-z", "--", store.label(store.snapshots_dir) + "/")
            tracked = nul_paths(raw) & set(labels)
        for _sha, file, pending in unreferenced:
            label = store.label(file)
            if label in tracked and not tracked_too:
                result.kept_tracked.append(label)
                continue
            try:
                file.unlink()
            except OSError:
                continue
            if label in tracked:
                result.removed_tracked.append(label)
            else:
                result.removed.append(label if not pending else f"(pending) {file.name}")
        if result.removed_tracked:
            git(
                store.root,
                "--literal-pathspecs",
                "rm",
                "-q",
                "--cached",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
                input=b"\0".join(p.encode("utf-8", "surrogateescape") for p in result.removed_tracked),
            )
    return result
