"""`export --html DIR`: a static site of the notes that opens from `file://` and fetches nothing.

- `index.html`: every tag, grouped by file and then by status (the ones that need a person
  first), with a filter box (words matched against path, status, note and code);
- `files/<page>.html`: one page per tagged document, highlighted with Pygments, each note beside
  the lines it is on; `needs_review` and `orphaned` tags are also shown with the code they were
  tagged in (from their snapshot) and their history;
- `tours/<name>.html`: each tour's steps in order.

Everything that comes from the store or the files (notes, metadata, paths, code, tour text) is
untrusted: it is escaped, notes are rendered as Markdown without raw HTML, images or unsafe
links, and every page carries a Content-Security-Policy that allows no script but the site's own
`site.js` and loads nothing from anywhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from magicmarkup.documents import language_for
from magicmarkup.errors import MagicMarkupError, StoreError
from magicmarkup.forge import ForgeLink
from magicmarkup.model import RetagEvent, Status, Tag
from magicmarkup.positions import Positions, Region, one_line
from magicmarkup.store import Store
from magicmarkup.tours import PlacedStep, PlacedTour, load_tours, place_tour
from magicmarkup.view import current

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)
# The order of the status groups on the index and of the review cards: a person's work first.
STATUS_ORDER = (Status.NEEDS_REVIEW, Status.ORPHANED, Status.CHANGED, Status.MOVED, Status.ANCHORED)
HIGHLIGHT_LIMIT = 2_000_000  # characters: larger documents are shown as plain text (fast)
CONTEXT_LINES = 3  # lines of the original context around a tag to review
SEARCH_TEXT = 300  # characters of a tag's code the filter box looks at


def esc(text: object) -> str:
    """Text for HTML content or a quoted attribute (quotes escaped too)."""
    return html.escape(str(text), quote=True)


@cache
def _markdown() -> Any:
    """CommonMark without raw HTML and without images (an image would fetch from the network);
    markdown-it refuses javascript:, vbscript:, file: and data: links."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")


def markdown(text: str) -> str:
    return str(_markdown().render(text))


# -- highlighting ------------------------------------------------------------------------------


PYGMENTS_STYLE = "default"


@cache
def _css_class(ttype: Any) -> str:
    """Pygments' short class name of a token type (as its HtmlFormatter writes them), or "" for
    a type the style leaves plain (most names and all whitespace: no span for them)."""
    from pygments.styles import get_style_by_name
    from pygments.token import STANDARD_TYPES

    style = get_style_by_name(PYGMENTS_STYLE).style_for_token(ttype)
    if not any(style[k] for k in ("color", "bold", "italic", "underline", "bgcolor", "border")):
        return ""
    name = STANDARD_TYPES.get(ttype)
    suffix = ""
    while name is None:
        suffix = "-" + ttype[-1] + suffix
        ttype = ttype.parent
        name = STANDARD_TYPES.get(ttype)
    return name + suffix


@cache
def _lexer_class(suffix: str, name: str | None) -> Any:
    """The lexer for a file name's suffix (looked up once per suffix: the lookup is slow)."""
    from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        return type(get_lexer_for_filename("x" + suffix))
    except ClassNotFound:
        try:
            return type(get_lexer_by_name(name)) if name else TextLexer
        except ClassNotFound:
            return TextLexer


def _lexer(path: str, size: int) -> Any:
    from pygments.lexers import TextLexer

    options = {"stripnl": False, "ensurenl": False}
    if size > HIGHLIGHT_LIMIT:
        return TextLexer(**options)
    name = path.rsplit("/", 1)[-1]
    suffix = name[name.rfind(".") :] if "." in name else name  # a Makefile or Dockerfile by name
    return _lexer_class(suffix, language_for(path))(**options)


def highlight_lines(path: str, text: str) -> list[str]:
    """The HTML of each line of `text` (escaped, tokens in Pygments' classes), one per line."""
    lexer = _lexer(path, len(text))
    lines: list[str] = []
    line: list[str] = []
    run: list[str] = []  # pieces of one class, emitted as one span
    run_cls = ""

    def flush() -> None:
        if run:
            body = esc("".join(run))
            line.append(f'<span class="{run_cls}">{body}</span>' if run_cls else body)
            run.clear()

    for ttype, value in lexer.get_tokens(text):
        cls = _css_class(ttype)
        pieces = value.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                flush()
                lines.append("".join(line))
                line = []
            if piece:
                if cls != run_cls and not piece.isspace():  # blanks join any run
                    flush()
                    run_cls = cls
                run.append(piece)
    flush()
    lines.append("".join(line))
    count = text.count("\n") + 1
    return (lines + [""] * count)[:count]


HIGHLIGHT_CACHE_VERSION = 1


def _highlight_key(path: str, text: str) -> str:
    from pygments import __version__ as pygments_version

    lexer = type(_lexer(path, len(text))).__name__
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{HIGHLIGHT_CACHE_VERSION}:{pygments_version}:{PYGMENTS_STYLE}:{lexer}:{digest}"


def cached_highlight(store: Store, path: str, text: str) -> list[str]:
    """`highlight_lines`, kept per document in the local dir (beside the view cache, never seen
    by git) and reused while the document's text is the same: lexing is most of an export."""
    import orjson

    from magicmarkup.store import atomic_write

    file = (
        store.local_dir / "html" / f"{hashlib.sha1(path.encode('utf-8', 'surrogatepass')).hexdigest()}.json"
    )
    key = _highlight_key(path, text)
    try:
        data = orjson.loads(file.read_bytes())
        if isinstance(data, dict) and data.get("key") == key and isinstance(data.get("lines"), list):
            lines = data["lines"]
            if len(lines) == text.count("\n") + 1 and all(isinstance(x, str) for x in lines):
                return lines
    except (OSError, orjson.JSONDecodeError):
        pass
    lines = highlight_lines(path, text)
    with contextlib.suppress(OSError):  # a cache that cannot be written is only slower next time
        atomic_write(file, orjson.dumps({"key": key, "lines": lines}), store.tmp_dir)
    return lines


# -- what a page needs to know about a tag ---------------------------------------------------


@dataclass
class Shown:
    """A tag with where it is now, in lines, and the page it is on."""

    tag: Tag
    page: str  # files/....html
    region: Region | None  # None: orphaned (or its file is gone)

    @property
    def anchor(self) -> str:
        return f"tag-{self.tag.id}"

    @property
    def place(self) -> str:
        if self.region is None:
            return f"{self.tag.path} ({self.tag.status.value})"
        a, b = self.region.start.line, self.region.end.line
        return f"{self.tag.path}:{a}" if a == b else f"{self.tag.path}:{a}-{b}"


@dataclass
class Site:
    """Everything the pages are made from (computed once)."""

    store: Store
    tags: list[Shown]
    texts: dict[str, str]
    link: ForgeLink | None
    tours: list[PlacedTour] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _snapshots: dict[str, Positions | None] = field(default_factory=dict)

    def snapshot(self, sha: str | None) -> Positions | None:
        if sha is None:
            return None
        if sha not in self._snapshots:
            try:
                self._snapshots[sha] = Positions(self.store.get_snapshot(sha))
            except MagicMarkupError:  # a snapshot that is gone or bad: the card says so
                self._snapshots[sha] = None
        return self._snapshots[sha]

    def forge(self, shown: Shown) -> str:
        if self.link is None or shown.region is None:
            return ""
        url = self.link.url(shown.tag.path, shown.region.start.line, shown.region.end.line)
        return f' <a class="forge" href="{esc(url)}" rel="noopener noreferrer">on the forge</a>'


def page_name(path: str) -> str:
    """A file name for a document's page: readable, and unique whatever the path holds."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", path)[-80:].strip("._") or "file"
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"files/{slug}-{digest}.html"


def collect(store: Store, link: ForgeLink | None = None) -> Site:
    """The tags where they are now (the local view, with histories), and the tours."""
    view = current(store, history=True)
    positions: dict[str, Positions] = {}
    shown = []
    for tag in view.tags:
        text = view.texts.get(tag.path)
        region = None
        if tag.status is not Status.ORPHANED and text is not None and tag.span.end <= len(text):
            pos = positions.get(tag.path)
            if pos is None:
                pos = positions[tag.path] = Positions(text)
            region = pos.region(tag.span.start, tag.span.end)
        shown.append(Shown(tag, page_name(tag.path), region))
    tours, problems = load_tours(store)
    by_id = {t.id: t for t in view.tags}
    placed = [place_tour(name, tour, by_id) for name, tour in tours.items()]
    return Site(store, shown, view.texts, link, placed, [*view.problems, *problems])


# -- pages ---------------------------------------------------------------------------------------


def page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        f'<link rel="stylesheet" href="{up}site.css">\n'
        f'<script src="{up}site.js" defer></script>\n'
        f"</head><body>\n{body}\n</body></html>\n"
    )


def badge(status: Status | str) -> str:
    value = status.value if isinstance(status, Status) else status
    return f'<span class="badge {esc(value)}">{esc(value.replace("_", " "))}</span>'


def _search_text(shown: Shown) -> str:
    tag = shown.tag
    words = [shown.place, tag.status.value, tag.note, tag.anchor.text[:SEARCH_TEXT], tag.id]
    words += [str(v) for k, v in tag.metadata.items() if k != "note"]
    return " ".join(words).lower()


def index_page(site: Site, generated: str) -> str:
    by_file: dict[str, list[Shown]] = {}
    for s in site.tags:
        by_file.setdefault(s.tag.path, []).append(s)
    counts = {st: sum(s.tag.status is st for s in site.tags) for st in STATUS_ORDER}
    out = [
        "<header><h1>Notes on the code</h1>",
        f'<p class="summary">{len(site.tags)} tags in {len(by_file)} files · '
        + " · ".join(f"{badge(st)} {n}" for st, n in counts.items() if n)
        + f" · made {esc(generated)}</p></header>",
        "<main>",
    ]
    if site.problems:
        out.append('<section class="problems"><h2>Store files that could not be read</h2><ul>')
        out += [f"<li>{esc(p)}</li>" for p in site.problems]
        out.append("</ul></section>")
    if site.tours:
        out.append('<section class="tours"><h2>Tours</h2><ul>')
        for tour in site.tours:
            out.append(
                f'<li><a href="tours/{esc(tour.name)}.html">{esc(tour.tour.title)}</a> '
                f'<span class="dim">{len(tour.steps)} steps</span></li>'
            )
        out.append("</ul></section>")
    out.append(
        '<div class="filter"><label for="filter">Filter</label> '
        '<input id="filter" type="search" autocomplete="off" '
        'placeholder="words in paths, notes, code or status (needs_review, orphaned…)">'
        ' <span id="count" aria-live="polite"></span></div>'
    )
    out.append('<section id="files">')
    for path in sorted(by_file):
        tags = by_file[path]
        pagefile = tags[0].page
        out.append(f'<section class="file" data-group="file"><h2><a href="{esc(pagefile)}">{esc(path)}</a>')
        out.append(f' <span class="dim">{len(tags)} tags</span></h2>')
        for status in STATUS_ORDER:
            group = [s for s in tags if s.tag.status is status]
            if not group:
                continue
            out.append(
                f'<div class="status-group" data-group="status"><h3>{badge(status)} {len(group)}</h3><ul>'
            )
            for s in group:
                note = one_line(s.tag.note, 160) or "(no note)"
                code = one_line(s.tag.anchor.text, 80)
                out.append(
                    f'<li class="tag" data-search="{esc(_search_text(s))}">'
                    f'<a class="place" href="{esc(s.page)}#{s.anchor}">{esc(s.place)}</a> '
                    f'<span class="note">{esc(note)}</span> <code>{esc(code)}</code>{site.forge(s)}</li>'
                )
            out.append("</ul></div>")
        out.append("</section>")
    out.append("</section></main>")
    return page("Notes on the code", "\n".join(out), 0)


def note_card(site: Site, s: Shown, element_id: str, extra_html: str = "") -> str:
    tag = s.tag
    extra = {k: v for k, v in tag.metadata.items() if k != "note"}
    meta = ""
    if extra:
        rows = "".join(
            f"<dt>{esc(k)}</dt><dd>{esc(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))}</dd>"
            for k, v in extra.items()
        )
        meta = f'<dl class="metadata">{rows}</dl>'
    body = markdown(tag.note) if tag.note else '<p class="dim">(no note)</p>'
    return (
        f'<div class="card {esc(tag.status.value)}" id="{esc(element_id)}">'
        f'<div class="card-head"><a href="#{esc(element_id)}">{esc(s.place)}</a> {badge(tag.status)} '
        f'<span class="dim">{tag.confidence:.2f} · {esc(tag.method)}</span>{site.forge(s)}</div>'
        f'<div class="md">{body}</div>{meta}{extra_html}</div>'
    )


def _code_rows(lines: list[str], first: int, marked: set[int], notes: dict[int, list[str]] | None) -> str:
    """Table rows of code; a file's rows (`notes` given) carry `id="L<n>"` for #L<n> links."""
    rows = []
    # a line's notes span the rows down to the next line with notes, so a long note sits beside
    # the code that follows instead of pushing it down
    starts = sorted(notes) if notes else []
    until = dict(zip(starts, [*starts[1:], first + len(lines)], strict=False))
    for i, line_html in enumerate(lines, first):
        # lean rows (a site of 5,000 tags has 60,000 of them): columns styled by position
        cls = ' class="tagged"' if i in marked else ""
        cell = notes.get(i) if notes is not None else None
        span = until.get(i, i + 1) - i
        rowspan = f' rowspan="{span}"' if span > 1 else ""
        notes_td = f"<td{rowspan}>{''.join(cell)}</td>" if cell else ""
        row_id = f' id="L{i}"' if notes is not None else ""
        rows.append(f"<tr{row_id}{cls}><td>{i}</td><td><pre>{line_html}</pre></td>{notes_td}</tr>")
    return "".join(rows)


def _snippet(path: str, pos: Positions, start_line: int, end_line: int, marked: set[int]) -> str:
    """Lines `start_line`..`end_line` of a text, highlighted, with line numbers."""
    lo = max(1, start_line)
    hi = min(pos.index.line_count, end_line)
    text = pos.text[pos.index.offset(lo) : pos.index.line_end(hi)]
    return f'<table class="code snippet">{_code_rows(highlight_lines(path, text), lo, marked, None)}</table>'


def _event_place(site: Site, path: str, sha: str | None, start: int, end: int) -> str:
    snap = site.snapshot(sha)
    if snap is None or end > len(snap.text):
        return f"{path} (offsets {start}:{end})"
    region = snap.region(start, end)
    return f"{path}:{region.start.line}-{region.end.line}"


def history_list(site: Site, s: Shown) -> str:
    """When it was tagged, every recorded event (repins, repairs, edits), and where the working
    tree's view places it now (placements are derived, so the last line is not stored)."""
    tag = s.tag
    items = [f"<li><time>{esc(f'{tag.created_at:%Y-%m-%d %H:%M}')}</time> tagged</li>"]
    items += [_event_item(site, tag, ev) for ev in tag.history]
    now = s.place if s.region is not None else "no place in the file as it is now"
    items.append(
        f"<li>now: {esc(now)} {badge(tag.status)} by {esc(tag.method)} {tag.confidence:.2f} "
        "(the working tree)</li>"
    )
    return f'<ol class="history">{"".join(items)}</ol>'


def _event_item(site: Site, tag: Tag, ev: RetagEvent) -> str:
    old = _event_place(site, ev.old_path or tag.path, ev.from_snapshot, ev.old_span.start, ev.old_span.end)
    new = (
        _event_place(site, tag.path, ev.to_snapshot, ev.new_span.start, ev.new_span.end)
        if ev.new_span is not None
        else "—"
    )
    why = f" ({esc(ev.reason)})" if ev.reason else ""
    return (
        f"<li><time>{esc(f'{ev.at:%Y-%m-%d %H:%M}')}</time> {esc(old)} → {esc(new)} {badge(ev.status)} "
        f"by {esc(ev.method)} {ev.confidence:.2f}{why}</li>"
    )


def review_card(site: Site, s: Shown, element_id: str) -> str:
    """A tag a person should look at: its note, the code it was tagged in, and its history."""
    tag = s.tag
    snap = site.snapshot(tag.anchor.snapshot)
    start = tag.anchor.start if tag.anchor.start is not None else tag.span.start
    end = start + len(tag.anchor.text)
    if snap is not None and end <= len(snap.text) and snap.text[start:end] == tag.anchor.text:
        region = snap.region(start, end)
        a, b = region.start.line, region.end.line
        context = (
            f'<p class="dim">Tagged in this code (lines {a}-{b} of the version it was anchored in):</p>'
            + _snippet(tag.path, snap, a - CONTEXT_LINES, b + CONTEXT_LINES, set(range(a, b + 1)))
        )
    else:
        context = '<p class="dim">Tagged text (its snapshot is not in the store):</p>' + (
            f'<pre class="plain">{esc(tag.anchor.text)}</pre>'
        )
    extra = (
        f'<div class="context">{context}</div><details open><summary>History</summary>'
        f"{history_list(site, s)}</details>"
    )
    return note_card(site, s, element_id, extra)


def file_page(site: Site, path: str, tags: list[Shown]) -> str:
    text = site.texts.get(path)
    review = [s for s in tags if s.tag.status in (Status.NEEDS_REVIEW, Status.ORPHANED)]
    review.sort(key=lambda s: (STATUS_ORDER.index(s.tag.status), s.tag.span.start))
    forge = ""
    if site.link is not None:
        forge = (
            f' <a class="forge" href="{esc(site.link.url(path))}" rel="noopener noreferrer">on the forge</a>'
        )
    out = [
        '<nav><a href="../index.html">← all notes</a></nav>',
        f"<header><h1>{esc(path)}</h1>",
        f'<p class="summary">{len(tags)} tags'
        + "".join(
            f" · {badge(st)} {n}" for st in STATUS_ORDER if (n := sum(s.tag.status is st for s in tags))
        )
        + f"{forge}</p></header><main>",
    ]
    if review:
        out.append('<section class="review"><h2>To review</h2>')
        for s in review:
            # an orphan has no lines here: its card is where the index links to
            element = s.anchor if s.region is None else f"review-{s.tag.id}"
            out.append(review_card(site, s, element))
        out.append("</section>")
    if text is None:
        out.append('<p class="gone">This file is not in the working tree (deleted or unreadable).</p>')
    else:
        notes: dict[int, list[str]] = {}
        marked: set[int] = set()
        for s in tags:
            if s.region is None:
                continue
            notes.setdefault(s.region.start.line, []).append(note_card(site, s, s.anchor))
            marked.update(range(s.region.start.line, s.region.end.line + 1))
        lines = cached_highlight(site.store, path, text)
        out.append(f'<table class="code file">{_code_rows(lines, 1, marked, notes)}</table>')
    out.append("</main>")
    return page(path, "\n".join(out), 1)


def tour_page(site: Site, tour: PlacedTour, by_id: dict[str, Shown]) -> str:
    out = [
        '<nav><a href="../index.html">← all notes</a></nav>',
        f"<header><h1>{esc(tour.tour.title)}</h1>",
    ]
    if tour.tour.description:
        out.append(f'<div class="md">{markdown(tour.tour.description)}</div>')
    out.append(f'<p class="summary">{len(tour.steps)} steps</p></header><main><ol class="tour">')
    for ps in tour.steps:
        out.append(f'<li class="step" id="step-{ps.number}">{_tour_step(site, ps, by_id)}</li>')
    out.append("</ol></main>")
    return page(tour.tour.title, "\n".join(out), 1)


def _tour_step(site: Site, ps: PlacedStep, by_id: dict[str, Shown]) -> str:
    step = ps.step
    title = f"<h2>{esc(step.title)}</h2>" if step.title else ""
    if not step.is_tag:
        where = "".join(
            f'<p class="dim">{key}: <code>{esc(value)}</code></p>'
            for key in ("directory", "file", "uri")
            if (value := getattr(step, key)) is not None
        )
        return f'{title}{where}<div class="md">{markdown(step.text or "")}</div>'
    shown = by_id.get(step.tag or "")
    if shown is None:
        return f'{title}<p class="gone">This step\'s tag ({esc(step.tag)}) was removed from the store.</p>'
    s = shown
    head = (
        f'<p><a class="place" href="../{esc(s.page)}#{s.anchor}">{esc(s.place)}</a> {badge(s.tag.status)}'
        f"{site.forge(s)}</p>"
    )
    code = ""
    text = site.texts.get(s.tag.path)
    if s.region is not None and text is not None:
        a, b = s.region.start.line, s.region.end.line
        code = _snippet(s.tag.path, Positions(text), a, b, set())
    body = markdown(s.tag.note) if s.tag.note else ""
    return f'{title}{head}<div class="md">{body}</div>{code}'


# -- writing -------------------------------------------------------------------------------------


@dataclass
class HtmlExport:
    directory: Path
    pages: int
    tags: int
    files: int
    tours: int
    size: int  # bytes written
    problems: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "pages": self.pages,
            "tags": self.tags,
            "files": self.files,
            "tours": self.tours,
            "bytes": self.size,
            "problems": self.problems,
        }


def check_target(store: Store, directory: Path) -> Path:
    """Where a site may be written: not inside .magicmarkup/, not onto a file."""
    target = Path(os.path.abspath(directory))
    store_dir = store.dir.resolve()
    if target.resolve() == store_dir or target.resolve().is_relative_to(store_dir):
        raise StoreError(f"{directory}: inside the tag store {store.dir}; write the export elsewhere")
    if target.exists() and not target.is_dir():
        raise StoreError(f"{directory}: exists and is not a directory")
    return target


def _asset(name: str) -> str:
    return resources.files("magicmarkup.site_assets").joinpath(name).read_text(encoding="utf-8")


def stylesheet() -> str:
    from pygments.formatters import HtmlFormatter

    pygments = HtmlFormatter(style=PYGMENTS_STYLE).get_style_defs("table.code pre")
    # Pygments gives `pre` a background of its own: the tagged lines' colour must win over it
    overrides = (
        "table.code pre { background: transparent; }\n"
        "tr.tagged td:nth-child(2) pre { background: var(--tagged); }\n"
        "table.snippet tr.tagged td:nth-child(2) pre { background: #ffebe9; }\n"
    )
    return f"{_asset('site.css')}\n/* Pygments */\n{pygments}\n{overrides}"


def _write(path: Path, text: str) -> int:
    data = text.encode("utf-8")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return len(data)


# What forked workers read: set before the pool starts, so nothing large is pickled to them.
_JOB: tuple[Site, Path, dict[str, list[Shown]]] | None = None
PARALLEL_MIN_FILES = 16  # fewer pages than this are written in this process


def _page_job(path: str) -> int:
    assert _JOB is not None
    site, target, by_file = _JOB
    tags = by_file[path]
    return _write(target / tags[0].page, file_page(site, path, tags))


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _write_pages(site: Site, target: Path, by_file: dict[str, list[Shown]]) -> int:
    """The documents' pages (most of the work: highlighting), over the cores where `fork` is."""
    global _JOB
    import multiprocessing

    workers = min(_workers(), 8)
    paths = sorted(by_file, key=lambda p: -len(site.texts.get(p, "")))  # the longest first
    if (
        workers < 2
        or len(paths) < PARALLEL_MIN_FILES
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return sum(_write(target / by_file[p][0].page, file_page(site, p, by_file[p])) for p in paths)
    from concurrent.futures import ProcessPoolExecutor

    _JOB = (site, target, by_file)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return sum(pool.map(_page_job, paths, chunksize=4))
    finally:
        _JOB = None


def export_html(store: Store, directory: Path, link: ForgeLink | None = None) -> HtmlExport:
    """Write the site into `directory` (created; files of an earlier export are replaced)."""
    target = check_target(store, directory)
    site = collect(store, link)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (target / "files").mkdir(parents=True, exist_ok=True)
    (target / "tours").mkdir(exist_ok=True)
    size = _write(target / "site.css", stylesheet()) + _write(target / "site.js", _asset("site.js"))
    size += _write(target / "index.html", index_page(site, generated))
    by_file: dict[str, list[Shown]] = {}
    for s in site.tags:
        by_file.setdefault(s.tag.path, []).append(s)
    size += _write_pages(site, target, by_file)
    by_id = {s.tag.id: s for s in site.tags}
    for tour in site.tours:
        size += _write(target / "tours" / f"{tour.name}.html", tour_page(site, tour, by_id))
    return HtmlExport(
        target,
        1 + len(by_file) + len(site.tours),
        len(site.tags),
        len(by_file),
        len(site.tours),
        size,
        site.problems,
    )
