"""The git hooks' front door: does this git operation touch a tagged file at all?

Most commits and checkouts touch no tagged file, and starting magicmarkup (Python, click, the
store, pydantic) costs about 0.4 s of CPU. So the installed hooks run this file first, as a
script in an isolated interpreter without `site` (`python -I -S hookgate.py HOOK [OPTIONS] --
ARGS`): it imports nothing but `os` and `sys`, asks git one question (the staged paths, or the
paths a checkout, merge or rewrite changed), and looks for a folder of pins per path. Only when
one of them is tagged (or a store file changed) does it `exec` the real hook, `python -m
magicmarkup hooks run HOOK ...`; otherwise it exits 0 at once. Any doubt (an unborn HEAD, a
failing git call, a missing ORIG_HEAD) means "run the real hook": the gate may only skip work
that provably has nothing to do, and it never fails the git command.
"""

from __future__ import annotations

import os
import sys

STORE = ".magicmarkup"
ZERO = "0" * 40


def _git(args: list[str]) -> list[str] | None:
    """The NUL-separated output of `git ARGS`, or None if it failed (no `subprocess`: importing
    it costs more than the rest of this file)."""
    read, write = os.pipe()
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawnp(
            "git",
            ["git", *args],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, write, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
                (os.POSIX_SPAWN_CLOSE, read),
            ],
        )
    except OSError:
        os.close(read)
        os.close(write)
        os.close(devnull)
        return None
    os.close(write)
    os.close(devnull)
    chunks = []
    while True:
        data = os.read(read, 1 << 16)
        if not data:
            break
        chunks.append(data)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    return [p for p in b"".join(chunks).decode("utf-8", "surrogateescape").split("\0") if p]


def _git_dir() -> str | None:
    """This work tree's git directory (hooks run at its top), without running git."""
    if os.environ.get("GIT_DIR"):
        return os.environ["GIT_DIR"]
    if os.path.isdir(".git"):
        return ".git"
    try:
        with open(".git", encoding="utf-8") as handle:
            line = handle.read().strip()
    except OSError:
        return None
    return line[len("gitdir:") :].strip() if line.startswith("gitdir:") else None


def tagged(paths: list[str]) -> bool:
    """Is any of these repository paths a tagged document (a folder of pins, or a schema-2 tag
    file), or a file of the store itself?"""
    pins = os.path.join(STORE, "pins")
    legacy = os.path.join(STORE, "tags")
    for path in paths:
        if path.startswith(STORE + "/"):
            return True
        if os.path.isdir(os.path.join(pins, path)) or os.path.isfile(os.path.join(legacy, path + ".json")):
            return True
    return False


def has_work(hook: str, args: list[str]) -> bool:
    """False only when the hook provably has nothing to do."""
    if not os.path.isdir(STORE):
        return False  # no store here (a shared core.hooksPath, a commit older than the store)
    if hook == "pre-commit":
        staged = _git(["diff-index", "--cached", "--name-only", "-z", "HEAD"])
        return staged is None or tagged(staged)
    if hook not in ("post-checkout", "post-merge", "post-rewrite"):
        return True
    git_dir = _git_dir()
    if git_dir is None:
        return True
    if hook != "post-rewrite" and (
        os.path.isdir(os.path.join(git_dir, "rebase-merge"))
        or os.path.isdir(os.path.join(git_dir, "rebase-apply"))
    ):
        return False  # the post-rewrite at the end of the rebase covers every commit at once
    if hook == "post-checkout":
        if len(args) < 2 or args[0] == ZERO:
            return True
        if args[0] == args[1]:
            return False  # same commit (a new branch here, a file checkout): nothing moved
        old, new = args[0], args[1]
    else:
        old, new = "ORIG_HEAD", "HEAD"
    changed = _git(["diff-tree", "-r", "-z", "--name-only", "--no-commit-id", old, new])
    return changed is None or tagged(changed)


def main(argv: list[str]) -> int:
    """`hookgate.py PYTHON HOOK [OPTIONS] -- ARGS`: exec the real hook only if it has work."""
    if len(argv) < 2:
        return 0
    python, hook = argv[0], argv[1]
    rest = argv[2:]
    split = rest.index("--") if "--" in rest else len(rest)
    options, args = rest[:split], rest[split + 1 :]
    try:
        work = has_work(hook, args)
    except Exception:  # any doubt runs the real hook, which reports problems
        work = True
    if not work:
        return 0
    sys.stdout.flush()
    os.execv(python, [python, "-m", "magicmarkup", "hooks", "run", hook, *options, "--", *args])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
