"""The tag store: a `.magicmarkup/` folder at the repository root, committed with the code.

What is shared (committed) is each tag as people made it, *pinned* to the content it was last
anchored in: one small JSON file per tag, `pins/<document path>/<tag id>.json`, so two branches
that add or edit different tags never touch the same file, and a three-way merge of one tag's
file merges its fields line by line. Snapshots (`snapshots/<sha>.gz`, content-addressed) hold the
texts the pins refer to; `history/<path>.jsonl` is an append-only log (`merge=union`).

Where each tag sits in the working tree *now* is not shared: it is derived on each machine and
kept under the git directory (`Store.local_dir`, see view.py), where no git command sees it and
no `git clean`, stash or checkout can disturb it. The store's lock lives there too.

Files whose *names* a teammate may write too (content-addressed snapshots, a document's history
log, the store's `.gitignore`/`.gitattributes`) are never created in `.magicmarkup/` by a
person's act in a git repository: they go to the pending area (`<git dir>/magicmarkup/pending/`,
same layout) until a commit publishes them (`Store.publish`, called by the pre-commit hook and
`magicmarkup publish`), so no untracked file of ours can make a pull or checkout refuse to write
the teammate's copy. Pins are named by their tag's unique id and stay where they belong. Every
reader merges the pending area with the committed store.

Every write is atomic (temp file, fsync, `os.replace`), new files before the deletion of old
ones, under one inter-process lock. A bad file is a problem named in `Store.problems`, never a
reason to hide the other tags or to overwrite it.
"""

from __future__ import annotations

import errno
import gc
import gzip
import os
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import ValidationError

from magicmarkup.documents import read_document, text_hash
from magicmarkup.errors import AmbiguousId, DocumentError, MagicMarkupError, StoreError, TagNotFound
from magicmarkup.lock import LockTimeout, StoreLock
from magicmarkup.model import SCHEMA_VERSION, History, RetagEvent, Tag, TagFile
from magicmarkup.pincache import PinCache, StatKey, now_ns, pin_json, stat_key
from magicmarkup.safeio import (
    SafeIOError,
    check_inside,
    gunzip_limited,
    load_json,
    open_nofollow,
    read_regular,
)

STORE_DIR = ".magicmarkup"
PINS_DIR = "pins"  # schema 3: one file per tag
PENDING_DIR = "pending"  # under Store.local_dir: files waiting for the commit that shares them
LEGACY_DIR = "tags"  # schemas 1-2: one file per document (read, migrated on the next write)
LOCK_TIMEOUT_S = 60.0
# Anchored to the store's own folder: a tagged document under a `cache/` or `backup/` folder has
# its pins under pins/.../cache/..., which must be shared like any other.
GITIGNORE = "# local state, not shared\n/.lock\n/cache/\n/backup/\n*.tmp\n"
OLD_GITIGNORES = ("# local state, not shared\n.lock\ncache/\n*.tmp\nbackup/\n",)
# History logs only grow at the end: two branches' appends merge by keeping both. A pin merges
# with git's own three-way text merge, or with our driver where `hooks install` registered it
# (an undefined driver falls back to git's own, so a clone without the hooks merges as usual).
# -text: store files are written with LF and never converted (core.autocrlf would make a checkout
# differ byte for byte from what the store writes, and every write look like a change).
GITATTRIBUTES = "history/** merge=union -text\npins/** merge=magicmarkup -text\nsnapshots/** -text\n"
OLD_GITATTRIBUTES = ("history/** merge=union\n", "history/** merge=union\npins/** merge=magicmarkup\n")
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024  # a snapshot inflating past this is refused (a gzip bomb)
MAX_STORE_FILE_BYTES = 16 * 1024 * 1024


def atomic_write(path: Path, data: bytes, tmp_dir: Path | None = None) -> None:
    """Replace `path` with `data` so a reader or a crash sees the old file or the new, never half.
    The temp file is made in `tmp_dir` when given (the store's local folder under the git
    directory: no `git status` shows it and no `git clean` removes it mid-write), else, or when
    that is another file system, beside `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = tmp_dir if tmp_dir is not None else path.parent
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide the store from the group
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno != errno.EXDEV or tmp_dir is None:
                raise
            os.unlink(tmp)  # the local folder is on another file system: write beside the file
            atomic_write(path, data)
            return
    except BaseException:
        with _suppress_oserror():
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_batch(items: list[tuple[Path, bytes]], tmp_dir: Path | None = None) -> None:
    """`atomic_write` for many files: every temp file is written and flushed to disk by a pool of
    threads (the fsyncs overlap: 5,000 re-pinned pins of one commit), and only then does each
    replace its target, in order; the folders are synced last. A crash at any point leaves each
    target either old or new. (Not `os.sync()`: that waits for every other program's writes.)"""
    if len(items) < 8:
        for path, data in items:
            atomic_write(path, data, tmp_dir)
        return

    def stage(item: tuple[Path, bytes]) -> str:
        path, data = item
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = tmp_dir if tmp_dir is not None else path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with _suppress_oserror():
                os.unlink(tmp)
            raise
        return tmp

    staged: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(stage, item) for item in items]
            for future in futures:
                staged.append(future.result())
        for i, (tmp, (path, data)) in enumerate(zip(staged, items, strict=True)):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                os.unlink(tmp)
                atomic_write(path, data)
            staged[i] = ""
    finally:
        for tmp in staged:
            if tmp:
                with _suppress_oserror():
                    os.unlink(tmp)
    for folder in {path.parent for path, _ in items}:
        _fsync_dir(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask is process-wide, and writes run in threads


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
        return load_json(data, label=label, error=StoreError)
    except StoreError as exc:  # "<label>: <why>" -> "<label>: corrupt store file (<why>)"
        raise StoreError(f"{label}: corrupt store file ({str(exc).removeprefix(label + ': ')})") from None


def _check_version(version: object, label: str) -> None:
    if not isinstance(version, int):
        raise StoreError(f"{label}: corrupt store file (missing or non-integer schema_version)")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{label}: schema_version {version} is newer than this magicmarkup supports "
            f"({SCHEMA_VERSION}); upgrade magicmarkup"
        )


def _validate_tag_file(raw: dict[str, object], label: str) -> TagFile:
    _check_version(raw.get("schema_version"), label)
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


@contextmanager
def bulk_load() -> Iterator[list[Tag]]:
    """`_gc_paused` for a caller that loads many tags through several calls (the working-tree
    view of every document): it puts what it loaded into the yielded list."""
    loaded: list[Tag] = []
    with _gc_paused(loaded):
        yield loaded


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
    new lines never join it. A log that is a symlink or not a regular file is refused, never
    written through. Hold the store lock."""
    file.parent.mkdir(parents=True, exist_ok=True)
    created = not os.path.lexists(file)
    fd = open_nofollow(file, os.O_RDWR | os.O_CREAT, 0o666, label=str(file), error=StoreError)
    with os.fdopen(fd, "r+b") as handle:
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


def pin_doc(tag: Tag) -> dict[str, object]:
    """What a pin file holds, as JSON values: the tag without its history, and the schema."""
    doc: dict[str, object] = tag.model_dump(mode="json", exclude={"history"})
    doc["schema_version"] = SCHEMA_VERSION
    return doc


def dump_pin(tag: Tag) -> bytes:
    """One tag's pin file: indented sorted JSON (so git merges it field by field), no history."""
    return orjson.dumps(
        pin_doc(tag), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    )


def same_pin(data: bytes, tag: Tag, label: str) -> bool:
    """Does the pin file `data` already hold `tag` (whatever its formatting: compact JSON from
    another tool, other key order, a hand edit)? Then it is not rewritten: a write touches only
    the pins it changes, so `git status` shows only those."""
    if data == dump_pin(tag):
        return True
    try:
        held = parse_pin(data, label)
    except StoreError:
        return False
    return pin_doc(held) == pin_doc(tag)


CONFLICT_START, CONFLICT_MID, CONFLICT_END = b"<<<<<<<", b"=======", b">>>>>>>"


def conflict_sides(data: bytes) -> tuple[bytes, bytes] | None:
    """(ours, theirs) of a file git left with conflict markers, or None if it has none."""
    if CONFLICT_START not in data:
        return None
    ours: list[bytes] = []
    theirs: list[bytes] = []
    side = 0  # 0 both, 1 ours, 2 base (diff3), 3 theirs
    for line in data.splitlines(keepends=True):
        if line.startswith(CONFLICT_START):
            side = 1
        elif line.startswith(b"|||||||") and side == 1:
            side = 2
        elif line.startswith(CONFLICT_MID) and side in (1, 2):
            side = 3
        elif line.startswith(CONFLICT_END) and side == 3:
            side = 0
        else:
            if side in (0, 1):
                ours.append(line)
            if side in (0, 3):
                theirs.append(line)
    return b"".join(ours), b"".join(theirs)


def parse_pin_fast(data: bytes) -> Tag | None:
    """The pin in `data` if pydantic takes it straight from the bytes with a schema it knows (a
    third of loading 100,000 pins), else None: `parse_pin` then gives the verdict users see."""
    try:
        tag = Tag.model_validate_json(data)
    except (ValidationError, RecursionError, TypeError, ValueError):
        return None
    extra = tag.__pydantic_extra__
    version = extra.pop("schema_version", None) if extra is not None else None
    if type(version) is int and version <= SCHEMA_VERSION:
        return tag
    return None


def parse_pin(data: bytes, label: str) -> Tag:
    """Parse and validate one pin file; every failure names the file and the problem."""
    tag = parse_pin_fast(data)
    if tag is not None:
        return tag
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        raw = _slow_json(data, label)
    if not isinstance(raw, dict):
        raise StoreError(f"{label}: corrupt store file (expected a JSON object)")
    _check_version(raw.pop("schema_version", None), label)
    try:
        return Tag.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise StoreError(f"{label}: invalid store file ({where}: {err['msg']})") from None
    except (RecursionError, TypeError, ValueError) as exc:
        raise StoreError(f"{label}: invalid store file ({type(exc).__name__})") from None


@dataclass
class Conflict:
    """Both sides of a merge changed one tag's file and git could not merge them."""

    tag_id: str
    file: str  # relative to the repository root
    ours: Tag | None
    theirs: Tag | None


def read_store_file(path: Path, label: str, limit: int = MAX_STORE_FILE_BYTES) -> bytes:
    """A store file's bytes: a regular file only (no symlink followed, no FIFO waited on, no
    unbounded read). A missing file is FileNotFoundError (callers treat it as empty)."""
    try:
        return read_regular(path, limit, follow_symlinks=False, label=label, error=StoreError)
    except StoreError:
        if not os.path.lexists(path):
            raise FileNotFoundError(path) from None
        raise


def _read_pin_file(path: str, label: str) -> bytes:
    """`read_store_file` for a path given as a string (no pathlib on the hot path)."""
    try:
        return read_regular(path, MAX_STORE_FILE_BYTES, follow_symlinks=False, label=label, error=StoreError)
    except StoreError:
        if not os.path.lexists(path):
            raise FileNotFoundError(path) from None
        raise


def git_dir_of(root: Path) -> Path | None:
    """The git directory of the work tree at `root` (a worktree's own one), without running git."""
    dot = root / ".git"
    try:
        if dot.is_dir():
            return dot
        if dot.is_file():
            line = dot.read_text(encoding="utf-8", errors="replace").strip()
            if line.startswith("gitdir:"):
                target = Path(line[len("gitdir:") :].strip())
                target = target if target.is_absolute() else (root / target)
                return target.resolve() if target.is_dir() else None
    except OSError:
        return None
    return None


def local_dir_of(root: Path, store_dir: Path) -> Path:
    """Where a work tree's local state (lock, temp files, view cache) lives: under its git
    directory, else (no git: an unpacked archive) `.magicmarkup/cache/local`. Either path may
    come from a stranger (a committed `.magicmarkup/cache` symlink, a `magicmarkup` link in an
    unpacked `.git/`): if any folder on the way is a symbolic link leading out of its base, the
    state goes to the user's own cache instead (one folder per repository path), so nothing is
    ever created where a link points."""
    gitdir = git_dir_of(root)
    base, wanted = (
        (gitdir, gitdir / "magicmarkup") if gitdir is not None else (root, store_dir / "cache" / "local")
    )
    try:
        check_inside(base, wanted)
        for folder in (wanted, *wanted.parents):  # and no link inside the base either
            if folder == base:
                break
            if folder.is_symlink():
                raise SafeIOError(f"{folder}: is a symbolic link")
    except SafeIOError:
        import hashlib

        import platformdirs

        key = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        user_cache = os.environ.get("MAGICMARKUP_CACHE_DIR") or platformdirs.user_cache_dir("magicmarkup")
        return Path(user_cache).expanduser() / "local" / key
    return wanted


class Store:
    """A handle on one repository's `.magicmarkup/` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._root_prefix = str(self.root).rstrip("/") + "/"
        self.dir = self.root / STORE_DIR
        self.pins_dir = self.dir / PINS_DIR
        self.tags_dir = self.dir / LEGACY_DIR  # schemas 1-2
        self.snapshots_dir = self.dir / "snapshots"
        self.history_dir = self.dir / "history"
        # Local, per working tree, out of git's sight and out of reach of `git clean`.
        self.local_dir = local_dir_of(self.root, self.dir)
        gitdir = git_dir_of(self.root)
        # Snapshots, history lines and meta files written before the commit that shares them.
        self.pending_dir: Path | None = self.local_dir / PENDING_DIR if gitdir is not None else None
        # Write those straight into .magicmarkup/: outside git, or while a commit publishes them.
        self.publishing = gitdir is None
        self._lock = StoreLock(self.local_dir / "lock")
        self.tmp_dir = self.local_dir / "tmp"  # temp files of atomic writes: out of git's sight
        self.problems: list[str] = []  # files skipped by the last lenient read, one line each
        self.touched: dict[str, bool] = {}  # store files written or removed -> existed before
        self._meta_checked = False
        self.conflicts: dict[str, Conflict] = {}

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def init(cls, start: Path | None = None) -> Store:
        """Create `.magicmarkup/` at the git root containing `start` (else at `start`)."""
        root = find_repo_root((start or Path.cwd()).resolve())
        store = cls(root)
        if store.dir.is_symlink() or (store.dir.exists() and not store.dir.is_dir()):
            raise StoreError(f"{store.dir}: exists and is not a directory")
        store.pins_dir.mkdir(parents=True, exist_ok=True)
        store.snapshots_dir.mkdir(parents=True, exist_ok=True)
        if store.publishing:  # in git, empty folders only: the meta files come with the first commit
            store._write_missing((".gitignore", GITIGNORE), (".gitattributes", GITATTRIBUTES))
        return store

    def _write_missing(self, *files: tuple[str, str]) -> None:
        for name, content in files:
            if not (self.dir / name).exists():
                self._touch(self.dir / name)
                atomic_write(self.dir / name, content.encode(), self.tmp_dir)

    @classmethod
    def discover(cls, start: Path | None = None) -> Store:
        """The store of the nearest enclosing directory that has one."""
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            store_dir = candidate / STORE_DIR
            if store_dir.is_dir() and ((store_dir / PINS_DIR).is_dir() or (store_dir / LEGACY_DIR).is_dir()):
                if store_dir.is_symlink():
                    raise StoreError(f"{store_dir}: is a symbolic link; refusing to use it as a store")
                return cls(candidate)
        raise StoreError(f"{here}: no {STORE_DIR}/ store here or above; run `magicmarkup init`")

    @contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the store's inter-process lock (re-entrant within one process)."""
        self.local_dir.mkdir(parents=True, exist_ok=True)
        wait = LOCK_TIMEOUT_S if timeout is None else timeout
        try:
            held = self._lock.acquire(timeout=wait)
        except LockTimeout:
            raise StoreError(
                f"{self.local_dir / 'lock'}: store is locked by another process (waited {wait:.0f} s)"
            ) from None
        except OSError as exc:
            raise StoreError(f"{self.local_dir / 'lock'}: cannot lock ({exc.strerror or exc})") from None
        with held:
            yield

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
        if not parts or ".." in parts or parts[0] in (STORE_DIR, ".git"):
            raise DocumentError(
                f"{rel}: path escapes the repository or points into {parts[0] if parts else rel}/"
            )
        if resolve:
            full = (self.root / rel).resolve()
            if not full.is_relative_to(self.root):
                raise DocumentError(f"{rel}: resolves outside the repository ({full})")
        return "/".join(parts)

    def relpath(self, path: str | Path, cwd: Path | None = None) -> str:
        """A user-given path (relative to `cwd`, or absolute) as a repo-relative store path. A
        repository reached through a symlinked directory is still the repository."""
        given = Path(path)
        full = given if given.is_absolute() else (cwd or Path.cwd()) / given
        absolute = Path(os.path.abspath(full))
        if not absolute.is_relative_to(self.root):
            # the path may name the repository through a symlinked directory: compare resolved
            parent = absolute.parent.resolve()
            absolute = parent / absolute.name
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

    def pin_dir(self, rel: str) -> Path:
        # the document's folder of pins is itself a folder on the way: no component may be a link
        return self._inside(self.pins_dir, self.check_relpath(rel, resolve=False) + "/")

    def pin_file(self, rel: str, tag_id: str) -> Path:
        return self.pin_dir(rel) / f"{tag_id}.json"

    def tag_file(self, rel: str) -> Path:
        """The schema 1-2 file of a document (read and migrated, never written)."""
        return self._inside(self.tags_dir, self.check_relpath(rel, resolve=False) + ".json")

    def history_file(self, rel: str) -> Path:
        return self._inside(self.history_dir, self.check_relpath(rel, resolve=False) + ".jsonl")

    def pending_history_file(self, rel: str) -> Path | None:
        """Where the history lines of `rel` wait for their commit (None outside git)."""
        if self.pending_dir is None:
            return None
        return self.pending_dir / "history" / (self.check_relpath(rel, resolve=False) + ".jsonl")

    def history_files(self, rel: str) -> list[Path]:
        """The committed log of `rel`, then its pending lines (read in this order)."""
        pending = self.pending_history_file(rel)
        return [self.history_file(rel), *([pending] if pending is not None else [])]

    def pending_snapshot_file(self, sha: str) -> Path | None:
        self.snapshot_file(sha)  # validates the id
        return None if self.pending_dir is None else self.pending_dir / "snapshots" / sha[:2] / f"{sha}.gz"

    def _inside(self, folder: Path, rel: str) -> Path:
        """`folder/rel`, refusing a path any of whose folders is a symlink (a committed symlink
        must not lead reads or writes out of the store)."""
        here = self.dir
        if here.is_symlink():
            raise StoreError(f"{STORE_DIR}: is a symbolic link; refusing to use it")
        for part in [folder.name, *rel.split("/")[:-1]]:
            here = here / part
            if here.is_symlink():
                raise StoreError(
                    f"{here.relative_to(self.root)}: is a symbolic link inside the store; refused"
                )
        return folder / rel

    def label(self, path: Path | str) -> str:
        """`path` relative to the repository, for messages (a plain string cut: it is on every
        store file read)."""
        text, root = str(path), self._root_prefix
        return text[len(root) :] if text.startswith(root) else text

    # -- reading tags ----------------------------------------------------------------------

    def load(self, rel: str, history: bool = True) -> list[Tag]:
        """The tags of one document (empty if it has none), with their history. Files that
        cannot be read are skipped and named in `problems`."""
        rel = self.check_relpath(rel, resolve=False)
        tags = self._load_document(rel)
        if tags and history:
            self._attach_history(rel, tags)
        return tags

    def _load_document(self, rel: str) -> list[Tag]:
        by_id: dict[str, Tag] = {}
        for tag in self._load_legacy(rel):
            by_id[tag.id] = tag
        try:
            folder = self.pin_dir(rel)
        except StoreError as exc:
            self.problems.append(str(exc))
            return list(by_id.values())
        for pinned in self._load_pins(rel, str(folder)):
            by_id[pinned.id] = pinned  # a pin wins over a not yet migrated schema-2 copy
        return sorted(by_id.values(), key=lambda t: t.id)

    def _load_pins(self, rel: str, folder: str) -> list[Tag]:
        """The pins in `folder` (of the document `rel`), taken from the local pin cache where a
        pin file's stat is what it was when cached (see pincache.py), read and parsed otherwise;
        the cache is rewritten when anything in it changed."""
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        now = now_ns()
        found: list[tuple[str, str, StatKey | None]] = []
        with entries:
            for e in entries:
                name = e.name
                if not name.endswith(".json") or name.startswith("."):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone since the listing
                if stat.S_ISDIR(st.st_mode):
                    self.problems.append(
                        f"{self.label(Path(e.path))}: is a directory where a pin file should be"
                    )
                    continue
                found.append((name[: -len(".json")], e.path, stat_key(st, now)))
        if not found:
            return []
        found.sort()
        cache = PinCache(self.local_dir)
        cached = cache.read(rel)
        tags: list[Tag] = []
        keep: list[tuple[str, StatKey, bytes]] = []
        for tag_id, file, key in found:
            hit = cached.get(tag_id) if key is not None else None
            if hit is not None and hit[0] == key:
                tag = hit[1]
                if tag.path != rel:
                    tag.path = rel
                tags.append(tag)
                keep.append((tag_id, key, b""))  # filled in only if the cache is rewritten
                continue
            pinned, raw = self._read_pin(rel, tag_id, file)
            if pinned is None:
                continue
            tags.append(pinned)
            if key is not None and raw is not None:
                keep.append((tag_id, key, raw))
        if len(keep) != len(cached) or any(cached.get(i, (None,))[0] != k for i, k, _ in keep):
            by_id = {t.id: t for t in tags}
            cache.write(rel, [(i, k, raw or pin_json(by_id[i])) for i, k, raw in keep])
        return tags

    def _pin_files(self, folder: Path) -> list[tuple[str, Path]]:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for e in entries:
            if not e.name.endswith(".json") or e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                self.problems.append(f"{self.label(Path(e.path))}: is a directory where a pin file should be")
                continue
            found.append((e.name[: -len(".json")], Path(e.path)))
        return sorted(found)

    def _load_pin(self, rel: str, tag_id: str, file: Path | str) -> Tag | None:
        return self._read_pin(rel, tag_id, file)[0]

    def _read_pin(self, rel: str, tag_id: str, file: Path | str) -> tuple[Tag | None, bytes | None]:
        """The pin in `file` (None if it cannot be used: named in `problems`), and its bytes
        when it may be cached (a clean pin that parsed on the fast path)."""
        label = self.label(file)
        cacheable: bytes | None = None
        try:
            data = (
                read_store_file(Path(file), label)
                if not isinstance(file, str)
                else _read_pin_file(file, label)
            )
            sides = conflict_sides(data)
            if sides is None:
                fast = parse_pin_fast(data)
                if fast is not None:
                    tag, cacheable = fast, data
                else:
                    tag = parse_pin(data, label)
            else:
                ours = _try(parse_pin, sides[0], label + " (ours)")
                theirs = _try(parse_pin, sides[1], label + " (theirs)")
                self.conflicts[tag_id] = Conflict(tag_id, label, ours, theirs)
                tag_or_none = ours or theirs
                if tag_or_none is None:
                    raise StoreError(f"{label}: merge conflict, and neither side is a valid tag")
                tag = tag_or_none
        except FileNotFoundError:
            return None, None
        except StoreError as exc:
            self.problems.append(str(exc))
            return None, None
        if tag.id != tag_id:
            self.problems.append(f"{label}: holds tag {tag.id}, not {tag_id}; skipped")
            return None, None
        if tag.path != rel:
            tag.path = rel  # the file's place is the truth (a folder renamed by hand or by git)
        return tag, cacheable

    def _load_legacy(self, rel: str) -> list[Tag]:
        try:
            file = self.tag_file(rel)
        except StoreError:
            return []
        if not file.exists() and not file.is_symlink():
            return []
        try:
            return self._parse_legacy(file, rel)
        except StoreError as exc:
            self.problems.append(str(exc))
            return []

    def _parse_legacy(self, file: Path, rel: str, data: bytes | None = None) -> list[Tag]:
        label = self.label(file)
        if data is None:
            data = read_store_file(file, label)
        parsed = parse_tag_file(data, label)
        for tag in parsed.tags:
            if tag.path != rel:
                raise StoreError(f"{label}: tag {tag.id} has path {tag.path!r}, expected {rel!r}")
        return parsed.tags

    def _attach_history(self, rel: str, tags: list[Tag]) -> None:
        logged: dict[str, list[RetagEvent]] = {}
        for file in self.history_files(rel):
            try:
                data = read_store_file(file, self.label(file))
            except FileNotFoundError:
                continue
            except StoreError as exc:
                self.problems.append(str(exc))
                return
            try:
                for tag_id, events in parse_history(data, self.label(file)).items():
                    logged.setdefault(tag_id, []).extend(events)
            except StoreError as exc:
                self.problems.append(str(exc))
                return
        if not logged:
            return
        for tag in tags:
            events = logged.get(tag.id, [])
            if tag.history:  # written inline by schema 1: moved to the log by the next save
                tag.history = events + tag.history
            else:
                tag.history = History(events, logged=len(events), path=rel)

    def paths(self) -> list[str]:
        """Every annotated document, sorted."""
        return sorted({rel for rel, _ in self._documents()})

    def _documents(self) -> list[tuple[str, str]]:
        """(document path, layout) for every document with tags: "pins" folders and schema-2
        files. Symlinked folders are not followed."""
        found: list[tuple[str, str]] = []

        def walk(directory: str, prefix: str, legacy: bool) -> None:
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                return
            has_pins = False
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, f"{prefix}{entry.name}/", legacy)
                elif entry.name.endswith(".json") and not entry.name.startswith("."):
                    if legacy:
                        found.append((prefix + entry.name[: -len(".json")], LEGACY_DIR))
                    else:
                        has_pins = True
            if has_pins and prefix:
                found.append((prefix[:-1], PINS_DIR))

        walk(str(self.pins_dir), "", False)
        walk(str(self.tags_dir), "", True)
        return found

    def tag_ids(self) -> list[str]:
        """Every tag's id, from the pin files' names (no pin is parsed; schema-2 files are)."""
        ids: list[str] = []
        for rel, layout in self._documents():
            if layout == PINS_DIR:
                ids += [tag_id for tag_id, _ in self._pin_files(self.pins_dir / rel)]
            else:
                ids += [t.id for t in self._load_legacy(rel)]
        return ids

    def all_tags(self, history: bool = False) -> list[Tag]:
        """Every tag; their histories (a log per document) only when asked for. A bad file is
        skipped and named in `problems`, so one corrupt file never hides the others."""
        tags: list[Tag] = []
        with _gc_paused(tags):
            for rel in self.paths():
                try:
                    tags += self.load(rel, history=history)
                except MagicMarkupError as exc:
                    self.problems.append(str(exc))
        return tags

    def find(self, tag_id: str) -> Tag:
        """The tag whose id is `tag_id`, or the one tag whose id starts or ends with it. Pin
        files are named by id, so only the matching files are read."""
        key = tag_id.strip().lower()
        if not key:
            raise TagNotFound("empty tag id")
        matches: list[tuple[str, str, Path | None]] = []  # (rel, id, pin file or None: legacy)
        for rel, layout in self._documents():
            if layout == PINS_DIR:
                for found_id, file in self._pin_files(self.pins_dir / rel):
                    if found_id.startswith(key) or found_id.endswith(key):
                        matches.append((rel, found_id, file))
            else:
                file = self.tags_dir / f"{rel}.json"
                try:
                    data = read_store_file(file, self.label(file))
                except (OSError, StoreError):
                    continue
                if orjson.dumps(key)[1:-1] in data:
                    for tag in self._load_legacy(rel):
                        if tag.id.startswith(key) or tag.id.endswith(key):
                            matches.append((rel, tag.id, None))
        exact = [m for m in matches if m[1] == key]
        unique = {m[1]: m for m in (exact or matches)}
        if not unique:
            raise TagNotFound(f"{tag_id}: no such tag")
        if len(unique) > 1:
            raise AmbiguousId(
                f"{tag_id}: ambiguous id prefix ({len(unique)} tags match)",
                sorted((found, rel) for rel, found, _ in unique.values()),
            )
        rel, found_id, pin = next(iter(unique.values()))
        if pin is not None:
            before = len(self.problems)
            found = self._load_pin(rel, found_id, pin)
            if found is None:
                problem = self.problems[before] if len(self.problems) > before else None
                raise StoreError(problem or f"{self.label(pin)}: unreadable")
            self._attach_history(rel, [found])
            return found
        for tag in self.load(rel):
            if tag.id == found_id:
                return tag
        raise TagNotFound(f"{tag_id}: no such tag")

    # -- writing tags ----------------------------------------------------------------------

    def log_new_events(self, rel: str, tags: Iterable[Tag]) -> None:
        """Append to `rel`'s history log the events not logged there yet (all of them for a tag
        that came from another document). Hold the lock."""
        lines = []
        for tag in tags:
            known = tag.history
            start = known.logged if isinstance(known, History) and known.path == rel else 0
            lines += [event_line(tag.id, event) for event in known[start:]]
        pending = None if self.publishing else self.pending_history_file(rel)
        if lines and pending is not None:
            append_lines(pending, lines)  # a teammate may append to the shared log meanwhile
        elif lines:
            file = self.history_file(rel)
            if not file.exists():  # a store made before history logs has no merge rule for them
                self._write_missing((".gitattributes", GITATTRIBUTES))
            self._touch(file)
            append_lines(file, lines)
        for tag in tags:
            if isinstance(tag.history, History):
                tag.history.logged, tag.history.path = len(tag.history), rel
            else:
                tag.history = History(tag.history, logged=len(tag.history), path=rel)

    def save(self, rel: str, tags: list[Tag]) -> None:
        """Make `tags` the tags of document `rel` (hold the lock): write the pins that changed,
        then remove the pins of tags no longer there. A file that could not be read is never
        removed (it was not loaded, so it cannot have been meant)."""
        self._write_pins(rel, tags)
        self._remove_others(rel, {t.id for t in tags})

    def put(self, rel: str, tags: list[Tag]) -> None:
        """Write these tags of document `rel` (new or changed) and leave its other pins alone:
        adding one tag to a document of 100,000 writes one pin and reads none of the others.
        A document still in the schema-2 layout is migrated as a whole (`save`). Takes the lock."""
        with self.locked():
            legacy = self.tag_file(rel)
            if legacy.exists() or legacy.is_symlink():
                merged = {t.id: t for t in self.load(rel)}
                merged.update({t.id: t for t in tags})
                self.save(rel, list(merged.values()))
            else:
                self._write_pins(rel, tags)

    def _upgrade_meta(self) -> None:
        """Rewrite store meta files an earlier version wrote (once per handle)."""
        if self._meta_checked:
            return
        self._meta_checked = True
        for name, old, new in (
            (".gitignore", OLD_GITIGNORES, GITIGNORE),
            (".gitattributes", OLD_GITATTRIBUTES, GITATTRIBUTES),
        ):
            file = self.dir / name
            try:
                if read_store_file(file, self.label(file)).decode("utf-8", "replace") in old:
                    self._touch(file)
                    atomic_write(file, new.encode(), self.tmp_dir)
            except FileNotFoundError:
                self._touch(file)
                atomic_write(file, new.encode(), self.tmp_dir)
            except (OSError, StoreError):
                pass

    def _write_pins(self, rel: str, tags: list[Tag], batch: list[tuple[Path, bytes]] | None = None) -> None:
        """Write the pins of `rel` that changed (into `batch`, to be written together, if given)."""
        rel = self.check_relpath(rel, resolve=False)
        if self.publishing:  # else the meta files wait for the commit (a teammate may push them)
            self._upgrade_meta()
        where = self.pins_dir
        for part in rel.split("/"):
            where = where / part
            if where.exists() and not where.is_dir():
                raise StoreError(f"{self.label(where)}: is a file where a folder of pins should be")
        # The log first: a crash in between leaves an event whose result was not saved (the
        # write is redone and says so again), never a saved result without its explanation.
        self.log_new_events(rel, tags)
        folder = self.pin_dir(rel)
        for tag in tags:
            if tag.path != rel:
                tag.path = rel
            file = folder / f"{tag.id}.json"
            try:
                if same_pin(read_store_file(file, self.label(file)), tag, self.label(file)):
                    continue
            except (OSError, StoreError):
                pass
            data = dump_pin(tag)
            self._touch(file)
            if batch is not None:
                batch.append((file, data))
            else:
                atomic_write(file, data, self.tmp_dir)
            self.conflicts.pop(tag.id, None)

    def _touch(self, file: Path) -> None:
        """Remember a store file this handle wrote or removed, and whether it existed before (the
        pre-commit hook stages exactly these)."""
        label = self.label(file)
        if label not in self.touched:
            self.touched[label] = os.path.lexists(file)

    def _remove_others(self, rel: str, keep: set[str]) -> None:
        rel = self.check_relpath(rel, resolve=False)
        folder = self.pin_dir(rel)
        for tag_id, file in self._pin_files(folder):
            if tag_id in keep:
                continue
            try:
                held = parse_pin(read_store_file(file, self.label(file)), self.label(file))
            except (OSError, StoreError):
                continue  # unreadable: not ours to delete
            if held.id != tag_id:
                continue  # skipped by the loader (named for another tag): never loaded, never ours
            self._touch(file)
            with _suppress_oserror():
                file.unlink()
        with _suppress_oserror():
            folder.rmdir()  # only when empty
        self._drop_legacy(rel, keep)

    def _drop_legacy(self, rel: str, keep: set[str]) -> None:
        """A schema-2 file is deleted once every tag in it is written as a pin (or removed)."""
        try:
            file = self.tag_file(rel)
        except StoreError:
            return
        if not file.is_file():
            return
        try:
            legacy = self._parse_legacy(file, rel)
        except StoreError:
            return  # left for `doctor`: never delete what could not be read
        folder = self.pin_dir(rel)
        if all(t.id not in keep or (folder / f"{t.id}.json").is_file() for t in legacy):
            self._touch(file)
            with _suppress_oserror():
                file.unlink()

    def save_many(self, documents: dict[str, list[Tag]]) -> None:
        """Save many documents' tags at once (hold the lock). All new pins are written before
        any old one is removed, so a crash at any point leaves every tag at least once (a tag
        moved from one document to another may briefly be in both; `doctor` dedupes)."""
        items = list(documents.items())
        batch: list[tuple[Path, bytes]] = []
        for rel, tags in items:
            self._write_pins(rel, tags, batch)  # the logs are appended here, before any pin
        write_batch(batch, self.tmp_dir)
        for rel, tags in items:
            self._remove_others(rel, {t.id for t in tags})

    @contextmanager
    def edit(self, rel: str) -> Iterator[list[Tag]]:
        """Lock, load one document's tags, let the caller change the list, and save it."""
        with self.locked():
            tags = self.load(rel)
            yield tags
            self.save(rel, tags)

    # -- snapshots -----------------------------------------------------------------------

    def snapshot_file(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise StoreError(f"{sha!r}: not a snapshot id")
        return self._inside(self.snapshots_dir, f"{sha[:2]}/{sha}.gz")

    def _snapshot_target(self, sha: str) -> Path | None:
        """Where a new snapshot `sha` is to be written, or None when it is stored already: the
        pending area in a git repository (a teammate may push the same name), unless publishing."""
        file = self.snapshot_file(sha)
        if file.is_file() and not file.is_symlink():
            return None
        pending = None if self.publishing else self.pending_snapshot_file(sha)
        if pending is None:
            self._touch(file)
            return file
        return None if pending.is_file() else pending

    def put_snapshot(self, text: str) -> str:
        """Store a document text (content-addressed) and return its id."""
        sha = text_hash(text)
        file = self._snapshot_target(sha)
        if file is not None:
            raw = text.encode("utf-8", "surrogatepass")
            atomic_write(file, gzip.compress(raw, compresslevel=6, mtime=0), self.tmp_dir)
        return sha

    def put_snapshots(self, texts: list[str]) -> list[str]:
        """`put_snapshot` for many texts, written together (one flush to disk)."""
        unique = {text_hash(t): t for t in texts}
        batch = []
        for sha, text in unique.items():
            file = self._snapshot_target(sha)
            if file is not None:
                raw = text.encode("utf-8", "surrogatepass")
                batch.append((file, gzip.compress(raw, compresslevel=6, mtime=0)))
        write_batch(batch, self.tmp_dir)
        return list(unique)

    def get_snapshot(self, sha: str) -> str:
        """A snapshot's text; a missing, corrupt, oversized or mismatching one is a StoreError
        (callers treat it as missing and re-anchor from the tag's own context)."""
        file = self.snapshot_file(sha)
        label = self.label(file)
        try:
            data = read_store_file(file, label, limit=MAX_SNAPSHOT_BYTES)
        except FileNotFoundError:
            pending = self.pending_snapshot_file(sha)
            try:
                if pending is None:
                    raise FileNotFoundError(file)
                data = read_store_file(pending, label, limit=MAX_SNAPSHOT_BYTES)
            except FileNotFoundError:
                raise StoreError(f"{label}: snapshot missing") from None
        raw = gunzip_limited(data, MAX_SNAPSHOT_BYTES, label=label, error=StoreError)
        text = raw.decode("utf-8", "surrogatepass")
        if text_hash(text) != sha:
            raise StoreError(f"{label}: snapshot content does not match its id")
        return text

    def has_snapshot(self, sha: str) -> bool:
        try:
            file = self.snapshot_file(sha)
            pending = self.pending_snapshot_file(sha)
        except StoreError:
            return False
        return (file.is_file() and not file.is_symlink()) or (pending is not None and pending.is_file())

    def snapshot_files(self) -> Iterator[tuple[str, Path, bool]]:
        """(id, file, pending?) of every stored snapshot: regular files in the store's own
        folders (symlinks never followed), then the pending area's."""
        for folder, pending in ((self.snapshots_dir, False), (self._pending_root("snapshots"), True)):
            if folder is None or folder.is_symlink() or not folder.is_dir():
                continue
            for sub in sorted(os.scandir(folder), key=lambda e: e.name):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for entry in sorted(os.scandir(sub.path), key=lambda e: e.name):
                    if entry.name.endswith(".gz") and entry.is_file(follow_symlinks=False):
                        yield entry.name[: -len(".gz")], Path(entry.path), pending

    def _pending_root(self, kind: str) -> Path | None:
        return None if self.pending_dir is None else self.pending_dir / kind

    def pending_documents(self) -> list[str]:
        """Documents with history lines waiting in the pending area."""
        root = self._pending_root("history")
        if root is None or not root.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if name.endswith(".jsonl"):
                    found.append((Path(dirpath, name).relative_to(root)).as_posix()[: -len(".jsonl")])
        return sorted(found)

    def pending_for(self, rel: str) -> list[Path]:
        """What `publish([rel])` would copy into `.magicmarkup/`: the pending history of `rel` and
        the pending snapshots its pins refer to."""
        out: list[Path] = []
        log = self.pending_history_file(rel)
        if log is not None and log.is_file():
            out.append(log)
        for sha in sorted({t.anchor.snapshot for t in self._load_document(rel) if t.anchor.snapshot}):
            pending = self.pending_snapshot_file(sha)
            committed = self.snapshot_file(sha)
            if pending is not None and pending.is_file() and not committed.is_file():
                out.append(pending)
        return out

    def publish(self, rels: Iterable[str], snapshots: bool = True) -> list[str]:
        """Move what waits in the pending area for the documents `rels` into `.magicmarkup/`:
        the snapshots their pins refer to and their history lines (appended to the shared log,
        each line once), and the store's meta files if missing. Hold the lock. Returns the
        store files written (repository-relative); `touched` records them for staging."""
        if self.pending_dir is None:
            return []
        before = set(self.touched)
        was, self.publishing = self.publishing, True
        try:
            for rel in sorted(set(rels)):
                rel = self.check_relpath(rel, resolve=False)
                tags = self._load_document(rel)
                for sha in sorted({t.anchor.snapshot for t in tags if t.anchor.snapshot and snapshots}):
                    pending = self.pending_snapshot_file(sha)
                    if pending is None or not pending.is_file():
                        continue
                    target = self._snapshot_target(sha)
                    if target is not None:
                        data = read_store_file(pending, self.label(pending), limit=MAX_SNAPSHOT_BYTES)
                        atomic_write(target, data, self.tmp_dir)
                    with _suppress_oserror():
                        pending.unlink()
                self._publish_history(rel)
                if tags:
                    self._upgrade_meta()
        finally:
            self.publishing = was
        return sorted(set(self.touched) - before)

    def _publish_history(self, rel: str) -> None:
        pending = self.pending_history_file(rel)
        if pending is None:
            return
        try:
            data = read_store_file(pending, self.label(pending))
        except FileNotFoundError:
            return
        file = self.history_file(rel)
        try:
            shared = set(read_store_file(file, self.label(file)).split(b"\n"))
        except FileNotFoundError:
            shared = set()
            self._write_missing((".gitattributes", GITATTRIBUTES))
        lines = [line + b"\n" for line in data.split(b"\n")[:-1] if line.strip() and line not in shared]
        if lines:
            self._touch(file)
            append_lines(file, lines)
        with _suppress_oserror():
            pending.unlink()

    def forget_pending(self, rel: str, tag_id: str, snapshot: str | None) -> None:
        """Drop what the pending area holds for a tag that was never committed (after its pin is
        removed): its history lines, and its snapshot if no pin of `rel` refers to it. Hold the
        lock."""
        log = self.pending_history_file(rel)
        if log is not None:
            try:
                data = read_store_file(log, self.label(log))
            except FileNotFoundError:
                data = b""
            mark = b'"tag":' + orjson.dumps(tag_id)
            kept = [line + b"\n" for line in data.split(b"\n")[:-1] if line.strip() and mark not in line]
            if len(kept) != data.count(b"\n"):
                if kept:
                    atomic_write(log, b"".join(kept), self.tmp_dir)
                else:
                    with _suppress_oserror():
                        log.unlink()
        if snapshot and all(t.anchor.snapshot != snapshot for t in self._load_document(rel)):
            pending = self.pending_snapshot_file(snapshot)
            if pending is not None:
                with _suppress_oserror():
                    pending.unlink()

    def gc_snapshots(self, keep: Iterable[str] = ()) -> int:
        """Delete the snapshots no tag refers to, except the files `keep` names (repository
        -relative: the tracked ones, which only a person may delete); returns how many. Nothing
        is deleted while a pin cannot be read."""
        with self.locked():
            unreferenced, complete = self.unreferenced_snapshots()
            if not complete:
                return 0
            spared = set(keep)
            removed = 0
            for _sha, file, pending in unreferenced:
                if pending or self.label(file) not in spared:
                    with _suppress_oserror():
                        file.unlink()
                        removed += 1
            return removed

    def unreferenced_snapshots(self) -> tuple[list[tuple[str, Path, bool]], bool]:
        """Snapshots no tag refers to (id, file, pending?), and whether every pin could be read
        (when one could not, it may refer to any snapshot: nothing is safe to collect)."""
        before = len(self.problems)
        keep = {t.anchor.snapshot for t in self.all_tags() if t.anchor.snapshot}
        complete = len(self.problems) == before
        return [s for s in self.snapshot_files() if s[0] not in keep], complete


def _try(parse: Callable[[bytes, str], Tag], data: bytes, label: str) -> Tag | None:
    try:
        return parse(data, label)
    except StoreError:
        return None
