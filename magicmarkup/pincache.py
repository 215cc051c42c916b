"""A local cache of parsed pins: one file per document under `Store.local_dir/pins/`.

Reading 100,000 small pin files and parsing each one took most of a `list` (issue 23). This
cache keeps, per document, the pins as last parsed, each keyed by its file's `lstat` (inode,
size, mtime and ctime in nanoseconds), so a later read only lists the folder, stats each file
and re-reads the pins whose stat changed: a pin edited by git, by another process or by hand
gets a new ctime (which no one can set back) and is read again.

Rules that keep it correct:
- The stat is taken *before* the file is read, so a file changed in between is read again next
  time, never paired with content it did not hold.
- A pin whose ctime is less than `RACY_NS` old when stated is not cached (git's "racily clean"
  problem: a second write within the same clock tick would keep the stat).
- Only clean pins are cached: regular files that parsed on the fast path. A bad file, a symlink,
  a conflict or a pin named for another tag is re-read every time, so it is named in
  `Store.problems` every time.
- The cache lives under the local dir (never in `.magicmarkup/`), is written without fsync (a
  cache lost in a crash is rebuilt) by temp file and rename (a reader never sees half of one),
  and whatever it holds is validated as a `Tag` again when read. A bad, foreign or too large
  cache file is a miss. A cache file planted by a stranger (the local dir of a repository
  outside git is inside it) cannot match: it would have to guess each pin's inode and ctime.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from pathlib import Path

import orjson
from pydantic import TypeAdapter, ValidationError

from magicmarkup.model import SCHEMA_VERSION, Tag
from magicmarkup.safeio import SafeIOError, read_regular

CACHE_VERSION = 1
RACY_NS = 2_000_000_000  # a pin changed less than this long ago is not cached yet
MAX_CACHE_BYTES = 256 * 1024 * 1024

StatKey = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns

_TAGS: TypeAdapter[list[Tag]] | None = None


def _tags_adapter() -> TypeAdapter[list[Tag]]:
    global _TAGS
    if _TAGS is None:
        _TAGS = TypeAdapter(list[Tag])
    return _TAGS


def stat_key(st: os.stat_result, now_ns: int) -> StatKey | None:
    """The cache key of a pin file's lstat, or None when it must not be cached (not a regular
    file, or changed too recently to tell a later change from this one)."""
    if not stat.S_ISREG(st.st_mode) or st.st_ctime_ns > now_ns - RACY_NS or st.st_mtime_ns > now_ns:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def now_ns() -> int:
    return time.time_ns()


class PinCache:
    """The cached pins of each document, read and written one document at a time."""

    def __init__(self, local_dir: Path) -> None:
        self.dir = local_dir / "pins"

    def _file(self, rel: str) -> Path:
        return self.dir / f"{hashlib.sha1(rel.encode('utf-8', 'surrogatepass')).hexdigest()}.json"

    def read(self, rel: str) -> dict[str, tuple[StatKey, Tag]]:
        """tag id -> (stat key, pin) as cached for `rel`; empty on any problem (a miss)."""
        try:
            data = read_regular(self._file(rel), MAX_CACHE_BYTES, follow_symlinks=False)
        except SafeIOError:
            return {}
        head, _, body = data.partition(b"\n")
        try:
            meta = orjson.loads(head)
            if not isinstance(meta, dict) or meta.get("v") != CACHE_VERSION or meta.get("rel") != rel:
                return {}
            keys = meta["keys"]
            ids = meta["ids"]
            tags = _tags_adapter().validate_json(body)
        except (orjson.JSONDecodeError, KeyError, ValidationError, RecursionError, TypeError, ValueError):
            return {}
        if not (isinstance(keys, list) and isinstance(ids, list) and len(keys) == len(ids) == len(tags)):
            return {}
        out: dict[str, tuple[StatKey, Tag]] = {}
        for tag_id, key, tag in zip(ids, keys, tags, strict=True):
            if not isinstance(key, list) or len(key) != 4 or tag.id != tag_id:
                return {}
            extra = tag.__pydantic_extra__
            version = extra.pop("schema_version", None) if extra is not None else None
            if version is not None and (type(version) is not int or version > SCHEMA_VERSION):
                return {}
            out[tag_id] = ((key[0], key[1], key[2], key[3]), tag)
        return out

    def write(self, rel: str, entries: list[tuple[str, StatKey, bytes]]) -> None:
        """Cache `rel`'s pins: (tag id, stat key, the pin as JSON). Best effort."""
        meta = {
            "v": CACHE_VERSION,
            "rel": rel,
            "ids": [e[0] for e in entries],
            "keys": [e[1] for e in entries],
        }
        data = orjson.dumps(meta) + b"\n[" + b",".join(e[2] for e in entries) + b"]"
        write_cache(self._file(rel), data)

    def forget(self, rel: str) -> None:
        with contextlib.suppress(OSError):
            self._file(rel).unlink()


def write_cache(target: Path, data: bytes) -> None:
    """Replace the local cache file `target` with `data`, best effort: by temp file and rename (a
    reader sees the old file or the new), without fsync (a cache lost in a crash is rebuilt),
    never through a symbolic link (the local dir of a repository outside git is inside it)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):  # a cache that cannot be written is only slower next time
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(target.parent):
            return
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # a leftover (or a planted link: unlinked, never followed)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    with contextlib.suppress(OSError):
        tmp.unlink()


def pin_json(tag: Tag) -> bytes:
    """A pin (without its history) as compact JSON, to cache a pin taken from the cache."""
    return orjson.dumps(tag.model_dump(mode="json", exclude={"history"}))
