"""Git integration: tags follow commits, pulls, checkouts, merges and rebases.

Two ways in, both through `magicmarkup.retag.retag_documents` (snapshot -> new text):

* `retag_range(store, "A..B")` walks the first-parent commits of a range and, at each step,
  re-anchors the tagged files that git says changed, old blob -> new blob, with git's rename
  detection, so a file renamed and edited in one commit keeps its tags.
* `sync_worktree(store, prev, head)` is what the hooks run. Tags are per working tree: they are
  anchored to snapshots of what was on disk, so after any git operation we re-anchor to the
  files on disk now, taking only the *renames* from git (prev HEAD -> new HEAD), so tags follow
  a renamed file instead of being orphaned.

Before either, `restore_known_placements` puts a tag straight back where it was when a file
returns to a version the tag was already confidently placed in (checkout back to a branch,
revert, editor undo): a round trip through another version never degrades a tag.

Everything here shells out to the `git` binary (pure parsing helpers are separate).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.documents import decode, language_for, text_hash
from magicmarkup.errors import DocumentError, MagicMarkupError
from magicmarkup.model import Span, Status, Tag
from magicmarkup.retag import DocumentUpdate, Progress, RetagReport, TagChange, retag_documents
from magicmarkup.store import Store
from magicmarkup.tags import anchor_at

STATE_FILE = "cache/git-head"  # the HEAD the tags were last synced to (local, git-ignored)
ZERO_SHA = "0" * 40


class GitError(MagicMarkupError):
    """A git command failed or git is not usable here."""


# -- running git -----------------------------------------------------------------------------


def git(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    """Run git in `root` and return its stdout; failures become one-line GitErrors."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, input=input, capture_output=True, check=False, env=_git_env()
        )
    except FileNotFoundError:
        raise GitError("git: executable not found on PATH") from None
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = msg[-1] if msg else f"exit status {proc.returncode}"
        raise GitError(f"git {' '.join(args[:3])}: {detail}")
    return proc.stdout


def _git_env() -> dict[str, str]:
    """Inside a hook git exports GIT_INDEX_FILE etc.; our read-only queries must see the repo
    as a whole, so drop the per-operation variables (keep GIT_DIR/GIT_WORK_TREE)."""
    env = dict(os.environ)
    for var in ("GIT_INDEX_FILE", "GIT_PREFIX"):
        env.pop(var, None)
    return env


def rev_parse(root: Path, rev: str) -> str | None:
    """The commit id `rev` names, or None (unborn HEAD, unknown name)."""
    out = git(root, "rev-parse", "-q", "--verify", "--end-of-options", f"{rev}^{{commit}}", check=False)
    sha = out.decode().strip()
    return sha or None


def empty_tree(root: Path) -> str:
    """The id of the empty tree (sha1 or sha256 repository alike)."""
    return git(root, "hash-object", "-t", "tree", "--stdin", input=b"").decode().strip()


def git_dir(root: Path) -> Path:
    out = git(root, "rev-parse", "--absolute-git-dir").decode().strip()
    return Path(out)


def hooks_dir(root: Path) -> Path:
    """Where git looks for hooks here, honouring core.hooksPath."""
    out = git(root, "rev-parse", "--git-path", "hooks").decode().strip()
    path = Path(out)
    return path if path.is_absolute() else (root / path).resolve()


def rebase_in_progress(root: Path) -> bool:
    gd = git_dir(root)
    return (gd / "rebase-merge").is_dir() or (gd / "rebase-apply").is_dir()


# -- diffs and blobs (pure parsing + one git call each) ---------------------------------------


@dataclass(frozen=True, slots=True)
class FileChange:
    """One entry of `git diff --name-status -M`: status letter A/M/D/R/C/T, the path, and the
    path before for renames and copies."""

    status: str
    path: str
    old_path: str | None = None


def parse_name_status(raw: bytes) -> list[FileChange]:
    """Parse `git diff-tree -z --name-status` output."""
    parts = raw.decode("utf-8", "surrogateescape").split("\0")
    out: list[FileChange] = []
    i = 0
    while i < len(parts) and parts[i]:
        status = parts[i][0]
        if status in "RC":
            out.append(FileChange(status, parts[i + 2], parts[i + 1]))
            i += 3
        else:
            out.append(FileChange(status, parts[i + 1]))
            i += 2
    return out


def diff_tree(root: Path, old: str, new: str) -> list[FileChange]:
    """Files changed between two trees or commits, with git's rename detection."""
    raw = git(root, "diff-tree", "-r", "-z", "-M", "--name-status", "--no-commit-id", old, new)
    return parse_name_status(raw)


def parse_batch(raw: bytes, count: int) -> list[bytes | None]:
    """Parse `git cat-file --batch` output for `count` requests (None: missing or not a blob)."""
    out: list[bytes | None] = []
    pos = 0
    for _ in range(count):
        nl = raw.index(b"\n", pos)
        header = raw[pos:nl].split(b" ")
        pos = nl + 1
        if len(header) == 3 and header[2].isdigit():
            size = int(header[2])
            body = raw[pos : pos + size]
            pos += size + 1  # the content is followed by a newline
            out.append(body if header[1] == b"blob" else None)
        else:
            out.append(None)
    return out


def read_blobs(root: Path, specs: Sequence[str]) -> list[bytes | None]:
    """The contents of `rev:path` specs, in one git process."""
    if not specs:
        return []
    if any("\n" in s for s in specs):
        return [_read_one(root, s) for s in specs]
    raw = git(root, "cat-file", "--batch", input="".join(s + "\n" for s in specs).encode())
    return parse_batch(raw, len(specs))


def _read_one(root: Path, spec: str) -> bytes | None:
    try:
        return git(root, "cat-file", "blob", spec)
    except GitError:
        return None


# -- ranges ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One hop of a range walk: the tree before and the commit after."""

    before: str
    commit: str
    subject: str


def range_steps(root: Path, rev_range: str) -> list[Step]:
    """The hops of `A..B`, `A...B` (from their merge base) or a single commit `X` (X^ -> X).

    Walks B's first-parent line (the history as that branch saw it), starting from A itself,
    so `main..feature` ends on feature's files even when feature forked from an older main.
    """
    spec = rev_range.strip()
    if not spec or spec.startswith("-"):
        raise GitError(f"{rev_range!r}: not a revision range")
    if "..." in spec:
        a, b = spec.split("...", 1)
        a_sha, b_sha = _need(root, a or "HEAD"), _need(root, b or "HEAD")
        base = git(root, "merge-base", a_sha, b_sha, check=False).decode().strip()
        if not base:
            raise GitError(f"{rev_range}: {a or 'HEAD'} and {b or 'HEAD'} have no common ancestor")
        start, end = base, b_sha
    elif ".." in spec:
        a, b = spec.split("..", 1)
        start, end = _need(root, a or "HEAD"), _need(root, b or "HEAD")
    else:
        end = _need(root, spec)
        parent = rev_parse(root, f"{end}^")
        start = parent or empty_tree(root)
        return [Step(start, end, _subject(root, end))]
    raw = git(root, "rev-list", "--reverse", "--first-parent", "--format=%H %s", f"{start}..{end}")
    steps: list[Step] = []
    before = start
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("commit "):
            continue
        sha, _, subject = line.partition(" ")
        steps.append(Step(before, sha, subject))
        before = sha
    return steps


def _need(root: Path, rev: str) -> str:
    sha = rev_parse(root, rev)
    if sha is None:
        raise GitError(f"{rev}: unknown revision (not a commit in {root})")
    return sha


def _subject(root: Path, sha: str) -> str:
    return git(root, "log", "-1", "--format=%s", sha).decode("utf-8", "replace").strip()


# -- putting tags back on a version they already knew -----------------------------------------


def known_placement(tag: Tag, sha: str) -> Span | None:
    """Where `tag` was last confidently placed in the text whose hash is `sha`, if ever."""
    anchor = tag.anchor
    if anchor.snapshot == sha and anchor.start is not None:
        return Span(start=anchor.start, end=anchor.start + len(anchor.text))
    history = tag.history
    for i in range(len(history) - 1, -1, -1):
        event = history[i]
        if event.to_snapshot == sha and event.status.placed and event.new_span is not None:
            return event.new_span
        prior_placed = i == 0 or history[i - 1].status.placed
        if event.from_snapshot == sha and prior_placed:
            return event.old_span
    return None


def restore_known_placements(store: Store, updates: Iterable[DocumentUpdate], reason: str) -> list[TagChange]:
    """Put each tag that is not placed on a document's new text back where it was when it was
    last confidently placed in exactly that text. Cheap (hashes only); runs under the lock."""
    restored: list[TagChange] = []
    with store.locked():
        for update in updates:
            if update.text is None:
                continue
            source = update.old_path or update.path
            try:
                tags = store.load(source)
            except MagicMarkupError:
                continue  # retag_documents reports unreadable store files
            sha = text_hash(update.text)
            stored = False
            dirty = False
            for tag in tags:
                if tag.anchor.snapshot == sha and tag.status.placed:
                    continue
                span = known_placement(tag, sha)
                if span is None or span.end > len(update.text):
                    continue
                if not stored:  # once per document, not once per tag
                    store.put_snapshot(update.text)
                    stored = True
                old_span = tag.span
                anchor_at(
                    tag,
                    update.text,
                    span,
                    sha,
                    method="restored",
                    reason=f"{reason}: back to a version it was placed in",
                    language=language_for(update.path),
                )
                restored.append(
                    TagChange(
                        tag.id,
                        update.path,
                        update.old_path,
                        old_span.start,
                        old_span.end,
                        span.start,
                        span.end,
                        Status.ANCHORED.value,
                        "restored",
                        1.0,
                    )
                )
                dirty = True
            if dirty:
                store.save(source, tags)
    return restored


def apply_updates(
    store: Store,
    updates: Sequence[DocumentUpdate],
    resolver: Resolver | None,
    thresholds: Thresholds | None,
    reason: str,
    progress: Progress | None = None,
) -> RetagReport:
    """Restore known placements, then run the cascade on whatever is left."""
    # Renames first: retag_documents gathers a renamed document's tags at the first update
    # that names its new path.
    ordered = sorted(updates, key=lambda u: u.old_path is None)
    restored = restore_known_placements(store, ordered, reason)
    report = retag_documents(store, ordered, resolver, thresholds, reason=reason, progress=progress)
    seen = {c.id for c in report.changes}
    report.changes[:0] = [c for c in restored if c.id not in seen]
    return report


# -- retag REV_RANGE -------------------------------------------------------------------------


@dataclass
class StepReport:
    commit: str
    subject: str
    files: int
    report: RetagReport


@dataclass
class RangeReport:
    range: str
    steps: list[StepReport] = field(default_factory=list)
    total: RetagReport = field(default_factory=RetagReport)

    def to_json(self) -> dict[str, Any]:
        data = self.total.to_json()
        data["range"] = self.range
        data["commits"] = [
            {
                "commit": s.commit,
                "subject": s.subject,
                "files": s.files,
                "tags": s.report.tags,
                "changed": len(s.report.changes),
            }
            for s in self.steps
        ]
        return data


def updates_for_step(store: Store, step: Step, annotated: set[str]) -> tuple[list[DocumentUpdate], list[str]]:
    """The tagged documents one hop changes, with their text at the hop's commit."""
    wanted: list[tuple[str, str | None, bool]] = []  # (path, old_path, deleted)
    for ch in diff_tree(store.root, step.before, step.commit):
        if ch.status == "R" and ch.old_path is not None:
            if ch.old_path in annotated:
                wanted.append((ch.path, ch.old_path, False))
            elif ch.path in annotated:
                wanted.append((ch.path, None, False))
        elif ch.status == "D":
            if ch.path in annotated:
                wanted.append((ch.path, None, True))
        elif ch.path in annotated:
            wanted.append((ch.path, None, False))
    specs = [f"{step.commit}:{path}" for path, _, deleted in wanted if not deleted]
    blobs = iter(read_blobs(store.root, specs))
    updates: list[DocumentUpdate] = []
    errors: list[str] = []
    for path, old_path, deleted in wanted:
        if deleted:
            updates.append(DocumentUpdate(path, None))
            continue
        data = next(blobs)
        label = f"{step.commit[:10]}:{path}"
        if data is None:
            errors.append(f"{label}: not a file in that commit; its tags were left alone")
            continue
        try:
            updates.append(DocumentUpdate(path, decode(data, label), old_path))
        except DocumentError as exc:
            errors.append(f"{exc}; its tags were left alone")
    return updates, errors


def retag_range(
    store: Store,
    rev_range: str,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
) -> RangeReport:
    """Re-anchor tags through each commit of `rev_range`, blob to blob, following renames."""
    steps = range_steps(store.root, rev_range)
    result = RangeReport(rev_range, total=RetagReport(llm_used=resolver is not None))
    for i, step in enumerate(steps):
        annotated = set(store.paths())
        updates, errors = updates_for_step(store, step, annotated)
        report = apply_updates(store, updates, resolver, thresholds, reason=step.commit[:12])
        report.errors[:0] = errors
        result.steps.append(StepReport(step.commit, step.subject, len(updates), report))
        result.total.merge(report)
        if progress is not None:
            progress(i + 1, len(steps))
    return result


# -- hooks: re-anchor to the working tree with git's renames ----------------------------------


def read_synced_head(store: Store) -> str | None:
    try:
        value = (store.dir / STATE_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return value or None


def write_synced_head(store: Store, sha: str) -> None:
    from magicmarkup.store import atomic_write

    atomic_write(store.dir / STATE_FILE, (sha + "\n").encode())


def renames_between(root: Path, old: str | None, new: str | None) -> dict[str, str]:
    """old path -> new path for every file git sees as renamed between two commits."""
    if old is None or new is None or old == new:
        return {}
    return {c.old_path: c.path for c in diff_tree(root, old, new) if c.status == "R" and c.old_path}


def worktree_updates_with_renames(
    store: Store, renames: dict[str, str]
) -> tuple[list[DocumentUpdate], list[str]]:
    """Every annotated document as it is on disk; a missing one that git says was renamed to a
    file that exists is followed there, otherwise it counts as deleted."""
    updates: list[DocumentUpdate] = []
    errors: list[str] = []
    for rel in store.paths():
        target, old = rel, None
        if not _exists(store, rel):
            new = renames.get(rel)
            if new is None or not _exists(store, new):
                updates.append(DocumentUpdate(rel, None))
                continue
            target, old = new, rel
        try:
            updates.append(DocumentUpdate(target, store.read_document(target), old))
        except MagicMarkupError as exc:
            errors.append(f"{exc}; its tags were left alone")
    return updates, errors


def _exists(store: Store, rel: str) -> bool:
    try:
        full = store.document_path(rel)
    except MagicMarkupError:
        return False
    return full.is_file()


def sync_worktree(
    store: Store,
    prev: str | None,
    head: str | None,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    reason: str = "git",
) -> RetagReport:
    """Re-anchor every tag to the files on disk, following renames git made from prev to head."""
    renames = renames_between(store.root, prev, head)
    updates, errors = worktree_updates_with_renames(store, renames)
    report = apply_updates(store, updates, resolver, thresholds, reason=reason)
    report.errors[:0] = errors
    if head is not None:
        write_synced_head(store, head)
    return report


HOOK_NAMES = ("post-commit", "post-merge", "post-checkout", "post-rewrite")


def previous_head(store: Store, hook: str, args: Sequence[str], stdin: str) -> str | None:
    """The commit the working tree was at before this git operation (best evidence first:
    what we last synced to, then what the hook itself is told)."""
    root = store.root
    recorded = read_synced_head(store)
    if recorded and rev_parse(root, recorded):
        return recorded
    candidate: str | None = None
    if hook == "post-checkout" and args and args[0] != ZERO_SHA:
        candidate = args[0]
    elif hook == "post-merge":
        candidate = "ORIG_HEAD"
    elif hook == "post-commit":
        candidate = "HEAD^"
    elif hook == "post-rewrite":
        if args and args[0] == "rebase":
            candidate = "ORIG_HEAD"
        else:
            first = stdin.split()
            candidate = first[0] if first else None
    return rev_parse(root, candidate) if candidate else None


def run_hook(
    store: Store,
    hook: str,
    args: Sequence[str],
    stdin: str = "",
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
) -> RetagReport | None:
    """What an installed hook does; None when there is nothing to do yet (mid-rebase: the
    post-rewrite at the end covers every commit at once)."""
    if hook not in HOOK_NAMES:
        raise GitError(f"{hook}: not a hook magicmarkup handles ({', '.join(HOOK_NAMES)})")
    if hook != "post-rewrite" and rebase_in_progress(store.root):
        return None
    head = rev_parse(store.root, "HEAD")
    prev = previous_head(store, hook, args, stdin)
    short = head[:12] if head else "unborn"
    return sync_worktree(store, prev, head, resolver, thresholds, reason=f"{hook} {short}")


# -- installing hooks ------------------------------------------------------------------------

HOOK_MARK = "# magicmarkup-hook v1"
CHAINED_SUFFIX = ".pre-magicmarkup"


def hook_script(hook: str, command: Sequence[str], options: Sequence[str] = ()) -> str:
    """A POSIX sh hook that runs the hook that was there before (unchanged, with the same
    arguments, stdin and exit status) and then magicmarkup, whose failure never reaches git."""
    import shlex

    cmd = " ".join(shlex.quote(c) for c in [*command, "hooks", "run", hook, *options])
    exe = shlex.quote(command[0])
    reads_stdin = hook == "post-rewrite"
    lines = [
        "#!/bin/sh",
        HOOK_MARK,
        "# Installed by `magicmarkup hooks install`; `magicmarkup hooks uninstall` removes it and puts",
        f"# back the hook that was here before (kept beside it as {hook}{CHAINED_SUFFIX}).",
        "# The magicmarkup step never fails or blocks the git command: it prints one line on error.",
        "# Set MAGICMARKUP_HOOKS=0 to skip it.",
        'hook_dir=$(dirname "$0")',
        f'chained="$hook_dir/{hook}{CHAINED_SUFFIX}"',
        "status=0",
    ]
    if reads_stdin:
        lines += [
            'input=$(mktemp "${TMPDIR:-/tmp}/magicmarkup-hook.XXXXXX") && cat > "$input" || input=/dev/null',
            'if [ -x "$chained" ]; then "$chained" "$@" < "$input" || status=$?; fi',
        ]
        source = '< "$input"'
    else:
        lines += ['if [ -x "$chained" ]; then "$chained" "$@" || status=$?; fi']
        source = "< /dev/null"
    lines += [
        'if [ "${MAGICMARKUP_HOOKS:-1}" != 0 ]; then',
        f"    if [ -x {exe} ]; then",
        f'        {cmd} -- "$@" {source} 1>&2 || true',
        "    else",
        f"        echo \"magicmarkup {hook} hook: {command[0]} not found; run 'magicmarkup hooks install' again\" 1>&2",
        "    fi",
        "fi",
    ]
    if reads_stdin:
        lines.append('[ "$input" = /dev/null ] || rm -f "$input"')
    lines.append("exit $status")
    return "\n".join(lines) + "\n"


def is_our_hook(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(200)
    except OSError:
        return False
    return HOOK_MARK.encode() in head


@dataclass
class HookAction:
    name: str
    path: str
    action: str  # installed | updated | chained | removed | restored | skipped
    chained: str | None = None
    detail: str = ""


def install_hooks(
    root: Path, command: Sequence[str], options: Sequence[str] = ()
) -> tuple[Path, list[HookAction]]:
    """Install (or refresh) our hooks; a user's existing hook is moved aside and chained."""
    directory = hooks_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    actions: list[HookAction] = []
    for name in HOOK_NAMES:
        path = directory / name
        aside = directory / (name + CHAINED_SUFFIX)
        action = "installed"
        if path.exists() or path.is_symlink():
            if is_our_hook(path):
                action = "updated"
            elif aside.exists() or aside.is_symlink():
                actions.append(
                    HookAction(
                        name,
                        str(path),
                        "skipped",
                        str(aside),
                        f"{path} is not ours and {aside.name} already exists; merge them by hand",
                    )
                )
                continue
            else:
                os.replace(path, aside)
                action = "chained"
        tmp = path.with_name(f".{name}.magicmarkup.tmp")
        tmp.write_text(hook_script(name, command, options), encoding="utf-8")
        tmp.chmod(0o755)
        os.replace(tmp, path)
        chained = str(aside) if aside.exists() or aside.is_symlink() else None
        actions.append(HookAction(name, str(path), action, chained))
    return directory, actions


def uninstall_hooks(root: Path) -> tuple[Path, list[HookAction]]:
    """Remove our hooks and put back whatever we had moved aside; other hooks are untouched."""
    directory = hooks_dir(root)
    actions: list[HookAction] = []
    for name in HOOK_NAMES:
        path = directory / name
        aside = directory / (name + CHAINED_SUFFIX)
        if not (path.exists() or path.is_symlink()):
            actions.append(HookAction(name, str(path), "skipped", None, "not installed"))
            continue
        if not is_our_hook(path):
            actions.append(HookAction(name, str(path), "skipped", None, "not a magicmarkup hook; left alone"))
            continue
        if aside.exists() or aside.is_symlink():
            os.replace(aside, path)
            actions.append(HookAction(name, str(path), "restored", str(aside)))
        else:
            path.unlink()
            actions.append(HookAction(name, str(path), "removed"))
    return directory, actions
