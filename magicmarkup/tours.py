"""Tours: an ordered set of tags with a title, for guided reading (the HTML site, the TUI, and
CodeTour `.tour` files written with today's lines).

A tour is one small JSON file in the shared store, `.magicmarkup/tours/<name>.json`::

    {"schema_version": 1, "title": "How a price is computed", "description": "...",
     "steps": [{"text": "### Start here ..."},                       # text only (an intro)
               {"tag": "01jd3k4m..."},                               # a tag of the store
               {"text": "A step on a folder.", "directory": "inventory"}]}

A step names its tag by id, so the tag's place is the store's (it follows the code, it is never
copied here). Text steps keep what a CodeTour step without a place had (`title`, `directory`,
`file`, `uri`, `view`, `commands`). Like every store file, a tour file may come from a stranger's
clone: it is read as a regular file of bounded size, no symlink followed, and validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from magicmarkup.errors import MagicMarkupError, StoreError
from magicmarkup.model import Tag, TagId
from magicmarkup.safeio import load_json
from magicmarkup.store import Store, atomic_write, read_store_file

TOURS_DIR = "tours"
TOUR_SCHEMA_VERSION = 1
MAX_TOUR_BYTES = 4 * 1024 * 1024
# A tour name is a file name in the store: letters, digits, '.', '_' and '-', not starting with '.'.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TourNotFound(MagicMarkupError):
    """No tour has the given name."""


class TourStep(BaseModel):
    """One step: a tag (by id), or text alone (an intro, a folder, a file, a link)."""

    model_config = ConfigDict(extra="forbid")

    tag: TagId | None = None
    title: str | None = Field(default=None, max_length=1000)
    text: str | None = Field(default=None, max_length=100_000)
    directory: str | None = Field(default=None, max_length=4096)
    file: str | None = Field(default=None, max_length=4096)
    uri: str | None = Field(default=None, max_length=4096)
    view: str | None = Field(default=None, max_length=200)
    commands: list[str] | None = Field(default=None, max_length=100)

    @property
    def is_tag(self) -> bool:
        return self.tag is not None


class Tour(BaseModel):
    """The on-disk shape of `.magicmarkup/tours/<name>.json`."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = Field(default=TOUR_SCHEMA_VERSION, strict=True)
    title: str = Field(max_length=1000)
    description: str | None = Field(default=None, max_length=100_000)
    is_primary: bool | None = None
    next_tour: str | None = Field(default=None, max_length=1000)
    steps: list[TourStep] = Field(default_factory=list, max_length=10_000)


def check_name(name: str) -> str:
    """A tour name that is safe as a file name, or a one-line error."""
    if not NAME_RE.match(name):
        raise StoreError(
            f"tour name {name!r}: use 1-64 letters, digits, '.', '_' or '-' (not starting with '.')"
        )
    return name


def tours_dir(store: Store) -> Path:
    folder = store.dir / TOURS_DIR
    if folder.is_symlink():
        raise StoreError(f"{store.label(folder)}: is a symbolic link inside the store; refused")
    return folder


def tour_file(store: Store, name: str) -> Path:
    return tours_dir(store) / f"{check_name(name)}.json"


def tour_names(store: Store) -> list[str]:
    """Every tour of the store, sorted by name (files with other names are ignored)."""
    folder = tours_dir(store)
    try:
        names = [p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if NAME_RE.match(n))


def load_tour(store: Store, name: str) -> Tour:
    """The tour `name`; a missing, unreadable or invalid file is one error line naming it."""
    file = tour_file(store, name)
    label = store.label(file)
    try:
        data = read_store_file(file, label, MAX_TOUR_BYTES)
    except FileNotFoundError:
        raise TourNotFound(
            f"{name}: no such tour (tours: {', '.join(tour_names(store)) or 'none'})"
        ) from None
    raw = load_json(data, label=label, error=StoreError)
    if not isinstance(raw, dict):
        raise StoreError(f"{label}: not a tour (expected a JSON object)")
    version = raw.get("schema_version", TOUR_SCHEMA_VERSION)
    if not isinstance(version, int) or version > TOUR_SCHEMA_VERSION:
        raise StoreError(f"{label}: schema_version {version!r} is newer than this magicmarkup supports")
    try:
        return Tour.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"]))
        raise StoreError(f"{label}: invalid tour ({where}: {err['msg']})") from None


def load_tours(store: Store) -> tuple[dict[str, Tour], list[str]]:
    """Every tour that can be read, and one line per tour file that cannot."""
    tours: dict[str, Tour] = {}
    problems: list[str] = []
    for name in tour_names(store):
        try:
            tours[name] = load_tour(store, name)
        except (StoreError, TourNotFound) as exc:
            problems.append(str(exc))
    return tours, problems


def save_tour(store: Store, name: str, tour: Tour) -> None:
    """Write a tour atomically (hold the store's lock)."""
    folder = tours_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(tour.model_dump(mode="json", exclude_none=True), option=orjson.OPT_INDENT_2)
    atomic_write(tour_file(store, name), data + b"\n", store.tmp_dir)


def check_step(store: Store, name: str, position: int | None) -> None:
    """Refuse a bad tour name or step number before anything is written."""
    check_name(name)
    if position is None:
        return
    try:
        count = len(load_tour(store, name).steps)
    except TourNotFound:
        count = 0
    if not 1 <= position <= count + 1:
        raise StoreError(f"--step {position}: tour {name} has {count} steps; give 1..{count + 1}")


def add_step(
    store: Store, name: str, step: TourStep, position: int | None = None, title: str | None = None
) -> int:
    """Put `step` into tour `name` (created, titled `title` or its name, when new) at 1-based
    `position` (default: last). Returns the step's number."""
    check_name(name)
    with store.locked():
        try:
            tour = load_tour(store, name)
        except TourNotFound:
            tour = Tour(title=title or name)
        count = len(tour.steps)
        if position is not None and not 1 <= position <= count + 1:
            raise StoreError(f"--step {position}: tour {name} has {count} steps; give 1..{count + 1}")
        index = count if position is None else position - 1
        tour.steps.insert(index, step)
        save_tour(store, name, tour)
    return index + 1


@dataclass
class PlacedStep:
    """A step of a tour as shown: its number, and its tag where it is now (None: a text step,
    or `missing` when the tag is gone from the store)."""

    number: int
    step: TourStep
    tag: Tag | None = None
    missing: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"step": self.number, "kind": "tag" if self.step.is_tag else "text"}
        data.update(self.step.model_dump(mode="json", exclude_none=True))
        if self.tag is not None:
            data["tag"] = self.tag.summary()
        if self.missing:
            data["missing"] = True
        return data


@dataclass
class PlacedTour:
    name: str
    tour: Tour
    steps: list[PlacedStep] = field(default_factory=list)


def place_tour(name: str, tour: Tour, tags: dict[str, Tag]) -> PlacedTour:
    """A tour's steps with their tags taken from `tags` (id -> the tag where it is now)."""
    steps = []
    for number, step in enumerate(tour.steps, 1):
        tag = tags.get(step.tag) if step.tag else None
        steps.append(PlacedStep(number, step, tag, missing=step.is_tag and tag is None))
    return PlacedTour(name, tour, steps)


def placed(store: Store, name: str) -> PlacedTour:
    """Tour `name` with each tag where it is in the working tree now (the local view)."""
    from magicmarkup.tags import list_tags

    tour = load_tour(store, name)
    return place_tour(name, tour, {t.id: t for t in list_tags(store)})
