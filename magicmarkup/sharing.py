"""The one rule for which working-tree files the tool may copy into the committed store.

A tag's pin carries text of its document (the tagged text, 80 characters of context on each side)
and a full snapshot of it, and the store is committed. So copying a file's text into the store
shares it. A file git ignores and does not track (a `.env`, a key file, build output) is private
by the user's own choice: its text is copied only when the user asks for it explicitly
(`--allow-ignored`). A cloned repository may ship a pin on such a path; every path that reads a
working-tree file into the store (add, accept, re-attach, re-pin, import) asks `check_copyable`
first, so accepting that pin's guess can never copy the user's `.env` into it.

The rule looks at the path and at what it leads to: a tracked symbolic link `notes.txt -> .env`
would otherwise copy the ignored file under a name git does not ignore.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from magicmarkup.errors import DocumentError


def _git_dir_present(root: Path) -> bool:
    return (root / ".git").exists()


def ignored_paths(root: Path, rels: Iterable[str]) -> set[str]:
    """The paths among `rels` (repo-relative) that git ignores and does not track, each also
    judged by the file it resolves to inside the repository. Empty outside git."""
    wanted = sorted(set(rels))
    if not wanted or not _git_dir_present(root):
        return set()
    targets: dict[str, str] = {}
    for rel in wanted:
        full = root / rel
        try:
            real = Path(os.path.realpath(full))
            target = real.relative_to(root.resolve()).as_posix()
        except (OSError, ValueError):
            continue
        if target != rel and target != ".":
            targets[rel] = target
    asked = sorted({*wanted, *targets.values()})
    try:
        proc = subprocess.run(
            ["git", "check-ignore", "-z", "--stdin"],
            cwd=root,
            input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in asked),
            capture_output=True,
            check=False,
        )
    except OSError:
        return set()
    if proc.returncode not in (0, 1):  # 128: not a repository, or git refused: judge nothing
        return set()
    hits = {p.decode("utf-8", "surrogateescape") for p in proc.stdout.split(b"\0") if p}
    return {rel for rel in wanted if rel in hits or targets.get(rel) in hits}


def check_copyable(root: Path, rels: Iterable[str], *, allow_ignored: bool = False) -> None:
    """Raise a one-line DocumentError if the text of any of `rels` may not be copied into the
    store: git ignores it (or what it links to) and the user did not pass `allow_ignored`."""
    if allow_ignored:
        return
    refused = sorted(ignored_paths(root, rels))
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise DocumentError(
            f"{refused[0]}{more}: git ignores this file; copying its text into the committed store "
            "would share it (pass --allow-ignored if that is really wanted)"
        )
