"""`export` and `import`: the JSON backup, and what people read without the tool (an HTML site,
Markdown, CodeTour tours)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from magicmarkup import tags as tagapi
from magicmarkup.cli import app
from magicmarkup.cli.app import State, pass_state, print_json
from magicmarkup.cli.tagcmds import safe
from magicmarkup.errors import StoreError
from magicmarkup.positions import printable
from magicmarkup.store import Store

if TYPE_CHECKING:
    from magicmarkup.forge import ForgeLink


@click.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--force", is_flag=True, help="With -o: overwrite a file that is not an earlier export.")
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write a static site (index, one page per file, tours) into DIR; opens from file://.",
)
@click.option("--markdown", is_flag=True, help="Write the notes as Markdown (stdout, or -o FILE).")
@click.option(
    "--codetour",
    "codetour_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write every tour as DIR/<name>.tour (CodeTour) with today's lines.",
)
@click.option("--tour", "tour_names", multiple=True, metavar="NAME", help="With --codetour: only this tour.")
@click.option(
    "--link",
    metavar="TEMPLATE",
    help="With --html or --markdown: link each place to the forge, e.g. "
    "'https://github.com/OWNER/REPO/blob/{commit}/{path}#L{start_line}-L{end_line}' "
    "({commit} is HEAD; the lines are the working tree's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_state
def export_cmd(
    state: State,
    output: Path | None,
    force: bool,
    html_dir: Path | None,
    markdown: bool,
    codetour_dir: Path | None,
    tour_names: tuple[str, ...],
    link: str | None,
    as_json: bool,
) -> None:
    """Export every tag (and the snapshots they are anchored to) as one JSON document.

    \b
    Or, for people without the tool:
      magicmarkup export --html site/ [--link TEMPLATE]   a static site (open site/index.html)
      magicmarkup export --markdown [-o NOTES.md]         Markdown with path:line links
      magicmarkup export --codetour .tours/               CodeTour .tour files, today's lines
    """
    chosen = sum(x for x in (html_dir is not None, markdown, codetour_dir is not None))
    if chosen > 1:
        raise click.UsageError("give one of --html, --markdown, --codetour")
    if link is not None and html_dir is None and not markdown:
        raise click.UsageError("--link goes with --html or --markdown")
    if tour_names and codetour_dir is None:
        raise click.UsageError("--tour goes with --codetour")
    if output is not None and (html_dir is not None or codetour_dir is not None):
        raise click.UsageError(
            "-o goes with the JSON or --markdown export (--html and --codetour take a DIR)"
        )
    store = state.store()
    forge = None
    if link is not None:
        from magicmarkup.forge import ForgeLink

        forge = ForgeLink.parse(link, store.root)
    if html_dir is not None:
        _export_html(store, html_dir, forge, as_json)
    elif codetour_dir is not None:
        _export_codetour(store, codetour_dir, list(tour_names), as_json)
    elif markdown:
        from magicmarkup.export_markdown import export_markdown

        target = check_export_target(store, output, force, markdown=True) if output is not None else None
        text = export_markdown(store, forge)
        if target is None:
            click.echo(text, nl=False)
            return
        _write(target, output, text)
        if as_json:
            print_json({"output": str(target), "bytes": len(text.encode())})
        else:
            app.console.print(f"wrote the notes as Markdown to {safe(str(output))}", highlight=False)
    else:
        _export_json(store, output, force, as_json)


def _write(target: Path, output: Path | None, text: str) -> None:
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"{output}: cannot write ({exc.strerror or exc})") from None


def _export_json(store: Store, output: Path | None, force: bool, as_json: bool) -> None:
    if output is not None:
        target = check_export_target(store, output, force)
    data = tagapi.export_tags(store)
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    if output is None:
        click.echo(text)
        return
    _write(target, output, text + "\n")
    if as_json:
        print_json(
            {"exported": len(data["tags"]), "snapshots": len(data["snapshots"]), "output": str(target)}
        )
    else:
        app.console.print(f"exported {len(data['tags'])} tags to {safe(str(output))}", highlight=False)


def _export_html(store: Store, directory: Path, forge: ForgeLink | None, as_json: bool) -> None:
    from magicmarkup.export_html import export_html

    result = export_html(store, directory, forge)
    if as_json:
        print_json(result.to_json())
    else:
        app.console.print(
            f"wrote {_count(result.pages, 'page')} ({_count(result.tags, 'tag')}, "
            f"{_count(result.files, 'file')}, {_count(result.tours, 'tour')}, "
            f"{result.size / 1e6:.1f} MB) to {safe(str(directory))}; open "
            f"{safe(str(result.directory / 'index.html'))}",
            highlight=False,
            soft_wrap=True,
        )
    for problem in result.problems:
        click.echo(f"warning: {printable(problem, keep_newlines=False)}", err=True)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _export_codetour(store: Store, directory: Path, names: list[str], as_json: bool) -> None:
    from magicmarkup.codetour import export_codetours
    from magicmarkup.export_html import check_target

    written = export_codetours(store, check_target(store, directory), names or None)
    flagged = [f for w in written for f in w.flagged]
    if as_json:
        print_json(
            {
                "tours": [{"name": w.name, "file": str(w.file), "steps": w.steps} for w in written],
                "review": [f.to_json() for f in flagged],
            }
        )
        return
    if not written:
        app.console.print("no tours to export (make one with `add --tour NAME` or `import --codetour`)")
    for w in written:
        app.console.print(f"wrote {safe(str(w.file))} ({w.steps} steps)", highlight=False)
    for f in flagged:
        what = {"missing": "its tag was removed", "orphaned": "its code is gone (orphaned)"}.get(
            f.status, "its place needs review"
        )
        hint = f"; see `magicmarkup show {f.tag_id}`" if f.status != "missing" else ""
        app.console.print(
            f"review: tour {safe(f.tour)} step {f.step}: {what}{hint}", highlight=False, soft_wrap=True
        )


def check_export_target(store: Store, output: Path, force: bool = False, markdown: bool = False) -> Path:
    """Where `export -o` may write: not inside .magicmarkup/ (the store would then hold a copy
    of itself), into a directory that exists, not onto a directory, and not over a file that is
    not an earlier export (a source file, `.git/config`) unless `force`; a Markdown export may
    replace an earlier Markdown file (`.md`)."""
    target = Path(os.path.abspath(output))
    resolved = target.resolve()
    store_dir = store.dir.resolve()
    if resolved == store_dir or resolved.is_relative_to(store_dir):
        raise StoreError(f"{output}: inside the tag store {store.dir}; write the export elsewhere")
    if not target.parent.is_dir():
        raise StoreError(f"{output}: directory {target.parent} does not exist")
    if target.is_dir():
        raise StoreError(f"{output}: is a directory")
    earlier = target.suffix.lower() in (".md", ".markdown") if markdown else tagapi.is_export_file(target)
    if not force and os.path.lexists(target) and not earlier:
        what = "a Markdown file" if markdown else "a magicmarkup export"
        raise StoreError(f"{output}: exists and is not {what}; pass --force to overwrite it")
    return target


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--codetour", is_flag=True, help="FILE is a CodeTour .tour: its steps become a tour's tags.")
@click.option("--name", metavar="NAME", help="With --codetour: the tour's name (default: from FILE's name).")
@click.option(
    "--allow-ignored",
    is_flag=True,
    help="Import tags on files git ignores (their text may then be copied into the store).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
@pass_state
def import_cmd(
    state: State, file: Path, codetour: bool, name: str | None, allow_ignored: bool, as_json: bool
) -> None:
    """Import tags from an `export` file; tags whose id exists are skipped.

    \b
    With --codetour, FILE is a CodeTour tour (.tour): each step with a place (line,
    selection or pattern) becomes a tag of the tour NAME (its title and description
    the note); steps without one (an intro, a folder) are kept as the tour's text.
      magicmarkup import --codetour .tours/pricing.tour
      magicmarkup list --tour pricing
    """
    if name is not None and not codetour:
        raise click.UsageError("--name goes with --codetour")
    store = state.store()
    if codetour:
        from magicmarkup.codetour import import_codetour

        result = import_codetour(store, file, name)
        if as_json:
            print_json(
                {
                    "tour": result.name,
                    "title": result.title,
                    "tags": [t.id for t in result.tags],
                    "text_steps": result.text_steps,
                }
            )
        else:
            app.console.print(
                f"imported tour {safe(result.name)} ({safe(result.title)}): {len(result.tags)} tags, "
                f"{result.text_steps} text steps; see `magicmarkup list --tour {safe(result.name)}`",
                highlight=False,
                soft_wrap=True,
            )
        return
    imported, skipped = tagapi.import_tags(store, file, allow_ignored=allow_ignored)
    if as_json:
        print_json({"imported": imported, "skipped": skipped})
    else:
        app.console.print(f"imported {imported} tags, skipped {skipped} already present")
