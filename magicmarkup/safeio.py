"""Reading and writing files that may come from a stranger's clone, without being fooled by them.

Everything under `.magicmarkup/` (and every tagged source file) arrives with `git clone`, so a
path there may be a FIFO (reading it would block forever), a device (`/dev/zero` never ends), a
socket, a symbolic link out of the repository (`tags -> /home/you/.ssh`), a sparse file of
terabytes, or a gzip bomb (2 MB holding 2 GiB). These helpers turn each of those into one clear
error line, at once, and never read more than the caller's limit:

- `read_regular(path, limit, follow_symlinks=...)`: the bytes of a regular file, at most `limit`.
- `gunzip_limited(data, limit)`: decompress gzip data, stopping as soon as the output would pass
  `limit`.
- `check_inside(root, path)`: the real path of `path`, refused if `..` or any symbolic link on the
  way leads out of `root`.
- `open_nofollow(path, flags, mode)`: an `os.open` for writing that refuses a symbolic link at the
  last component and anything that is not a regular file (a FIFO would block a writer too).
- `load_json(data)`: JSON parsing that turns deep nesting (which makes the json module raise
  RecursionError) and every syntax error into one clear line.

Every function raises `error` (default `SafeIOError`, a `MagicMarkupError`) with a one-line message
that starts with `label` (default: the path), so callers can pass `error=StoreError` or
`error=DocumentError` and a repository-relative label and re-raise nothing.

What this does not do: it does not defend against a local attacker racing to swap files while we
read them (`check_inside` then `open` is two steps). The threat is a hostile *checkout*, whose
files hold still; `open_nofollow` / `follow_symlinks=False` close the last-component race anyway.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import zlib
from pathlib import Path
from typing import Any

from magicmarkup.errors import MagicMarkupError

__all__ = [
    "KiB",
    "MiB",
    "SafeIOError",
    "check_inside",
    "describe_mode",
    "gunzip_limited",
    "load_json",
    "open_nofollow",
    "read_regular",
]

KiB = 1024
MiB = 1024 * KiB

_CHUNK = 1 * MiB


class SafeIOError(MagicMarkupError):
    """A file is not something we may read or write: not regular, too large, a link out, a bomb."""


def describe_mode(mode: int) -> str:
    """What kind of file a `st_mode` is, in words for an error message."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _size(n: int) -> str:
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= KiB:
        return f"{n / KiB:.1f} KiB"
    return f"{n} bytes"


def read_regular(
    path: str | os.PathLike[str],
    limit: int,
    *,
    follow_symlinks: bool,
    label: str | None = None,
    error: type[MagicMarkupError] = SafeIOError,
) -> bytes:
    """The whole content of the regular file at `path`, which must not exceed `limit` bytes.

    Never blocks and never reads more than `limit + 1` bytes: the file is opened with O_NONBLOCK
    (a FIFO opens at once instead of waiting for a writer), and with O_NOFOLLOW unless
    `follow_symlinks` (then a symbolic link at the last component is refused). The opened file is
    checked with fstat (S_ISREG), so what is read is what was checked.

    Raises `error` with a one-line message starting with `label` (default: the path) for: no such
    file, a symbolic link (when not followed), a directory, FIFO, socket or device, a file larger
    than `limit`, or any other OS error.
    """
    name = label if label is not None else str(path)
    # A cheap look first, so a device is not even opened (opening some has side effects).
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        if not follow_symlinks or not os.path.islink(path):
            raise error(f"{name}: no such file") from None
        raise error(f"{name}: broken symbolic link") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise error(f"{name}: is a symbolic link, not followed here") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{name}: is {describe_mode(st.st_mode)}, not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise error(f"{name}: is a symbolic link, not followed here") from None
        raise error(f"{name}: cannot read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{name}: is {describe_mode(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise error(f"{name}: too large ({_size(st.st_size)}; the limit is {_size(limit)})")
        chunks: list[bytes] = []
        total = 0
        while not (chunks and total == st.st_size):  # all it said it holds: no read for EOF
            try:
                chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            except BlockingIOError:  # not for a regular file; never spin on one
                raise error(f"{name}: cannot read (would block)") from None
            except OSError as exc:
                raise error(f"{name}: cannot read ({exc.strerror})") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew while we read
                raise error(f"{name}: too large (more than {_size(limit)}, the limit)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def gunzip_limited(
    data: bytes,
    limit: int,
    *,
    label: str = "gzip data",
    error: type[MagicMarkupError] = SafeIOError,
) -> bytes:
    """Decompress gzip `data` (one or more concatenated members) to at most `limit` bytes.

    Bounded: output is produced in `zlib.decompressobj(...).decompress(..., max_length)` steps, so
    a 2 MB file holding 2 GiB fails after at most `limit + 1` bytes were produced, with
    "decompresses to more than <limit>". Corrupt or truncated data is also a one-line `error`.
    """
    out = bytearray()
    rest = data
    members = 0
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer, checked
        buf = rest
        try:
            while True:
                chunk = d.decompress(buf, limit + 1 - len(out))
                out += chunk
                if len(out) > limit:
                    raise error(f"{label}: decompresses to more than {_size(limit)} (the limit)")
                buf = d.unconsumed_tail
                if d.eof:
                    break
                if not buf:  # all input given; what is buffered inside comes out with flush
                    tail = d.flush(limit + 1 - len(out))
                    out += tail
                    if len(out) > limit:
                        raise error(f"{label}: decompresses to more than {_size(limit)} (the limit)")
                    if not d.eof:
                        raise error(f"{label}: truncated gzip data")
                    break
        except zlib.error as exc:
            raise error(f"{label}: not valid gzip data ({exc})") from None
        members += 1
        rest = d.unused_data
        # gzip writers may pad with zeros after the last member (as gzip.decompress accepts)
        if not rest or not rest.strip(b"\0"):
            break
    if members == 0:
        raise error(f"{label}: empty gzip data")
    return bytes(out)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_inside(
    root: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    label: str | None = None,
    error: type[MagicMarkupError] = SafeIOError,
) -> Path:
    """The real path of `path` (absolute, or relative to `root`), refused if it lies outside
    `root` lexically (`..`, an absolute path elsewhere) or through any symbolic link on the way.

    Symbolic links that stay inside `root` are allowed (a repository may link one of its files
    to another). Components that do not exist yet are fine (a file about to be created): only
    what exists can lead out. The message names the link that leads out.
    """
    root_real = os.path.realpath(root)
    p = os.fspath(path)
    name = label if label is not None else p
    if os.path.isabs(p):
        abs_root = os.path.abspath(root)
        ap = os.path.normpath(p)
        if _inside(ap, abs_root):
            rel = os.path.relpath(ap, abs_root)
        elif _inside(ap, root_real):
            rel = os.path.relpath(ap, root_real)
        else:
            raise error(f"{name}: outside {root}")
    else:
        rel = p
    cur = root_real
    hops = 0
    for part in Path(rel).parts:
        if part in ("", "."):
            continue
        if part == "..":
            cur = os.path.dirname(cur)
            if not _inside(cur, root_real):
                raise error(f"{name}: leads out of {root} ('..')")
            continue
        nxt = os.path.join(cur, part)
        if os.path.islink(nxt):
            hops += 1
            target = os.path.realpath(nxt)
            if hops > 40 or not _inside(target, root_real):
                shown = os.path.relpath(nxt, root_real)
                raise error(f"{name}: leads out of {root} through the symbolic link {shown}")
            cur = target
        else:
            cur = nxt
    if not _inside(cur, root_real):
        raise error(f"{name}: outside {root}")
    return Path(cur)


def open_nofollow(
    path: str | os.PathLike[str],
    flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    mode: int = 0o644,
    *,
    label: str | None = None,
    error: type[MagicMarkupError] = SafeIOError,
) -> int:
    """`os.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)` that only ever yields a regular file.

    A symbolic link at the last component is refused (ELOOP) instead of written through; a FIFO is
    opened non-blocking (so a writer never waits for a reader) and refused, as are devices,
    sockets and directories. Returns a blocking file descriptor the caller must close (for
    example with `os.fdopen(fd, "wb")`). Check the directories on the way with `check_inside`.
    """
    name = label if label is not None else os.fspath(path)
    all_flags = flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, all_flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{name}: is a symbolic link, not written through") from None
        if exc.errno == errno.ENXIO:  # a FIFO without a reader, opened for writing
            raise error(f"{name}: is a FIFO (named pipe), not a regular file") from None
        raise error(f"{name}: cannot open ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{name}: is {describe_mode(st.st_mode)}, not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def load_json(
    data: bytes | str,
    *,
    label: str = "JSON",
    error: type[MagicMarkupError] = SafeIOError,
) -> Any:
    """Parse JSON, never raising anything but `error` (one line starting with `label`).

    The json module, exactly (orjson would turn an integer beyond 64 bits into a float, silently);
    its RecursionError on deep nesting becomes "nested too deeply". NaN and huge integers are
    parsed as they are: whether they are acceptable is the model's business (magicmarkup.model
    refuses them, naming the key).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text)
    except UnicodeDecodeError:
        raise error(f"{label}: not UTF-8") from None
    except RecursionError:
        raise error(f"{label}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise error(f"{label}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
