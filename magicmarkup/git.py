"""Git integration: tags follow commits, pulls, checkouts, merges and rebases, and git never
sees a change the user did not make.

* `pre-commit`: the tags of the staged files are re-pinned to the staged content (through git's
  filters, so offsets are in the text the user sees) and the store's changes are staged with the
  commit, into the index and the working tree alike, so every commit's store matches its code.
* `post-checkout`, `post-merge`, `post-rewrite`: only the local view (view.py) is refreshed.
* `retag_range(store, "A..B")` re-pins through each commit of a range, blob to blob, with git's
  rename detection (for history made without the hook).
* `follow_renames` finds where a pinned document went, commit by commit since its pin was
  committed, then in the index.

No hook ever exits non-zero, waits on the store lock for more than a moment, or leaves a change.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicmarkup.documents import decode
from magicmarkup.errors import DocumentError, MagicMarkupError
from magicmarkup.report import DocumentUpdate, RetagReport
from magicmarkup.store import (
    LEGACY_DIR,
    PINS_DIR,
    STORE_DIR,
    Store,
    git_dir_of,
)

STORE_PREFIX = STORE_DIR + "/"
ZERO_SHA = "0" * 40

if TYPE_CHECKING:  # the engine is imported only when a document is re-anchored (hooks start fast)
    from magicmarkup.anchoring import Resolver, Thresholds
    from magicmarkup.pipeline import Progress


class GitError(MagicMarkupError):
    """A git command failed or git is not usable here."""


# -- running git -----------------------------------------------------------------------------


def git(
    root: Path,
    *args: str,
    input: bytes | None = None,
    check: bool = True,
    index: bool = False,
    index_file: Path | None = None,
) -> bytes:
    """Run git in `root` and return its stdout; failures become one-line GitErrors. `index`: use
    the index git gave this hook (GIT_INDEX_FILE: `commit -a` and `commit PATH` stage into a
    temporary one); `index_file`: use that index file."""
    env = git_env(index)
    if index_file is not None:
        env["GIT_INDEX_FILE"] = str(index_file)
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, input=input, capture_output=True, check=False, env=env
        )
    except FileNotFoundError:
        raise GitError("git: executable not found on PATH") from None
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = msg[-1] if msg else f"exit status {proc.returncode}"
        raise GitError(f"git {' '.join(args[:3])}: {detail}")
    return proc.stdout


def git_env(index: bool = False) -> dict[str, str]:
    """Inside a hook git exports GIT_INDEX_FILE etc.; queries about commits must see the repo
    as a whole, so drop the per-operation variables (keep GIT_DIR/GIT_WORK_TREE)."""
    env = dict(os.environ)
    for var in ("GIT_PREFIX",) if index else ("GIT_INDEX_FILE", "GIT_PREFIX"):
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


def read_blobs(root: Path, specs: Sequence[str], index: bool = False) -> list[bytes | None]:
    """The contents of `rev:path` specs (`:path` for the index), in one git process."""
    if not specs:
        return []
    if any("\n" in s for s in specs):
        return [_read_one(root, s, index=index) for s in specs]
    raw = git(root, "cat-file", "--batch", input="".join(s + "\n" for s in specs).encode(), index=index)
    return parse_batch(raw, len(specs))


def _read_one(root: Path, spec: str, filters: bool = False, index: bool = False) -> bytes | None:
    try:
        if filters:
            return git(root, "cat-file", "--filters", spec, index=index)
        return git(root, "cat-file", "blob", spec, index=index)
    except GitError:
        return None


def filtered_paths(root: Path, paths: Sequence[str]) -> set[str]:
    """The paths whose checked-out text differs from the blob (eol conversion, a filter, an
    encoding), so their blobs are read through git's filters: offsets are always in the text
    the user sees. (One `check-attr` call; git 2.39's `cat-file --batch --filters` cannot read
    `rev:path` specs, so filtered files are read one by one.)"""
    if not paths:
        return set()
    autocrlf = git(root, "config", "--get", "core.autocrlf", check=False).decode().strip().lower()
    if autocrlf == "true":
        return set(paths)
    core_eol = git(root, "config", "--get", "core.eol", check=False).decode().strip().lower()
    raw = git(
        root,
        "check-attr",
        "-z",
        "--stdin",
        "eol",
        "text",
        "filter",
        "working-tree-encoding",
        input=b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths) + b"\0",
    )
    parts = raw.decode("utf-8", "surrogateescape").split("\0")
    attrs: dict[str, dict[str, str]] = {}
    for i in range(0, len(parts) - 2, 3):
        attrs.setdefault(parts[i], {})[parts[i + 1]] = parts[i + 2]
    out = set()
    for path, values in attrs.items():
        text = values.get("text", "unspecified")
        if (
            values.get("filter", "unspecified") not in ("unspecified", "unset")
            or values.get("working-tree-encoding", "unspecified") not in ("unspecified", "unset")
            or values.get("eol") == "crlf"
            or (core_eol == "crlf" and text in ("set", "auto"))
        ):
            out.add(path)
    return out


def read_worktree_blobs(
    root: Path, specs: Sequence[tuple[str, str]], index: bool = False
) -> list[bytes | None]:
    """The contents of (`rev` or "" for the index, path) as they would be checked out."""
    filtered = filtered_paths(root, [path for _, path in specs])
    plain = [(i, f"{rev}:{path}") for i, (rev, path) in enumerate(specs) if path not in filtered]
    out: list[bytes | None] = [None] * len(specs)
    if plain:
        for (i, _), data in zip(plain, read_blobs(root, [s for _, s in plain], index=index), strict=True):
            out[i] = data
    for i, (rev, path) in enumerate(specs):
        if path in filtered:
            out[i] = _read_one(root, f"{rev}:{path}", filters=True, index=index)
    return out


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
    # NUL-separated: a subject may hold any line separator (U+2028, a form feed...)
    raw = git(root, "log", "--reverse", "--first-parent", "-z", "--format=%H%x01%s", f"{start}..{end}")
    steps: list[Step] = []
    before = start
    for entry in raw.decode("utf-8", "replace").split("\0"):
        sha, sep, subject = entry.strip("\n").partition("\x01")
        if not sep:
            continue
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


def changed_documents(
    changes: Sequence[FileChange], annotated: set[str]
) -> list[tuple[str, str | None, bool]]:
    """(path, old path if renamed, deleted) of the annotated documents among `changes`."""
    wanted: list[tuple[str, str | None, bool]] = []
    for ch in changes:
        if ch.path.startswith(STORE_PREFIX):
            continue
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
    return wanted


def document_updates(
    root: Path, rev: str, wanted: list[tuple[str, str | None, bool]], index: bool = False
) -> tuple[list[DocumentUpdate], list[str]]:
    """The new texts of `wanted` documents at `rev` ("" for the index), as checked out."""
    specs = [(rev, path) for path, _, deleted in wanted if not deleted]
    blobs = iter(read_worktree_blobs(root, specs, index=index))
    updates: list[DocumentUpdate] = []
    errors: list[str] = []
    where = rev[:10] if rev else "index"
    for path, old_path, deleted in wanted:
        if deleted:
            updates.append(DocumentUpdate(path, None))
            continue
        data = next(blobs)
        label = f"{where}:{path}"
        if data is None:
            errors.append(f"{label}: not a file there; its tags were left alone")
            continue
        try:
            updates.append(DocumentUpdate(path, decode(data, label), old_path))
        except DocumentError as exc:
            errors.append(f"{exc}; its tags were left alone")
    # Renames first: a renamed document's pins are gathered where the first update names them.
    updates.sort(key=lambda u: u.old_path is None)
    return updates, errors


def retag_range(
    store: Store,
    rev_range: str,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
) -> RangeReport:
    """Re-pin tags through each commit of `rev_range`, blob to blob, following renames."""
    from magicmarkup.retag import repin_documents

    steps = range_steps(store.root, rev_range)
    result = RangeReport(rev_range, total=RetagReport(llm_used=resolver is not None))
    for i, step in enumerate(steps):
        wanted = changed_documents(diff_tree(store.root, step.before, step.commit), set(store.paths()))
        updates, errors = document_updates(store.root, step.commit, wanted)
        report = repin_documents(store, updates, resolver, thresholds, reason=step.commit[:12])
        report.errors[:0] = errors
        result.steps.append(StepReport(step.commit, step.subject, len(updates), report))
        result.total.merge(report)
        if progress is not None:
            progress(i + 1, len(steps))
    return result


# -- a store elsewhere in the repository (a fresh clone before its first pull, an old commit) --


def store_elsewhere(root: Path) -> list[str]:
    """The branches (local, then remote-tracking) whose history has a `.magicmarkup/` store that
    this checkout does not: where to get the team's store instead of starting a new one."""
    if git_dir_of(root) is None:
        return []
    found = git(root, "rev-list", "--all", "-1", "--", STORE_PREFIX, check=False).decode().strip()
    if not found:
        return []
    raw = git(root, "branch", "-a", "--contains", found, "--format=%(refname:short)", check=False)
    names = [n for n in raw.decode("utf-8", "replace").splitlines() if n and not n.endswith("/HEAD")]
    return sorted(names, key=lambda n: ("/" in n, n)) or [found[:10]]


# -- where did a pinned document go? ---------------------------------------------------------


def follow_renames(store: Store, missing: Sequence[str]) -> dict[str, str]:
    """pinned path -> where that document is now, for documents missing from the working tree:
    followed commit by commit (first parent, git's rename detection at each step) from the
    commit that last wrote their pins to HEAD, then through the renames staged in the index.
    A checkout that jumps many commits follows a file that was moved and then rewritten, which
    a diff between the two ends would miss."""
    root = store.root
    if not missing or git_dir_of(root) is None:
        return {}
    where = {rel: rel for rel in missing}
    head = rev_parse(root, "HEAD")
    if head is not None:
        by_base: dict[str, list[str]] = {}
        for rel in missing:
            out = (
                git(
                    root,
                    "log",
                    "-1",
                    "--format=%H",
                    "--",
                    f"{STORE_PREFIX}{PINS_DIR}/{rel}",
                    f"{STORE_PREFIX}{LEGACY_DIR}/{rel}.json",
                    check=False,
                )
                .decode()
                .strip()
            )
            if out:
                by_base.setdefault(out, []).append(rel)
        for base, rels in by_base.items():
            raw = git(
                root,
                "log",
                "--reverse",
                "--first-parent",
                "-M",
                "-z",
                "--name-status",
                "--format=%x00commit %H",
                f"{base}..HEAD",
                check=False,
            )
            for change in _log_changes(raw):
                if change.status != "R":
                    continue
                for rel in rels:
                    if change.old_path == where[rel]:
                        where[rel] = change.path
    staged = git(
        root, "diff-index", "--cached", "-M", "-z", "--name-status", head or empty_tree(root), check=False
    )
    for change in parse_name_status(staged):
        for rel, now in where.items():
            if change.status == "R" and change.old_path == now:
                where[rel] = change.path
    return {rel: now for rel, now in where.items() if now != rel and (root / now).is_file()}


def _log_changes(raw: bytes) -> list[FileChange]:
    changes: list[FileChange] = []
    for chunk in raw.split(b"\0commit "):
        body = chunk.split(b"\0", 1)
        if len(body) == 2:
            changes += parse_name_status(body[1].lstrip(b"\n"))
    return changes


# -- hooks: pre-commit re-pins and stages; the others refresh the local view ------------------

HOOK_NAMES = ("pre-commit", "post-checkout", "post-merge", "post-rewrite")
RETIRED_HOOKS = ("post-commit",)  # installed by earlier versions; `hooks install` removes it
HOOK_LOCK_TIMEOUT_S = 2.0


def run_hook(
    store: Store,
    hook: str,
    args: Sequence[str],
    stdin: str = "",
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
) -> RetagReport | None:
    """What an installed hook does; None when there is nothing to do."""
    if hook in RETIRED_HOOKS:
        return None
    if hook not in HOOK_NAMES:
        raise GitError(f"{hook}: not a hook magicmarkup handles ({', '.join(HOOK_NAMES)})")
    if hook == "pre-commit":
        return pre_commit(store, resolver, thresholds)
    if hook != "post-rewrite" and rebase_in_progress(store.root):
        return None  # the post-rewrite at the end covers every commit at once
    return refresh_view(store, hook, args, thresholds)


def pre_commit(
    store: Store, resolver: Resolver | None = None, thresholds: Thresholds | None = None
) -> RetagReport | None:
    """Re-pin the tags of the staged documents to their staged text and stage the store files
    this changed, so the commit's store matches its code. A store file the user has unstaged
    changes in is re-pinned in the working tree only (their staging is theirs to make)."""
    root = store.root
    head = rev_parse(root, "HEAD")
    base = head or empty_tree(root)
    raw = git(root, "diff-index", "--cached", "-M", "-z", "--name-status", base, index=True)
    changes = parse_name_status(raw)
    annotated = set(store.paths())
    wanted = changed_documents(changes, annotated)
    # The documents this commit shares tags of: those it commits, and those whose store files
    # the user staged (`git add .magicmarkup`): their new tags and pending files ride with it.
    documents = {path for path, _, _ in wanted} | {old for _, old, _ in wanted if old}
    documents |= store_documents(ch.path for ch in changes) & (annotated | set(store.pending_documents()))
    if not documents:
        return None
    updates, errors = document_updates(root, "", wanted, index=True)
    with store.locked(HOOK_LOCK_TIMEOUT_S):
        # store files the user changed and did not stage (git's own comparison, filters applied)
        unstaged = nul_paths(git(root, "diff", "--name-only", "-z", "--", STORE_PREFIX, index=True))
        store.touched = {}
        store.publishing = True  # this commit shares what it writes: straight into .magicmarkup/
        shared = store.publish(documents, snapshots=False)  # the pending history first: in order
        if updates:
            from magicmarkup.retag import repin_documents

            report = repin_documents(store, updates, resolver, thresholds, reason="commit", history=True)
        else:
            report = RetagReport()
        new_pins = untracked_pins(store, sorted(documents), index=True)  # after the re-pin: renames
        shared += store.publish(documents)  # the snapshots the commit's pins refer to now
        report.published = [Path(p).stem for p in new_pins]
        if store.touched or new_pins:
            _stage(store, dict(store.touched), unstaged, [*new_pins, *shared])
    report.errors[:0] = errors
    return report


PINS_PREFIX = f"{STORE_PREFIX}{PINS_DIR}/"


def store_documents(paths: Iterable[str]) -> set[str]:
    """The documents whose pins or history logs are among `paths` (repository-relative)."""
    history = f"{STORE_PREFIX}history/"
    found: set[str] = set()
    for path in paths:
        if path.startswith(PINS_PREFIX) and path.endswith(".json") and path.count("/") >= 3:
            found.add(path[len(PINS_PREFIX) :].rsplit("/", 1)[0])
        elif path.startswith(history) and path.endswith(".jsonl"):
            found.add(path[len(history) : -len(".jsonl")])
    return found


def untracked_pins(store: Store, documents: Sequence[str], index: bool = False) -> list[str]:
    """The pin files of `documents` git does not track: tags added since the last commit that
    shares them (repository-relative paths)."""
    if not documents:
        return []
    specs = [f"{PINS_PREFIX}{rel}/" for rel in documents]
    raw = git(store.root, "--literal-pathspecs", "ls-files", "-z", "--others", "--", *specs, index=index)
    return sorted(p for p in nul_paths(raw) if p.endswith(".json"))


def nul_paths(raw: bytes) -> set[str]:
    return {p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p}


def _stage(store: Store, touched: dict[str, bool], unstaged: set[str], shared: Sequence[str] = ()) -> None:
    """Stage each store file the re-pin wrote or removed whose index entry matched the working
    tree before (the user left no unstaged change in it); a new file (a pin that followed a
    rename, a new snapshot or log) is staged when the store is tracked and something of it is
    being staged, and so are `shared` (the new tags of the commit's documents and the files
    published for them). `touched`: repo-relative path -> whether it existed before."""
    root = store.root
    changed = sorted(touched)
    listed = (
        git(root, "--literal-pathspecs", "ls-files", "-z", "--", *changed, index=True) if changed else b""
    )
    in_index = nul_paths(listed)
    stage = [p for p in changed if touched[p] and p in in_index and p not in unstaged]
    stage += [p for p in shared if p not in stage]  # new tags and the files published for them
    pins, legacy = f"{STORE_PREFIX}{PINS_DIR}/", f"{STORE_PREFIX}{LEGACY_DIR}/"
    removed_ids = {Path(p).stem for p in stage if p.startswith(pins) and not os.path.lexists(root / p)}
    migrated = {p[len(legacy) : -len(".json")] for p in stage if p.startswith(legacy)}  # schema 2 -> pins
    if stage:
        for path in changed:
            if path in in_index or path in stage:
                continue
            if not path.startswith(pins):
                stage.append(path)  # a new (or untracked) snapshot or history log of a tracked store
                continue
            if touched[path]:
                continue
            elif Path(path).stem in removed_ids or path[len(pins) :].rsplit("/", 1)[0] in migrated:
                stage.append(path)  # a pin that followed its document, or was migrated
    if stage:
        paths = b"\0".join(p.encode("utf-8", "surrogateescape") for p in stage)
        add = ("--literal-pathspecs", "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul")
        git(root, *add, input=paths, index=True)
        real = _partial_commit_index()
        if real is not None:
            git(root, *add, input=paths, index_file=real)


def _partial_commit_index() -> Path | None:
    """The index `git commit PATH...` will make the real one after this commit, or None.

    Such a commit is built in a temporary index (`next-index-*.lock`, given to the hook), while
    the real index, updated with PATH, waits as `index.lock`; git renames it into place after
    the commit, so what the hook staged only in the temporary one would show in `git status`
    as staged for deletion, and as untracked. Staging into both keeps them equal."""
    given = os.environ.get("GIT_INDEX_FILE", "")
    if not given or not Path(given).name.startswith("next-index-"):
        return None
    real = Path(given).parent / "index.lock"
    return real if real.is_file() else None


def refresh_view(
    store: Store, hook: str, args: Sequence[str], thresholds: Thresholds | None = None
) -> RetagReport | None:
    """After a checkout, merge or rewrite: recompute the local view of the documents whose text
    or pins the operation changed (all of them when that cannot be told)."""
    from magicmarkup.view import current

    root = store.root
    old: str | None = None
    if hook == "post-checkout" and args and args[0] != ZERO_SHA:
        old = rev_parse(root, args[0])
    elif hook in ("post-merge", "post-rewrite"):
        old = rev_parse(root, "ORIG_HEAD")
    head = rev_parse(root, "HEAD")
    annotated = store.paths()
    if old is not None and head is not None:
        if old == head and hook == "post-checkout":
            return None
        names = git(root, "diff-tree", "-r", "-z", "--name-only", "--no-commit-id", old, head)
        touched = set(names.decode("utf-8", "surrogateescape").split("\0"))
        pins = f"{STORE_PREFIX}{PINS_DIR}/"
        touched |= {p[len(pins) :].rsplit("/", 1)[0] for p in touched if p.startswith(pins)}
        paths = [rel for rel in annotated if rel in touched or not (root / rel).is_file()]
    else:
        paths = annotated
    if not paths:
        return None
    return current(store, paths, thresholds=thresholds).report


# -- installing hooks ------------------------------------------------------------------------

HOOK_MARK = "# magicmarkup-hook v3"
HOOK_MARKS = (HOOK_MARK, "# magicmarkup-hook v2", "# magicmarkup-hook v1")
GATE = Path(__file__).with_name("hookgate.py")  # the hooks' fast path (see hookgate.py)
CHAINED_SUFFIX = ".pre-magicmarkup"


def hook_script(
    hook: str, command: Sequence[str], options: Sequence[str] = (), gate: Path | None = GATE
) -> str:
    """A POSIX sh hook that runs the hook that was there before (unchanged, with the same
    arguments, stdin and exit status) and then magicmarkup, whose failure never reaches git.
    With a `gate` (hookgate.py) and a Python `command`, the gate runs first and starts
    magicmarkup only when a tagged file is involved."""
    import shlex

    cmd = " ".join(shlex.quote(c) for c in [*command, "hooks", "run", hook, *options])
    exe = shlex.quote(command[0])
    fast = ""
    if gate is not None and list(command[1:]) == ["-m", "magicmarkup"]:
        fast = " ".join(
            shlex.quote(c) for c in [command[0], "-I", "-S", str(gate), command[0], hook, *options]
        )
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
    guard = ' && [ "$status" = 0 ]' if hook == "pre-commit" else ""  # a refused commit is left alone
    lines += [
        f'if [ "${{MAGICMARKUP_HOOKS:-1}}" != 0 ]{guard}; then',
        f"    if [ -x {exe} ]; then",
        *(
            [
                f"        if [ -f {shlex.quote(str(gate))} ]; then",
                f'            {fast} -- "$@" {source} 1>&2 || true',
                "        else",
                f'            {cmd} -- "$@" {source} 1>&2 || true',
                "        fi",
            ]
            if fast
            else [f'        {cmd} -- "$@" {source} 1>&2 || true']
        ),
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
    return any(mark.encode() in head for mark in HOOK_MARKS)


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
    for name in RETIRED_HOOKS:  # an earlier version's hook that re-anchored after the commit
        actions += _remove_hook(directory, name, quiet=True)
    import shlex

    driver = " ".join(shlex.quote(c) for c in [*command, "hooks", "merge-pin"]) + " %O %A %B %P"
    known = git(root, "config", "--get", "merge.magicmarkup.driver", check=False).decode().strip()
    git(root, "config", "merge.magicmarkup.name", "magicmarkup: three-way merge of a tag's pin")
    git(root, "config", "merge.magicmarkup.driver", driver)
    action = "installed" if not known else "updated"
    actions.append(HookAction("merge driver", "git config merge.magicmarkup.driver", action))
    return directory, actions


def uninstall_hooks(root: Path) -> tuple[Path, list[HookAction]]:
    """Remove our hooks and put back whatever we had moved aside; other hooks are untouched."""
    directory = hooks_dir(root)
    actions: list[HookAction] = []
    for name in HOOK_NAMES:
        actions += _remove_hook(directory, name)
    for name in RETIRED_HOOKS:
        actions += _remove_hook(directory, name, quiet=True)
    if git(root, "config", "--get", "merge.magicmarkup.driver", check=False).strip():
        git(root, "config", "--remove-section", "merge.magicmarkup", check=False)
        actions.append(HookAction("merge driver", ".git/config merge.magicmarkup", "removed"))
    return directory, actions


def _remove_hook(directory: Path, name: str, quiet: bool = False) -> list[HookAction]:
    path = directory / name
    aside = directory / (name + CHAINED_SUFFIX)
    if not (path.exists() or path.is_symlink()):
        return [] if quiet else [HookAction(name, str(path), "skipped", None, "not installed")]
    if not is_our_hook(path):
        return (
            []
            if quiet
            else [HookAction(name, str(path), "skipped", None, "not a magicmarkup hook; left alone")]
        )
    if aside.exists() or aside.is_symlink():
        os.replace(aside, path)
        return [HookAction(name, str(path), "restored", str(aside))]
    path.unlink()
    return [HookAction(name, str(path), "removed")]
