"""The benchmark case format (DESIGN.md, "Benchmarks"), and reading/writing it as JSON Lines.

Kept exactly as specified because case files from other tools are scored with it: offsets are
code points, end exclusive; `expected_start: null` means the tagged code was deleted.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from magicmarkup.errors import MagicMarkupError

log = logging.getLogger(__name__)


class BenchError(MagicMarkupError):
    """A benchmark file or option cannot be used."""


class Case(BaseModel):
    """One re-anchoring problem: a span of `old_text`, and where it should be in `new_text`."""

    model_config = ConfigDict(extra="ignore")

    id: str
    old_text: str
    old_start: int = Field(ge=0)
    old_end: int = Field(ge=0)
    new_text: str
    expected_start: int | None = None
    expected_end: int | None = None
    language: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_offsets(self) -> Case:
        if not self.old_start < self.old_end <= len(self.old_text):
            raise ValueError(
                f"old span {self.old_start}:{self.old_end} does not fit old_text ({len(self.old_text)} chars)"
            )
        if (self.expected_start is None) != (self.expected_end is None):
            raise ValueError("expected_start and expected_end must both be null or both be set")
        if (
            self.expected_start is not None
            and self.expected_end is not None
            and not 0 <= self.expected_start < self.expected_end <= len(self.new_text)
        ):
            raise ValueError(
                f"expected span {self.expected_start}:{self.expected_end} does not fit new_text "
                f"({len(self.new_text)} chars)"
            )
        return self

    @property
    def deleted(self) -> bool:
        return self.expected_start is None

    @property
    def category(self) -> str:
        value = self.meta.get("category")
        return str(value) if value else "uncategorized"

    @property
    def old_piece(self) -> str:
        return self.old_text[self.old_start : self.old_end]

    @property
    def expected_piece(self) -> str | None:
        if self.expected_start is None or self.expected_end is None:
            return None
        return self.new_text[self.expected_start : self.expected_end]

    def to_json_line(self) -> str:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=False)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be read as a case: reported, skipped, never fatal."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def _open_text(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8"))
    return open(path, mode, encoding="utf-8")


def iter_cases(path: Path | str, bad: list[BadLine] | None = None) -> Iterator[Case]:
    """Yield the cases of a `.jsonl` or `.jsonl.gz` file; malformed lines go to `bad` (and the log)."""
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{p}: no such case file")
    try:
        with _open_text(p, "r") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield Case.model_validate_json(line)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    where = ".".join(str(x) for x in err["loc"])
                    reason = f"{where}: {err['msg']}" if where else err["msg"]
                    _report(p, number, reason, bad)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BenchError(f"{p}: cannot read ({exc})") from None


def _report(path: Path, number: int, reason: str, bad: list[BadLine] | None) -> None:
    item = BadLine(str(path), number, reason)
    log.warning("skipping malformed case %s", item)
    if bad is not None:
        bad.append(item)


def read_cases(paths: Iterable[Path | str], bad: list[BadLine] | None = None) -> list[Case]:
    """All cases of several files, in order."""
    out: list[Case] = []
    for path in paths:
        out.extend(iter_cases(path, bad))
    return out


def read_ids(path: Path | str) -> set[str]:
    """The ids already present in a (possibly partial) case file, for resumable generators."""
    p = Path(path)
    if not p.is_file():
        return set()
    ids: set[str] = set()
    with _open_text(p, "r") as fh:
        for line in fh:
            try:
                value = json.loads(line).get("id")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(value, str):
                ids.add(value)
    return ids


def write_cases(path: Path | str, cases: Iterable[Case], append: bool = False) -> int:
    """Write cases as JSON Lines (gzip when the name ends in .gz); returns how many.

    Gzip output is written with mtime 0 so the same cases give the same bytes (reviewable diffs)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    if p.suffix == ".gz":
        mode = "ab" if append else "wb"
        with open(p, mode) as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            for case in cases:
                gz.write((case.to_json_line() + "\n").encode("utf-8"))
                n += 1
        return n
    with open(p, "a" if append else "w", encoding="utf-8") as fh:
        for case in cases:
            fh.write(case.to_json_line() + "\n")
            n += 1
    return n
