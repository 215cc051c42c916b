"""The store's inter-process lock, which stays exclusive when its file is deleted while held.

A lock on a file (flock) is a lock on the file's inode, not on its name: if someone deletes the
lock file while a writer holds it (a cleanup script, `rm -rf` of a cache folder's contents), the
next writer creates a new file, locks that one at once, and two writers run together. So this
lock holds two flocks, taken in order and released in reverse:

1. the lock file (so it still excludes an earlier magicmarkup that only locks the file), and
2. the folder that contains it. A folder cannot be deleted while it has files in it, and the
   lock file is one, so deleting the lock file alone changes nothing.

After both are taken, each is checked to still be what its path names (same device and inode);
if one was replaced meanwhile, everything is released and taken again. Only a writer that
deletes the whole folder and makes a new one while another holds the lock gets past it.

Re-entrant within a process (a counter under a thread lock), with a timeout.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from pathlib import Path

POLL_S = 0.02


class LockTimeout(Exception):
    """The lock was not free within the timeout."""


class StoreLock:
    """`with lock.acquire(timeout=...)`: exclusive across processes and threads."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._thread_lock = threading.RLock()
        self._count = 0
        self._fds: list[int] = []

    @property
    def is_locked(self) -> bool:
        return self._count > 0

    def acquire(self, timeout: float) -> StoreLock:
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._thread_lock.acquire(timeout=max(0.0, timeout)):
            raise LockTimeout(str(self.file))
        try:
            if self._count == 0:
                self._take(deadline)
            self._count += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def release(self) -> None:
        self._count -= 1
        if self._count == 0:
            self._drop()
        self._thread_lock.release()

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _take(self, deadline: float) -> None:
        while True:
            fds = self._open()
            try:
                if self._flock_all(fds, deadline) and self._still_named(fds):
                    self._fds = fds
                    return
            except BaseException:
                _close(fds)
                raise
            _close(fds)  # replaced while we waited (or not free in time): start again
            if time.monotonic() >= deadline:
                raise LockTimeout(str(self.file))

    def _open(self) -> list[int]:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        file_fd = os.open(self.file, flags, 0o666)
        try:
            dir_fd = os.open(self.file.parent, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except BaseException:
            os.close(file_fd)
            raise
        return [file_fd, dir_fd]

    def _flock_all(self, fds: list[int], deadline: float) -> bool:
        for fd in fds:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                if time.monotonic() >= deadline:
                    return False
                time.sleep(POLL_S)
        return True

    def _still_named(self, fds: list[int]) -> bool:
        """Are the locked file and folder still the ones their paths name?"""
        for fd, path in zip(fds, (self.file, self.file.parent), strict=True):
            try:
                named = os.stat(path, follow_symlinks=False)
            except OSError:
                return False
            held = os.fstat(fd)
            if (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
                return False
        return True

    def _drop(self) -> None:
        fds, self._fds = self._fds, []
        _close(list(reversed(fds)))


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the last descriptor releases its flock
