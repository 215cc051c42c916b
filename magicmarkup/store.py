"""The tag store: a `.magicmarkup/` folder at the repository root, committed with the code.

One JSON file per annotated document (sorted keys, tags in id order, so git diffs and merges
stay readable) and gzip snapshots addressed by the sha256 of the text. Every write is atomic
(temp file, fsync, `os.replace`) and every read-modify-write holds one inter-process lock, so
the CLI, the watcher, the TUI and git hooks can all write at once without losing an update.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import orjson
from filelock import FileLock, Timeout
from pydantic import ValidationError

from magicmarkup.documents import read_document, text_hash
from magicmarkup.errors import DocumentError, StoreError, TagNotFound
from magicmarkup.model import SCHEMA_VERSION, History, RetagEvent, Tag, TagFile

STORE_DIR = ".magicmarkup"
LOCK_TIMEOUT_S = 60.0
GITIGNORE = "# local state, not shared\n.lock\ncache/\n*.tmp\nbackup/\n"
# History logs only grow at the end: two branches' appends merge by keeping both.
GITATTRIBUTES = "history/** merge=union\n"


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a reader or a crash sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress_oserror():
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


@contextmanager
def _suppress_oserror() -> Iterator[None]:
    with suppress(OSError):
        yield


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def find_repo_root(start: Path) -> Path:
    """The git work-tree root containing `start`, else `start` itself."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return start
    if out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip()).resolve()
    return start


def dump_tag_file(rel: str, tags: Iterable[Tag]) -> bytes:
    """A document's tag file: every tag without its history (that is in the history log)."""
    ordered = sorted(tags, key=lambda t: t.id)
    doc = TagFile(path=rel, tags=ordered).model_dump(mode="json", exclude={"tags": {"__all__": {"history"}}})
    # orjson: the same sorted, indented JSON as the json module, ~20x faster on large stores.
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def parse_tag_file(data: bytes, label: str) -> TagFile:
    """Parse and validate one tag file; every failure names the file and the problem."""
    try:
        # Fast path: pydantic parses and validates straight from the bytes (no dict in between).
        # A file it refuses takes the slow path below, whose verdict is the error users see.
        parsed = TagFile.model_validate_json(data)
    except ValidationError:
        pass
    else:
        if "schema_version" in parsed.model_fields_set and parsed.schema_version <= SCHEMA_VERSION:
            _check_unique_ids(parsed, label)
            return parsed
    try:
        raw = orjson.loads(data)  # fast path; anything it refuses gets the json module's verdict
    except orjson.JSONDecodeError:
        raw = _slow_json(data, label)
    if not isinstance(raw, dict):
        raise StoreError(f"{label}: corrupt store file (expected a JSON object)")
    return _validate_tag_file(raw, label)


def _slow_json(data: bytes, label: str) -> object:
    """json.loads with one-line errors (also accepts what orjson does not: NaN, huge ints)."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise StoreError(f"{label}: corrupt store file (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise StoreError(
            f"{label}: corrupt store file (invalid JSON at line {exc.lineno}: {exc.msg})"
        ) from None


def _validate_tag_file(raw: dict[str, object], label: str) -> TagFile:
    version = raw.get("schema_version")
    if not isinstance(version, int):
        raise StoreError(f"{label}: corrupt store file (missing or non-integer schema_version)")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{label}: schema_version {version} is newer than this magicmarkup supports "
            f"({SCHEMA_VERSION}); upgrade magicmarkup"
        )
    try:
        parsed = TagFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise StoreError(f"{label}: invalid store file ({where}: {err['msg']})") from None
    _check_unique_ids(parsed, label)
    return parsed


def _check_unique_ids(parsed: TagFile, label: str) -> None:
    seen: set[str] = set()
    for tag in parsed.tags:
        if tag.id in seen:
            raise StoreError(f"{label}: duplicate tag id {tag.id}")
        seen.add(tag.id)


# Past this many tags a load's objects are moved out of the cyclic collector's reach for good.
BIG_LOAD_TAGS = 20_000


@contextmanager
def _gc_paused(loaded: list[Tag]) -> Iterator[None]:
    """Loading a big store allocates millions of objects and no reference cycles. The cyclic
    collector would scan all of them again and again while they are built (two thirds of the
    load time of 100,000 tags, measured) and three times more soon after (1-2 s). So it is paused
    while loading, and after a big load `gc.freeze()` moves everything alive out of its reach:
    these objects are still freed by reference counting; what it costs is that objects alive
    now that later become cyclic garbage are never collected (for a one-shot command, nothing)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if len(loaded) > BIG_LOAD_TAGS:
            gc.freeze()
        if was_enabled:
            gc.enable()


def event_line(tag_id: str, event: RetagEvent) -> bytes:
    """One line of a history log: the event and the id of its tag."""
    record = event.model_dump(mode="json")
    record["tag"] = tag_id
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def parse_history(data: bytes, label: str) -> dict[str, list[RetagEvent]]:
    """The events of a history log by tag id, in order, each once. A last line without its
    newline is what a crash in the middle of an append leaves: it is ignored (and cut off by
    the next append). Any other bad line is an error naming the file and the line."""
    events: dict[str, list[RetagEvent]] = {}
    seen: set[bytes] = set()
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: b"" or a torn append
        if not line.strip() or line in seen:  # a retried append may repeat a line
            continue
        seen.add(line)
        tag_id, event = parse_event_line(line, f"{label}:{number}")
        events.setdefault(tag_id, []).append(event)
    return events


def parse_event_line(line: bytes, label: str) -> tuple[str, RetagEvent]:
    """(tag id, event) of one history line, or a StoreError naming `label` and the problem."""
    try:
        record = orjson.loads(line)
        if not isinstance(record, dict):
            raise ValueError("expected a JSON object")
        tag_id = record.pop("tag", None)
        if not isinstance(tag_id, str) or not tag_id:
            raise ValueError("no tag id")
        return tag_id, RetagEvent.model_validate(record)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise StoreError(f"{label}: invalid history event ({where}: {err['msg']})") from None
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise StoreError(f"{label}: invalid history event ({exc})") from None


def append_lines(file: Path, lines: list[bytes]) -> None:
    """Append whole lines durably. A torn last line (a crash mid-append) is cut off first, so the
    new lines never join it. Hold the store lock."""
    file.parent.mkdir(parents=True, exist_ok=True)
    created = not file.exists()
    with open(file, "r+b" if not created else "w+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                handle.seek(0)
                handle.truncate(handle.read().rfind(b"\n") + 1)
            handle.seek(0, os.SEEK_END)
        handle.write(b"".join(lines))
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        _fsync_dir(file.parent)


class Store:
    """A handle on one repository's `.magicmarkup/` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.dir = self.root / STORE_DIR
        self.tags_dir = self.dir / "tags"
        self.snapshots_dir = self.dir / "snapshots"
        self.history_dir = self.dir / "history"
        self._lock = FileLock(str(self.dir / ".lock"), timeout=LOCK_TIMEOUT_S)

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def init(cls, start: Path | None = None) -> Store:
        """Create `.magicmarkup/` at the git root containing `start` (else at `start`)."""
        root = find_repo_root((start or Path.cwd()).resolve())
        store = cls(root)
        if store.dir.exists() and not store.dir.is_dir():
            raise StoreError(f"{store.dir}: exists and is not a directory")
        store.tags_dir.mkdir(parents=True, exist_ok=True)
        store.snapshots_dir.mkdir(parents=True, exist_ok=True)
        store._write_missing((".gitignore", GITIGNORE), (".gitattributes", GITATTRIBUTES))
        return store

    def _write_missing(self, *files: tuple[str, str]) -> None:
        for name, content in files:
            if not (self.dir / name).exists():
                atomic_write(self.dir / name, content.encode())

    @classmethod
    def discover(cls, start: Path | None = None) -> Store:
        """The store of the nearest enclosing directory that has one."""
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / STORE_DIR / "tags").is_dir():
                return cls(candidate)
        raise StoreError(f"{here}: no {STORE_DIR}/ store here or above; run `magicmarkup init`")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's inter-process lock (re-entrant within one process)."""
        try:
            with self._lock:
                yield
        except Timeout:
            raise StoreError(
                f"{self.dir / '.lock'}: store is locked by another process (waited {LOCK_TIMEOUT_S:.0f} s)"
            ) from None

    # -- paths ---------------------------------------------------------------------------

    def check_relpath(self, rel: str, resolve: bool = True) -> str:
        """Validate a repo-relative `/`-separated path; refuse anything that escapes the repo.
        `resolve=False` checks the path's form only (for naming its tag file: a document that
        became a symlink out of the repo must not make its tags unreadable)."""
        if not rel or "\0" in rel:
            raise DocumentError(f"{rel!r}: empty or invalid path")
        if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or "\\" in rel:
            raise DocumentError(f"{rel}: absolute or non-POSIX path; store paths are repo-relative")
        parts = [p for p in rel.split("/") if p not in ("", ".")]  # as PurePosixPath would, faster
        if not parts or ".." in parts or parts[0] == STORE_DIR:
            raise DocumentError(f"{rel}: path escapes the repository or points into {STORE_DIR}/")
        if resolve:
            full = (self.root / rel).resolve()
            if not full.is_relative_to(self.root):
                raise DocumentError(f"{rel}: resolves outside the repository ({full})")
        return "/".join(parts)

    def relpath(self, path: str | Path, cwd: Path | None = None) -> str:
        """A user-given path (relative to `cwd`, or absolute) as a repo-relative store path."""
        given = Path(path)
        full = given if given.is_absolute() else (cwd or Path.cwd()) / given
        absolute = Path(os.path.abspath(full))
        if not absolute.is_relative_to(self.root):
            raise DocumentError(f"{path}: outside the repository {self.root}")
        resolved = absolute.resolve()
        if not resolved.is_relative_to(self.root):
            raise DocumentError(f"{path}: resolves outside the repository ({resolved})")
        rel = absolute.relative_to(self.root).as_posix()
        return self.check_relpath(rel)

    def document_path(self, rel: str) -> Path:
        return self.root / self.check_relpath(rel)

    def read_document(self, rel: str) -> str:
        return read_document(self.document_path(rel), rel)

    def tag_file(self, rel: str) -> Path:
        return self._file_in(self.tags_dir, rel, ".json")

    def history_file(self, rel: str) -> Path:
        return self._file_in(self.history_dir, rel, ".jsonl")

    def _file_in(self, folder: Path, rel: str, suffix: str) -> Path:
        file = folder / (self.check_relpath(rel, resolve=False) + suffix)
        # A committed symlink inside the store must not lead reads or writes out of it.
        if file.parent != folder and not file.parent.resolve().is_relative_to(folder.resolve()):
            raise StoreError(
                f"{file.relative_to(self.root)}: store folder resolves outside {STORE_DIR}/{folder.name}"
            )
        return file

    # -- tags ----------------------------------------------------------------------------

    def load(self, rel: str) -> list[Tag]:
        """The tags of one document (empty if it has none), with their history."""
        tags = self._load_file(self.tag_file(rel), rel)
        if tags:
            self._attach_history(rel, tags)
        return tags

    def _attach_history(self, rel: str, tags: list[Tag]) -> None:
        label = f"{STORE_DIR}/history/{rel}.jsonl"
        try:
            data = self.history_file(rel).read_bytes()
        except FileNotFoundError:
            return
        except IsADirectoryError:
            raise StoreError(f"{label}: is a directory, expected a history log") from None
        logged = parse_history(data, label)
        for tag in tags:
            events = logged.get(tag.id, [])
            if tag.history:  # written inline by schema 1: moved to the log by the next save
                tag.history = events + tag.history
            else:
                tag.history = History(events, logged=len(events), path=rel)

    def log_new_events(self, rel: str, tags: Iterable[Tag]) -> None:
        """Append to `rel`'s history log the events not logged there yet (all of them for a tag
        that came from another document). Hold the lock."""
        lines = []
        for tag in tags:
            known = tag.history
            start = known.logged if isinstance(known, History) and known.path == rel else 0
            lines += [event_line(tag.id, event) for event in known[start:]]
        if lines:
            file = self.history_file(rel)
            if not file.exists():  # a store made before history logs has no merge rule for them
                self._write_missing((".gitattributes", GITATTRIBUTES))
            append_lines(file, lines)
        for tag in tags:
            if isinstance(tag.history, History):
                tag.history.logged, tag.history.path = len(tag.history), rel
            else:
                tag.history = History(tag.history, logged=len(tag.history), path=rel)

    def _load_file(self, file: Path, rel: str, data: bytes | None = None) -> list[Tag]:
        label = f"{STORE_DIR}/tags/{rel}.json"
        try:
            if data is None:
                data = file.read_bytes()
        except FileNotFoundError:
            return []
        except IsADirectoryError:
            raise StoreError(f"{label}: is a directory, expected a store file") from None
        parsed = parse_tag_file(data, label)
        for tag in parsed.tags:
            if tag.path != rel:
                raise StoreError(f"{label}: tag {tag.id} has path {tag.path!r}, expected {rel!r}")
        return parsed.tags

    def save(self, rel: str, tags: list[Tag]) -> None:
        """Write one document's tags (removing its file when none are left). Hold the lock."""
        file = self.tag_file(rel)
        if not tags:
            with _suppress_oserror():
                file.unlink()
            return
        # The log first: a crash in between leaves an event whose result was not saved (the
        # retag is redone and says so again), never a saved result without its explanation.
        self.log_new_events(rel, tags)
        atomic_write(file, dump_tag_file(rel, tags))

    def save_many(self, documents: dict[str, list[Tag]]) -> None:
        """Save many documents' tags at once (hold the lock). Each file is still written
        atomically; the writes overlap their fsyncs in a few threads, which is what a retag of a
        large commit spends most of its time waiting for."""
        if len(documents) < 4:
            for rel, tags in documents.items():
                self.save(rel, tags)
            return
        with ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(self.save, rel, tags) for rel, tags in documents.items()]:
                future.result()

    @contextmanager
    def edit(self, rel: str) -> Iterator[list[Tag]]:
        """Lock, load one document's tags, let the caller change the list, and save it."""
        with self.locked():
            tags = self.load(rel)
            yield tags
            self.save(rel, tags)

    def paths(self) -> list[str]:
        """Every annotated document, sorted."""
        return [rel for rel, _ in self._tag_files()]

    def _tag_files(self) -> list[tuple[str, Path]]:
        """(document path, tag file) for every tag file, sorted by path. Symlinked folders are
        not followed (as `tag_file` refuses to write through them)."""
        found: list[tuple[str, Path]] = []

        def walk(directory: str, prefix: str) -> None:
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                return
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, f"{prefix}{entry.name}/")
                elif entry.name.endswith(".json") and entry.is_file():
                    found.append((prefix + entry.name[: -len(".json")], Path(entry.path)))

        walk(str(self.tags_dir), "")
        found.sort(key=lambda item: item[0])
        return found

    def all_tags(self, history: bool = False) -> list[Tag]:
        """Every tag; their histories (a log per document) only when asked for. A tag loaded
        without its history can still be changed and saved: only its new events are logged."""
        tags: list[Tag] = []
        with _gc_paused(tags):
            for rel, file in self._tag_files():
                rel = self.check_relpath(rel, resolve=False)
                loaded = self._load_file(file, rel)
                if history and loaded:
                    self._attach_history(rel, loaded)
                tags += loaded
        return tags

    def find(self, tag_id: str) -> Tag:
        """The tag whose id is `tag_id`, or the one tag whose id starts or ends with it."""
        key = tag_id.strip().lower()
        if not key:
            raise TagNotFound("empty tag id")
        # Only files whose bytes contain the key can hold a match (ids are stored verbatim), so
        # the others are not parsed: `show`/`edit`/`rm` on a store of 100,000 tags read every
        # file but parse one.
        # A key with characters JSON escapes is looked for the slow way.
        needle = orjson.dumps(key)[1:-1]
        verbatim = needle.decode() == key
        matches: list[Tag] = []
        with _gc_paused(matches):
            for rel, file in self._tag_files():
                try:
                    data: bytes | None = file.read_bytes()
                except OSError:
                    data = None  # let the loader say why
                if data is None or not verbatim or needle in data:
                    rel = self.check_relpath(rel, resolve=False)
                    tags = self._load_file(file, rel, data)
                    found = [t for t in tags if t.id.startswith(key) or t.id.endswith(key)]
                    if found:
                        self._attach_history(rel, found)
                    matches += found
        exact = [t for t in matches if t.id == key]
        if exact:
            return exact[0]
        if not matches:
            raise TagNotFound(f"{tag_id}: no such tag")
        if len(matches) > 1:
            raise TagNotFound(f"{tag_id}: ambiguous id prefix ({len(matches)} tags match)")
        return matches[0]

    # -- snapshots -----------------------------------------------------------------------

    def snapshot_file(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise StoreError(f"{sha!r}: not a snapshot id")
        return self.snapshots_dir / sha[:2] / f"{sha}.gz"

    def put_snapshot(self, text: str) -> str:
        """Store a document text (content-addressed) and return its id."""
        sha = text_hash(text)
        file = self.snapshot_file(sha)
        if not file.exists():
            raw = text.encode("utf-8", "surrogatepass")
            atomic_write(file, gzip.compress(raw, compresslevel=6, mtime=0))
        return sha

    def put_snapshots(self, texts: list[str]) -> list[str]:
        """`put_snapshot` for many texts, overlapping their writes in a few threads."""
        unique = {text_hash(t): t for t in texts}
        missing = [t for sha, t in unique.items() if not self.snapshot_file(sha).exists()]
        if len(missing) >= 4:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(self.put_snapshot, missing))
        else:
            for text in missing:
                self.put_snapshot(text)
        return list(unique)

    def get_snapshot(self, sha: str) -> str:
        file = self.snapshot_file(sha)
        try:
            raw = gzip.decompress(file.read_bytes())
        except FileNotFoundError:
            raise StoreError(f"{file.relative_to(self.root)}: snapshot missing") from None
        except (OSError, EOFError) as exc:
            raise StoreError(f"{file.relative_to(self.root)}: corrupt snapshot ({exc})") from None
        text = raw.decode("utf-8", "surrogatepass")
        if text_hash(text) != sha:
            raise StoreError(f"{file.relative_to(self.root)}: snapshot content does not match its id")
        return text

    def has_snapshot(self, sha: str) -> bool:
        return self.snapshot_file(sha).is_file()

    def gc_snapshots(self) -> int:
        """Delete snapshots no tag's anchor refers to; returns how many were removed."""
        with self.locked():
            keep = {t.anchor.snapshot for t in self.all_tags() if t.anchor.snapshot}
            removed = 0
            for file in self.snapshots_dir.glob("*/*.gz"):
                if file.name[: -len(".gz")] not in keep:
                    file.unlink()
                    removed += 1
            return removed
