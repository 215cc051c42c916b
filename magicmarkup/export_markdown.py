"""`export --markdown`: the notes as one Markdown document, for a wiki or a pull-request comment.

One section per file; each tag is a `path:line` link (to the forge with `--link`, else relative
to the repository root), its status when a person should look at it, its note, and the code it
is on. Tours follow, their steps in order. Notes are Markdown already and are kept as written,
except that raw HTML is escaped (`<script>` shows as text wherever the document is rendered);
code goes in a fence longer than any run of backticks it holds.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from magicmarkup.forge import ForgeLink
from magicmarkup.model import Status, Tag
from magicmarkup.positions import Positions, Region
from magicmarkup.store import Store
from magicmarkup.tours import load_tours, place_tour
from magicmarkup.view import current

REVIEW = (Status.NEEDS_REVIEW, Status.ORPHANED)
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def inline(text: str) -> str:
    """Text safe inside a Markdown line: no markup, no raw HTML, one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split())).replace("&", "&amp;")


def note_text(text: str) -> str:
    """A note's Markdown with raw HTML made inert (`<` and `&` as entities)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fence(code: str, language: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{code}\n{ticks}"


def link(tag: Tag, region: Region | None, forge: ForgeLink | None) -> str:
    """`[path:line](target)`: the forge's URL, else the path relative to the repository root."""
    if region is None:
        label = f"{tag.path} ({tag.status.value})"
        target = forge.url(tag.path) if forge else quote(tag.path, safe="/")
    else:
        a, b = region.start.line, region.end.line
        label = f"{tag.path}:{a}" if a == b else f"{tag.path}:{a}-{b}"
        anchor = f"#L{a}" if a == b else f"#L{a}-L{b}"
        target = forge.url(tag.path, a, b) if forge else quote(tag.path, safe="/") + anchor
    return f"[{inline(label)}](<{target.replace('>', '%3E').replace(' ', '%20')}>)"


def export_markdown(store: Store, forge: ForgeLink | None = None, code: bool = True) -> str:
    """The whole document (tags of every file, then tours)."""
    from magicmarkup.documents import language_for

    view = current(store)
    positions: dict[str, Positions] = {}
    regions: dict[str, Region | None] = {}
    for tag in view.tags:
        text = view.texts.get(tag.path)
        region = None
        if tag.status is not Status.ORPHANED and text is not None and tag.span.end <= len(text):
            pos = positions.setdefault(tag.path, Positions(text))
            region = pos.region(tag.span.start, tag.span.end)
        regions[tag.id] = region
    by_file: dict[str, list[Tag]] = {}
    for tag in view.tags:
        by_file.setdefault(tag.path, []).append(tag)
    review = sum(t.status in REVIEW for t in view.tags)
    out = [
        "# Notes on the code",
        "",
        f"{len(view.tags)} tags in {len(by_file)} files"
        + (f", {review} to review (needs_review or orphaned)." if review else "."),
    ]
    for problem in view.problems:
        out += ["", f"> **Could not read:** {inline(problem)}"]

    def entry(tag: Tag, prefix: str) -> list[str]:
        region = regions.get(tag.id)
        flag = f" — **{tag.status.value.replace('_', ' ')}**" if tag.status in REVIEW else ""
        lines = [f"{prefix}{link(tag, region, forge)}{flag}", ""]
        if tag.note:
            lines += [note_text(tag.note), ""]
        if code:
            shown = tag.anchor.text
            if region is not None:  # the whole lines it is on, as a reader sees them in the file
                index = positions[tag.path].index
                text = view.texts[tag.path]
                shown = text[index.offset(region.start.line) : index.line_end(region.end.line)]
            lines += [fence(shown, language_for(tag.path) or ""), ""]
        return lines

    for path in sorted(by_file):
        out += ["", f"## {inline(path)}", ""]
        for tag in by_file[path]:
            out += entry(tag, "### ")
    tours, problems = load_tours(store)
    for problem in problems:
        out += ["", f"> **Could not read:** {inline(problem)}"]
    by_id = {t.id: t for t in view.tags}
    for name, tour in tours.items():
        placed = place_tour(name, tour, by_id)
        out += ["", f"## Tour: {inline(tour.title)}", ""]
        if tour.description:
            out += [note_text(tour.description), ""]
        for ps in placed.steps:
            title = f" {inline(ps.step.title)}" if ps.step.title else ""
            if ps.tag is not None:
                out += entry(ps.tag, f"### {ps.number}.{title} ")
            elif ps.missing:
                out += [f"### {ps.number}.{title} (its tag {inline(ps.step.tag or '')} was removed)", ""]
            else:
                out += [f"### {ps.number}.{title}", ""]
                for key in ("directory", "file", "uri"):
                    value = getattr(ps.step, key)
                    if value:
                        out += [f"*{key}:* {inline(value)}", ""]
                out += [note_text(ps.step.text or ""), ""]
    return "\n".join(out).rstrip() + "\n"
