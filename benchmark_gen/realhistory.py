"""Generator 3: benchmark cases from the real release history of open-source projects.

Each case is a tag a user could have placed on one released version of a file, and the answer
key is where that same code is in the next released version. The answer is found by *identity*,
never by the engine under test:

- a definition (function, method, class, impl, ...) is identified by its qualified name (the
  names of its enclosing definitions, then its own), found exactly once in both versions of the
  file by tree-sitter;
- a statement is identified by its text (whitespace ignored) occurring exactly once among the
  statements of the same function in both versions.

Categories (`meta.category`): `unchanged` (same text, same offset), `moved` (same text, another
offset), `edited` (the same definition, its text changed), `split` (an edited function from which
a new helper was extracted: the helper is new, the function now names it, and the helper's body
resembles code of the old function), `wrapped` (a statement now inside a new block), `deleted`
(expected null: the right answer is `orphaned`). A definition that vanished is only called
deleted when no definition of the whole new release resembles it (rapidfuzz ratio < 0.5) and
fewer than half of its lines are still in the new release; a statement, when no statement of the new
file (any size, whitespace ignored) resembles it and, if it spans several lines, fewer than half
of them are still in the file. Anything else (a rename, a move to another file, a definition
tree-sitter could not see for a parse error) is dropped as unknown.

**Chains** (`meta.chain`, `meta.step`, `meta.steps`): a tag on one definition carried through
`steps` >= 5 consecutive versions. Step k is an ordinary case (version k -> k+1, the old span is
the true one at version k), so a chain step can be scored alone; the scorer instead scores a
chain sequentially, starting step k+1 from the engine's own placement at step k, as a user's tag
would be carried (see `benchmark_gen.scorer.score_chains`).

Sources come from the registries' ordinary clients (`pip download --no-deps --no-binary`,
`npm pack`) into a cache directory; given the same downloaded archives the output is the same
bytes (no randomness: sorted inputs, selection by a hash of the case id).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import subprocess
import sys
import tarfile
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process
from tree_sitter import Node, Parser

from benchmark_gen.cases import BenchError, Case
from magicmarkup.documents import EXTENSION_LANGUAGES

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# --- the projects ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """A package and the consecutive released versions the suite is made from."""

    name: str
    registry: str  # "pypi" or "npm"
    versions: tuple[str, ...]
    licence: str
    include: tuple[str, ...] = ()  # path prefixes (inside the archive's top folder) to read; () = all
    exclude: tuple[str, ...] = ()
    maturin: bool = False  # a Rust (maturin) sdist: see `_maturin_shim`


PROJECTS: dict[str, Project] = {
    p.name: p
    for p in (
        Project(
            "click",
            "pypi",
            ("8.1.3", "8.1.4", "8.1.5", "8.1.6", "8.1.7", "8.1.8", "8.2.0", "8.2.1"),
            "BSD-3-Clause",
            include=("src/", "examples/"),
        ),
        Project(
            "attrs",
            "pypi",
            ("22.2.0", "23.1.0", "23.2.0", "24.1.0", "24.2.0", "24.3.0", "25.1.0"),
            "MIT",
            include=("src/", "tests/"),
        ),
        Project(
            "packaging",
            "pypi",
            ("23.0", "23.1", "23.2", "24.0", "24.1", "24.2", "25.0"),
            "Apache-2.0 OR BSD-2-Clause",
            include=("src/", "tests/"),
        ),
        Project(
            "simplejson",
            "pypi",
            ("3.18.0", "3.18.1", "3.18.2", "3.18.3", "3.18.4", "3.19.1", "3.19.2", "3.19.3"),
            "MIT OR AFL-2.1",
            include=("simplejson/",),
        ),
        Project(
            "ujson",
            "pypi",
            ("5.4.0", "5.5.0", "5.6.0", "5.7.0", "5.8.0", "5.9.0", "5.10.0"),
            "BSD-3-Clause (double-conversion: BSD-3-Clause)",
            include=("src/", "lib/", "python/", "deps/", "tests/"),
        ),
        Project(
            "greenlet",
            "pypi",
            ("3.0.0", "3.0.1", "3.0.2", "3.0.3", "3.1.0", "3.1.1", "3.2.0"),
            "MIT AND PSF-2.0",
            include=("src/",),
        ),
        Project(
            "jiter",
            "pypi",
            ("0.5.0", "0.6.0", "0.6.1", "0.7.0", "0.7.1", "0.8.0", "0.8.2"),
            "MIT",
            include=("crates/",),
            maturin=True,
        ),
        Project(
            "rpds-py",
            "pypi",
            ("0.18.0", "0.18.1", "0.19.0", "0.19.1", "0.20.0", "0.20.1", "0.21.0"),
            "MIT",
            include=("src/", "tests/"),
            maturin=True,
        ),
        Project(
            "pydantic-core",
            "pypi",
            ("2.27.0", "2.27.1", "2.27.2", "2.28.0", "2.29.0", "2.30.0", "2.31.0"),
            "MIT",
            include=("src/",),
            maturin=True,
        ),
        Project(
            "pybind11",
            "pypi",
            ("2.12.0", "2.12.1", "2.13.0", "2.13.1", "2.13.4", "2.13.5", "2.13.6"),
            "BSD-3-Clause",
            include=("pybind11/include/",),
        ),
        Project(
            "psutil",
            "pypi",
            ("5.9.6", "5.9.7", "5.9.8", "6.0.0", "6.1.0", "6.1.1", "7.0.0"),
            "BSD-3-Clause",
            include=("psutil/",),
        ),
        Project(
            "multidict",
            "pypi",
            ("6.4.3", "6.4.4", "6.5.1", "6.6.2", "6.6.3", "6.6.4", "6.7.0"),
            "Apache-2.0",
            include=("multidict/",),
        ),
        Project(
            "commander",
            "npm",
            ("11.0.0", "11.1.0", "12.0.0", "12.1.0", "13.0.0", "13.1.0", "14.0.0"),
            "MIT",
            include=("lib/", "index.js", "esm.mjs"),
        ),
        Project(
            "express",
            "npm",
            ("4.19.2", "4.20.0", "4.21.0", "4.21.1", "4.21.2", "4.22.0", "4.22.1"),
            "MIT",
            include=("lib/", "index.js"),
        ),
        Project(
            "rxjs",
            "npm",
            ("7.5.5", "7.5.6", "7.5.7", "7.6.0", "7.8.0", "7.8.1", "7.8.2"),
            "Apache-2.0",
            include=("src/",),
        ),
    )
}

# Holdout: projects the engine was never tuned on (disjoint from PROJECTS), for
# `magicmarkup bench generate-real --holdout` (data/bench/real_history_holdout.jsonl.gz).
HOLDOUT_PROJECTS: dict[str, Project] = {
    p.name: p
    for p in (
        Project(
            "rich",
            "pypi",
            ("13.8.0", "13.8.1", "13.9.0", "13.9.1", "13.9.2", "13.9.3", "13.9.4", "14.0.0"),
            "MIT",
            include=("rich/", "tests/"),
        ),
        Project(
            "jinja2",
            "pypi",
            ("3.1.0", "3.1.1", "3.1.2", "3.1.3", "3.1.4", "3.1.5", "3.1.6"),
            "BSD-3-Clause",
            include=("src/", "tests/"),
        ),
        Project(
            "mmh3",
            "pypi",
            ("4.1.0", "5.0.0", "5.0.1", "5.1.0", "5.2.0", "5.2.1", "5.3.0", "5.3.1"),
            "MIT",
            include=("src/", "tests/"),
        ),
        Project(
            "setproctitle",
            "pypi",
            ("1.3.2", "1.3.3", "1.3.4", "1.3.5", "1.3.6", "1.3.7", "1.3.8"),
            "BSD-3-Clause",
            include=("src/", "setproctitle/", "tests/"),
        ),
        Project(
            "atom",
            "pypi",
            ("0.10.3", "0.10.4", "0.10.5", "0.11.0", "0.12.0", "0.12.1", "0.13.0"),
            "BSD-3-Clause",
            include=("atom/", "tests/"),
        ),
        Project(
            "kiwisolver",
            "pypi",
            ("1.4.4", "1.4.5", "1.4.6", "1.4.7", "1.4.8", "1.4.9", "1.5.0", "1.5.1"),
            "BSD-3-Clause",
            include=("kiwi/", "py/", "tests/"),
        ),
        Project(
            "orjson",
            "pypi",
            ("3.10.12", "3.10.13", "3.10.14", "3.10.15", "3.10.16", "3.10.17", "3.10.18"),
            "Apache-2.0 OR MIT",
            include=("src/", "test/"),
            maturin=True,
        ),
        Project(
            "pycryptodome",
            "pypi",
            ("3.18.0", "3.19.0", "3.19.1", "3.20.0", "3.21.0", "3.22.0", "3.23.0"),
            "BSD-2-Clause AND Unlicense",
            include=("lib/", "src/"),
        ),
        Project(
            "ws",
            "npm",
            ("8.16.0", "8.17.0", "8.17.1", "8.18.0", "8.18.1", "8.18.2", "8.18.3"),
            "MIT",
            include=("lib/", "index.js", "wrapper.mjs"),
        ),
        Project(
            "fastify",
            "npm",
            ("5.3.0", "5.3.1", "5.3.2", "5.3.3", "5.4.0", "5.5.0", "5.6.0"),
            "MIT",
            include=("lib/", "fastify.js", "test/"),
        ),
        Project(
            "axios",
            "npm",
            ("1.7.7", "1.7.8", "1.7.9", "1.8.0", "1.8.1", "1.8.2", "1.8.3", "1.8.4"),
            "MIT",
            include=("lib/", "index.js"),
        ),
        Project(
            "immer",
            "npm",
            ("10.0.3", "10.0.4", "10.1.0", "10.1.1", "10.1.2", "10.1.3", "10.2.0"),
            "MIT",
            include=("src/",),
        ),
        Project(
            "mobx",
            "npm",
            ("6.12.3", "6.12.4", "6.12.5", "6.13.0", "6.13.1", "6.13.2", "6.13.3", "6.13.4"),
            "MIT",
            include=("src/",),
        ),
    )
}

# The cascade's languages, by extension (`.h` full of C++ counts as C++, see `_language`): the
# project's own map, less the extensions the suite was first grown without (stub, module and JSX
# variants, the Lisps), so that regrowing it from the same downloads gives the same cases.
EXTENSIONS = {
    ext: lang
    for ext, lang in EXTENSION_LANGUAGES.items()
    if ext not in (".pyi", ".mts", ".jsx", ".rkt", ".scm", ".ss")
}
SKIP_DIRS = ("node_modules/", "dist/", "build/", "__pycache__/", "target/", ".git/")
MAX_FILE_CHARS = 60_000  # a case holds two whole files: larger files are skipped
MIN_STATEMENT_CHARS = 20  # non-whitespace characters; shorter statements are too generic to tag
MAX_STATEMENT_CHARS = 800
DELETED_BELOW = 50.0  # rapidfuzz ratio (0-100): nothing in the new version resembles it
KEPT_LINES_UNKNOWN = 0.5  # a "deleted" piece with this share of its lines still in the file is unknown
SPLIT_AT_LEAST = 70.0  # partial_ratio of the helper's body against the old function
MIN_CHAIN_STEPS = 5

# How many cases of each kind one version step of one project contributes (most code is
# unchanged between releases: without caps the suite would be nothing else).
DEFAULT_CAPS: dict[str, int] = {
    "definition:unchanged": 6,
    "definition:moved": 24,
    "definition:edited": 40,
    "definition:split": 40,
    "definition:deleted": 24,
    "statement:unchanged": 4,
    "statement:moved": 16,
    "statement:wrapped": 40,
    "statement:deleted": 24,
}
DEFAULT_CHAINS = 12  # per project


# --- downloading -----------------------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "magicmarkup" / "realhistory"


_SHIM = '''"""Stand-in PEP 517 backend for `pip download` of a maturin sdist: pip asks the backend for
metadata, which maturin makes by asking cargo, which needs crates.io. The sdist already carries its
metadata in PKG-INFO, so this returns that (the archive is not built, only saved)."""
import email.parser
import os


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with open("PKG-INFO", encoding="utf-8") as fh:
        text = fh.read()
    msg = email.parser.Parser().parsestr(text)
    folder = "{}-{}.dist-info".format(msg["Name"].replace("-", "_"), msg["Version"])
    os.makedirs(os.path.join(metadata_directory, folder), exist_ok=True)
    with open(os.path.join(metadata_directory, folder, "METADATA"), "w", encoding="utf-8") as fh:
        fh.write(text)
    return folder
'''


def _maturin_shim(cache: Path) -> Path:
    folder = cache / "pep517-shim"
    target = folder / "maturin" / "__init__.py"
    if not target.is_file() or target.read_text(encoding="utf-8") != _SHIM:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_SHIM, encoding="utf-8")
    return folder


def _archive_in(folder: Path) -> Path | None:
    found = sorted(p for p in folder.glob("*") if p.name.endswith((".tar.gz", ".tgz")))
    return found[0] if found else None


def fetch(project: Project, version: str, cache: Path) -> Path:
    """The release's source archive, downloaded once into `cache/dl/NAME/VERSION/`."""
    folder = cache / "dl" / project.name / version
    found = _archive_in(folder)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if project.registry == "npm":
        cmd = ["npm", "pack", "--silent", f"{project.name}@{version}"]
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(folder)]
        if project.maturin:
            # Only this package from source; metadata from its PKG-INFO (see _SHIM).
            cmd += ["--no-binary", project.name, "--no-build-isolation"]
            env["PYTHONPATH"] = os.pathsep.join(
                [str(_maturin_shim(cache)), *filter(None, [env.get("PYTHONPATH")])]
            )
        else:
            cmd += ["--no-binary", ":all:"]
        cmd.append(f"{project.name}=={version}")
    try:
        subprocess.run(cmd, cwd=folder, env=env, check=True, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise BenchError(f"cannot download {project.name} {version}: {detail.strip()[-400:]}") from None
    found = _archive_in(folder)
    if found is None:
        raise BenchError(f"cannot download {project.name} {version}: no archive in {folder}")
    return found


# --- reading a release -----------------------------------------------------------------------


def _language(path: str, text: str) -> str | None:
    if path.endswith((".d.ts", ".d.mts", ".min.js")):
        return None
    lang = EXTENSIONS.get(Path(path).suffix)
    if lang == "c" and path.endswith(".h") and any(m in text for m in ("namespace ", "template <", "class ")):
        return "cpp"
    return lang


def _wanted(project: Project, rel: str) -> bool:
    if any(part in f"/{rel}" for part in (f"/{d}" for d in SKIP_DIRS)):
        return False
    if project.include and not any(rel == p or rel.startswith(p) for p in project.include):
        return False
    return not any(rel.startswith(p) for p in project.exclude)


def read_release(
    project: Project, archive: Path, max_chars: int = MAX_FILE_CHARS
) -> dict[str, tuple[str, str]]:
    """{path inside the release: (language, text)} for the source files the suite uses.

    Text is decoded as UTF-8 with CRLF made LF (what an editor shows); undecodable, oversize or
    minified files are skipped."""
    out: dict[str, tuple[str, str]] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or member.size > 4 * max_chars:
                continue
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if Path(rel).suffix not in EXTENSIONS or not _wanted(project, rel):
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            try:
                text = fh.read().decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError:
                continue
            if len(text) > max_chars or not text.strip():
                continue
            lines = text.count("\n") + 1
            if len(text) / lines > 200:  # minified or generated
                continue
            lang = _language(rel, text)
            if lang is not None:
                out[rel] = (lang, text)
    return dict(sorted(out.items()))


# --- tree-sitter: definitions and statements ------------------------------------------------

_PARSERS: dict[str, Parser] = {}


def _parser(language: str) -> Parser:
    if language not in _PARSERS:
        from tree_sitter_language_pack import get_parser

        _PARSERS[language] = get_parser(language)  # type: ignore[arg-type]
    return _PARSERS[language]


# Definition node types -> kind. Containers give qualified names without being tags themselves.
DEFINITIONS: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "javascript": {
        "function_declaration": "function",
        "generator_function_declaration": "function",
        "class_declaration": "class",
        "method_definition": "method",
    },
    "c": {"function_definition": "function"},
    "cpp": {
        "function_definition": "function",
        "class_specifier": "class",
        "struct_specifier": "struct",
    },
    "rust": {
        "function_item": "function",
        "struct_item": "struct",
        "enum_item": "enum",
        "trait_item": "trait",
        "impl_item": "impl",
    },
    "java": {
        "class_declaration": "class",
        "interface_declaration": "interface",
        "enum_declaration": "enum",
        "method_declaration": "method",
        "constructor_declaration": "constructor",
    },
    "go": {"function_declaration": "function", "method_declaration": "method"},
}
DEFINITIONS["typescript"] = {
    **DEFINITIONS["javascript"],
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
}
DEFINITIONS["tsx"] = DEFINITIONS["typescript"]
CONTAINERS: dict[str, frozenset[str]] = {
    "cpp": frozenset({"namespace_definition"}),
    "rust": frozenset({"mod_item"}),
}
FUNCTION_KINDS = frozenset({"function", "method", "constructor"})
# Blocks whose named children are statements.
BLOCKS: dict[str, frozenset[str]] = {
    "python": frozenset({"block"}),
    "javascript": frozenset({"statement_block"}),
    "typescript": frozenset({"statement_block"}),
    "tsx": frozenset({"statement_block"}),
    "c": frozenset({"compound_statement"}),
    "cpp": frozenset({"compound_statement"}),
    "rust": frozenset({"block"}),
    "java": frozenset({"block", "constructor_body"}),
    "go": frozenset({"block", "statement_list"}),
}
_DECLARATOR_NAMES = frozenset(
    {"identifier", "field_identifier", "qualified_identifier", "destructor_name", "operator_name"}
)


class Parsed:
    """One file version: its text, syntax tree, and conversions from tree-sitter bytes to code points."""

    def __init__(self, text: str, language: str) -> None:
        self.text = text
        self.language = language
        data = text.encode("utf-8")
        self.tree = _parser(language).parse(data)
        self.root: Node = self.tree.root_node
        self._starts: list[int] | None = None
        self._nbytes = len(data)
        if len(data) != len(text):
            starts, pos = [], 0
            for ch in text:
                starts.append(pos)
                pos += len(ch.encode("utf-8"))
            self._starts = starts

    def char(self, byte: int) -> int:
        if self._starts is None:
            return byte
        return bisect_right(self._starts, byte) - 1 if byte < self._nbytes else len(self.text)

    def span(self, node: Node) -> tuple[int, int]:
        return self.char(node.start_byte), self.char(node.end_byte)

    def node_text(self, node: Node) -> str:
        s, e = self.span(node)
        return self.text[s:e]


@dataclass
class Definition:
    """A definition's span includes its Python decorators; `bare` is the span without them."""

    qualname: str
    kind: str
    start: int
    end: int
    text: str
    node: Node
    order: int  # index among the file's definitions, in document order
    bare: tuple[int, int] = (0, 0)

    @property
    def decorated(self) -> bool:
        return (self.start, self.end) != self.bare

    def target(self, src_text: str, with_decorators: bool) -> tuple[int, int, str]:
        """The span the same tag covers here: a tag placed without decorators stays without them
        when some are added (they are new code above it, like an inserted line)."""
        s, e = (self.start, self.end) if with_decorators else self.bare
        return s, e, src_text[s:e]


@dataclass
class Statement:
    key: str  # the text without whitespace: the statement's identity inside its function
    start: int
    end: int
    text: str
    depth: int  # how many blocks lie between it and its function
    type: str


def squash(text: str) -> str:
    return "".join(text.split())


def _name(node: Node, src: Parsed) -> str | None:
    lang = src.language
    if node.type == "impl_item":
        ty = node.child_by_field_name("type")
        trait = node.child_by_field_name("trait")
        if ty is None:
            return None
        label = f"impl {squash(src.node_text(ty))}"
        return label + (f" for {squash(src.node_text(trait))}" if trait is not None else "")
    if node.type == "method_declaration" and lang == "go":
        name = node.child_by_field_name("name")
        recv = node.child_by_field_name("receiver")
        if name is None:
            return None
        return f"({squash(src.node_text(recv)) if recv is not None else ''}).{src.node_text(name)}"
    if node.type == "function_definition" and lang in ("c", "cpp"):
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type not in _DECLARATOR_NAMES:
            decl = decl.child_by_field_name("declarator")
        return squash(src.node_text(decl)) if decl is not None else None
    name = node.child_by_field_name("name")
    if name is None:
        return None
    return src.node_text(name)


def _def_node(node: Node) -> Node:
    """The span a user selects for a definition: Python decorators belong to it."""
    parent = node.parent
    if parent is not None and parent.type == "decorated_definition":
        return parent
    return node


def definitions(src: Parsed) -> list[Definition]:
    """Every named definition of the file, with its qualified name, in document order."""
    kinds = DEFINITIONS.get(src.language, {})
    containers = CONTAINERS.get(src.language, frozenset())
    out: list[Definition] = []

    def visit(node: Node, prefix: tuple[str, ...]) -> None:
        for child in node.named_children:
            if child.type == "ERROR":
                continue
            own = prefix
            if child.type in kinds or child.type in containers:
                name = _name(child, src)
                if name:
                    own = (*prefix, name)
                    # A struct used as a type (no body) is a reference, not a definition.
                    has_body = child.child_by_field_name("body") is not None
                    if child.type in kinds and (has_body or child.type == "function_definition"):
                        target = _def_node(child)
                        s, e = src.span(target)
                        out.append(
                            Definition(
                                "::".join(own),
                                kinds[child.type],
                                s,
                                e,
                                src.text[s:e],
                                child,
                                0,
                                src.span(child),
                            )
                        )
            visit(child, own)

    visit(src.root, ())
    out.sort(key=lambda d: (d.start, -d.end))
    for i, d in enumerate(out):
        d.order = i
    return out


def unique_definitions(defs: Iterable[Definition]) -> dict[str, Definition]:
    counts = Counter(d.qualname for d in defs)
    return {d.qualname: d for d in defs if counts[d.qualname] == 1}


def _docstring(node: Node) -> bool:
    """A statement that is only a string (a docstring, "use strict"): documentation, not code."""
    if node.type in ("string", "concatenated_string"):  # tree-sitter-python: a bare string child
        return True
    kids = node.named_children
    return node.type == "expression_statement" and len(kids) == 1 and "string" in kids[0].type


def all_statement_texts(src: Parsed) -> list[str]:
    """Every statement of the file (any block, any size), without whitespace: what a vanished
    statement is compared with before it may be called deleted."""
    blocks = BLOCKS.get(src.language, frozenset())
    out: list[str] = []
    stack = [src.root]
    while stack:
        node = stack.pop()
        if node.type in blocks:
            out.extend(squash(src.node_text(c)) for c in node.named_children if "comment" not in c.type)
        stack.extend(node.named_children)
    return out


def significant_lines(text: str) -> list[str]:
    """The lines of a piece of code that say something (stripped; no braces-only or short lines)."""
    return [ln for ln in (x.strip() for x in text.splitlines()) if len(ln) >= 8]


def lines_kept(old_piece: str, new_lines: set[str]) -> float:
    """The share of a piece's significant lines found verbatim (stripped) in the new file; 1.0 when
    it has none (nothing to tell a deletion by)."""
    lines = significant_lines(old_piece)
    if not lines:
        return 1.0
    return sum(ln in new_lines for ln in lines) / len(lines)


def statements(src: Parsed, fn: Definition) -> list[Statement]:
    """The statements inside a function (not inside a nested definition), in order."""
    blocks = BLOCKS.get(src.language, frozenset())
    kinds = DEFINITIONS.get(src.language, {})
    body = fn.node.child_by_field_name("body")
    out: list[Statement] = []
    if body is None:
        return out

    def visit(node: Node, depth: int) -> None:
        for child in node.named_children:
            if (
                child.type in kinds
                or child.type in ("decorated_definition", "ERROR")
                or "comment" in child.type
            ):
                continue
            d = depth
            if node.type in blocks and not _docstring(child):
                s, e = src.span(child)
                text = src.text[s:e]
                key = squash(text)
                if MIN_STATEMENT_CHARS <= len(key) <= MAX_STATEMENT_CHARS and not child.has_error:
                    out.append(Statement(key, s, e, text, depth, child.type))
            if child.type in blocks:
                d = depth + 1
            visit(child, d)

    visit(body, 1 if body.type in blocks else 0)
    return out


# --- cases -----------------------------------------------------------------------------------


def _rank(case_id: str) -> str:
    return hashlib.sha1(case_id.encode("utf-8")).hexdigest()


def _mentions(src: Parsed, node: Node, name: str) -> bool:
    """The node contains an identifier token spelled `name` (a call or reference to it)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.child_count == 0:
            if "identifier" in n.type and src.node_text(n) == name:
                return True
            continue
        stack.extend(n.children)
    return False


def _short_name(qualname: str) -> str:
    return qualname.rsplit("::", 1)[-1].rsplit(".", 1)[-1]


@dataclass
class ReleaseIndex:
    """Every definition text of one release, per language (for "does anything resemble it")."""

    texts: dict[str, list[str]] = field(default_factory=dict)
    lines: set[str] = field(default_factory=set)  # every stripped line of the release

    def resembles(self, language: str, text: str) -> bool:
        choices = self.texts.get(language, [])
        return process.extractOne(text, choices, scorer=fuzz.ratio, score_cutoff=DELETED_BELOW) is not None


@dataclass
class Draft:
    """A case before selection: its group ("level:category") and the case itself."""

    group: str
    case: Case


def _case(
    cid: str,
    old: Parsed,
    span: tuple[int, int],
    new: Parsed,
    expected: tuple[int, int] | None,
    meta: dict[str, Any],
) -> Case:
    return Case(
        id=cid,
        old_text=old.text,
        old_start=span[0],
        old_end=span[1],
        new_text=new.text,
        expected_start=None if expected is None else expected[0],
        expected_end=None if expected is None else expected[1],
        language=old.language,
        meta=meta,
    )


def _is_split(
    old: Parsed,
    new: Parsed,
    d_old: Definition,
    d_new: Definition,
    new_defs: list[Definition],
    old_names: set[str],
) -> str | None:
    """The name of a helper extracted from the function, if there is one."""
    for helper in new_defs:
        if helper.qualname in old_names or helper.kind not in FUNCTION_KINDS or helper is d_new:
            continue
        if d_new.start <= helper.start < d_new.end:  # nested inside: part of the function itself
            continue
        short = _short_name(helper.qualname)
        if not _mentions(new, d_new.node, short) or _mentions(old, d_old.node, short):
            continue
        body = helper.node.child_by_field_name("body")
        body_text = new.node_text(body) if body is not None else helper.text
        if len(squash(body_text)) < 30:
            continue
        if fuzz.partial_ratio(squash(body_text), squash(d_old.text)) >= SPLIT_AT_LEAST:
            return helper.qualname
    return None


def step_drafts(
    project: Project,
    versions: tuple[str, str],
    path: str,
    old: Parsed,
    new: Parsed,
    new_release: ReleaseIndex,
) -> Iterator[Draft]:
    """Every case one file gives for one version step, before selection."""
    old_defs, new_defs = definitions(old), definitions(new)
    old_u, new_u = unique_definitions(old_defs), unique_definitions(new_defs)
    old_names = {d.qualname for d in old_defs}
    new_names = {d.qualname for d in new_defs}
    new_stmt_texts: list[str] | None = None
    new_lines = {x.strip() for x in new.text.splitlines()}
    base: dict[str, Any] = {
        "project": project.name,
        "registry": project.registry,
        "versions": list(versions),
        "path": path,
        "licence": project.licence,
    }
    prefix = f"real:{project.name}:{versions[0]}..{versions[1]}:{path}"
    for qn, d_old in old_u.items():
        meta: dict[str, Any] = {**base, "qualname": qn, "kind": d_old.kind, "level": "definition"}
        d_new = new_u.get(qn)
        cid = f"{prefix}:{qn}"
        if d_new is None:
            if qn in new_names:  # now defined more than once: not one identity
                continue
            if new_release.resembles(old.language, d_old.text):
                continue  # renamed or moved elsewhere: unknown, not deleted
            if lines_kept(d_old.text, new_release.lines) >= KEPT_LINES_UNKNOWN:
                continue  # its code is still there (renamed and grown, re-wrapped, or hidden by a parse error)
            yield Draft(
                "definition:deleted",
                _case(cid, old, (d_old.start, d_old.end), new, None, {**meta, "category": "deleted"}),
            )
            continue
        ns, ne, new_piece = d_new.target(new.text, d_old.decorated)
        expected = (ns, ne)
        if d_old.text == new_piece:
            category = "unchanged" if d_old.start == ns else "moved"
            if category == "moved":
                meta["move"] = "reordered" if d_old.order != d_new.order else "shifted"
            yield Draft(
                f"definition:{category}",
                _case(cid, old, (d_old.start, d_old.end), new, expected, {**meta, "category": category}),
            )
            continue
        meta["similarity"] = round(fuzz.ratio(d_old.text, new_piece) / 100.0, 3)
        helper = (
            _is_split(old, new, d_old, d_new, new_defs, old_names) if d_old.kind in FUNCTION_KINDS else None
        )
        if helper is not None:
            yield Draft(
                "definition:split",
                _case(
                    cid,
                    old,
                    (d_old.start, d_old.end),
                    new,
                    expected,
                    {**meta, "category": "split", "helper": helper},
                ),
            )
        else:
            yield Draft(
                "definition:edited",
                _case(cid, old, (d_old.start, d_old.end), new, expected, {**meta, "category": "edited"}),
            )
    # Statements inside functions present once in both versions.
    for qn, d_old in old_u.items():
        d_new = new_u.get(qn)
        if d_new is None or d_old.kind not in FUNCTION_KINDS:
            continue
        s_old, s_new = statements(old, d_old), statements(new, d_new)
        c_old, c_new = Counter(s.key for s in s_old), Counter(s.key for s in s_new)
        by_key = {s.key: s for s in s_new if c_new[s.key] == 1}
        for st in s_old:
            if c_old[st.key] != 1:
                continue
            meta = {**base, "qualname": qn, "kind": "statement", "level": "statement", "node_type": st.type}
            cid = f"{prefix}:{qn}:stmt:{_rank(st.key)[:12]}"
            match = by_key.get(st.key)
            if match is None:
                if c_new[st.key] or st.key in squash(new.text):
                    continue  # still there (more than once, or outside its function): unknown
                if new_stmt_texts is None:
                    new_stmt_texts = all_statement_texts(new)
                if process.extractOne(st.key, new_stmt_texts, scorer=fuzz.ratio, score_cutoff=DELETED_BELOW):
                    continue  # edited, most likely: unknown
                if (
                    len(significant_lines(st.text)) > 1
                    and lines_kept(st.text, new_lines) >= KEPT_LINES_UNKNOWN
                ):
                    continue  # most of its lines are still in the file: unknown
                yield Draft(
                    "statement:deleted",
                    _case(cid, old, (st.start, st.end), new, None, {**meta, "category": "deleted"}),
                )
                continue
            expected = (match.start, match.end)
            if match.depth > st.depth:
                category = "wrapped"
            elif st.text == match.text:
                category = "unchanged" if st.start == match.start else "moved"
            else:
                continue  # whitespace-only change at the same depth: reformatted, not asked for here
            yield Draft(
                f"statement:{category}",
                _case(cid, old, (st.start, st.end), new, expected, {**meta, "category": category}),
            )


def select(drafts: list[Draft], caps: dict[str, int], per_file: int = 6) -> list[Case]:
    """A deterministic, spread-out choice: per group, the cases with the smallest id hash, at most
    `per_file` of a group from one file; then the chosen cases in file order."""
    by_group: dict[str, list[Draft]] = defaultdict(list)
    for d in drafts:
        by_group[d.group].append(d)
    chosen: list[Case] = []
    for group, items in sorted(by_group.items()):
        cap = caps.get(group, 0)
        taken: Counter[str] = Counter()
        for d in sorted(items, key=lambda d: _rank(d.case.id)):
            if sum(taken.values()) >= cap:
                break
            path = str(d.case.meta.get("path"))
            if taken[path] >= per_file:
                continue
            taken[path] += 1
            chosen.append(d.case)
    chosen.sort(key=lambda c: (str(c.meta.get("path")), c.id))
    return chosen


# --- chains ----------------------------------------------------------------------------------


def chain_cases(
    project: Project,
    releases: Sequence[tuple[str, dict[str, tuple[str, str]]]],
    limit: int,
    per_file: int = 2,
) -> list[Case]:
    """Tags on definitions carried through every version of the project (>= MIN_CHAIN_STEPS steps).

    Candidates are definitions found once in every version of the same file whose text or place
    changes at least once along the way; those changing at more steps (counted up to 3) come
    first, then by id hash; `limit` are kept, at most `per_file` per file."""
    if len(releases) < MIN_CHAIN_STEPS + 1:
        return []
    versions = [v for v, _ in releases]
    common = set(releases[0][1])
    for _, files in releases[1:]:
        common &= set(files)
    candidates: list[tuple[int, str, str, str]] = []  # (-changing steps, rank, path, qualname)
    for path in sorted(common):
        langs = {files[path][0] for _, files in releases}
        if len(langs) != 1:
            continue
        parsed = [Parsed(files[path][1], files[path][0]) for _, files in releases]
        uniq = [unique_definitions(definitions(p)) for p in parsed]
        names = set(uniq[0])
        for u in uniq[1:]:
            names &= set(u)
        for qn in sorted(names):
            with_decorators = uniq[0][qn].decorated
            spans = [u[qn].target(p.text, with_decorators)[::2] for u, p in zip(uniq, parsed, strict=True)]
            changing = sum(a != b for a, b in itertools.pairwise(spans))
            if changing == 0:
                continue  # never changes: not a chain worth carrying
            if any(u[qn].kind not in FUNCTION_KINDS | {"class", "impl", "struct"} for u in uniq):
                continue
            cid = f"real:{project.name}:chain:{path}:{qn}"
            candidates.append((-min(changing, 3), _rank(cid), path, qn))
    candidates.sort()  # chains that change at several steps first (up to 3), then by id hash
    out: list[Case] = []
    per_path: Counter[str] = Counter()
    for _, _, path, qn in candidates:
        if sum(per_path.values()) >= limit:
            break
        if per_path[path] >= per_file:
            continue
        per_path[path] += 1
        parsed = [Parsed(files[path][1], files[path][0]) for _, files in releases]
        defs = [unique_definitions(definitions(p))[qn] for p in parsed]
        tagged = [d.target(p.text, defs[0].decorated) for d, p in zip(defs, parsed, strict=True)]
        chain_id = f"real:{project.name}:chain:{path}:{qn}"
        steps = len(parsed) - 1
        for k in range(steps):
            a, b = tagged[k], tagged[k + 1]
            category = ("unchanged" if a[0] == b[0] else "moved") if a[2] == b[2] else "edited"
            out.append(
                _case(
                    f"{chain_id}:{k}",
                    parsed[k],
                    (a[0], a[1]),
                    parsed[k + 1],
                    (b[0], b[1]),
                    {
                        "project": project.name,
                        "registry": project.registry,
                        "versions": [versions[k], versions[k + 1]],
                        "path": path,
                        "licence": project.licence,
                        "qualname": qn,
                        "kind": defs[k].kind,
                        "level": "definition",
                        "category": category,
                        "chain": chain_id,
                        "step": k,
                        "steps": steps,
                    },
                )
            )
    return out


# --- the whole run ---------------------------------------------------------------------------


def _release_index(files: dict[str, tuple[str, str]]) -> ReleaseIndex:
    index = ReleaseIndex()
    for _path, (lang, text) in files.items():
        src = Parsed(text, lang)
        index.texts.setdefault(lang, []).extend(d.text for d in definitions(src))
        index.lines.update(x.strip() for x in text.splitlines())
    return index


def project_cases(
    project: Project,
    cache: Path,
    caps: dict[str, int] | None = None,
    chains: int = DEFAULT_CHAINS,
    progress: Progress | None = None,
    chains_per_file: int = 2,
) -> list[Case]:
    """All cases of one project: single steps between consecutive versions, then chains."""
    caps = DEFAULT_CAPS if caps is None else caps
    releases: list[tuple[str, dict[str, tuple[str, str]]]] = []
    for i, version in enumerate(project.versions):
        if progress is not None:
            progress(f"{project.name} {version}", i, len(project.versions))
        releases.append((version, read_release(project, fetch(project, version, cache))))
    out: list[Case] = []
    for i in range(len(releases) - 1):
        (v0, f0), (v1, f1) = releases[i], releases[i + 1]
        if progress is not None:
            progress(f"{project.name} {v0}..{v1}", i, len(releases) - 1)
        index = _release_index(f1)
        drafts: list[Draft] = []
        for path in sorted(set(f0) & set(f1)):
            (l0, t0), (l1, t1) = f0[path], f1[path]
            if l0 != l1:
                continue
            drafts.extend(step_drafts(project, (v0, v1), path, Parsed(t0, l0), Parsed(t1, l1), index))
        out.extend(select(drafts, caps))
    if chains:
        if progress is not None:
            progress(f"{project.name} chains", 0, 1)
        out.extend(chain_cases(project, releases, chains, chains_per_file))
    return out


def generate(
    names: Sequence[str],
    cache: Path | None = None,
    caps: dict[str, int] | None = None,
    chains: int = DEFAULT_CHAINS,
    progress: Progress | None = None,
    projects: Mapping[str, Project] = PROJECTS,
) -> Iterator[Case]:
    """The suite for the named projects of `projects` (`PROJECTS`, or `HOLDOUT_PROJECTS` for the
    holdout suite), in the order given (cases of one file stay together)."""
    cache = cache or default_cache_dir()
    unknown = [n for n in names if n not in projects]
    if unknown:
        raise BenchError(f"unknown project(s): {', '.join(unknown)} (known: {', '.join(sorted(projects))})")
    for name in names:
        yield from project_cases(projects[name], cache, caps, chains, progress)
