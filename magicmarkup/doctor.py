"""`magicmarkup doctor`: check the `.magicmarkup/` store for anything that would lose or misplace a
tag, and repair what can be repaired without losing one.

The store's normal loader stops at the first bad file (the right thing for a command that is about
to write). The doctor instead reads every file on its own terms, so one corrupt file does not hide
the state of the others, and it never rewrites a file it could not fully parse.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from magicmarkup.documents import text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import SCHEMA_VERSION, RetagEvent, Status, Tag, TagFile, new_id, utcnow
from magicmarkup.positions import Positions, where
from magicmarkup.store import (
    Store,
    atomic_write,
    conflict_sides,
    dump_pin,
    dump_tag_file,
    parse_event_line,
    parse_pin,
    read_store_file,
)

BACKUP_DIR = "backup"

# Problem kinds. Errors make `doctor` exit non-zero; warnings are tidy-ups.
UNPARSABLE = "unparsable"  # not UTF-8, not JSON, wrong types: left untouched for a human
NEWER_SCHEMA = "newer_schema"  # written by a newer magicmarkup: left untouched
DUPLICATE_ID = "duplicate_id"  # the same id twice (in one file or across files)
PATH_MISMATCH = "path_mismatch"  # a tag's `path` is not the document its file belongs to
PATH_OUTSIDE = "path_outside"  # a store file or document resolves outside the repository
MISSING_SNAPSHOT = "missing_snapshot"  # an anchor refers to a snapshot that is gone or corrupt
SPAN_OUT_OF_RANGE = "span_out_of_range"  # a placed tag's span does not fit its document
SPAN_TEXT_MISMATCH = "span_text_mismatch"  # placed in the anchored text, but the text differs
UNREFERENCED_SNAPSHOT = "unreferenced_snapshot"  # warning: garbage to collect
CORRUPT_SNAPSHOT = "corrupt_snapshot"  # an unreferenced snapshot that cannot be read
STRAY_TEMP = "stray_temp"  # warning: a temp file left by an interrupted write
MISSING_DOCUMENT = "missing_document"  # warning: tags of a document that is gone (retag orphans them)
TORN_HISTORY = "torn_history"  # warning: a history log ends in half a line (a crash mid-append)
BAD_HISTORY = "bad_history"  # a complete history line that is not a valid event
MERGE_CONFLICT = "merge_conflict"  # both sides of a merge changed one tag: a person decides

WARNINGS = {STRAY_TEMP, MISSING_DOCUMENT, CORRUPT_SNAPSHOT, TORN_HISTORY}
# Not problems at all: garbage that `magicmarkup gc` collects (a tracked file is shared history,
# deleted only when asked, so the doctor never deletes it).
INFORMATION = {UNREFERENCED_SNAPSHOT}


@dataclass
class Problem:
    kind: str
    file: str  # relative to the repository root
    message: str
    tag_id: str | None = None
    fixable: bool = False
    fixed: bool = False

    @property
    def severity(self) -> str:
        if self.kind in INFORMATION:
            return "info"
        return "warning" if self.kind in WARNINGS else "error"

    def line(self) -> str:
        state = " [fixed]" if self.fixed else (" [fixable with --fix]" if self.fixable else "")
        return f"{self.severity}: {self.file}: {self.message}{state}"


MISSING = "missing"  # _read_document: the document is gone


@dataclass
class DoctorReport:
    files: int = 0
    tags: int = 0
    snapshots: int = 0
    problems: list[Problem] = field(default_factory=list)
    backup_dir: str | None = None
    rewritten: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> list[Problem]:
        """Errors still present after the run (warnings never fail the check)."""
        return [p for p in self.problems if not p.fixed and p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.remaining

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "tags": self.tags,
            "snapshots": self.snapshots,
            "problems": [{**asdict(p), "severity": p.severity} for p in self.problems],
            "remaining": len(self.remaining),
            "backup_dir": self.backup_dir,
            "rewritten": self.rewritten,
        }


@dataclass
class _File:
    """One tag file as the doctor sees it; `tags` is None when it could not be parsed."""

    rel: str  # the document path this file belongs to
    path: Path
    raw: dict[str, Any] | None = None
    tags: list[Tag] | None = None
    dirty: bool = False
    pin: str | None = None  # a schema-3 pin file: the id its name says (else a schema 1-2 file)


def check(store: Store, fix: bool = False) -> DoctorReport:
    """Check (and with `fix`, repair) the store, holding its lock so no writer interleaves."""
    with store.locked():
        return _Doctor(store, fix).run()


class _Doctor:
    def __init__(self, store: Store, fix: bool) -> None:
        self.store = store
        self.fix = fix
        self.report = DoctorReport()
        self.stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        self.backup_root = store.dir / BACKUP_DIR / self.stamp
        self._unreadable = 0  # store files skipped before parsing (directories, symlinks)
        # Once per document, not once per pin file (100,000 pins: 100,000 reads of 1,000 files).
        self._documents: dict[str, tuple[str | None, str | None]] = {}  # rel -> (text, problem)
        self._rel_problems: dict[str, str | None] = {}
        self._shas: dict[str, str] = {}

    def label(self, path: Path) -> str:
        return self.store.label(path)  # a string cut: this runs twice per store file

    def problem(
        self, kind: str, path: Path, message: str, tag: str | None = None, fixable: bool = False
    ) -> Problem:
        p = Problem(kind, self.label(path), message, tag, fixable)
        self.report.problems.append(p)
        return p

    # -- the run -------------------------------------------------------------------------

    def run(self) -> DoctorReport:
        files = list(self._tag_files())
        self.report.files = len(files)
        for f in files:
            self._parse(f)
        parsed = [f for f in files if f.tags is not None]
        self.report.tags = sum(len(f.tags or []) for f in parsed)
        self._check_paths(parsed)
        self._check_duplicates(parsed)
        referenced = self._check_snapshots_and_spans(parsed)
        # A file we could not read may refer to any snapshot: collect nothing until it is repaired.
        self._check_unreferenced(referenced, collect=len(parsed) == len(files) and not self._unreadable)
        self._check_temp_files()
        self._check_history()
        if self.fix:
            for f in parsed:
                if f.dirty and f.tags is not None:
                    self._rewrite(f)
        return self.report

    def _tag_files(self) -> Iterator[_File]:
        yield from self._pin_files()
        tags_dir = self.store.tags_dir
        if not tags_dir.is_dir() or tags_dir.is_symlink():
            return
        for file in sorted(tags_dir.rglob("*.json")):
            if file.is_dir():
                self.problem(UNPARSABLE, file, "is a directory where a store file should be")
                self._unreadable += 1
                continue
            rel = file.relative_to(tags_dir).as_posix()[: -len(".json")]
            if file.is_symlink() or not file.resolve().is_relative_to(self.store.dir.resolve()):
                self.problem(PATH_OUTSIDE, file, "store file is a symbolic link; refusing to follow it")
                self._unreadable += 1
                continue
            yield _File(rel, file)

    def _pin_files(self) -> Iterator[_File]:
        pins = self.store.pins_dir
        if pins.is_symlink():
            self.problem(PATH_OUTSIDE, pins, "is a symbolic link; refusing to follow it")
            return
        if not pins.is_dir():
            return
        stack = [pins]
        while stack:
            folder = stack.pop()
            for entry in sorted(folder.iterdir()):
                if entry.is_symlink():
                    self.problem(PATH_OUTSIDE, entry, "symbolic link inside the store; refusing to follow it")
                    self._unreadable += 1
                elif entry.is_dir() and entry.name.endswith(".json") and folder != pins:
                    self.problem(UNPARSABLE, entry, "is a directory where a pin file should be")
                    self._unreadable += 1
                elif entry.is_dir():
                    stack.append(entry)
                elif entry.name.endswith(".json") and not entry.name.startswith(".") and folder != pins:
                    rel = folder.relative_to(pins).as_posix()
                    yield _File(rel, entry, pin=entry.name[: -len(".json")])
                elif not entry.name.startswith("."):
                    self.problem(
                        UNPARSABLE, entry, "is a file where a folder of pins (or a pin file) should be"
                    )
                    self._unreadable += 1

    def _parse_pin(self, f: _File, data: bytes) -> None:
        label = self.label(f.path)
        sides = conflict_sides(data)
        try:
            if sides is None:
                tag = parse_pin(data, label)
            else:
                ours, theirs = (parse_pin(side, label) for side in sides)
                differ = sorted(
                    k
                    for k in set(ours.metadata) | set(theirs.metadata)
                    if ours.metadata.get(k) != theirs.metadata.get(k)
                )
                what = ", ".join(differ) or "its placement"
                self.problem(
                    MERGE_CONFLICT,
                    f.path,
                    f"merge conflict: both sides changed tag {ours.id} ({what}); it reads as ours meanwhile. "
                    f"Keep one with `magicmarkup edit {ours.id} --note ...` (rewrites the file), then "
                    f"`git add {label}`",
                    ours.id,
                )
                tag = ours
        except MagicMarkupError as exc:
            kind = NEWER_SCHEMA if "newer than" in str(exc) else UNPARSABLE
            self.problem(
                kind,
                f.path,
                f"{str(exc).removeprefix(label + ': ')}; restore it with `git checkout -- {label}`",
            )
            return
        f.tags = [tag]
        if tag.id != f.pin:
            self.problem(UNPARSABLE, f.path, f"holds tag {tag.id}, but its name says {f.pin}")
            f.tags = None

    def _parse(self, f: _File) -> None:
        try:
            data = read_store_file(f.path, self.label(f.path), limit=64 * 1024 * 1024)
        except (OSError, MagicMarkupError) as exc:
            self.problem(UNPARSABLE, f.path, f"cannot read ({getattr(exc, 'strerror', None) or exc})")
            return
        if f.pin is not None:
            self._parse_pin(f, data)
            return
        try:
            raw = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            self.problem(
                UNPARSABLE, f.path, "corrupt store file (not UTF-8); restore it from git or a backup"
            )
            return
        except json.JSONDecodeError as exc:
            self.problem(
                UNPARSABLE,
                f.path,
                f"corrupt store file (invalid JSON at line {exc.lineno}: {exc.msg}); "
                "restore it from git or a backup",
            )
            return
        if not isinstance(raw, dict):
            self.problem(UNPARSABLE, f.path, "corrupt store file (expected a JSON object)")
            return
        version = raw.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            self.problem(UNPARSABLE, f.path, "missing or non-integer schema_version")
            return
        if version > SCHEMA_VERSION:
            self.problem(
                NEWER_SCHEMA,
                f.path,
                f"schema_version {version} is newer than this magicmarkup supports ({SCHEMA_VERSION})",
            )
            return
        try:
            parsed = TagFile.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            self.problem(UNPARSABLE, f.path, f"invalid store file ({where}: {err['msg']})")
            return
        f.raw = raw
        f.tags = parsed.tags
        if parsed.path != f.rel:
            p = self.problem(
                PATH_MISMATCH,
                f.path,
                f"file says path {parsed.path!r}, its location says {f.rel!r}",
                fixable=True,
            )
            if self.fix:
                f.dirty = p.fixed = True

    def _check_paths(self, files: list[_File]) -> None:
        for f in files:
            if f.rel not in self._rel_problems:
                try:
                    self.store.check_relpath(f.rel)
                    self._rel_problems[f.rel] = None
                except MagicMarkupError as exc:
                    self._rel_problems[f.rel] = str(exc)
            outside = self._rel_problems[f.rel]
            if outside is not None:
                self.problem(PATH_OUTSIDE, f.path, outside)
            for tag in f.tags or []:
                if tag.path == f.rel:
                    continue
                p = self.problem(
                    PATH_MISMATCH,
                    f.path,
                    f"tag {tag.id} has path {tag.path!r} but is stored under {f.rel!r}",
                    tag.id,
                    fixable=True,
                )
                if self.fix:
                    tag.path = f.rel
                    f.dirty = p.fixed = True

    def _check_duplicates(self, files: list[_File]) -> None:
        self._check_pinned_twice([f for f in files if f.pin is not None])
        pinned = {f.pin for f in files if f.pin is not None and f.tags}
        seen: dict[str, str] = {}
        for f in files:
            if f.pin is not None:
                continue
            for tag in list(f.tags or []):
                if tag.id in pinned:  # a migration to pins interrupted before this file was deleted
                    p = self.problem(
                        DUPLICATE_ID,
                        f.path,
                        f"tag {tag.id} is already migrated to a pin; this schema-2 copy is stale",
                        tag.id,
                        fixable=True,
                    )
                    if self.fix:
                        assert f.tags is not None
                        f.tags.remove(tag)
                        f.dirty = p.fixed = True
                        p.message += "; dropped here (the pin is kept)"
                    continue
                first = seen.get(tag.id)
                if first is None:
                    seen[tag.id] = f.rel
                    continue
                where = "twice in this file" if first == f.rel else f"also in the file of {first!r}"
                p = self.problem(
                    DUPLICATE_ID, f.path, f"tag id {tag.id} is used {where}", tag.id, fixable=True
                )
                if self.fix:
                    old = tag.id
                    tag.id = new_id()
                    while tag.id in seen:
                        tag.id = new_id()
                    seen[tag.id] = f.rel
                    tag.metadata.setdefault("doctor_previous_id", old)
                    f.dirty = p.fixed = True
                    p.message += f"; renamed to {tag.id}"

    def _check_pinned_twice(self, pins: list[_File]) -> None:
        """A tag pinned under two documents: written under its new document before its old pin
        was removed (a crash mid-move). It is one tag: keep the copy a move would have kept (the
        one whose document exists, else the one written last) and never rename it."""
        copies: dict[str, list[_File]] = {}
        for f in pins:
            if f.tags:
                copies.setdefault(f.tags[0].id, []).append(f)
        for tag_id, found in copies.items():
            if len(found) < 2:
                continue

            def rank(f: _File) -> tuple[bool, int]:
                exists = (self.store.root / f.rel).is_file()
                try:
                    written = f.path.stat().st_mtime_ns
                except OSError:
                    written = 0
                return exists, written

            keep = max(found, key=rank)
            for f in found:
                if f is keep:
                    continue
                p = self.problem(
                    DUPLICATE_ID,
                    f.path,
                    f"tag {tag_id} is pinned twice (also under {keep.rel!r}, which is kept)",
                    tag_id,
                    fixable=True,
                )
                if self.fix:
                    self._backup(f.path)
                    f.path.unlink()
                    f.tags = []
                    f.dirty = False  # gone: nothing left to rewrite
                    p.fixed = True
                    p.message += "; this copy removed (backed up)"

    def _check_snapshots_and_spans(self, files: list[_File]) -> set[str]:
        referenced: set[str] = set()
        snapshot_ok: dict[str, bool] = {}
        for f in files:
            text = self._document(f)
            for tag in f.tags or []:
                sha = tag.anchor.snapshot
                if sha:
                    if sha not in snapshot_ok:
                        snapshot_ok[sha] = self._snapshot_readable(sha)
                    if not snapshot_ok[sha] and text is not None and self._sha(text) == sha:
                        # The document is exactly the text the snapshot held: restore it from there.
                        p = self.problem(
                            MISSING_SNAPSHOT,
                            f.path,
                            f"tag {tag.id}: snapshot {sha[:12]} missing",
                            tag.id,
                            True,
                        )
                        if self.fix:
                            self._backup_snapshot(sha)
                            self._write_snapshot(sha, text)
                            snapshot_ok[sha] = p.fixed = True
                            p.message += "; restored from the document"
                    elif not snapshot_ok[sha]:
                        p = self.problem(
                            MISSING_SNAPSHOT,
                            f.path,
                            f"tag {tag.id}: snapshot {sha[:12]} missing or corrupt "
                            "(retag falls back to the anchor's own context)",
                            tag.id,
                            True,
                        )
                        if self.fix:
                            self._backup_snapshot(sha)
                            tag.anchor = replace(tag.anchor, snapshot=None)
                            f.dirty = p.fixed = True
                            p.message += "; dangling reference cleared"
                    if tag.anchor.snapshot:
                        referenced.add(tag.anchor.snapshot)
                self._check_span(f, tag, text)
        return referenced

    def _check_span(self, f: _File, tag: Tag, text: str | None) -> None:
        if not tag.status.placed or text is None or tag.anchor.snapshot != self._sha(text):
            return  # a pin's span is in its own snapshot; the working tree is the view's business
        if tag.span.end > len(text):
            p = self.problem(
                SPAN_OUT_OF_RANGE,
                f.path,
                f"tag {tag.id} ({tag.status.value}) starts at "
                f"{where(f.rel, Positions(text).point(min(tag.span.start, len(text))))} and ends past "
                f"the end of the file",
                tag.id,
                fixable=True,
            )
            if self.fix:
                self._unplace(tag, Status.ORPHANED, "span out of range")
                f.dirty = p.fixed = True
                p.message += "; marked orphaned (run `magicmarkup retag --worktree` to re-find it)"
            return
        current = text[tag.span.start : tag.span.end]
        if tag.anchor.snapshot == self._sha(text) and current != tag.anchor.text:
            p = self.problem(
                SPAN_TEXT_MISMATCH,
                f.path,
                f"tag {tag.id} ({tag.status.value}) is anchored in this exact text but "
                f"{Positions(text).where(f.rel, tag.span.start, tag.span.end)} holds {current[:30]!r}, "
                f"not {tag.anchor.text[:30]!r}",
                tag.id,
                fixable=True,
            )
            if self.fix:
                self._unplace(tag, Status.NEEDS_REVIEW, "span does not hold the anchored text")
                f.dirty = p.fixed = True
                p.message += "; marked needs_review"

    def _unplace(self, tag: Tag, status: Status, why: str) -> None:
        tag.history.append(
            RetagEvent(
                from_snapshot=tag.anchor.snapshot,
                to_snapshot=tag.anchor.snapshot,
                old_span=tag.span,
                new_span=tag.span if status is Status.NEEDS_REVIEW else None,
                status=status,
                method="doctor",
                confidence=0.0,
                reason=f"doctor: {why}",
            )
        )
        tag.status = status
        tag.confidence = 0.0
        tag.method = "doctor"
        tag.updated_at = utcnow()

    def _sha(self, text: str) -> str:
        """text_hash(text), once per text (the same string object for every pin of a document)."""
        sha = self._shas.get(text)
        if sha is None:
            sha = self._shas[text] = text_hash(text)
        return sha

    def _document(self, f: _File) -> str | None:
        """The document's current text, or None (reported, for each of its store files, when
        tags depend on it)."""
        if f.rel not in self._documents:
            self._documents[f.rel] = self._read_document(f.rel)
        text, problem = self._documents[f.rel]
        if problem == MISSING:
            if any(t.status.placed for t in f.tags or []):
                self.problem(
                    MISSING_DOCUMENT,
                    f.path,
                    f"{f.rel} no longer exists; `retag --worktree` will orphan its tags",
                )
        elif problem is not None:
            self.problem(MISSING_DOCUMENT, f.path, problem)
        return text

    def _read_document(self, rel: str) -> tuple[str | None, str | None]:
        try:
            full = self.store.document_path(rel)
        except MagicMarkupError:
            return None, None  # already reported as PATH_OUTSIDE
        if not full.exists() and not full.is_symlink():
            return None, MISSING
        try:
            return self.store.read_document(rel), None
        except MagicMarkupError as exc:
            return None, f"document unreadable: {exc}"

    # -- snapshots -----------------------------------------------------------------------

    def _snapshot_readable(self, sha: str) -> bool:
        try:
            self.store.get_snapshot(sha)
        except (MagicMarkupError, UnicodeDecodeError):
            return False
        return True

    def _write_snapshot(self, sha: str, text: str) -> None:
        file = self.store.snapshot_file(sha)
        atomic_write(file, gzip.compress(text.encode("utf-8", "surrogatepass"), compresslevel=6, mtime=0))

    def _backup_snapshot(self, sha: str) -> None:
        file = self.store.snapshot_file(sha)
        if file.is_file():
            self._backup(file)

    def _check_unreferenced(self, referenced: set[str], collect: bool) -> None:
        snaps = self.store.snapshots_dir
        if snaps.is_symlink():
            self.problem(PATH_OUTSIDE, snaps, "is a symbolic link; refusing to follow it")
            return
        if not snaps.is_dir():
            return
        for shard in sorted(snaps.iterdir()):
            if shard.is_symlink():
                self.problem(PATH_OUTSIDE, shard, "symbolic link inside the store; refusing to follow it")
        shards = [d for d in snaps.iterdir() if d.is_dir() and not d.is_symlink()]
        for file in sorted(f for d in shards for f in d.glob("*.gz")):
            self.report.snapshots += 1
            sha = file.name[: -len(".gz")]
            if sha in referenced:
                continue
            try:
                self.store.snapshot_file(sha)
            except MagicMarkupError:
                # Nothing can refer to it (an anchor's snapshot is a sha256): garbage, collected
                # by --fix like any unreferenced snapshot (into the backup, as unreadable ones).
                regular = file.is_file() and not file.is_symlink()
                p = self.problem(
                    CORRUPT_SNAPSHOT, file, "not a snapshot file name", fixable=collect and regular
                )
                if self.fix and collect and regular:
                    self._backup(file)
                    file.unlink()
                    p.fixed = True
                    p.message += "; collected"
                continue
            if not self._snapshot_readable(sha):
                p = self.problem(
                    CORRUPT_SNAPSHOT, file, "unreferenced and unreadable snapshot", fixable=collect
                )
                if self.fix and collect:
                    self._backup(file)
                    file.unlink()
                    p.fixed = True
                continue
            self.problem(
                UNREFERENCED_SNAPSHOT, file, "no tag refers to this snapshot (`magicmarkup gc` collects it)"
            )

    def _check_temp_files(self) -> None:
        for file in sorted(self.store.dir.rglob(".*.tmp")):
            if BACKUP_DIR in file.relative_to(self.store.dir).parts[:1]:
                continue
            p = self.problem(STRAY_TEMP, file, "temp file left by an interrupted write", fixable=True)
            if self.fix:
                with suppress(OSError):
                    file.unlink()
                p.fixed = True

    # -- history logs --------------------------------------------------------------------

    def _check_history(self) -> None:
        root = self.store.history_dir
        if root.is_symlink():
            self.problem(PATH_OUTSIDE, root, "is a symbolic link; refusing to follow it")
            return
        if not root.is_dir():
            return
        for file in sorted(_walk_no_links(root, ".jsonl")):
            if not file.is_file() or file.is_symlink():
                self.problem(BAD_HISTORY, file, "not a regular file where a history log should be")
                continue
            data = file.read_bytes()
            keep: list[bytes] = []
            bad: list[int] = []
            lines = data.split(b"\n")
            for number, line in enumerate(lines[:-1], start=1):
                if line.strip():
                    try:
                        parse_event_line(line, self.label(file))
                    except MagicMarkupError:
                        bad.append(number)
                        continue
                keep.append(line + b"\n")
            torn = lines[-1] != b""
            if torn:
                p = self.problem(
                    TORN_HISTORY, file, "ends in half a line (an interrupted append); ignored", fixable=True
                )
                p.fixed = self.fix
            if bad:
                p = self.problem(
                    BAD_HISTORY,
                    file,
                    f"invalid history event on line(s) {', '.join(map(str, bad[:10]))}",
                    fixable=True,
                )
                p.fixed = self.fix
            if self.fix and (torn or bad):
                self._backup(file)  # the dropped lines stay in the backup
                atomic_write(file, b"".join(keep))
                self.report.rewritten.append(self.label(file))

    # -- writing -------------------------------------------------------------------------

    def _backup(self, file: Path) -> None:
        target = self.backup_root / file.relative_to(self.store.dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
        self.report.backup_dir = self.label(self.backup_root)

    def _rewrite(self, f: _File) -> None:
        assert f.tags is not None
        self._backup(f.path)
        if f.pin is not None:
            self.store.log_new_events(f.rel, f.tags)
            for tag in f.tags:
                atomic_write(f.path, dump_pin(tag))
            self.report.rewritten.append(self.label(f.path))
            return
        self.store.log_new_events(f.rel, f.tags)  # the doctor's own events, and schema 1's inline ones
        data = dump_tag_file(f.rel, f.tags)
        if f.raw is not None:
            # Keep top-level fields a newer tool of the same schema may have written.
            extra = {k: v for k, v in f.raw.items() if k not in ("schema_version", "path", "tags")}
            if extra:
                doc = json.loads(data)
                doc.update(extra)
                data = (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
        atomic_write(f.path, data)
        self.report.rewritten.append(self.label(f.path))


def _walk_no_links(root: Path, suffix: str) -> list[Path]:
    """Files (and links) named *suffix under `root`, never descending through a linked folder."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        found += [Path(dirpath, n) for n in filenames if n.endswith(suffix)]
        found += [Path(dirpath, d) for d in dirnames if d.endswith(suffix) or Path(dirpath, d).is_symlink()]
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
    return found
