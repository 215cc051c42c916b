"""The one re-anchoring pipeline: from each tag's pin to a document's text, and what it means.

Every entry point (the local view behind `list`/`show`/the TUI/`watch`/`retag --worktree`, the
pre-commit re-pin, `retag A..B`, the benchmarks) goes through `place()`: an exact placement when
the text is the one the pin was anchored in, else the cascade (old snapshot -> new text), and
then `decide()`, the one place a status is made. `repin()` is the one place a pin is rewritten
after the code changed.

A status describes the change since a person placed or last confirmed the tag (not since the
last step): `anchored` is exactly the tagged text at its pinned place, `moved` the same text
elsewhere, `changed` an edited text placed confidently, `needs_review` a guess (also every tag
whose pin is already a guess or an orphan: a tag that reappears is not trusted until confirmed),
`orphaned` gone.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from magicmarkup.anchoring import Job, OldSpan, Placement, Resolver, Thresholds, reanchor_many
from magicmarkup.anchoring.syntax import describe_span
from magicmarkup.documents import language_for, text_hash
from magicmarkup.errors import MagicMarkupError
from magicmarkup.model import Anchor, Candidate, RetagEvent, Span, Status, Tag
from magicmarkup.store import Store

Progress = Callable[[int, int], None]
CONTEXT_CHARS = 80
CANDIDATE_TEXT_CHARS = 2000
EXACT = "unchanged"  # the method of a placement in the pin's own text
REJECTED = "rejected"  # a person said the guess was wrong: orphaned until re-attached


@dataclass(slots=True)
class Placed:
    """Where a pinned tag is in one text, with the status a person should see."""

    start: int | None
    end: int | None
    status: Status
    confidence: float
    method: str
    candidates: list[Candidate] = field(default_factory=list)
    llm_calls: int = 0
    llm_tokens: int = 0
    llm_error: str | None = None
    path: str | None = None  # the file it is in, when its code left its document (history)

    @property
    def span(self) -> Span | None:
        return (
            Span(start=self.start, end=self.end) if self.start is not None and self.end is not None else None
        )


def make_anchor(text: str, start: int, end: int, language: str | None, snapshot: str | None) -> Anchor:
    """Everything we need to find [start, end) again after `text` changes."""
    node_type, path = describe_span(text, start, end, language)
    return Anchor(
        text=text[start:end],
        start=start,
        prefix=text[max(0, start - CONTEXT_CHARS) : start],
        suffix=text[end : end + CONTEXT_CHARS],
        node_type=node_type,
        syntax_path=path,
        snapshot=snapshot,
    )


def confirmed_text(pin: Tag) -> str:
    """The text a person tagged or last confirmed."""
    return pin.confirmed_text if pin.confirmed_text is not None else pin.anchor.text


def same_text(a: str, b: str) -> bool:
    """Equal but for line endings (a checkout with `core.autocrlf` does not change the code)."""
    return a == b or a.replace("\r\n", "\n") == b.replace("\r\n", "\n")


def pin_start(pin: Tag) -> int:
    """Where the pin's anchor text starts in its snapshot."""
    return pin.anchor.start if pin.anchor.start is not None else pin.span.start


def decide(pin: Tag, p: Placement, text: str, same_path: bool = True) -> Placed:
    """The status of a placement, judged against what a person tagged (the one place where a
    status is made)."""
    candidates = [
        Candidate(
            start=c.start,
            end=c.end,
            score=c.score,
            method=c.method,
            text=text[c.start : c.end][:CANDIDATE_TEXT_CHARS],
        )
        for c in p.candidates
    ]

    def made(status: Status, confidence: float, method: str, kept: list[Candidate]) -> Placed:
        return Placed(
            p.start, p.end, status, confidence, method, kept, p.llm_calls, p.llm_tokens, p.llm_error
        )

    rejected = pin.status is Status.ORPHANED and pin.method == REJECTED and p.method != EXACT
    if p.start is None or p.end is None or p.status is Status.ORPHANED or rejected:
        return made(Status.ORPHANED, p.confidence if not rejected else 0.0, p.method, candidates)
    # A guess or an orphan is not trusted until confirmed, except in the very text its last
    # confident anchor was taken in (a checkout back to that version: a known placement).
    unsure_pin = pin.status in (Status.NEEDS_REVIEW, Status.ORPHANED) and p.method != EXACT
    if p.status is Status.NEEDS_REVIEW or unsure_pin:
        confidence = min(p.confidence, pin.confidence) if pin.status is Status.NEEDS_REVIEW else p.confidence
        method = p.method if not unsure_pin or p.status is Status.NEEDS_REVIEW else f"{p.method}, unconfirmed"
        return made(Status.NEEDS_REVIEW, confidence, method, candidates)
    # (a `changed` pin without its tagged text was written before schema 3 kept it: still changed)
    legacy_changed = pin.status is Status.CHANGED and pin.confirmed_text is None
    if same_text(text[p.start : p.end], confirmed_text(pin)) and not legacy_changed:
        same_place = same_path and p.start == pin_start(pin) and pin.status is not Status.MOVED
        method = pin.method if p.method == EXACT else p.method  # untouched text: as it was placed
        return made(Status.ANCHORED if same_place else Status.MOVED, p.confidence, method, [])
    confidence = min(p.confidence, pin.confidence) if pin.status is Status.CHANGED else p.confidence
    return made(Status.CHANGED, confidence, p.method, [])


def _within(pin: Tag, text: str) -> bool:
    """Does the pin's anchor range lie inside `text`?"""
    return pin_start(pin) + len(pin.anchor.text) <= len(text)


def _fits(pin: Tag, text: str) -> bool:
    """Is the pin's anchor text where it says, in `text`?"""
    start = pin_start(pin)
    return text[start : start + len(pin.anchor.text)] == pin.anchor.text


def exact(pin: Tag) -> Placement:
    """The pin's own place, in the very text it was anchored in."""
    start = pin_start(pin)
    return Placement(start, start + len(pin.anchor.text), Status.ANCHORED, 1.0, EXACT)


# -- line endings: a pin taken on LF text still maps exactly onto the CRLF copy, and back ------


def eol_adapt(old: str, new: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """`old` with the line endings `new` uses (when they differ wholesale), and its spans mapped
    exactly, so a checkout with `core.autocrlf` is not a change of every line."""
    old_crlf, new_crlf = "\r\n" in old, "\r\n" in new
    if old_crlf == new_crlf:
        return old, spans
    if old_crlf and not new_crlf and "\r\n" not in new:
        # drop each \r of a \r\n: an offset moves back by the number of those before it
        cuts = [i for i in _find_all(old, "\r\n")]
        converted = old.replace("\r\n", "\n")
        return converted, [
            (s - bisect.bisect_left(cuts, s), e - bisect.bisect_left(cuts, e)) for s, e in spans
        ]
    if new_crlf and not old_crlf and "\n" in old:
        lfs = [i for i in _find_all(old, "\n")]
        converted = old.replace("\n", "\r\n")
        return converted, [(s + bisect.bisect_left(lfs, s), e + bisect.bisect_left(lfs, e)) for s, e in spans]
    return old, spans


def _find_all(text: str, needle: str) -> list[int]:
    out = []
    pos = text.find(needle)
    while pos != -1:
        out.append(pos)
        pos = text.find(needle, pos + 1)
    return out


# -- placing the pins of one document in one text ---------------------------------------------


@dataclass
class Request:
    """Pins of one document to place in `text` (the document is at `path` now; the pins may
    still name the path it had before a rename)."""

    path: str
    text: str
    pins: list[Tag]


def place(
    store: Store,
    requests: Sequence[Request],
    resolver: Resolver | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
    problems: list[str] | None = None,
    texts: dict[str, str] | None = None,
) -> list[dict[str, Placed]]:
    """Place every request's pins in its text: exact where the text is the pin's own snapshot,
    else one cascade job per (document, snapshot), all run together (the LLM stage, if any,
    asks about the unsure ones of every document concurrently). `texts`: snapshot texts known
    without the store (a document's text at HEAD, for pins carried there by its history)."""
    jobs: list[Job] = []
    owners: list[tuple[int, list[Tag]]] = []
    results: list[dict[str, Placed]] = [{} for _ in requests]
    snapshots: dict[str, str | None] = dict(texts or {})
    for index, req in enumerate(requests):
        sha = text_hash(req.text)
        groups: dict[str | None, list[Tag]] = {}
        for pin in req.pins:
            pin_path = pin.path
            if pin.anchor.snapshot == sha and _fits(pin, req.text):
                results[index][pin.id] = decide(pin, exact(pin), req.text, pin_path == req.path)
                continue
            groups.setdefault(pin.anchor.snapshot, []).append(pin)
        language = language_for(req.path)
        for snap, group in groups.items():
            old = _snapshot(store, snap, snapshots, problems)
            # A pin whose anchor lies past the end of its own snapshot (a hand edit, a hostile
            # clone) is placed by its own context, like a pin without a snapshot.
            members = [p for p in group if old is not None and _within(p, old)]
            kept = {id(p) for p in members}
            strays = [p for p in group if id(p) not in kept]
            if old is None or strays:  # without its snapshot, each pin's own context stands in for it
                for pin in group if old is None else strays:
                    stand_in = pin.anchor.prefix + pin.anchor.text + pin.anchor.suffix
                    start = len(pin.anchor.prefix)
                    adapted, spans = eol_adapt(stand_in, req.text, [(start, start + len(pin.anchor.text))])
                    jobs.append(Job(adapted, req.text, [OldSpan(*spans[0], pin.anchor.node_type)], language))
                    owners.append((index, [pin]))
            if old is None or not members:
                continue
            raw_spans = [(pin_start(p), pin_start(p) + len(p.anchor.text)) for p in members]
            adapted, spans = eol_adapt(old, req.text, raw_spans)
            olds = [OldSpan(s, e, p.anchor.node_type) for (s, e), p in zip(spans, members, strict=True)]
            jobs.append(Job(adapted, req.text, olds, language))
            owners.append((index, members))
    outcomes = _run(jobs, resolver, thresholds, progress)
    for (index, members), placements in zip(owners, outcomes, strict=True):
        req = requests[index]
        for pin, p in zip(members, placements, strict=True):
            results[index][pin.id] = decide(pin, p, req.text, pin.path == req.path)
    return results


def _snapshot(
    store: Store, sha: str | None, cache: dict[str, str | None], problems: list[str] | None
) -> str | None:
    """A snapshot's text, or None when it is missing or unreadable (re-anchor from context)."""
    if sha is None:
        return None
    if sha not in cache:
        try:
            cache[sha] = store.get_snapshot(sha)
        except MagicMarkupError as exc:
            if problems is not None and store.has_snapshot(sha):
                problems.append(f"{exc}; re-anchored from the tags' own context")
            cache[sha] = None
    return cache[sha]


def _run(
    jobs: list[Job], resolver: Resolver | None, thresholds: Thresholds | None, progress: Progress | None
) -> list[list[Placement]]:
    if not jobs:
        return []
    if progress is None or resolver is not None:
        out = reanchor_many(jobs, resolver, thresholds)
        if progress:
            progress(len(jobs), len(jobs))
        return out
    results: list[list[Placement]] = []
    for i, job in enumerate(jobs):
        results.extend(reanchor_many([job], None, thresholds))
        progress(i + 1, len(jobs))
    return results


# -- re-pinning: the one place a pin follows the code ------------------------------------------


def repin(pin: Tag, placed: Placed, text: str, path: str, snapshot: str, reason: str) -> bool:
    """Move `pin` onto `text` (whose snapshot is stored) as `placed` says; True if it changed.
    A confident placement re-anchors it there; a guess keeps the last confident anchor (the
    evidence for later) and records the guess and candidates; an orphan keeps everything."""
    before = (
        pin.path,
        pin.span,
        pin.anchor,
        pin.status,
        pin.confidence,
        pin.method,
        pin.candidates,
        pin.confirmed_text,
    )
    old_span, old_path = pin.span, pin.path
    new_span = placed.span
    if placed.status.placed and new_span is not None:
        tagged = confirmed_text(pin)
        pin.anchor = make_anchor(text, new_span.start, new_span.end, language_for(path), snapshot)
        pin.confirmed_text = None if pin.anchor.text == tagged else tagged
        pin.span = new_span
        pin.candidates = []
    elif placed.status is Status.NEEDS_REVIEW and new_span is not None:
        pin.span = new_span
        pin.candidates = placed.candidates
    else:
        pin.candidates = placed.candidates
    pin.path = path
    pin.status, pin.confidence, pin.method = placed.status, placed.confidence, placed.method
    after = (
        pin.path,
        pin.span,
        pin.anchor,
        pin.status,
        pin.confidence,
        pin.method,
        pin.candidates,
        pin.confirmed_text,
    )
    if after == before:
        return False
    pin.history.append(
        RetagEvent(
            from_snapshot=before[2].snapshot,
            to_snapshot=snapshot,
            old_span=old_span,
            new_span=new_span,
            status=placed.status,
            method=placed.method,
            confidence=placed.confidence,
            old_path=old_path if old_path != path else None,
            reason=reason,
        )
    )
    return True


def orphan_deleted(pin: Tag, reason: str) -> bool:
    """Mark a pin whose document is gone; True if it changed."""
    if pin.status is Status.ORPHANED and pin.method == "deleted":
        return False
    pin.history.append(
        RetagEvent(
            from_snapshot=pin.anchor.snapshot,
            old_span=pin.span,
            status=Status.ORPHANED,
            method="deleted",
            confidence=0.0,
            reason=f"{reason}: file deleted",
        )
    )
    pin.status, pin.confidence, pin.method = Status.ORPHANED, 0.0, "deleted"
    return True
