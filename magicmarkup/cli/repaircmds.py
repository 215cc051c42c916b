"""`magicmarkup accept`, `reattach` and `reject`: repairing a tag from the command line, through
the same library calls as the TUI's repair screen and the language server's code actions."""

from __future__ import annotations

import click

from magicmarkup import tags as tagapi
from magicmarkup.cli import app
from magicmarkup.cli.app import State, pass_state, print_json
from magicmarkup.cli.tagcmds import Documents, json_option, parse_pair, safe, tag_json
from magicmarkup.errors import SpanError
from magicmarkup.model import Status, Tag
from magicmarkup.positions import one_line
from magicmarkup.store import Store


def _done(store: Store, verb: str, tag: Tag, as_json: bool) -> None:
    """Print the repaired tag where it is now (the view of the file on disk)."""
    now = tagapi.find_tag(store, tag.id)
    docs = Documents(store)
    if as_json:
        print_json(tag_json(now, docs))
        return
    text = docs.current_text(now)
    app.console.print(
        f"{verb} {now.id} at {safe(docs.said_where(now))}: {safe(one_line(text or now.anchor.text, 50))}",
        highlight=False,
        soft_wrap=True,
    )


@click.command("accept")
@click.argument("tag_id")
@click.option(
    "--candidate", "candidate", type=int, metavar="N", help="Accept candidate N (as `show` numbers them)."
)
@json_option
@pass_state
def accept_cmd(state: State, tag_id: str, candidate: int | None, as_json: bool) -> None:
    """Confirm a tag where it is now, or on one of its candidates (--candidate N).

    The tag becomes `anchored` on that code (a person confirmed it). `show ID` lists
    where it is and its numbered candidates."""
    store = state.store()
    found = tagapi.find_tag(store, tag_id)
    if candidate is None:
        if found.status is Status.ORPHANED:
            raise SpanError(
                f"tag {found.id} is orphaned: there is no placement to accept; "
                f"attach it with `magicmarkup reattach {found.id} --lines A:B` (or --match TEXT)"
            )
        tag = tagapi.accept_placement(store, found.id)
    else:
        if not found.candidates:
            raise SpanError(f"tag {found.id} has no candidates (see `magicmarkup show {found.id}`)")
        if not 1 <= candidate <= len(found.candidates):
            raise SpanError(
                f"--candidate {candidate}: tag {found.id} has candidates 1..{len(found.candidates)}"
            )
        choice = found.candidates[candidate - 1]
        tag = tagapi.reattach_tag(store, found.id, choice.start, choice.end, method="candidate")
    _done(store, "accepted", tag, as_json)


@click.command("reattach")
@click.argument("tag_id")
@click.option("--lines", "lines", metavar="A[:B]", help="1-based lines, inclusive.")
@click.option("--match", "match", metavar="TEXT", help="This exact text (must be unique, or use --nth).")
@click.option("--nth", type=int, help="With --match: the N-th occurrence (1-based).")
@click.option("--span", "span", metavar="START:END", help="Code-point offsets, end exclusive.")
@json_option
@pass_state
def reattach_cmd(
    state: State,
    tag_id: str,
    lines: str | None,
    match: str | None,
    nth: int | None,
    span: str | None,
    as_json: bool,
) -> None:
    """Attach a tag to other code of its file: --lines A:B, --match TEXT or --span.

    The file is the one the tag is in now (after renames); the tag becomes `anchored`
    there, and its history records the repair."""
    store = state.store()
    if nth is not None and match is None:
        raise SpanError("--nth goes with --match")
    found = tagapi.find_tag(store, tag_id)
    text = store.read_document(found.path)
    where = tagapi.resolve_span(
        text,
        found.path,
        span=parse_pair(span, "--span") if span else None,
        lines=parse_pair(lines, "--lines") if lines else None,
        match=match,
        nth=nth,
    )
    tag = tagapi.reattach_tag(store, found.id, where.start, where.end)
    _done(store, "reattached", tag, as_json)


@click.command("reject")
@click.argument("tag_id")
@json_option
@pass_state
def reject_cmd(state: State, tag_id: str, as_json: bool) -> None:
    """Say a tag's guessed place is wrong: it becomes orphaned (kept, re-attachable).

    Its last confident anchor and its candidates are kept: `reattach` or
    `accept --candidate N` can still place it."""
    from magicmarkup.browse import reject_placement

    store = state.store()
    found = tagapi.find_tag(store, tag_id)
    if found.status in (Status.ANCHORED, Status.ORPHANED):
        what = "exactly its tagged text" if found.status is Status.ANCHORED else "not placed"
        raise SpanError(
            f"tag {found.id} is {found.status.value} ({what}): there is no guess to reject "
            f"(`magicmarkup reattach {found.id}` moves it, `magicmarkup rm {found.id}` deletes it)"
        )
    tag = reject_placement(store, found.id)
    _done(store, "rejected", tag, as_json)
