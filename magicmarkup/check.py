"""`magicmarkup check`: the gate for CI and pre-commit. Which tags does a change leave unsure?

Every tag is placed where the code is now (the working tree's local view, or a commit's tree
read with git), and a tag whose status is in `fail_on` (by default `needs_review` and
`orphaned`) is a problem. With a baseline (`since`, e.g. the merge base with the target
branch) only what the change made worse fails: a tag placed confidently at the baseline and
unsure now, or a new tag that is already unsure; a tag already unsure at the baseline is
reported as information. The baseline is read from the baseline commit's own tree (its pins,
snapshots and documents), so no history is needed: a shallow clone that fetched the baseline
commit alone gives the same answer as a full one. With a baseline, only the documents whose
text or pins differ from it are placed, then and now (a tag cannot change state without one of
them changing; a change to the store's settings counts as a change of every document): the cost
follows the size of the change, not of the repository, and the information is about the files
the change touched.

`fix` accepts the repairs the engine is confident about (`changed`, at or above the review
threshold) as a person's confirmation would (`tags.accept_placements`).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from magicmarkup.anchoring import Resolver, Thresholds
from magicmarkup.committed import CommittedStore, CommittedTree, place_committed, resolve_commit
from magicmarkup.errors import MagicMarkupError
from magicmarkup.git import git, rev_parse
from magicmarkup.model import Status, Tag
from magicmarkup.positions import Positions, Region
from magicmarkup.store import LEGACY_DIR, PINS_DIR, STORE_DIR, Store
from magicmarkup.view import Current, current

DEFAULT_FAIL_ON = frozenset({Status.NEEDS_REVIEW, Status.ORPHANED})
FIX_REASON = "accepted by `magicmarkup check --fix` (a confident repair)"


@dataclass(frozen=True, slots=True)
class Finding:
    """A tag whose status is one `check` reports."""

    tag: Tag  # as placed now: `path`, `span`, `status`, `confidence`, `method`
    failing: bool  # counts for the exit status (else information: already so at the baseline)
    before: Status | None  # its status at the baseline (None: no baseline, or a new tag)
    new: bool  # not in the baseline
    region: Region | None  # where it is now; for an orphan, where it last was (`last_known`)
    last_known: bool
    text: str | None  # the text it covers now (None for an orphan)


@dataclass
class CheckResult:
    """What `check` found: the findings, what `fix` accepted, and what could not be read."""

    fail_on: frozenset[Status]
    rev: str | None = None  # the commit checked (None: the working tree)
    since: str | None = None  # the baseline as given
    since_commit: str | None = None  # None with `since`: an unborn HEAD (every tag is new)
    tags: int = 0  # tags checked
    documents: int = 0  # their documents
    changed_only: bool = False  # with a baseline: only documents whose text or pins changed
    findings: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)  # confirmed by `fix`, where they were
    errors: list[str] = field(default_factory=list)  # store files unreadable: the check is incomplete
    warnings: list[str] = field(default_factory=list)  # read problems the statuses already show
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.failing]

    @property
    def information(self) -> list[Finding]:
        return [f for f in self.findings if not f.failing]

    @property
    def exit_code(self) -> int:
        """0 nothing failing, 1 problems, 2 the check could not read everything."""
        return 2 if self.errors else 1 if self.problems else 0


def check(
    store: Store,
    paths: Sequence[str] | None = None,
    *,
    rev: str | None = None,
    since: str | None = None,
    fail_on: Collection[Status] = DEFAULT_FAIL_ON,
    fix: bool = False,
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
) -> CheckResult:
    """Place every tag (of the documents under `paths`, repo-relative files or folders) in the
    working tree, or in commit `rev`, and report the ones whose status is in `fail_on`; with
    `since`, only what changed since that commit fails."""
    began = time.perf_counter()
    thresholds = thresholds or Thresholds()
    result = CheckResult(frozenset(fail_on), since=since)
    if fix and rev is not None:
        raise MagicMarkupError("--fix confirms tags in the working tree; it cannot be used with --rev")
    root = store.root
    commit = resolve_commit(root, rev) if rev is not None else None
    result.rev = commit
    base: str | None = None
    if since is not None:
        base = rev_parse(root, since)
        if base is None and not (since.strip().upper() in ("HEAD", "@") and rev_parse(root, "HEAD") is None):
            base = resolve_commit(root, since)  # raises, naming the way to fetch it
        result.since_commit = base

    # with a baseline, only the documents whose text or pins differ from it can have changed state
    changed = changed_documents(store, base, commit) if base is not None else None
    result.changed_only = changed is not None
    now_store, now = _place_now(store, paths, commit, resolver, thresholds, changed)
    if fix:
        confident = [t for t in now.tags if t.status is Status.CHANGED and t.confidence >= thresholds.review]
        if confident:
            from magicmarkup.tags import accept_placements

            accepted = {t.id for t in accept_placements(store, confident, now.texts, FIX_REASON)}
            regions = _Regions(now_store, now.texts)
            result.fixed = [
                Finding(t, False, Status.CHANGED, False, regions.of(t)[0], False, regions.text(t))
                for t in confident
                if t.id in accepted
            ]
            now_store, now = _place_now(store, paths, commit, resolver, thresholds, changed)

    before: dict[str, Status] = {}
    if base is not None:
        ref = CommittedTree(store, base)
        docs = {d for d in ref.documents() if changed is None or d in changed}
        docs |= {ref.index[t.id] for t in now.tags if t.id in ref.index}
        if docs:
            at_base = place_committed(store, base, docs, resolver=resolver, thresholds=thresholds, tree=ref)
            before = {t.id: t.status for t in at_base.tags}
            result.errors += [f"baseline {since}: {p}" for p in at_base.problems]

    result.errors += now.problems
    result.warnings += [e for e in now.report.errors if e not in now.problems]
    result.tags, result.documents = len(now.tags), now.report.documents
    counts: dict[str, int] = {}
    regions = _Regions(now_store, now.texts)
    for tag in now.tags:
        counts[tag.status.value] = counts.get(tag.status.value, 0) + 1
        if tag.status not in result.fail_on:
            continue
        if since is None:
            was, new = None, False
        else:
            was = before.get(tag.id)
            new = was is None
        failing = was is None or was not in result.fail_on
        region, last_known = regions.of(tag)
        result.findings.append(Finding(tag, failing, was, new, region, last_known, regions.text(tag)))
    result.counts = counts
    result.seconds = time.perf_counter() - began
    return result


def _place_now(
    store: Store,
    paths: Sequence[str] | None,
    commit: str | None,
    resolver: Resolver | None,
    thresholds: Thresholds,
    only: set[str] | None,
) -> tuple[Store, Current]:
    """The tags where they are now (of the documents in `only`, pinned paths, when given): the
    working tree's local view, or commit `commit`'s tree."""
    if commit is None:
        selected = [d for d in select(store.paths(), paths) if only is None or d in only]
        return store, current(store, selected, resolver=resolver, thresholds=thresholds)
    tree = CommittedTree(store, commit)
    placed = place_committed(
        store,
        commit,
        [d for d in select(tree.documents(), paths) if only is None or d in only],
        resolver=resolver,
        thresholds=thresholds,
        tree=tree,
    )
    return CommittedStore(store.root, commit, tree.snapshots), placed


def select(documents: Sequence[str], paths: Sequence[str] | None) -> list[str]:
    """The documents that are one of `paths` or inside one of them (all when None)."""
    if paths is None:
        return list(documents)
    wanted = [p.rstrip("/") for p in paths]
    if any(p in ("", ".") for p in wanted):
        return list(documents)
    return [d for d in documents if any(d == p or d.startswith(p + "/") for p in wanted)]


def changed_documents(store: Store, base: str, commit: str | None) -> set[str] | None:
    """Paths of the documents whose text or pins may differ between `base` and `commit` (the
    working tree when None: tracked changes, staged or not, and untracked files); None when the
    store's settings changed (thresholds decide statuses: every document may differ)."""
    root = store.root
    if commit is None:
        raw = git(root, "diff", "--name-only", "-z", "--no-renames", base, "--")
        raw += b"\0" + git(root, "ls-files", "-z", "--others", "--exclude-standard")
    else:
        raw = git(root, "diff-tree", "-r", "-z", "--name-only", "--no-renames", base, commit)
    out: set[str] = set()
    pins, legacy = f"{STORE_DIR}/{PINS_DIR}/", f"{STORE_DIR}/{LEGACY_DIR}/"
    for path in raw.decode("utf-8", "surrogateescape").split("\0"):
        if not path:
            continue
        if path.startswith(pins):
            out.add(path[len(pins) :].rsplit("/", 1)[0])
        elif path.startswith(legacy) and path.endswith(".json"):
            out.add(path[len(legacy) : -len(".json")])
        elif path == f"{STORE_DIR}/config.toml":
            return None
        elif not path.startswith(STORE_DIR + "/"):
            out.add(path)
    return out


class _Regions:
    """Where findings are, as people read it: in the text now, or for an orphan in the snapshot
    it was last anchored in."""

    def __init__(self, store: Store, texts: dict[str, str]) -> None:
        self.store, self.texts = store, texts
        self._docs: dict[str, Positions] = {}
        self._snapshots: dict[str, Positions | None] = {}

    def _doc(self, path: str) -> Positions | None:
        if path not in self._docs and path in self.texts:
            self._docs[path] = Positions(self.texts[path])
        return self._docs.get(path)

    def text(self, tag: Tag) -> str | None:
        doc = self._doc(tag.path)
        if tag.status is Status.ORPHANED or doc is None or tag.span.end > len(doc.text):
            return None
        return doc.text[tag.span.start : tag.span.end]

    def of(self, tag: Tag) -> tuple[Region | None, bool]:
        if tag.status is not Status.ORPHANED:
            doc = self._doc(tag.path)
            if doc is not None and tag.span.end <= len(doc.text):
                return doc.region(tag.span.start, tag.span.end), False
        sha = tag.anchor.snapshot
        if sha is None:
            return None, True
        if sha not in self._snapshots:
            try:
                self._snapshots[sha] = Positions(self.store.get_snapshot(sha))
            except MagicMarkupError:
                self._snapshots[sha] = None
        snap = self._snapshots[sha]
        start = tag.anchor.start if tag.anchor.start is not None else tag.span.start
        end = start + len(tag.anchor.text)
        if snap is None or snap.text[start:end] != tag.anchor.text:
            return None, True
        return snap.region(start, end), True
