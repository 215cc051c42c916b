"""CodeTour `.tour` files in and out: import a tour as tags of a tour of the store, and export
every tour with today's lines, so a tour written against old code never points at the wrong
lines (the complaint CodeTour users make most).

CodeTour (the VS Code extension) places a step by `line` (1-based), by `selection` (1-based line
and character, the end exclusive as in VS Code), or by `pattern` (a regular expression, used
only when `line` is absent); a step may also have only a `directory`, a `file`, a `uri`, or no
place at all (an intro). Import turns each step with a place into a tag (its title and
description are the note) and keeps the others as text steps; export writes each tag step at
the lines the tag covers now (`line` is the span's last line, where CodeTour shows the comment,
and `selection` the span itself) and names the steps a person should look at.

A `.tour` file comes from anywhere (a clone, an agent): it is read bounded, validated step by
step, and nothing is written unless every step can be placed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from magicmarkup.documents import language_for
from magicmarkup.errors import MagicMarkupError, StoreError
from magicmarkup.model import LineIndex, Span, Status, Tag
from magicmarkup.positions import Positions
from magicmarkup.safeio import load_json, read_regular
from magicmarkup.sharing import check_copyable
from magicmarkup.store import Store
from magicmarkup.tags import add_tag
from magicmarkup.tours import (
    NAME_RE,
    PlacedTour,
    Tour,
    TourNotFound,
    TourStep,
    load_tour,
    load_tours,
    place_tour,
    save_tour,
)
from magicmarkup.view import current

MAX_TOUR_FILE_BYTES = 8 * 1024 * 1024
MAX_PATTERN_CHARS = 1000
SCHEMA_URL = "https://aka.ms/codetour-schema"
TEXT_KEYS = ("directory", "file", "uri", "view")


class CodeTourError(MagicMarkupError):
    """A `.tour` file that cannot be imported: one line naming the file, the step and why."""


@dataclass
class Planned:
    """A step of a `.tour` file, ready to write: a span of a document, or text only."""

    step: TourStep
    path: str | None = None
    span: Span | None = None
    note: str = ""
    metadata: dict[str, JsonValue] = field(default_factory=dict)


@dataclass
class ImportResult:
    name: str
    title: str
    tags: list[Tag] = field(default_factory=list)
    text_steps: int = 0


def tour_name_for(file: Path) -> str:
    """A store name for the tour of `file` (its stem, with what a name may not hold replaced)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", file.name.removesuffix(".tour")).strip(".-")[:64]
    return stem if stem and NAME_RE.match(stem) else "tour"


def read_codetour(file: Path) -> dict[str, Any]:
    """The JSON object of a `.tour` file, with its title and steps checked."""
    label = str(file)
    data = read_regular(file, MAX_TOUR_FILE_BYTES, follow_symlinks=True, label=label, error=CodeTourError)
    raw = load_json(data, label=label, error=CodeTourError)
    if not isinstance(raw, dict):
        raise CodeTourError(f"{label}: not a CodeTour file (expected a JSON object)")
    if not isinstance(raw.get("title"), str):
        raise CodeTourError(f'{label}: not a CodeTour file (no "title" string)')
    if not isinstance(raw.get("steps"), list):
        raise CodeTourError(f'{label}: not a CodeTour file (no "steps" list)')
    for key in ("description", "nextTour"):
        if key in raw and not isinstance(raw[key], str):
            raise CodeTourError(f'{label}: "{key}" must be a string')
    return raw


def plan_import(store: Store, file: Path, raw: dict[str, Any]) -> list[Planned]:
    """Every step of the tour placed in today's files (nothing written)."""
    texts: dict[str, str] = {}
    planned = []
    for number, step in enumerate(raw["steps"], 1):
        where = f"{file}: step {number}"
        if not isinstance(step, dict):
            raise CodeTourError(f"{where}: not a JSON object")
        description = step.get("description")
        if not isinstance(description, str):
            raise CodeTourError(f'{where}: no "description" string')
        title = step.get("title")
        if title is not None and not isinstance(title, str):
            raise CodeTourError(f'{where}: "title" must be a string')
        for key in TEXT_KEYS:
            if key in step and not isinstance(step[key], str):
                raise CodeTourError(f'{where}: "{key}" must be a string')
        commands = step.get("commands")
        if commands is not None and not (
            isinstance(commands, list) and all(isinstance(c, str) for c in commands)
        ):
            raise CodeTourError(f'{where}: "commands" must be a list of strings')
        has_place = any(k in step for k in ("line", "selection", "pattern"))
        if not has_place or "file" not in step:
            if has_place:
                raise CodeTourError(f'{where}: a "line", "selection" or "pattern" needs a "file"')
            planned.append(
                Planned(
                    TourStep(
                        title=title,
                        text=description,
                        commands=commands,
                        **{k: step[k] for k in TEXT_KEYS if k in step},
                    )
                )
            )
            continue
        try:
            rel = store.check_relpath(step["file"].removeprefix("./"))
            if rel not in texts:
                check_copyable(store.root, [rel])  # the one rule for what may enter the store
                texts[rel] = store.read_document(rel)
        except MagicMarkupError as exc:
            raise CodeTourError(f"{where}: {exc}") from None
        span = _place(texts[rel], step, f"{where} ({rel})")
        note = f"{title}\n\n{description}" if title else description
        metadata: dict[str, JsonValue] = {"title": title} if title else {}
        planned.append(Planned(TourStep(view=step.get("view"), commands=commands), rel, span, note, metadata))
    return planned


def _whole(value: object) -> int | None:
    """A JSON number that is a whole number >= 1 (CodeTour writes lines as numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(value)
    return number if number >= 1 else None


def _lines_span(text: str, index: LineIndex, first: int, last: int, where: str) -> Span:
    """Lines `first`..`last` (1-based), without their surrounding blank characters."""
    if last > index.line_count or (last == index.line_count and index.offset(last) == len(text)):
        raise CodeTourError(f"{where}: line {last} is past the end of the file")
    start, end = index.offset(first), index.line_end(last)
    while start < end and text[start] in " \t":
        start += 1
    while end > start and text[end - 1] in " \t\r":
        end -= 1
    if start >= end:
        raise CodeTourError(f"{where}: line {first} is blank; nothing to tag there")
    return Span(start=start, end=end)


def _place(text: str, step: dict[str, Any], where: str) -> Span:
    """The span a CodeTour step points at in `text` (line wins over pattern, as in CodeTour)."""
    index = LineIndex(text)
    if "line" in step and "selection" not in step:
        line = _whole(step["line"])
        if line is None:
            raise CodeTourError(f'{where}: "line" must be a whole number >= 1')
        return _lines_span(text, index, line, line, where)
    if "selection" in step:
        sel = step["selection"]
        try:
            points = [(_whole(sel[e]["line"]), _whole(sel[e]["character"])) for e in ("start", "end")]
        except (TypeError, KeyError):
            points = []
        if len(points) != 2 or any(p is None for pair in points for p in pair):
            raise CodeTourError(
                f'{where}: "selection" needs start and end, each a 1-based "line" and "character"'
            )
        (l1, c1), (l2, c2) = points
        assert l1 is not None and c1 is not None and l2 is not None and c2 is not None
        if l1 > index.line_count or l2 > index.line_count:
            raise CodeTourError(f"{where}: the selection ends past the end of the file")
        start = min(index.offset(l1) + c1 - 1, index.line_end(l1))
        end = min(index.offset(l2) + c2 - 1, index.line_end(l2))
        while end > start and text[end - 1] in "\r\n":  # a selection of whole lines ends at column 1
            end -= 1
        if start >= end:
            raise CodeTourError(f"{where}: the selection is empty")
        return Span(start=start, end=end)
    pattern = step["pattern"]
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise CodeTourError(
            f'{where}: "pattern" must be a regular expression of 1-{MAX_PATTERN_CHARS} characters'
        )
    try:
        found = re.search(pattern, text, re.MULTILINE)
    except re.error as exc:
        raise CodeTourError(
            f"{where}: pattern {pattern!r} is not a valid regular expression ({exc})"
        ) from None
    if found is None:
        raise CodeTourError(f"{where}: pattern {pattern!r} matches nothing in the file")
    first = index.position(found.start()).line
    last = index.position(max(found.start(), found.end() - 1)).line
    return _lines_span(text, index, first, last, where)


def import_codetour(store: Store, file: Path, name: str | None = None) -> ImportResult:
    """Import a CodeTour file as tour `name` (default: from the file's name): its placed steps
    become tags, the others text steps. Refuses a name already taken; writes nothing unless
    every step can be placed."""
    raw = read_codetour(file)
    name = name or tour_name_for(file)
    try:
        load_tour(store, name)
    except TourNotFound:
        pass
    else:
        raise StoreError(f"tour {name} exists already; import under another name with --name")
    planned = plan_import(store, file, raw)
    result = ImportResult(name, raw["title"])
    steps: list[TourStep] = []
    with store.locked():
        for plan in planned:
            if plan.path is None or plan.span is None:
                steps.append(plan.step)
                result.text_steps += 1
                continue
            tag = add_tag(
                store,
                plan.path,
                span=(plan.span.start, plan.span.end),
                note=plan.note,
                metadata=plan.metadata,
                language=language_for(plan.path),
                allow_ignored=True,  # checked while planning
            )
            result.tags.append(tag)
            steps.append(plan.step.model_copy(update={"tag": tag.id}))
        tour = Tour(
            title=raw["title"],
            description=raw.get("description"),
            is_primary=raw.get("isPrimary") if isinstance(raw.get("isPrimary"), bool) else None,
            next_tour=raw.get("nextTour"),
            steps=steps,
        )
        save_tour(store, name, tour)
    return result


# -- export ----------------------------------------------------------------------------------


@dataclass
class Flagged:
    """A step a person should look at: its tag needs review, is orphaned, or is gone."""

    tour: str
    step: int
    tag_id: str | None
    status: str
    path: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "tour": self.tour,
            "step": self.step,
            "tag": self.tag_id,
            "status": self.status,
            "path": self.path,
        }


@dataclass
class ExportedTour:
    name: str
    file: Path
    steps: int
    flagged: list[Flagged] = field(default_factory=list)


def description_of(tag: Tag) -> tuple[str | None, str]:
    """A tag's (title, description) as a CodeTour step shows them (import wrote the title
    into the note too; a note edited since is shown whole)."""
    title = tag.metadata.get("title")
    note = tag.note
    if isinstance(title, str) and title:
        return title, note.removeprefix(f"{title}\n\n")
    return None, note


def tour_document(placed: PlacedTour, texts: dict[str, str]) -> tuple[dict[str, Any], list[Flagged]]:
    """A tour as a CodeTour JSON object, with each tag step at its lines now."""
    tour = placed.tour
    doc: dict[str, Any] = {"$schema": SCHEMA_URL, "title": tour.title}
    if tour.description:
        doc["description"] = tour.description
    if tour.is_primary is not None:
        doc["isPrimary"] = tour.is_primary
    if tour.next_tour is not None:
        doc["nextTour"] = tour.next_tour
    positions: dict[str, Positions] = {}
    flagged: list[Flagged] = []
    steps = []
    for ps in placed.steps:
        step = ps.step
        out: dict[str, Any] = {}
        if not step.is_tag:
            if step.title:
                out["title"] = step.title
            out["description"] = step.text or ""
            for key in TEXT_KEYS:
                if getattr(step, key) is not None:
                    out[key] = getattr(step, key)
        elif ps.tag is None:
            flagged.append(Flagged(placed.name, ps.number, step.tag, "missing", None))
            out["description"] = f"(this step's tag {step.tag} was removed from the store)"
        else:
            tag = ps.tag
            title, description = description_of(tag)
            if title:
                out["title"] = title
            out["description"] = description
            out["file"] = tag.path
            text = texts.get(tag.path)
            if tag.status is not Status.ORPHANED and text is not None and tag.span.end <= len(text):
                pos = positions.setdefault(tag.path, Positions(text))
                first, end = pos.point(tag.span.start), pos.point(tag.span.end)
                last = pos.point(max(tag.span.start, tag.span.end - 1))
                out["line"] = last.line
                out["selection"] = {
                    "start": {"line": first.line, "character": first.col},
                    "end": {"line": end.line, "character": end.col},
                }
            if tag.status in (Status.NEEDS_REVIEW, Status.ORPHANED):
                flagged.append(Flagged(placed.name, ps.number, tag.id, tag.status.value, tag.path))
        if step.view:
            out["view"] = step.view
        if step.commands:
            out["commands"] = step.commands
        steps.append(out)
    doc["steps"] = steps
    return doc, flagged


def export_codetours(store: Store, directory: Path, names: list[str] | None = None) -> list[ExportedTour]:
    """Write `<name>.tour` into `directory` for every tour (or those named), with today's lines.
    Tour files that cannot be read are errors (an export must not silently miss a tour)."""
    if names:
        tours = {n: load_tour(store, n) for n in names}
    else:
        tours, problems = load_tours(store)
        if problems:
            raise StoreError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    view = current(store)
    by_id = {t.id: t for t in view.tags}
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, tour in tours.items():
        doc, flagged = tour_document(place_tour(name, tour, by_id), view.texts)
        target = directory / f"{name}.tour"
        try:
            target.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"{target}: cannot write ({exc.strerror or exc})") from None
        written.append(ExportedTour(name, target, len(doc["steps"]), flagged))
    return written
