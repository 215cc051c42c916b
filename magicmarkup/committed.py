"""Tags as they stand in a commit, read with git and nothing checked out.

A commit's tree holds everything a placement needs: the pins (`.magicmarkup/pins/...`), the
snapshots they were taken in, and the documents. So `check --rev REV` and the baseline of
`check --since REF` read them straight from the object database (`git ls-tree`, one
`git cat-file --batch`), and need no history at all: a shallow clone that fetched REF alone is
enough. Documents are read through git's filters, so offsets are in the text a checkout shows.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.documents import DOCUMENT_LIMIT, decode, text_hash
from magicmarkup.errors import DocumentError, MagicMarkupError, StoreError
from magicmarkup.git import GitError, git, read_blobs, read_worktree_blobs, rev_parse
from magicmarkup.model import Status, Tag
from magicmarkup.pipeline import Placed, Request, place
from magicmarkup.safeio import gunzip_limited
from magicmarkup.store import (
    LEGACY_DIR,
    MAX_SNAPSHOT_BYTES,
    MAX_STORE_FILE_BYTES,
    PINS_DIR,
    STORE_DIR,
    Store,
    conflict_sides,
    parse_pin,
    parse_tag_file,
)
from magicmarkup.view import Current, placed_copy

REGULAR_MODES = ("100644", "100755")


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file of a commit's tree (`git ls-tree -r`)."""

    mode: str
    sha: str


def tree_files(root: Path, rev: str, *paths: str) -> dict[str, TreeEntry]:
    """path -> entry of every file in `rev`'s tree (or of `paths`, files or folders, literal)."""
    raw = git(root, "--literal-pathspecs", "ls-tree", "-r", "-z", "--full-tree", rev, "--", *paths)
    out: dict[str, TreeEntry] = {}
    for record in raw.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = record.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":  # a submodule (commit) has no text of its own
            out[path] = TreeEntry(parts[0], parts[2])
    return out


def blob_sizes(root: Path, shas: Collection[str]) -> dict[str, int]:
    """The size of each blob, asked before reading it (one `git cat-file --batch-check`)."""
    if not shas:
        return {}
    raw = git(root, "cat-file", "--batch-check", input="".join(f"{sha}\n" for sha in shas).encode())
    out = {}
    for line in raw.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            out[parts[0]] = int(parts[2])
    return out


def resolve_commit(root: Path, rev: str) -> str:
    """The commit `rev` names, or a one-line error that says how to get it in a shallow clone."""
    sha = rev_parse(root, rev)
    if sha is None:
        raise GitError(
            f"{rev}: unknown revision here (in a shallow clone, fetch it first: "
            f"git fetch --depth 1 origin {rev})"
        )
    return sha


class CommittedStore(Store):
    """The store of the repository at `root`, with snapshots also read from commit `rev` (a
    snapshot is content-addressed: the working tree's copy, when there is one, is the same)."""

    def __init__(self, root: Path, rev: str, snapshots: dict[str, TreeEntry]) -> None:
        super().__init__(root)
        self.rev = rev
        self._committed = snapshots  # sha -> tree entry of its .gz

    def get_snapshot(self, sha: str) -> str:
        try:
            return super().get_snapshot(sha)
        except StoreError:
            entry = self._committed.get(sha)
            if entry is None:
                raise
        label = f"{self.rev[:10]}:{STORE_DIR}/snapshots/{sha[:2]}/{sha}.gz"
        size = blob_sizes(self.root, [entry.sha]).get(entry.sha, 0)
        if entry.mode not in REGULAR_MODES or size > MAX_SNAPSHOT_BYTES:
            raise StoreError(f"{label}: not a regular snapshot file")
        [data] = read_blobs(self.root, [entry.sha])
        if data is None:
            raise StoreError(f"{label}: snapshot missing from the object database")
        text = gunzip_limited(data, MAX_SNAPSHOT_BYTES, label=label, error=StoreError).decode(
            "utf-8", "surrogatepass"
        )
        if text_hash(text) != sha:
            raise StoreError(f"{label}: snapshot content does not match its id")
        return text

    def has_snapshot(self, sha: str) -> bool:
        return super().has_snapshot(sha) or sha in self._committed


class CommittedTree:
    """The store committed in `commit`: its pin files and snapshots listed once (names only, no
    parse), each document's pins parsed when asked for."""

    def __init__(self, store: Store, commit: str) -> None:
        self.store, self.commit = store, commit
        self.problems: list[str] = []
        self.snapshots: dict[str, TreeEntry] = {}  # sha -> its .gz
        self.index: dict[str, str] = {}  # tag id -> document (from the pin file's name)
        self._files: dict[str, list[tuple[str, str, TreeEntry]]] = {}  # document -> (kind, path, entry)
        self._parsed: dict[str, list[Tag]] = {}
        pins_prefix, legacy_prefix = f"{STORE_DIR}/{PINS_DIR}/", f"{STORE_DIR}/{LEGACY_DIR}/"
        snap_prefix = f"{STORE_DIR}/snapshots/"
        for path, entry in tree_files(store.root, commit, f"{STORE_DIR}/").items():
            if path.startswith(snap_prefix) and path.endswith(".gz"):
                self.snapshots[path.rsplit("/", 1)[-1][: -len(".gz")]] = entry
                continue
            if path.startswith(pins_prefix) and path.endswith(".json") and "/" in path[len(pins_prefix) :]:
                rel, name = path[len(pins_prefix) :].rsplit("/", 1)
                kind = "pin"
                self.index[name[: -len(".json")]] = rel
            elif path.startswith(legacy_prefix) and path.endswith(".json"):
                kind, rel = "legacy", path[len(legacy_prefix) : -len(".json")]
            else:
                continue
            self._files.setdefault(rel, []).append((kind, path, entry))

    def documents(self) -> list[str]:
        """Every document with pins in the commit, sorted."""
        return sorted(self._files)

    def pins(self, documents: Collection[str] | None = None) -> dict[str, list[Tag]]:
        """The pins of `documents` (all when None), parsed in one `git cat-file` run; files that
        cannot be read are named in `problems`."""
        names = self.documents() if documents is None else [d for d in documents if d in self._files]
        todo = [(rel, f) for rel in names if rel not in self._parsed for f in self._files[rel]]
        short = self.commit[:10]
        readable: list[tuple[str, str, str, TreeEntry]] = []
        sizes = blob_sizes(self.store.root, {entry.sha for _, (_, _, entry) in todo})
        for rel, (kind, path, entry) in todo:
            label = f"{short}:{path}"
            self._parsed.setdefault(rel, [])
            if entry.mode not in REGULAR_MODES:
                self.problems.append(f"{label}: not a regular file; skipped")
            elif sizes.get(entry.sha, 0) > MAX_STORE_FILE_BYTES:
                self.problems.append(f"{label}: larger than {MAX_STORE_FILE_BYTES} bytes; skipped")
            else:
                readable.append((rel, kind, path, entry))
        blobs = read_blobs(self.store.root, [entry.sha for *_, entry in readable])
        for (rel, kind, path, _entry), data in zip(readable, blobs, strict=True):
            label = f"{short}:{path}"
            try:
                tags = self._parse(rel, kind, path, data, label)
            except MagicMarkupError as exc:
                self.problems.append(str(exc))
                continue
            known = self._parsed[rel]
            new_ids = {t.id for t in tags}
            if kind == "pin":  # a pin wins over a not yet migrated schema-2 copy
                known[:] = [t for t in known if t.id not in new_ids] + tags
            else:
                ids = {t.id for t in known}
                known.extend(t for t in tags if t.id not in ids)
        return {rel: self._parsed[rel] for rel in names}

    def _parse(self, rel: str, kind: str, path: str, data: bytes | None, label: str) -> list[Tag]:
        rel = self.store.check_relpath(rel, resolve=False)
        if data is None:
            raise StoreError(f"{label}: missing from the object database")
        sides = conflict_sides(data)
        if sides is not None:  # committed with conflict markers: read as ours, as the store does
            data = sides[0]
        if kind == "legacy":
            tags = parse_tag_file(data, label).tags
        else:
            tag = parse_pin(data, label)
            if tag.id != path.rsplit("/", 1)[-1][: -len(".json")]:
                raise StoreError(f"{label}: holds tag {tag.id}, not the one it is named for; skipped")
            tags = [tag]
        for tag in tags:
            tag.path = rel  # the file's place is the truth
        return tags


def place_committed(
    store: Store,
    rev: str,
    paths: Collection[str] | None = None,
    *,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    tree: CommittedTree | None = None,
) -> Current:
    """Every tag of commit `rev` (or of the documents `paths`, by pinned path) placed in that
    commit's documents, as `view.current` places them in the working tree. A document missing
    from the commit orphans its tags (renames are not followed: there may be no history)."""
    began = time.perf_counter()
    if tree is None:
        tree = CommittedTree(store, resolve_commit(store.root, rev))
    commit = tree.commit
    wanted = {rel: tags for rel, tags in tree.pins(paths).items() if tags}
    result = Current([], problems=list(tree.problems))
    report = result.report
    report.errors += tree.problems
    files = tree_files(store.root, commit, *wanted) if len(wanted) <= 1000 else tree_files(store.root, commit)
    sizes = blob_sizes(store.root, {files[rel].sha for rel in wanted if rel in files})
    readable = [
        rel
        for rel in wanted
        if rel in files
        and files[rel].mode in REGULAR_MODES
        and sizes.get(files[rel].sha, 0) <= DOCUMENT_LIMIT
    ]
    blobs = read_worktree_blobs(store.root, [(commit, rel) for rel in readable])
    texts: dict[str, str] = {}
    for rel, data in zip(readable, blobs, strict=True):
        label = f"{commit[:10]}:{rel}"
        try:
            if data is None:
                raise DocumentError(f"{label}: missing from the object database")
            texts[rel] = decode(data, label)
        except MagicMarkupError as exc:
            report.errors.append(f"{exc}; its tags are shown as orphaned")
    reader = CommittedStore(store.root, commit, tree.snapshots)
    requests = [Request(rel, texts[rel], tags) for rel, tags in wanted.items() if rel in texts]
    placed = place(reader, requests, resolver, thresholds, None, report.errors)
    by_path = {req.path: res for req, res in zip(requests, placed, strict=True)}
    for rel, tags in wanted.items():
        report.documents += 1
        for pin in tags:
            if rel in by_path:
                where = by_path[rel][pin.id]
            else:
                reason = "deleted" if rel not in files else "unreadable"
                where = Placed(None, None, Status.ORPHANED, 0.0, reason)
            result.tags.append(placed_copy(pin, rel, where))
            report.tags += 1
            report.counts[where.status.value] = report.counts.get(where.status.value, 0) + 1
    result.tags.sort(key=lambda t: (t.path, t.span.start, t.id))
    result.texts = texts
    report.seconds = time.perf_counter() - began
    return result
