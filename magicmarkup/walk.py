"""Placement follows history: a pin committed long ago is carried to HEAD version by version.

A pin is anchored in one snapshot of its document. When the document changed in many commits
since, one jump (snapshot -> the text now) sees every edit at once: it loses tags whose code
was edited many times, confuses twins, and knows nothing of files that were renamed on another
branch or of code that moved to another file. The document's own history sees the edits one
at a time. So a committed pin whose snapshot is not the text at HEAD is walked: through every
version of its document between the commit that last wrote the pin and HEAD (all parents, so
merged-in histories too), each step placed by the cheap cascade; where the file disappears,
git's rename detection for that commit says where it went; where the tag's code leaves its
file, the other files that commit added or changed are searched for it.

Placements are keyed by blob (a version reached through both parents of a merge is placed
once), so the walk costs one cascade step per distinct version of the document, and only
commits that touch the tracked paths are visited (path-limited `git log`). A chain of confident
small steps is confident; one unsure step makes the result `needs_review`. Where there is no
history (no git, a shallow clone that lacks the pin's commit, an uncommitted pin) the caller
jumps as before.
"""

from __future__ import annotations

import heapq
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from magicmarkup.anchoring import Job, OldSpan, Placement, Thresholds, reanchor_many, syntax
from magicmarkup.documents import decode, language_for, text_hash
from magicmarkup.errors import DocumentError
from magicmarkup.git import git_env  # the one environment scrub for every git call
from magicmarkup.model import Status

STORE_PREFIX = ".magicmarkup/"
ZERO = "0" * 40
MAX_MOVE_FILES = 200  # files of one commit searched for code that left its document
MAX_BLOB_BYTES = 8 * 1024 * 1024


# -- git, read-only, one process per question (and one long-lived cat-file) -----------------


def _git(root: Path, *args: str) -> bytes | None:
    """stdout of a read-only git command, or None when it fails (no history is not an error)."""
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False, env=git_env())
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


class Blobs:
    """A long-lived `git cat-file --batch`: blob ids and decoded texts by `rev:path` or id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._proc: subprocess.Popen[bytes] | None = None
        self._texts: dict[str, str | None] = {}

    def _ask(self, spec: str) -> tuple[str, bytes] | None:
        if "\n" in spec:
            return None
        if self._proc is None:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=git_env(),
            )
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) != 3 or not header[2].isdigit():
            return None
        size = int(header[2])
        if header[1] != b"blob" or size > MAX_BLOB_BYTES:
            # a cloned history may hold a huge object: skip it in chunks, never hold it
            left = size + 1
            while left > 0:
                left -= len(proc.stdout.read(min(left, 1 << 20))) or left
            return None
        body = proc.stdout.read(size + 1)[:size]
        return header[0].decode(), body

    def at(self, commit: str, path: str) -> str | None:
        """The blob id of `path` at `commit`, or None (absent, not a blob)."""
        got = self._ask(f"{commit}:{path}")
        if got is None:
            return None
        blob, body = got
        if blob not in self._texts:
            self._texts[blob] = _decode(body, f"{commit[:10]}:{path}")
        return blob

    def text(self, blob: str) -> str | None:
        if blob not in self._texts:
            got = self._ask(blob)
            self._texts[blob] = _decode(got[1], blob[:10]) if got is not None else None
        return self._texts[blob]

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait()
            self._proc = None


def _decode(data: bytes, name: str) -> str | None:
    try:
        return decode(data, name)
    except DocumentError:
        return None


@dataclass(frozen=True, slots=True)
class RawChange:
    """One `git log --raw` entry of one commit (against one of its parents)."""

    commit: str
    status: str  # A M D T R C
    old_path: str
    new_path: str
    old_blob: str
    new_blob: str


def parse_raw_log(data: bytes) -> list[RawChange]:
    """Parse `git log --raw -z --no-abbrev --format=%x00%x01%H` (NUL-separated: a path or a
    subject holding any character, U+2028 included, cannot break it)."""
    out: list[RawChange] = []
    tokens = data.split(b"\0")
    commit = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith(b"\x01"):
            commit = token[1:].decode()
            continue
        meta = token.lstrip(b"\n")
        if not meta.startswith(b":"):
            continue
        fields = meta[1:].split(b" ")
        if len(fields) < 5 or i >= len(tokens):
            continue
        status = fields[4][:1].decode()
        old_path = tokens[i].decode("utf-8", "surrogateescape")
        i += 1
        new_path = old_path
        if status in "RC" and i < len(tokens):
            new_path = tokens[i].decode("utf-8", "surrogateescape")
            i += 1
        out.append(RawChange(commit, status, old_path, new_path, fields[2].decode(), fields[3].decode()))
    return out


class History:
    """What the walk asks of one repository's history, each answer fetched once per command."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = Blobs(root)
        self._orders: dict[tuple[str, str], dict[str, int]] = {}
        self._parents: dict[str, list[str]] = {}
        self._head: str | bool | None = False

    def head(self) -> str | None:
        if self._head is False:
            out = _git(self.root, "rev-parse", "-q", "--verify", "HEAD^{commit}")
            self._head = out.decode().strip() or None if out is not None else None
        return self._head  # type: ignore[return-value]

    def order(self, base: str, head: str) -> dict[str, int]:
        """Topological position of every commit in base..head (parents first), and their
        parents."""
        key = (base, head)
        if key not in self._orders:
            out = _git(self.root, "rev-list", "--topo-order", "--reverse", "--parents", f"{base}..{head}")
            order: dict[str, int] = {}
            for n, line in enumerate((out or b"").decode().split("\n")):
                shas = line.split()
                if shas:
                    order[shas[0]] = n
                    self._parents[shas[0]] = shas[1:]
            self._orders[key] = order
        return self._orders[key]

    def is_ancestor(self, commit: str, head: str) -> bool:
        try:
            proc = subprocess.run(
                ["git", "merge-base", "--is-ancestor", commit, head],
                cwd=self.root,
                capture_output=True,
                check=False,
                env=git_env(),
            )
        except OSError:
            return False
        return proc.returncode == 0

    def parents(self, commit: str) -> list[str]:
        if commit not in self._parents:
            out = _git(self.root, "rev-list", "--parents", "-n", "1", commit)
            self._parents[commit] = (out or b"").decode().split()[1:]
        return self._parents[commit]

    def changes(self, base: str, head: str, paths: Sequence[str]) -> list[RawChange]:
        """Every change to `paths` in base..head, against each parent of a merge."""
        if not paths:
            return []
        out = _git(
            self.root,
            "log",
            "-m",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            "--format=%x00%x01%H",
            f"{base}..{head}",
            "--",
            *paths,
        )
        return parse_raw_log(out or b"")

    def diff(self, parent: str, commit: str) -> list[RawChange]:
        """Everything `commit` changed against `parent`, with git's rename detection."""
        out = _git(self.root, "diff-tree", "-r", "-z", "--raw", "--no-abbrev", "-M", parent, commit)
        return parse_raw_log(b"\x01" + commit.encode() + b"\0" + (out or b""))

    def close(self) -> None:
        self.blobs.close()


# -- one tag's state along the walk ----------------------------------------------------------


@dataclass(slots=True)
class Track:
    """Where a tag is in one version of a file, and how sure the chain that led there is."""

    start: int | None
    end: int | None
    confidence: float = 1.0
    unsure: bool = False  # some step was a guess: the end is needs_review
    steps: int = 0  # versions walked through
    moved_file: str | None = None  # set when the code was found in another file
    method: str = "history"

    @property
    def placed(self) -> bool:
        return self.start is not None and self.end is not None


@dataclass
class Start:
    """Where a walk begins: the tags' places in one version of one file at one commit."""

    commit: str
    path: str
    blob: str
    tracks: dict[str, Track]


@dataclass
class Outcome:
    """Where a tag is at the walk's end (a commit), or orphaned."""

    path: str
    blob: str | None
    track: Track
    steps: int = 0


def step(
    old: str, new: str, tracks: dict[str, Track], language: str | None, thresholds: Thresholds
) -> dict[str, Track]:
    """The tags of one version placed in the next by the cheap cascade, confidence chained."""
    ids = [k for k, t in tracks.items() if t.placed]
    if old == new:
        return {k: _copy(t, steps=t.steps) for k, t in tracks.items()}
    spans = [OldSpan(tracks[k].start, tracks[k].end) for k in ids]  # type: ignore[arg-type]
    placements = reanchor_many([Job(old, new, spans, language)], None, thresholds)[0] if ids else []
    out = {k: _copy(t) for k, t in tracks.items() if not t.placed}
    for k, p in zip(ids, placements, strict=True):
        out[k] = chain(tracks[k], p)
    return out


def chain(before: Track, p: Placement) -> Track:
    """A track after one more step: confident steps keep it confident; a guess marks it."""
    if not p.placed or p.start is None or p.end is None:
        return Track(None, None, 0.0, before.unsure, before.steps + 1, before.moved_file, p.method)
    unsure = before.unsure or p.status is Status.NEEDS_REVIEW
    exact = p.status in (Status.ANCHORED, Status.MOVED)
    confidence = before.confidence if exact else min(before.confidence, p.confidence)
    method = before.method if exact else p.method
    return Track(p.start, p.end, confidence, unsure, before.steps + 1, before.moved_file, method)


def _copy(t: Track, steps: int | None = None) -> Track:
    return Track(
        t.start,
        t.end,
        t.confidence,
        t.unsure,
        t.steps if steps is not None else t.steps + 1,
        t.moved_file,
        t.method,
    )


def sure_jump(p: Placement, new_text: str, tagged: str) -> bool:
    """A jump needs no history when it finds exactly the tagged text, and that text occurs
    once in the new version (no twin it could have confused): the walk could only agree."""
    if p.status not in (Status.ANCHORED, Status.MOVED) or p.confidence < 0.999 or p.start is None:
        return False
    return new_text[p.start : p.end] == tagged and new_text.count(tagged) == 1


def rescued_by_jump(status: Status, confidence: float, review: float) -> bool:
    """The walk lost a tag that one jump from the pin still places confidently: then the
    jump's place is shown as a guess (needs_review), never as a confident answer."""
    return status in (Status.ANCHORED, Status.MOVED, Status.CHANGED) and confidence >= review


# -- the walk --------------------------------------------------------------------------------


def walk(history: History, start: Start, head: str, thresholds: Thresholds) -> dict[str, Outcome] | None:
    """Carry `start`'s tags through every version of their file in start.commit..head; None
    when the history cannot be read (the caller then jumps)."""
    hist = history
    if start.commit == head:
        return {k: Outcome(start.path, start.blob, t, 0) for k, t in start.tracks.items()}
    order = hist.order(start.commit, head)
    if not order:
        return None
    placed: dict[str, dict[str, Track]] = {start.blob: dict(start.tracks)}
    paths_of: dict[str, list[str]] = {k: [start.path] for k in start.tracks}
    tracked: list[str] = [start.path]
    queue: list[tuple[int, int, RawChange]] = []
    seq = 0

    def enqueue(paths: Sequence[str], after: int) -> None:
        nonlocal seq
        for ch in hist.changes(start.commit, head, paths):
            pos = order.get(ch.commit)
            if pos is None or pos <= after:
                continue
            seq += 1
            heapq.heappush(queue, (pos, seq, ch))

    enqueue(tracked, -1)
    steps = 0
    while queue:
        pos, _, ch = heapq.heappop(queue)
        source = placed.get(ch.old_blob)
        if not source:
            continue
        if ch.status in "MT" and ch.new_blob != ZERO:
            old_text, new_text = hist.blobs.text(ch.old_blob), hist.blobs.text(ch.new_blob)
            if old_text is None or new_text is None:
                continue
            have = placed.setdefault(ch.new_blob, {})
            todo = {k: t for k, t in source.items() if k not in have}
            if not todo:
                continue
            steps += 1
            moved = step(old_text, new_text, todo, language_for(ch.new_path), thresholds)
            lost = {k: todo[k] for k, t in moved.items() if not t.placed and todo[k].placed}
            for k, t in moved.items():
                if k not in lost:
                    have[k] = t
            if lost:
                found = _moved_out(hist, ch.commit, ch.new_path, old_text, lost, tracked)
                for k in lost:
                    hit = found.get(k)
                    if hit is None:
                        have[k] = moved[k]
                        continue
                    path, blob, track = hit
                    placed.setdefault(blob, {})[k] = track
                    _follow(paths_of, tracked, k, path, enqueue, pos)
        elif ch.status == "D":
            old_text = hist.blobs.text(ch.old_blob)
            if old_text is None:
                continue
            renamed = _renamed(hist, ch)
            if renamed is not None:
                new_path, new_blob = renamed
                new_text = hist.blobs.text(new_blob)
                if new_text is None:
                    continue
                have = placed.setdefault(new_blob, {})
                todo = {k: t for k, t in source.items() if k not in have}
                if todo:
                    steps += 1
                    have.update(step(old_text, new_text, todo, language_for(new_path), thresholds))
                for k in source:
                    _follow(paths_of, tracked, k, new_path, enqueue, pos)
                continue
            lost = {k: t for k, t in source.items() if t.placed}
            found = _moved_out(hist, ch.commit, ch.old_path, old_text, lost, tracked)
            for k, hit in found.items():
                path, blob, track = hit
                placed.setdefault(blob, {})[k] = track
                _follow(paths_of, tracked, k, path, enqueue, pos)
    outcomes: dict[str, Outcome] = {}
    head_blobs: dict[str, str | None] = {p: hist.blobs.at(head, p) for p in tracked}
    for k, first in start.tracks.items():
        best: Outcome | None = None
        for where in reversed(paths_of[k]):  # the latest file its code went to, first
            at_head = head_blobs.get(where)
            if at_head is None:
                continue
            got = placed.get(at_head, {}).get(k)
            if got is None:
                continue
            if got.placed:
                best = Outcome(where, at_head, got, steps)
                break
            if best is None:
                best = Outcome(where, at_head, got, steps)
        if best is None:  # its file is gone from HEAD and its code was not found elsewhere
            best = Outcome(
                paths_of[k][-1],
                None,
                Track(None, None, 0.0, first.unsure, first.steps, None, "deleted"),
                steps,
            )
        outcomes[k] = best
    return outcomes


def _follow(
    paths_of: dict[str, list[str]],
    tracked: list[str],
    key: str,
    path: str,
    enqueue: Callable[[Sequence[str], int], None],
    pos: int,
) -> None:
    if path not in paths_of[key]:
        paths_of[key].append(path)
    if path not in tracked:
        tracked.append(path)
        enqueue([path], pos)


def _renamed(hist: History, ch: RawChange) -> tuple[str, str] | None:
    """Where git's rename detection says a deleted file went in that commit (against the
    parent that had it)."""
    for parent in hist.parents(ch.commit):
        for other in hist.diff(parent, ch.commit):
            if other.status == "R" and other.old_path == ch.old_path and other.old_blob == ch.old_blob:
                return other.new_path, other.new_blob
    return None


def _moved_out(
    hist: History,
    commit: str,
    path: str,
    old_text: str,
    lost: dict[str, Track],
    tracked: Sequence[str],
) -> dict[str, tuple[str, str, Track]]:
    """The tags whose code left `path` in `commit`, found in what that commit added or changed
    elsewhere: the same text newly there once (moved), else the one node of the same kind
    whose text is close (changed; a close second makes it a guess)."""
    if not lost:
        return {}
    files: dict[str, tuple[str, str | None]] = {}  # path -> (new blob, old blob)
    for parent in hist.parents(commit):
        for ch in hist.diff(parent, commit):
            if ch.new_blob == ZERO or ch.new_path.startswith(STORE_PREFIX) or ch.new_path == path:
                continue
            if ch.status in "ARCMT" and ch.new_path not in files:
                files[ch.new_path] = (ch.new_blob, ch.old_blob if ch.status in "MT" else None)
    if not files:
        return {}
    language = language_for(path)
    ordered = sorted(files, key=lambda p: (language_for(p) != language, p))[:MAX_MOVE_FILES]
    texts: dict[str, tuple[str, str | None]] = {}
    for p in ordered:
        new_blob, old_blob = files[p]
        new = hist.blobs.text(new_blob)
        if new is None:
            continue
        old = hist.blobs.text(old_blob) if old_blob is not None else None
        texts[p] = (new, old)
    found: dict[str, tuple[str, str, Track]] = {}
    old_tree = syntax.parse(old_text, language)
    for k, t in lost.items():
        assert t.start is not None and t.end is not None
        s, e = syntax.trim(old_text, t.start, t.end)
        piece = old_text[s:e]
        if len(piece.strip()) < 8:
            continue  # too little to recognise anywhere
        exact: list[tuple[str, int]] = []
        for p, (new, old) in texts.items():
            n = new.count(piece)
            if n == 1 and (old is None or piece not in old):
                exact.append((p, new.index(piece)))
        if len(exact) == 1:
            p, at = exact[0]
            new = texts[p][0]
            lead, tail = old_text[t.start : s], old_text[e : t.end]
            begin = at - len(lead) if new[max(0, at - len(lead)) : at] == lead else at
            finish = at + len(piece)
            finish += len(tail) if new[finish : finish + len(tail)] == tail else 0
            track = Track(begin, finish, t.confidence, t.unsure, t.steps + 1, p, "moved to another file")
            found[k] = (p, files[p][0], track)
            continue
        node = old_tree.exact_node(s, e) if old_tree is not None else None
        if node is None:
            continue
        match = _similar_node(texts, piece, node.type, syntax.definition_name(node))
        if match is None:
            continue
        p, (ns, ne), score, runner_up = match
        confident = score >= 0.8 and score - runner_up >= 0.1
        track = Track(
            ns,
            ne,
            min(t.confidence, score),
            t.unsure or not confident,
            t.steps + 1,
            p,
            "moved to another file, edited",
        )
        found[k] = (p, files[p][0], track)
    return found


def _similar_node(
    texts: dict[str, tuple[str, str | None]], piece: str, node_type: str, name: str | None
) -> tuple[str, tuple[int, int], float, float] | None:
    """The node of type `node_type` (and the same definition name, for a definition) most like
    `piece` among the changed files, with its score and the runner-up's."""
    scored: list[tuple[float, str, int, int]] = []
    squashed = " ".join(piece.split())
    for p, (new, _old) in texts.items():
        tree = syntax.parse(new, language_for(p))
        if tree is None:
            continue
        for ns, ne in _nodes_of_type(tree, node_type, name):
            text = new[ns:ne]
            if name is None and not 0.5 <= len(text) / max(1, len(piece)) <= 2.0:
                continue
            scored.append((fuzz.ratio(squashed, " ".join(text.split())) / 100.0, p, ns, ne))
    if not scored:
        return None
    scored.sort(reverse=True)
    best = scored[0]
    if best[0] < 0.6 and not (name is not None and len(scored) == 1):
        return None  # (the one definition of that name the commit added stays a guess: below 0.8)
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    return best[1], (best[2], best[3]), best[0], runner_up


def _nodes_of_type(tree: syntax.SyntaxTree, node_type: str, name: str | None) -> Iterable[tuple[int, int]]:
    if name is not None:
        for span in tree.definition_spans(name):
            if span.type == node_type:
                yield span.start, span.end
        return
    cursor = tree.tree.walk()
    visited = 0
    while visited < 200_000:
        visited += 1
        node = cursor.node
        if node is not None and node.type == node_type:
            span = tree.node_span(node)
            yield span.start, span.end
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return


# -- starting points: which pins have history, and where it starts ---------------------------


def pin_commits(root: Path, pin_files: Sequence[str]) -> dict[str, str]:
    """repo-relative pin file -> the last commit that wrote it, for committed, unmodified pins
    (a pin with uncommitted changes is the user's work in progress: it has no history yet)."""
    if not pin_files:
        return {}
    dirty_out = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *_dirs(pin_files))
    dirty = set()
    for entry in (dirty_out or b"").split(b"\0"):
        if len(entry) > 3:
            dirty.add(entry[3:].decode("utf-8", "surrogateescape"))
    wanted = set(pin_files) - dirty
    if not wanted:
        return {}
    out = _git(
        root,
        "log",
        "--format=%x00%x01%H",
        "-z",
        "--name-only",
        "--no-renames",
        "HEAD",
        "--",
        *_dirs(pin_files),
    )
    found: dict[str, str] = {}
    commit = ""
    for token in (out or b"").split(b"\0"):
        token = token.lstrip(b"\n")
        if token.startswith(b"\x01"):
            commit = token[1:].decode()
            continue
        name = token.decode("utf-8", "surrogateescape")
        if name in wanted and name not in found:
            found[name] = commit
            if len(found) == len(wanted):
                break
    return found


def _dirs(files: Sequence[str]) -> list[str]:
    return sorted({f.rsplit("/", 1)[0] for f in files})


def blob_hash_text(text: str) -> str:
    return text_hash(text)
