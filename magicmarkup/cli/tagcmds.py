"""Commands that create, read and change tags."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from pydantic import JsonValue
from rich.cells import cell_len
from rich.markup import escape

from magicmarkup import tags as tagapi
from magicmarkup import tours
from magicmarkup.cli import app
from magicmarkup.cli.app import STATUS_STYLE, State, pass_state, print_json
from magicmarkup.documents import language_for
from magicmarkup.errors import MagicMarkupError, SpanError
from magicmarkup.model import Status, Tag
from magicmarkup.positions import Positions, Region, one_line, printable, short_ids, span_fields, where
from magicmarkup.store import Store

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def parse_pair(value: str, what: str) -> tuple[int, int]:
    head, sep, tail = value.partition(":")
    try:
        a = int(head)
        b = int(tail) if sep else a
    except ValueError:
        raise SpanError(f"{what} {value!r}: expected N or A:B with whole numbers") from None
    return a, b


def parse_meta(items: tuple[str, ...]) -> dict[str, JsonValue]:
    """KEY=VALUE pairs. A VALUE that is JSON (a number, true, [..], {..}) is kept typed, unless
    typing would change it: `1.10` stays the string "1.10" (not 1.1), `NaN` and `1e999` stay
    strings (JSON has no such numbers). Everything else is the string as given."""
    from magicmarkup.errors import MagicMarkupError
    from magicmarkup.safeio import load_json

    out: dict[str, JsonValue] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpanError(f"--meta {item!r}: expected KEY=VALUE")
        try:
            parsed = load_json(value, label=f"--meta {key}")
        except MagicMarkupError:
            parsed = value
        number = isinstance(parsed, float | int) and not isinstance(parsed, bool)
        if number and (not math.isfinite(parsed) or json.dumps(parsed) != value.strip()):
            parsed = value
        out[key] = parsed
    return out


def safe(text: str) -> str:
    """User text (a note, code, a path) for a rich console: no control characters, no markup."""
    return escape(printable(text))


class Documents:
    """The documents tags point into, read once each, for positions and current text."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._docs: dict[str, Positions | None] = {}
        self._snapshots: dict[str, Positions | None] = {}

    def positions(self, path: str) -> Positions | None:
        if path not in self._docs:
            try:
                self._docs[path] = Positions(self.store.read_document(path))
            except MagicMarkupError:
                self._docs[path] = None
        return self._docs[path]

    def snapshot(self, sha: str | None) -> Positions | None:
        if sha is None:
            return None
        if sha not in self._snapshots:
            try:
                self._snapshots[sha] = Positions(self.store.get_snapshot(sha))
            except MagicMarkupError:
                self._snapshots[sha] = None
        return self._snapshots[sha]

    def region(self, tag: Tag) -> Region | None:
        """Where a placed or guessed tag is in its document now; None for an orphan."""
        if tag.status is Status.ORPHANED:
            return None
        doc = self.positions(tag.path)
        if doc is None or tag.span.end > len(doc.text):
            return None
        return doc.region(tag.span.start, tag.span.end)

    def last_known(self, tag: Tag) -> Region | None:
        """Where an orphan was last anchored, in the text it was anchored in."""
        snap = self.snapshot(tag.anchor.snapshot)
        if snap is None:
            return None
        start = tag.anchor.start if tag.anchor.start is not None else tag.span.start
        end = start + len(tag.anchor.text)
        if end > len(snap.text) or snap.text[start:end] != tag.anchor.text:
            return None
        return snap.region(start, end)

    def current_text(self, tag: Tag) -> str | None:
        """The text a placed or guessed tag covers now (None for an orphan or a missing file)."""
        if tag.status is Status.ORPHANED:
            return None
        doc = self.positions(tag.path)
        if doc is None or tag.span.end > len(doc.text):
            return None
        return doc.text[tag.span.start : tag.span.end]

    def where(self, tag: Tag) -> str:
        return where(tag.path, self.region(tag))

    def said_where(self, tag: Tag) -> str:
        """For messages: `path:line:col-line:col`, or `path (orphaned)`."""
        region = self.region(tag)
        return where(tag.path, region) if region is not None else f"{tag.path} ({tag.status.value})"


def output_width() -> int | None:
    """Columns to lay a table out in: the terminal's; COLUMNS when set; else none (a pipe gets
    whole lines, so nothing is cut for grep or a file)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


@click.command("init")
@json_option
@pass_state
def init_cmd(state: State, as_json: bool) -> None:
    """Create .magicmarkup/ at the repository root (the git root, else this directory)."""
    from magicmarkup.git import store_elsewhere
    from magicmarkup.store import STORE_DIR, find_repo_root

    where = find_repo_root((state.repo or Path.cwd()).resolve()) / STORE_DIR
    existed = (where / "pins").is_dir() or (where / "tags").is_dir()
    store = Store.init(state.repo)
    elsewhere = [] if existed else store_elsewhere(store.root)
    if as_json:
        print_json(
            {
                "root": str(store.root),
                "store": str(store.dir),
                "existed": existed,
                "team_store": elsewhere[:1] or None,
            }
        )
        return
    verb = "Tag store already in" if existed else "Initialized tag store in"
    app.console.print(f"{verb} [bold]{escape(str(store.dir))}[/]")
    if elsewhere:
        app.console.print(
            f"note: {escape(elsewhere[0])} already has the team's store: `git pull` (or check it out) "
            "brings it; nothing written here stands in its way"
        )
    if store.pending_dir is not None and not existed:
        app.console.print(
            "[dim]new tags are shared with the commit of their file when the hooks are installed "
            "(`magicmarkup hooks install`); without them, `magicmarkup publish` stages them[/]"
        )


@click.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--span", "span", metavar="START:END", help="Code-point offsets, end exclusive.")
@click.option("--lines", "lines", metavar="A[:B]", help="1-based lines, inclusive.")
@click.option("--match", "match", metavar="TEXT", help="Tag this exact text (must be unique).")
@click.option("--nth", type=int, help="With --match: tag the N-th occurrence (1-based).")
@click.option("--note", help="The note, in Markdown.")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@click.option("--language", help="Override the language detected from the extension.")
@click.option(
    "--allow-ignored",
    is_flag=True,
    help="Tag a file git ignores (its text is copied into the committed store: never for secrets).",
)
@click.option("--tour", "tour", metavar="NAME", help="Make the new tag a step of tour NAME (made if new).")
@click.option("--step", "step", type=int, metavar="N", help="With --tour: put it at step N (default: last).")
@json_option
@pass_state
def add_cmd(
    state: State,
    path: Path,
    span: str | None,
    lines: str | None,
    match: str | None,
    nth: int | None,
    note: str | None,
    meta: tuple[str, ...],
    language: str | None,
    allow_ignored: bool,
    tour: str | None,
    step: int | None,
    as_json: bool,
) -> None:
    """Tag a span of PATH, chosen by --span, --lines or --match; prints the new tag's id.

    \b
    Examples:
      magicmarkup add src/app.py --match "retry(3)" --note "why 3?"
      magicmarkup add src/app.py --lines 10:14 --meta author=ana --meta color=red
      magicmarkup add src/app.py --span 120:168 --json
      magicmarkup add src/app.py --match "def pay(" --note "start here" --tour payments --step 1
    """
    store = state.store()
    rel = store.relpath(path, state.repo)
    if nth is not None and match is None:
        raise SpanError("--nth goes with --match")
    if step is not None and tour is None:
        raise click.UsageError("--step goes with --tour")
    if tour is not None:
        tours.check_step(store, tour, step)  # before the tag is made: a bad --step adds nothing
    tag = tagapi.add_tag(
        store,
        rel,
        span=parse_pair(span, "--span") if span else None,
        lines=parse_pair(lines, "--lines") if lines else None,
        match=match,
        nth=nth,
        note=note,
        metadata=parse_meta(meta),
        language=language,
        allow_ignored=allow_ignored,
    )
    number = None
    if tour is not None:
        number = tours.add_step(store, tour, tours.TourStep(tag=tag.id), step)
    if as_json:
        data = tag_json(tag, Documents(store))
        if number is not None:
            data["tour"] = {"name": tour, "step": number}
        print_json(data)
    else:
        click.echo(tag.id)  # stdout: the id alone, for `id=$(magicmarkup add ...)`
        docs = Documents(store)
        app.err_console.print(
            f"tagged {safe(docs.said_where(tag))}: {safe(one_line(tag.anchor.text, 60))}",
            highlight=False,
            soft_wrap=True,
        )
        if number is not None:
            app.err_console.print(f"step {number} of tour {safe(tour or '')}", highlight=False)


def tag_json(tag: Tag, docs: Documents, history: bool = True) -> dict[str, Any]:
    """A tag as JSON, with line/column beside every span's offsets and its current text."""
    data = tag.model_dump(mode="json", exclude=None if history else {"history"})
    region = docs.region(tag)
    data["span"].update(span_fields(region))
    data["current_text"] = docs.current_text(tag)
    if tag.status is Status.ORPHANED:
        data["last_known"] = span_fields(docs.last_known(tag))
    doc = docs.positions(tag.path)
    for cand in data.get("candidates", []):
        ok = doc is not None and cand["end"] <= len(doc.text)
        cand.update(span_fields(doc.region(cand["start"], cand["end"]) if ok and doc else None))
    for ev, raw in zip(tag.history, data.get("history", []), strict=False):
        raw["old_span"].update(span_fields(_event_region(docs, ev.from_snapshot, ev.old_span)))
        if raw.get("new_span") is not None and ev.new_span is not None:
            raw["new_span"].update(span_fields(_event_region(docs, ev.to_snapshot, ev.new_span)))
    return data


def _event_region(docs: Documents, sha: str | None, span: Any) -> Region | None:
    snap = docs.snapshot(sha)
    if snap is None or span.end > len(snap.text):
        return None
    return snap.region(span.start, span.end)


def _event_where(docs: Documents, path: str, sha: str | None, span: Any) -> str:
    """A history event's span in the snapshot it refers to (its offsets if that is gone)."""
    region = _event_region(docs, sha, span)
    return where(path, region) if region is not None else f"{path} (offsets {span.start}:{span.end})"


@click.command("list")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only tags with this status.")
@click.option("--tour", "tour", metavar="NAME", help="The steps of tour NAME, in order (text steps too).")
@json_option
@pass_state
def list_cmd(state: State, path: Path | None, status: str | None, tour: str | None, as_json: bool) -> None:
    """List tags (of PATH, a file or a folder, or of the whole repository).

    \b
    Each tag is shown as: its id (the shortest unique prefix: `show`, `edit` and `rm`
    take it), where it is now (path:line:col-line:col; only the path for an orphan),
    status, confidence, the text it covers now (the last anchored text for an orphan)
    and its note. Nothing of the id or the place is ever cut: on a terminal too narrow
    for the text and the note side by side, each tag takes two lines (the text and the
    note on the second).
    """
    store = state.store()
    if tour is not None:
        if path is not None or status is not None:
            raise click.UsageError("--tour lists a whole tour: give no PATH or --status with it")
        _print_tour(store, tours.placed(store, tour), as_json)
        return
    wanted = Status(status) if status else None
    found, complete = tags_under(state, store, path, wanted)
    problems = list(store.problems)
    try:
        _print_list(store, found, complete, as_json)
    finally:
        # every other tag is listed; a file that could not be read is named, and scripts learn of it
        for problem in problems:
            click.echo(f"warning: {printable(problem, keep_newlines=False)}", err=True)
    if problems:
        raise SystemExit(1)


def tags_under(
    state: State, store: Store, path: Path | None, status: Status | None = None
) -> tuple[list[Tag], bool]:
    """The tags of PATH: a file, a directory (or a path that is gone: tags of a deleted file or
    folder), or the whole repository when None or the root. Also says whether that is every
    tag of the store."""
    if path is None:
        return tagapi.list_tags(store, None, status), status is None
    full = path if path.is_absolute() else (state.repo or Path.cwd()) / path
    if full.is_file():
        return tagapi.list_tags(store, store.relpath(path, state.repo), status), False
    everything = tagapi.list_tags(store, None, status)
    if Path(os.path.abspath(full)) == store.root:
        return everything, status is None
    prefix = store.relpath(path, state.repo).rstrip("/")
    return [t for t in everything if t.path == prefix or t.path.startswith(prefix + "/")], False


def _print_list(store: Store, found: list[Tag], complete: bool, as_json: bool) -> None:
    docs = Documents(store)
    if as_json:
        echo_json_list(_list_row(docs, tag) for tag in found)
        return
    if not found:
        click.echo("no tags")
        return
    every = found if complete else tagapi.list_tags(store)
    shown = short_ids(t.id for t in every)
    rows_out: list[ListRow] = []
    for tag in found:
        text = docs.current_text(tag)
        rows_out.append(
            ListRow(
                id=shown.get(tag.id, tag.id),
                where=printable(docs.where(tag), keep_newlines=False),
                status=tag.status.value,
                conf=f"{tag.confidence:.2f}",
                text=one_line(text if text is not None else tag.anchor.text),
                note=one_line(tag.note),
            )
        )
    echo_lines(layout_rows(rows_out, output_width()))


def _list_row(docs: Documents, tag: Tag) -> dict[str, Any]:
    row = tag.summary()
    row.update(span_fields(docs.region(tag)))
    now = docs.current_text(tag)
    row["current_text"] = now
    # "text" is what the tag covers now (the last anchored text for an orphan);
    # "tagged_text" what a person tagged or last confirmed
    row["text"] = now if now is not None else tag.anchor.text
    row["tagged_text"] = tag.confirmed_text if tag.confirmed_text is not None else tag.anchor.text
    return row


JSON_CHUNK_ROWS = 2000


def echo_json_list(rows: Iterable[dict[str, Any]]) -> None:
    """Print a JSON list as `print_json` does, byte for byte, but a chunk of rows at a time: the
    list of 100,000 tags is never held whole (rows, then one 36 MB string, then its copy)."""
    import orjson

    out: list[bytes] = []
    first = True
    for row in rows:
        try:
            item = orjson.dumps(row, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
        except TypeError:  # what orjson refuses (an int beyond 64 bits, say): the json module's way
            item = json.dumps(row, indent=2, ensure_ascii=False, default=str).encode()
        # one level deeper: JSON strings hold no raw newline, so every newline is a line break
        out.append((b"[\n  " if first else b",\n  ") + item.replace(b"\n", b"\n  "))
        first = False
        if len(out) >= JSON_CHUNK_ROWS:
            click.echo(b"".join(out), nl=False)
            out.clear()
    out.append(b"[]\n" if first else b"\n]\n")
    click.echo(b"".join(out), nl=False)


def _print_tour(store: Store, placed: tours.PlacedTour, as_json: bool) -> None:
    docs = Documents(store)
    if as_json:
        steps = []
        for ps in placed.steps:
            data = ps.to_json()
            if ps.tag is not None:
                data["tag"].update(span_fields(docs.region(ps.tag)))
                data["tag"]["current_text"] = docs.current_text(ps.tag)
            steps.append(data)
        print_json(
            {
                "name": placed.name,
                "title": placed.tour.title,
                "description": placed.tour.description,
                "steps": steps,
            }
        )
        return
    count = len(placed.steps)
    app.console.print(
        f"[bold]{safe(placed.tour.title)}[/]  (tour {safe(placed.name)}, {count} step{'s' if count != 1 else ''})",
        highlight=False,
        soft_wrap=True,
    )
    if placed.tour.description:
        app.console.print(safe(one_line(placed.tour.description)), highlight=False, soft_wrap=True)
    width = len(str(count))
    shown = short_ids(t.id for t in tagapi.list_tags(store))
    lines = []
    for ps in placed.steps:
        head = f"{ps.number:>{width}}. "
        title = f"{one_line(ps.step.title)}: " if ps.step.title else ""
        if ps.tag is not None:
            tag = ps.tag
            text = one_line(tag.note) or one_line(docs.current_text(tag) or tag.anchor.text)
            where_now = printable(docs.where(tag), keep_newlines=False)
            lines.append(
                f"{head}{shown.get(tag.id, tag.id)}  {where_now}  {_status(tag.status.value)}  {title}{text}"
            )
        elif ps.missing:
            lines.append(f"{head}{title}(tag {ps.step.tag} was removed from the store)")
        else:
            place = next(
                (
                    f"[{k}: {one_line(v)}] "
                    for k in ("directory", "file", "uri")
                    if (v := getattr(ps.step, k))
                ),
                "",
            )
            lines.append(f"{head}{place}{title}{one_line(ps.step.text or '')}")
    echo_lines(lines)


class ListRow:
    __slots__ = ("conf", "id", "note", "status", "text", "where")

    def __init__(self, id: str, where: str, status: str, conf: str, text: str, note: str) -> None:
        self.id, self.where, self.status, self.conf, self.text, self.note = (
            id,
            where,
            status,
            conf,
            text,
            note,
        )


def _cut(text: str, width: int) -> str:
    """`text` in at most `width` terminal cells (a CJK character or an emoji takes two)."""
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


def echo_lines(lines: list[str]) -> None:
    """Print; colour only on a terminal, and never when NO_COLOR is set."""
    click.echo("\n".join(lines), color=False if os.environ.get("NO_COLOR") else None)


def _status(value: str, width: int = 0) -> str:
    style = STATUS_STYLE[value]  # "green", "bold red": colour names click knows too
    return click.style(value.ljust(width), fg=style.split()[-1], bold="bold" in style)


TEXT_MIN = 12  # narrower than this, the text goes to a second line
NOTE_MIN = 10  # narrower than this, the note column is dropped
PIPE_TEXT = 60  # a pipe (no width) gets this much of the text's first line


def layout_rows(rows: list[ListRow], width: int | None) -> list[str]:
    """`list`'s table as plain aligned lines (rich measured every cell: minutes for 100,000
    tags). The id, place, status and confidence are never cut; the text and note columns
    share what is left; when that is too narrow for both (the note is never dropped), each tag
    takes a second, indented line for its text and note (and the place moves to the end of the
    tag's first line, so one long path does not widen every line)."""
    idw = max(2, *(len(r.id) for r in rows))
    wherew = max(5, *(len(r.where) for r in rows))
    statw = max(6, *(len(r.status) for r in rows))
    fixed = idw + wherew + statw + 4 + 3 * 2
    has_note = any(r.note for r in rows)
    textw = max(4, *(cell_len(r.text) for r in rows))
    notew = max(4, *(cell_len(r.note) for r in rows)) if has_note else 0
    if width is None:
        textw = min(textw, PIPE_TEXT)
        cols = "full"
    else:
        rest = width - fixed - 2
        if rest >= TEXT_MIN + 2 + NOTE_MIN and has_note:
            textw = min(textw, max(TEXT_MIN, (rest - 2) // 2), 40)
            notew = min(notew, rest - 2 - textw)
            cols = "full"
        elif rest >= TEXT_MIN and not has_note:  # a note is never dropped: two lines instead
            textw = min(textw, rest)
            cols = "no-note"
        else:
            cols = "two-line"
    head = f"{'id':<{idw}}  {'where':<{wherew}}  {'status':<{statw}}  conf"
    lines = []
    if cols == "full":
        header = f"{head}  {'text':<{textw}}" + ("  note" if has_note else "")
        lines.append(click.style(header.rstrip(), bold=True))
        for r in rows:
            line = f"{r.id:<{idw}}  {r.where:<{wherew}}  {_status(r.status, statw)}  {r.conf}  "
            text = _cut(r.text, textw)
            if has_note:
                note = r.note if width is None else _cut(r.note, notew)
                line += f"{_pad(text, textw)}  {note}"
            else:
                line += text
            lines.append(line.rstrip())
    elif cols == "no-note":
        lines.append(click.style(f"{head}  text", bold=True))
        for r in rows:
            lines.append(
                f"{r.id:<{idw}}  {r.where:<{wherew}}  {_status(r.status, statw)}  {r.conf}  "
                f"{_cut(r.text, textw)}".rstrip()
            )
    else:  # the place last and unpadded: a long path only makes its own line long
        lines.append(click.style(f"{'id':<{idw}}  {'status':<{statw}}  conf  where", bold=True))
        inner = max(8, (width or 80) - 4)
        for r in rows:
            lines.append(f"{r.id:<{idw}}  {_status(r.status, statw)}  {r.conf}  {r.where}")
            lines.append("    " + _cut(r.text + (f"  # {r.note}" if r.note else ""), inner))
    return lines


@click.command("show")
@click.argument("tag_id")
@click.option("--context", default=3, show_default=True, help="Lines of context around the span.")
@json_option
@pass_state
def show_cmd(state: State, tag_id: str, context: int, as_json: bool) -> None:
    """Show a tag: its current text in context, its metadata and its history.

    TAG_ID is the id or any unique prefix of it (as `list` shows it)."""
    store = state.store()
    tag = tagapi.find_tag(store, tag_id)
    docs = Documents(store)
    if as_json:
        print_json(tag_json(tag, docs))
        return
    render_tag(tag, docs, context)


def render_tag(tag: Tag, docs: Documents, context: int) -> None:
    region = docs.region(tag)
    place = where(tag.path, region)
    app.console.print(
        f"[bold]{tag.id}[/]  {safe(place)}  [{STATUS_STYLE[tag.status]}]{tag.status.value}[/] "
        f"confidence {tag.confidence:.2f} via {safe(tag.method)}",
        highlight=False,
    )
    if tag.note:
        app.console.print(f"[italic]{safe(tag.note)}[/]", highlight=False)
    extra = {k: v for k, v in tag.metadata.items() if k != "note"}
    if extra:
        app.console.print("metadata: " + safe(json.dumps(extra, ensure_ascii=False)), highlight=False)
    doc = docs.positions(tag.path)
    if region is not None and doc is not None:
        from rich.syntax import Syntax  # pygments: only `show` pays for it

        a, b = region.start.line, region.end.line
        lo, hi = max(1, a - context), min(doc.index.line_count, b + context)
        snippet = doc.text[doc.index.offset(lo) : doc.index.line_end(hi)]
        app.console.print(
            Syntax(
                printable(snippet),
                language_for(tag.path) or "text",
                line_numbers=True,
                start_line=lo,
                highlight_lines=set(range(a, b + 1)),
            )
        )
    else:
        last = docs.last_known(tag)
        known = f" (last known at {safe(where(tag.path, last))})" if last is not None else ""
        app.console.print(f"[dim]last anchored text{known}:[/]", highlight=False)
        app.console.print(safe(tag.anchor.text), highlight=False)
    if tag.candidates:
        app.console.print(
            f"[bold]candidates[/] (`magicmarkup accept {tag.id} --candidate N` takes one):",
            highlight=False,
        )
        for i, cand in enumerate(tag.candidates, 1):
            ok = doc is not None and cand.end <= len(doc.text)
            at = where(tag.path, doc.region(cand.start, cand.end) if ok and doc else None)
            text = cand.text or (doc.text[cand.start : cand.end] if ok and doc else "")
            app.console.print(
                f"  {i}. {safe(at)}  {cand.score:.2f} {safe(cand.method)}  {safe(one_line(text, 50))}",
                highlight=False,
                soft_wrap=True,
            )
    if tag.history:
        # One line per event, not a table: a table cut places to fit 80 columns.
        app.console.print("[bold]history[/]", highlight=False)
        for ev in tag.history:
            old = _event_where(docs, ev.old_path or tag.path, ev.from_snapshot, ev.old_span)
            new = _event_where(docs, tag.path, ev.to_snapshot, ev.new_span) if ev.new_span else "-"
            why = f"  ({ev.reason})" if ev.reason else ""
            app.console.print(
                f"  {ev.at:%Y-%m-%d %H:%M}  {safe(old)} → {safe(new)}  "
                f"[{STATUS_STYLE[ev.status]}]{ev.status.value}[/] by {safe(ev.method)} "
                f"{ev.confidence:.2f}{safe(why)}",
                highlight=False,
                soft_wrap=True,
            )


@click.command("edit")
@click.argument("tag_id")
@click.option("--note", help="Replace the note.")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Set metadata (repeatable).")
@click.option("--unset", multiple=True, metavar="KEY", help="Remove a metadata key (repeatable).")
@json_option
@pass_state
def edit_cmd(
    state: State, tag_id: str, note: str | None, meta: tuple[str, ...], unset: tuple[str, ...], as_json: bool
) -> None:
    """Change a tag's note or metadata.

    TAG_ID is the id or any unique prefix of it (as `list` shows it)."""
    store = state.store()
    tag = tagapi.edit_tag(store, tag_id, note=note, metadata=parse_meta(meta), unset=list(unset))
    now = tagapi.find_tag(store, tag.id)  # where it is in the files on disk, not its pinned place
    docs = Documents(store)
    if as_json:
        print_json(tag_json(now, docs))
    else:
        app.console.print(f"edited {now.id} at {safe(docs.said_where(now))}", highlight=False, soft_wrap=True)


@click.command("rm")
@click.argument("tag_id")
@json_option
@pass_state
def rm_cmd(state: State, tag_id: str, as_json: bool) -> None:
    """Delete a tag. TAG_ID is the id or any unique prefix of it."""
    store = state.store()
    now = tagapi.find_tag(store, tag_id)  # where it is in the files on disk, as it goes
    tag = tagapi.remove_tag(store, now.id)
    now.history = tag.history
    docs = Documents(store)
    if as_json:
        print_json(tag_json(now, docs))
    else:
        text = docs.current_text(now)
        app.console.print(
            f"removed {tag.id} at {safe(docs.said_where(now))}: {safe(one_line(text or tag.anchor.text, 50))}",
            highlight=False,
            soft_wrap=True,
        )
