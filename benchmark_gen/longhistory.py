"""Generator 4: the long-history suite, tags carried across years of real releases.

Each project's releases (first to last, spanning years: see `longhistory_projects.py`) become the
commits of a real git repository, one commit per release, built deterministically (fixed names
and dates, so the same archives give the same commit ids) and saved as a git bundle beside the
cases. A second repository per chosen project is a **merged history**: the project's first
releases are developed in their own root history, merged into a host repository under
`vendor/NAME/` (a subtree merge, as code developed elsewhere is merged in), and its later releases
are committed there.

A case is a tag on a definition in the first release and the answer key is where that same
definition is in the last one, found by *identity*, never by the engine: its qualified name
(enclosing definitions, then its own), unique across the whole release in both, wherever the
file now is. Categories (`meta.category`): `unchanged` (same file, same text, same offset),
`moved` (same file and text, another offset), `edited` (same file, text changed), `file_moved`
(its file was renamed or moved), `code_moved` (its code went to another file while its old file
stayed), `deleted` (no definition of the last release resembles it, fewer than half of its lines
are still in the release, and its name occurs nowhere in it: expected null), each
prefixed `merged:` in a merged history. A definition whose name vanished but that resembles
something is dropped as unknown (a rename), and so is one tree-sitter parsed with errors.

A case line: `{"id", "repo", "from_commit", "to_commit", "path", "start", "end", "language",
"expected_path", "expected_start", "expected_end", "meta"}`, offsets in code points.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmark_gen.cases import BenchError
from benchmark_gen.realhistory import (
    Definition,
    Parsed,
    Project,
    _release_index,
    default_cache_dir,
    definitions,
    fetch,
    lines_kept,
    read_release,
    unique_definitions,
)

Progress = Callable[[str], None]
MERGED = ("packaging", "commander")  # projects that also get a merged-history repository
PER_PROJECT = 70  # cases per repository at most
LONG_FILE_CHARS = 2_000_000
ALWAYS = ("file_moved", "code_moved", "deleted")  # categories kept before the others are sampled


@dataclass(frozen=True)
class LongCase:
    id: str
    repo: str
    from_commit: str
    to_commit: str
    path: str
    start: int
    end: int
    language: str
    expected_path: str | None
    expected_start: int | None
    expected_end: int | None
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo": self.repo,
            "from_commit": self.from_commit,
            "to_commit": self.to_commit,
            "path": self.path,
            "start": self.start,
            "end": self.end,
            "language": self.language,
            "expected_path": self.expected_path,
            "expected_start": self.expected_start,
            "expected_end": self.expected_end,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LongCase:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


# -- building the repositories -----------------------------------------------------------------


def _git(repo: Path, *args: str, date: int = 0) -> str:
    env = dict(os.environ)
    stamp = f"{1_500_000_000 + date * 86_400} +0000"
    env.update(
        GIT_AUTHOR_NAME="release",
        GIT_AUTHOR_EMAIL="release@example.invalid",
        GIT_COMMITTER_NAME="release",
        GIT_COMMITTER_EMAIL="release@example.invalid",
        GIT_AUTHOR_DATE=stamp,
        GIT_COMMITTER_DATE=stamp,
    )
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(var, None)
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"git {' '.join(args[:2])} in {repo}: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def _write_tree(repo: Path, files: dict[str, tuple[str, str]], prefix: str = "") -> None:
    """Make the working tree under `prefix` exactly `files`."""
    base = repo / prefix if prefix else repo
    if base.exists():
        for child in base.iterdir():
            if child.name == ".git":
                continue
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for rel, (_lang, text) in files.items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def build_linear(repo: Path, project: Project, releases: list[dict[str, tuple[str, str]]]) -> list[str]:
    """One commit per release; returns their ids."""
    _git(repo, "init", "-q", "-b", "main")
    commits = []
    for i, (version, files) in enumerate(zip(project.versions, releases, strict=True)):
        _write_tree(repo, files)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"{project.name} {version}", date=i)
        commits.append(_git(repo, "rev-parse", "HEAD"))
    return commits


def build_merged(repo: Path, project: Project, releases: list[dict[str, tuple[str, str]]]) -> list[str]:
    """The first half of the releases in their own root history, merged into a host under
    `vendor/NAME/`, the rest committed there. Returns each release's commit id."""
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text(f"host project vendoring {project.name}\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "host", date=0)
    _git(repo, "checkout", "-q", "--orphan", "upstream")
    _git(repo, "rm", "-q", "-r", "--cached", ".")
    (repo / "README.md").unlink()
    half = max(2, len(releases) // 2)
    commits = []
    for i in range(half):
        _write_tree(repo, releases[i])
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"{project.name} {project.versions[i]}", date=i + 1)
        commits.append(_git(repo, "rev-parse", "HEAD"))
    _git(repo, "checkout", "-q", "-f", "main")
    _git(repo, "clean", "-q", "-fdx")
    prefix = f"vendor/{project.name}/"
    _git(
        repo,
        "merge",
        "-q",
        "-s",
        "ours",
        "--no-commit",
        "--allow-unrelated-histories",
        "upstream",
        date=half + 1,
    )
    _git(repo, "read-tree", f"--prefix={prefix}", "-u", "upstream")
    _git(repo, "commit", "-q", "-m", f"vendor {project.name}", date=half + 1)
    commits[-1] = commits[-1]  # the last upstream release is the merged one
    for i in range(half, len(releases)):
        _write_tree(repo, releases[i], prefix)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"{project.name} {project.versions[i]}", date=i + 2)
        commits.append(_git(repo, "rev-parse", "HEAD"))
    return commits


# -- the answer key --------------------------------------------------------------------------


def _defs(files: dict[str, tuple[str, str]]) -> dict[str, tuple[str, Definition]]:
    """qualified name -> (path, definition), for names unique across the whole release."""
    seen: dict[str, list[tuple[str, Definition]]] = {}
    for path, (lang, text) in files.items():
        try:
            parsed = Parsed(text, lang)
        except Exception:  # a grammar that cannot load: no definitions from this file
            continue
        for qual, d in unique_definitions(definitions(parsed)).items():
            seen.setdefault(qual, []).append((path, d))
    return {q: found[0] for q, found in seen.items() if len(found) == 1}


def _mentioned(qualname: str, files: dict[str, tuple[str, str]]) -> bool:
    """Whether the definition's own name still occurs as a word in the release: then a
    definition the parser missed (a macro, a parse error) may still be it."""
    name = qualname.rsplit("::", 1)[-1].split("(")[0].split("<")[0].strip()
    if not name:
        return True
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
    return any(word.search(text) for _lang, text in files.values())


def _rank(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def repo_cases(
    name: str, bundle: str, commits: list[str], releases: list[dict[str, tuple[str, str]]], prefix: str = ""
) -> list[LongCase]:
    first, last = releases[0], releases[-1]
    old_defs, new_defs = _defs(first), _defs(last)
    index = _release_index(last)
    drafts: list[tuple[str, LongCase]] = []
    for qual, (path, d) in sorted(old_defs.items()):
        if d.end - d.start < 20 or (d.kind == "class" and d.end - d.start > 6000) or d.node.has_error:
            continue  # (a definition tree-sitter could not parse cleanly has no sure identity)
        lang = first[path][0]
        found = new_defs.get(qual)
        new_path: str | None = None
        span: tuple[int, int] | None = None
        if found is not None:
            new_path, nd = found
            if nd.node.has_error:
                continue
            s, e, _text = nd.target(last[new_path][1], d.decorated)
            span = (s, e)
            if new_path != path:
                category = "code_moved" if path in last else "file_moved"
            elif last[new_path][1][s:e] != d.text:
                category = "edited"
            elif s == d.start:
                category = "unchanged"
            else:
                category = "moved"
        elif (
            index.resembles(lang, d.text) or lines_kept(d.text, index.lines) >= 0.5 or _mentioned(qual, last)
        ):
            continue  # renamed, its code still there, or its name still defined (unparsed): unknown
        else:
            category = "deleted"
        label = f"merged:{category}" if prefix else category
        case = LongCase(
            id=f"{bundle.removesuffix('.bundle')}:{path}:{qual}",
            repo=bundle,
            from_commit=commits[0],
            to_commit=commits[-1],
            path=path,
            start=d.start,
            end=d.end,
            language=lang,
            expected_path=(prefix + new_path) if new_path is not None else None,
            expected_start=span[0] if span else None,
            expected_end=span[1] if span else None,
            meta={"category": label, "project": name, "qualname": qual, "releases": len(commits)},
        )
        drafts.append((category, case))
    keep = [c for cat, c in drafts if cat in ALWAYS]
    keep.sort(key=lambda c: _rank(c.id))
    keep = keep[: PER_PROJECT // 2]
    rest = sorted((c for cat, c in drafts if cat not in ALWAYS), key=lambda c: _rank(c.id))
    keep += rest[: PER_PROJECT - len(keep)]
    return sorted(keep, key=lambda c: c.id)


# -- the whole suite -------------------------------------------------------------------------


def generate(
    projects: dict[str, Project], out_dir: Path, cache: Path | None = None, progress: Progress | None = None
) -> Iterator[LongCase]:
    """Build each project's repositories into `out_dir` (bundles) and yield its cases."""
    cache = cache or default_cache_dir()
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, project in projects.items():
        # every file, however large: a file missing from one release would cut its history
        pairs = [
            (v, read_release(project, fetch(project, v, cache), LONG_FILE_CHARS)) for v in project.versions
        ]
        pairs = [(v, r) for v, r in pairs if r]  # a release with none of the included files: skipped
        project = replace(project, versions=tuple(v for v, _r in pairs))
        releases = [r for _v, r in pairs]
        if len(releases) < 3:
            raise BenchError(f"{name}: fewer than three readable releases")
        variants = [("", build_linear)] + ([("vendor/", build_merged)] if name in MERGED else [])
        for kind, build in variants:
            bundle = f"{name}{'-merged' if kind else ''}.bundle"
            with tempfile.TemporaryDirectory() as tmp:
                repo = Path(tmp)
                commits = build(repo, project, releases)
                _git(repo, "bundle", "create", "-q", str(out_dir / bundle), "--all")
            prefix = f"vendor/{name}/" if kind else ""
            cases = repo_cases(name, bundle, commits, releases, prefix)
            if progress:
                progress(f"{bundle}: {len(cases)} cases over {len(commits)} releases")
            yield from cases


def write(cases: Iterator[LongCase], out: Path) -> int:
    n = 0
    with gzip.GzipFile(out, "wb", mtime=0) as fh:
        for case in cases:
            fh.write(json.dumps(case.to_json(), sort_keys=True).encode() + b"\n")
            n += 1
    return n


def read(path: Path) -> list[LongCase]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [LongCase.from_json(json.loads(line)) for line in fh if line.strip()]


def is_long_history(path: Path) -> bool:
    """Whether a case file holds long-history cases (they name a repository)."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            first = fh.readline()
        return '"repo"' in first and '"from_commit"' in first
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
