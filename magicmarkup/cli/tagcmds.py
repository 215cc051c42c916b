"""Commands that create, read and change tags."""

from __future__ import annotations

import json
from pathlib import Path

import click
from pydantic import JsonValue
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from magicmarkup import tags as tagapi
from magicmarkup.cli.app import STATUS_STYLE, State, console, err_console, pass_state, print_json
from magicmarkup.documents import language_for
from magicmarkup.errors import MagicMarkupError, SpanError
from magicmarkup.model import LineIndex, Status, Tag
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
    """KEY=VALUE pairs; a VALUE that parses as JSON (number, true, [..]) is kept typed."""
    out: dict[str, JsonValue] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpanError(f"--meta {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def first_line(text: str, width: int = 50) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


@click.command("init")
@json_option
@pass_state
def init_cmd(state: State, as_json: bool) -> None:
    """Create .magicmarkup/ at the repository root (the git root, else this directory)."""
    store = Store.init(state.repo)
    if as_json:
        print_json({"root": str(store.root), "store": str(store.dir)})
    else:
        console.print(f"Initialized tag store in [bold]{escape(str(store.dir))}[/]")


@click.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--span", "span", metavar="START:END", help="Code-point offsets, end exclusive.")
@click.option("--lines", "lines", metavar="A[:B]", help="1-based lines, inclusive.")
@click.option("--match", "match", metavar="TEXT", help="Tag this exact text (must be unique).")
@click.option("--nth", type=int, help="With --match: tag the N-th occurrence (1-based).")
@click.option("--note", help="The note, in Markdown.")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@click.option("--language", help="Override the language detected from the extension.")
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
    as_json: bool,
) -> None:
    """Tag a span of PATH, chosen by --span, --lines or --match; prints the new tag's id.

    \b
    Examples:
      magicmarkup add src/app.py --match "retry(3)" --note "why 3?"
      magicmarkup add src/app.py --lines 10:14 --meta author=ana --meta color=red
      magicmarkup add src/app.py --span 120:168 --json
    """
    store = state.store()
    rel = store.relpath(path, state.repo)
    if nth is not None and match is None:
        raise SpanError("--nth goes with --match")
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
    )
    if as_json:
        print_json(tag.model_dump(mode="json"))
    else:
        click.echo(tag.id)


@click.command("list")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only tags with this status.")
@json_option
@pass_state
def list_cmd(state: State, path: Path | None, status: str | None, as_json: bool) -> None:
    """List tags (of PATH, or of the whole repository)."""
    store = state.store()
    rel = store.relpath(path, state.repo) if path else None
    found = tagapi.list_tags(store, rel, Status(status) if status else None)
    try:
        _print_list(store, found, as_json)
    finally:
        # every other tag is listed; a file that could not be read is named, and scripts learn of it
        for problem in store.problems:
            err_console.print(f"[yellow]warning:[/] {escape(problem)}", highlight=False)
    if store.problems:
        raise SystemExit(1)


def _print_list(store: Store, found: list[Tag], as_json: bool) -> None:
    if as_json:
        print_json([t.summary() for t in found])
        return
    if not found:
        console.print("no tags")
        return
    texts: dict[str, LineIndex | None] = {}
    rows: list[tuple[Tag, str]] = []
    for tag in found:
        if tag.path not in texts:
            try:
                texts[tag.path] = LineIndex(store.read_document(tag.path))
            except MagicMarkupError:
                texts[tag.path] = None
        index = texts[tag.path]
        where = tag.path
        if index is not None and tag.status is not Status.ORPHANED:
            where += f":{index.position(tag.span.start).line}"
        rows.append((tag, where))
    if len(rows) > TABLE_ROWS:
        _print_columns(rows)
        return
    table = Table(box=None, header_style="bold")
    for col in ("id", "where", "status", "conf", "text", "note"):
        table.add_column(col, overflow="fold" if col == "id" else "ellipsis", no_wrap=col != "note")
    for tag, where in rows:
        table.add_row(
            tag.id[-10:],
            escape(where),
            f"[{STATUS_STYLE[tag.status]}]{tag.status.value}[/]",
            f"{tag.confidence:.2f}",
            escape(first_line(tag.anchor.text, 30)),
            escape(first_line(tag.note, 40)),
        )
    console.print(table)


# Rich lays a table out by measuring every cell (~1.5 ms a row): 100,000 tags took 2.5 minutes.
# Past this many rows `list` prints the same columns as plain aligned text instead.
TABLE_ROWS = 2000


def _print_columns(rows: list[tuple[Tag, str]]) -> None:
    width = min(60, max(len("where"), *(len(where) for _, where in rows)))
    header = f"{'id':<10}  {'where':<{width}}  {'status':<12}  conf  {'text':<30}  note"
    lines = [click.style(header, bold=True)]
    for tag, where in rows:
        if len(where) > width:
            where = "…" + where[-(width - 1) :]
        style = STATUS_STYLE[tag.status]  # "green", "bold red": the colour names click knows too
        status = click.style(f"{tag.status.value:<12}", fg=style.split()[-1], bold="bold" in style)
        text = first_line(tag.anchor.text, 30)
        lines.append(
            f"{tag.id[-10:]:<10}  {where:<{width}}  {status}  {tag.confidence:.2f}  {text:<30}  "
            f"{first_line(tag.note, 40)}"
        )
    click.echo("\n".join(lines))


@click.command("show")
@click.argument("tag_id")
@click.option("--context", default=3, show_default=True, help="Lines of context around the span.")
@json_option
@pass_state
def show_cmd(state: State, tag_id: str, context: int, as_json: bool) -> None:
    """Show a tag: its current text in context, its metadata and its history."""
    store = state.store()
    tag = tagapi.find_tag(store, tag_id)
    try:
        text: str | None = store.read_document(tag.path)
    except MagicMarkupError:
        text = None
    if as_json:
        data = tag.model_dump(mode="json")
        data["current_text"] = (
            text[tag.span.start : tag.span.end]
            if text is not None and tag.status is not Status.ORPHANED
            else None
        )
        print_json(data)
        return
    render_tag(tag, text, context)


def render_tag(tag: Tag, text: str | None, context: int) -> None:
    console.print(
        f"[bold]{tag.id}[/]  {escape(tag.path)}  [{STATUS_STYLE[tag.status]}]{tag.status.value}[/] "
        f"confidence {tag.confidence:.2f} via {tag.method}"
    )
    if tag.note:
        console.print(f"[italic]{escape(tag.note)}[/]")
    extra = {k: v for k, v in tag.metadata.items() if k != "note"}
    if extra:
        console.print("metadata: " + escape(json.dumps(extra, ensure_ascii=False)))
    if text is not None and tag.status is not Status.ORPHANED:
        index = LineIndex(text)
        a = index.position(tag.span.start).line
        b = index.position(max(tag.span.start, tag.span.end - 1)).line
        lo, hi = max(1, a - context), min(index.line_count, b + context)
        snippet = text[index.offset(lo) : index.line_end(hi)]
        console.print(
            Syntax(
                snippet,
                language_for(tag.path) or "text",
                line_numbers=True,
                start_line=lo,
                highlight_lines=set(range(a, b + 1)),
            )
        )
    else:
        console.print("[dim]last anchored text:[/]")
        console.print(escape(tag.anchor.text))
    if tag.history:
        table = Table(title="history", box=None, header_style="bold")
        for col in ("when", "from", "to", "status", "method", "conf", "why"):
            table.add_column(col)
        for ev in tag.history:
            table.add_row(
                ev.at.strftime("%Y-%m-%d %H:%M"),
                f"{ev.old_span.start}:{ev.old_span.end}",
                f"{ev.new_span.start}:{ev.new_span.end}" if ev.new_span else "-",
                ev.status.value,
                ev.method,
                f"{ev.confidence:.2f}",
                escape(ev.reason or ""),
            )
        console.print(table)


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
    """Change a tag's note or metadata. TAG_ID may be a unique prefix or suffix-free prefix."""
    tag = tagapi.edit_tag(state.store(), tag_id, note=note, metadata=parse_meta(meta), unset=list(unset))
    if as_json:
        print_json(tag.model_dump(mode="json"))
    else:
        console.print(f"edited {tag.id}")


@click.command("rm")
@click.argument("tag_id")
@json_option
@pass_state
def rm_cmd(state: State, tag_id: str, as_json: bool) -> None:
    """Delete a tag."""
    tag = tagapi.remove_tag(state.store(), tag_id)
    if as_json:
        print_json(tag.model_dump(mode="json"))
    else:
        console.print(f"removed {tag.id}")


@click.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--json", "as_json", is_flag=True, help="JSON (the only format; accepted for symmetry).")
@pass_state
def export_cmd(state: State, output: Path | None, as_json: bool) -> None:
    """Export every tag (and the snapshots they are anchored to) as one JSON document."""
    data = tagapi.export_tags(state.store())
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"exported {len(data['tags'])} tags to {escape(str(output))}")
    else:
        click.echo(text)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_state
def import_cmd(state: State, file: Path, as_json: bool) -> None:
    """Import tags from an `export` file; tags whose id exists are skipped."""
    imported, skipped = tagapi.import_tags(state.store(), file)
    if as_json:
        print_json({"imported": imported, "skipped": skipped})
    else:
        console.print(f"imported {imported} tags, skipped {skipped} already present")


@click.command("gc")
@json_option
@pass_state
def gc_cmd(state: State, as_json: bool) -> None:
    """Delete snapshots that no tag is anchored to any more."""
    removed = state.store().gc_snapshots()
    if as_json:
        print_json({"removed": removed})
    else:
        console.print(f"removed {removed} unreferenced snapshots")
