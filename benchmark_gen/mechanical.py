"""Generator 1: benchmark cases made mechanically from real code, with exact ground truth.

Picks tagged spans with tree-sitter by the paper's six snippet types (function call,
subexpression, constant, loop condition, variable assignment, loop body / code block) plus
whole functions, then applies edit operators (`benchmark_gen.edits`) that track the span exactly.
Deterministic for a seed and a corpus. Files longer than `MAX_LINES` contribute a window of
whole top-level definitions, so cases stay small.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from benchmark_gen.cases import BenchError, Case
from benchmark_gen.edits import LANGS, Source, Step, run_operator
from benchmark_gen.edits import errors as _errors
from magicmarkup.documents import EXTENSION_LANGUAGES

log = logging.getLogger(__name__)

# The project's extension map, less what the generator does not draw from (type stubs, JSX, .mts).
EXTENSIONS = {
    ext: lang
    for ext, lang in EXTENSION_LANGUAGES.items()
    if lang in ("python", "javascript", "typescript", "c", "cpp", "java", "go", "rust")
    and ext not in (".pyi", ".jsx", ".mts")
}
EXCLUDE_DIRS = {"site-packages", "__pycache__", ".git", ".venv", "node_modules/.bin", "dist-packages"}
LANGUAGE_WEIGHTS = {
    "python": 0.24,
    "javascript": 0.14,
    "typescript": 0.14,
    "c": 0.1,
    "cpp": 0.1,
    "go": 0.1,
    "rust": 0.1,
    "java": 0.08,
}
MAX_LINES = 300  # longer files contribute a window of whole definitions
WINDOW_LINES = 160
MAX_FILE_BYTES = 400_000
SNIPPET_WEIGHTS = {
    "function_call": 1.0,
    "subexpression": 1.0,
    "constant": 0.8,
    "loop_condition": 0.8,
    "variable_assignment": 1.0,
    "code_block": 0.8,
    "function": 0.6,
}
SINGLE_OPS = {
    "insert_above": 1.0,
    "insert_below": 0.8,
    "delete_above": 0.8,
    "delete_below": 0.6,
    "move_function": 0.9,
    "rename_inside": 1.0,
    "rename_outside": 0.7,
    "reindent": 0.7,
    "reformat": 1.0,
    "wrap_block": 1.0,
    "duplicate": 0.9,
    "edit_inside": 1.4,
    "delete": 0.8,
}
COMBO_SHARE = 0.28

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class SourceFile:
    corpus: str
    root: Path
    path: Path
    language: str

    @property
    def rel(self) -> str:
        return self.path.relative_to(self.root).as_posix()


def language_of(path: Path, text: str | None = None) -> str | None:
    """The language of a file by extension (a `.h` full of C++ counts as C++)."""
    name = path.name
    if name.endswith(".d.ts"):
        return None
    lang = EXTENSIONS.get(path.suffix)
    cpp_markers = ("namespace ", "template <", "template<", "class ")
    if lang == "c" and path.suffix == ".h" and text is not None and any(m in text for m in cpp_markers):
        return "cpp"
    return lang


def parse_corpus_arg(value: str) -> tuple[str, Path]:
    """`NAME=DIR` or `DIR` (named after the directory)."""
    if "=" in value and not Path(value).exists():
        name, _, path = value.partition("=")
        return name, Path(path)
    p = Path(value)
    return p.resolve().name, p


def scan(corpora: Sequence[tuple[str, Path]], languages: Sequence[str] | None = None) -> list[SourceFile]:
    """Every usable source file of the corpora, sorted (so a seed means the same cases)."""
    wanted = set(languages) if languages else set(LANGS)
    out: list[SourceFile] = []
    for name, root in corpora:
        if not root.is_dir():
            raise BenchError(f"{root}: corpus directory not found")
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in EXCLUDE_DIRS and f"{rel_dir}/{d}".strip("./") not in EXCLUDE_DIRS
            )
            for fname in sorted(filenames):
                path = Path(dirpath) / fname
                if path.suffix not in EXTENSIONS or path.name.endswith(".d.ts") or path.is_symlink():
                    continue
                lang = EXTENSIONS[path.suffix]
                if lang == "c" and path.suffix == ".h":
                    lang = "c"  # refined when read
                if lang not in wanted and not (lang == "c" and "cpp" in wanted):
                    continue
                out.append(SourceFile(name, root, path, lang))
    return out


@dataclass
class Document:
    """A parsed file (or a window of it) ready to draw snippets from."""

    file: SourceFile
    language: str
    text: str
    lines: tuple[int, int] | None  # 1-based inclusive line range when a window

    def source(self) -> Source:
        return Source(self.text, self.language)


def load_document(sf: SourceFile, rng: random.Random) -> Document | None:
    try:
        if sf.path.stat().st_size > MAX_FILE_BYTES:
            return None
        text = sf.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.replace("\r\n", "\n")
    if "\t" in text and sf.language == "python":
        return None
    lang = language_of(sf.path, text) or sf.language
    if not text.strip():
        return None
    try:
        src = Source(text, lang)
    except ValueError:
        return None
    n_lines = text.count("\n") + 1
    if n_lines <= MAX_LINES:
        return Document(sf, lang, text, None) if _clean_enough(src) else None
    window = _window(src, rng)
    if window is None:
        return None
    a, b = window
    chunk = text[a:b]
    try:
        if not _clean_enough(Source(chunk, lang)):
            return None
    except ValueError:
        return None
    first = text.count("\n", 0, a) + 1
    return Document(sf, lang, chunk, (first, first + chunk.count("\n") - (1 if chunk.endswith("\n") else 0)))


def _clean_enough(src: Source) -> bool:
    """Parses without errors; C/C++ may keep a few (macros confuse tree-sitter), since snippets
    are only drawn from error-free subtrees and an edit may never add an error."""
    if not src.root.has_error:
        return True
    if src.language not in ("c", "cpp"):
        return False
    errors = _errors(src.root)
    return errors <= max(1, src.text.count("\n") // 40)


def _units(src: Source, node: Node, max_lines: int) -> list[Node]:
    """Top-level children, descending into oversize bodies (namespaces, classes)."""
    out: list[Node] = []
    for child in node.named_children:
        lines = child.end_point[0] - child.start_point[0] + 1
        if lines > max_lines:
            body = next(
                (
                    c
                    for c in child.named_children
                    if c.named_child_count > 1
                    and c.type in src.spec.containers | {"block", "class_body", "declaration_list"}
                ),
                None,
            )
            if body is not None:
                out.extend(_units(src, body, max_lines))
            continue
        out.append(child)
    return out


def _window(src: Source, rng: random.Random) -> tuple[int, int] | None:
    """A run of whole top-level units spanning at most WINDOW_LINES lines."""
    units = [u for u in _units(src, src.root, WINDOW_LINES) if src.line_aligned(u)]
    if len(units) < 2:
        return None
    i = rng.randrange(len(units))
    j = i
    start_line = units[i].start_point[0]
    while j + 1 < len(units) and units[j + 1].end_point[0] - start_line < WINDOW_LINES:
        j += 1
    a = src.full_lines(units[i])[0]
    b = src.full_lines(units[j])[1]
    if src.text.count("\n", a, b) < 15:
        return None
    return a, b


# --- snippets --------------------------------------------------------------------------------


def _strip_parens(node: Node) -> Node:
    while node.type in ("parenthesized_expression", "condition_clause") and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def loop_condition(node: Node, language: str) -> Node | None:
    """The condition (or iterable) of a loop node, if it has one."""
    cond = node.child_by_field_name("condition")
    if cond is None and language == "python" and node.type == "for_statement":
        cond = node.child_by_field_name("right")
    if cond is None and node.type in ("enhanced_for_statement", "for_expression"):
        cond = node.child_by_field_name("value")
    if cond is None and node.type == "for_range_loop":
        cond = node.child_by_field_name("right")
    if cond is None and language == "go" and node.type == "for_statement":
        for child in node.named_children:
            if child.type == "for_clause":
                cond = child.child_by_field_name("condition")
            elif child.type == "range_clause":
                cond = child.child_by_field_name("right")
            elif child.type not in ("block", "comment"):
                cond = child
            if cond is not None:
                break
    return _strip_parens(cond) if cond is not None else None


def snippets(src: Source, kind: str) -> list[tuple[Node, str]]:
    """Candidate nodes for one snippet type, with the precise type name recorded in meta."""
    spec = src.spec
    out: list[tuple[Node, str]] = []
    for node in src.walk():
        t = node.type
        if (kind == "function_call" and t in spec.call) or (kind == "subexpression" and t in spec.subexpr):
            out.append((node, kind))
        elif kind == "constant" and t in spec.constant:
            text = src.node_text(node)
            if 2 <= len(text) <= 60 and "\n" not in text:
                out.append((node, kind))
        elif kind == "loop_condition" and t in spec.loops:
            cond = loop_condition(node, src.language)
            if cond is not None:
                out.append((cond, kind))
        elif kind == "variable_assignment" and t in spec.assignment:
            out.append((node, kind))
        elif kind == "code_block" and t in spec.blocks and node.parent is not None:
            if node.parent.type in spec.functions or node.parent.type in ("function_definition",):
                continue
            out.append((node, "loop_body" if node.parent.type in spec.loops else kind))
        elif kind == "function" and t in spec.functions:
            out.append((node, kind))
    good = []
    for node, name in out:
        if src.in_preproc(node) or (name != "constant" and src.in_string(node)) or node.has_error:
            continue
        if src.root.has_error:
            fn = src.function_of(node) or src.statement_of(node, allow_top=True)
            if fn is None or fn.has_error:
                continue
        s, e = src.span(node)
        text = src.text[s:e]
        if not text.strip() or len(text) > 3000 or text.count("\n") > 45:
            continue
        if name in ("function_call", "subexpression", "variable_assignment") and text.count("\n") > 12:
            continue
        good.append((node, name))
    return good


# --- the generator ---------------------------------------------------------------------------


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    return rng.choices(names, [weights[n] for n in names])[0]


class Generator:
    def __init__(self, files: Sequence[SourceFile], seed: int) -> None:
        self.seed = seed
        self.by_lang: dict[str, list[SourceFile]] = {}
        for sf in files:
            self.by_lang.setdefault(sf.language, []).append(sf)
        # .h files were filed under c; they may turn out to be C++ when read.
        self.pools: dict[str, tuple[list[str], list[str]]] = {}

    def languages(self) -> list[str]:
        return sorted(self.by_lang)

    def pool(self, language: str) -> tuple[list[str], list[str]]:
        """Unrelated real code of a language, for `insert_*`: (statements, whole definitions)."""
        if language in self.pools:
            return self.pools[language]
        rng = random.Random(f"pool:{self.seed}:{language}")
        files = [
            f
            for lst in self.by_lang.values()
            for f in lst
            if EXTENSIONS.get(f.path.suffix) in (language, "c")
        ]
        rng.shuffle(files)
        pool: list[str] = []
        top_pool: list[str] = []
        for sf in files[:20]:
            doc = load_document(sf, rng)
            if doc is None or doc.language != language:
                continue
            src = doc.source()
            for node in src.statements(top=False):
                a, b = src.full_lines(node)
                block = src.text[a:b]
                if 1 <= block.count("\n") <= 6 and len(block) < 400 and node.type not in src.spec.functions:
                    pool.append(block)
            for node in src.statements(top=True):
                a, b = src.full_lines(node)
                block = src.text[a:b]
                if node.type in src.spec.functions and block.count("\n") <= 14:
                    top_pool.append(block)
            if len(pool) > 200 and len(top_pool) > 20:
                break
        self.pools[language] = (pool, top_pool)
        return self.pools[language]

    def quotas(self, n: int) -> dict[str, int]:
        """How many cases each language gets (by LANGUAGE_WEIGHTS, over the languages present)."""
        langs = sorted(set(self.by_lang) | ({"cpp"} if "c" in self.by_lang else set()))
        weights = {k: LANGUAGE_WEIGHTS.get(k, 0.05) for k in langs}
        total = sum(weights.values())
        quotas = {k: int(n * w / total) for k, w in weights.items()}
        for k in sorted(weights, key=lambda k: -weights[k])[: n - sum(quotas.values())]:
            quotas[k] += 1
        return quotas

    def files_for(self, lang: str) -> list[SourceFile]:
        if lang == "cpp":
            return self.by_lang.get("cpp", []) + [
                f for f in self.by_lang.get("c", []) if f.path.suffix == ".h"
            ]
        return self.by_lang.get(lang, [])

    def case(self, lang: str, index: int) -> Case | None:
        """One case attempt (None when the draw did not work out: the caller draws again)."""
        rng = random.Random(f"{self.seed}:{lang}:{index}")
        files = self.files_for(lang)
        if not files:
            return None
        sf = rng.choice(files)
        doc = load_document(sf, rng)
        if doc is None or doc.language != lang:
            return None
        src = doc.source()
        kind = _weighted(rng, SNIPPET_WEIGHTS)
        cands = snippets(src, kind)
        if not cands:
            return None
        node, snippet_type = rng.choice(cands)
        span = src.span(node)
        if rng.random() < COMBO_SHARE:
            n_ops = 2 if rng.random() < 0.7 else 3
            pool_ops = [k for k in SINGLE_OPS if k != "delete"]
            ops = rng.sample(pool_ops, n_ops)
            if rng.random() < 0.12 and "duplicate" not in ops[:-1]:
                ops[-1] = "delete"
        else:
            ops = [_weighted(rng, SINGLE_OPS)]
        text: str = doc.text
        cur: tuple[int, int] | None = span
        names: list[str] = []
        notes: list[str] = []
        pool, top_pool = self.pool(doc.language) if any(o.startswith("insert") for o in ops) else ([], [])
        for op in ops:
            assert cur is not None
            step: Step | None = run_operator(op, text, doc.language, cur, rng, pool, top_pool)
            if step is None:
                return None
            text, cur = step.text, step.span
            names.append(step.op)
            if step.note:
                notes.append(step.note)
        category = names[0] if len(names) == 1 else "combo:" + "+".join(names)
        old_piece = doc.text[span[0] : span[1]]
        meta: dict[str, object] = {
            "category": category,
            "operators": names,
            "snippet_type": snippet_type,
            "node_type": node.type,
            "source": {
                "corpus": sf.corpus,
                "path": sf.rel,
                **({"lines": list(doc.lines)} if doc.lines else {}),
            },
            "generator": "mechanical",
            "seed": self.seed,
            "old_occurrences": doc.text.count(old_piece),
        }
        if notes:
            meta["notes"] = notes
        if "duplicate" in names and cur is not None:
            meta["ambiguous"] = _same_context(text, cur, old_piece)
        case = Case(
            id=f"mech-{self.seed}-{lang}-{index:05d}",
            old_text=doc.text,
            old_start=span[0],
            old_end=span[1],
            new_text=text,
            expected_start=cur[0] if cur else None,
            expected_end=cur[1] if cur else None,
            language=doc.language,
            meta=meta,
        )
        return case


def _same_context(text: str, span: tuple[int, int], piece: str, width: int = 40) -> bool:
    """True when another copy of the snippet has the same surrounding text (a coin toss)."""
    s, e = span
    before, after = text[max(0, s - width) : s].split(), text[e : e + width].split()
    pos = text.find(piece)
    while pos >= 0:
        if pos != s:
            b2, a2 = (
                text[max(0, pos - width) : pos].split(),
                text[pos + len(piece) : pos + len(piece) + width].split(),
            )
            if b2[-3:] == before[-3:] and a2[:3] == after[:3]:
                return True
        pos = text.find(piece, pos + 1)
    return False


def generate(
    corpora: Sequence[tuple[str, Path]],
    n: int,
    seed: int,
    languages: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Iterator[Case]:
    """Yield `n` cases (fewer only if the corpus cannot supply them)."""
    files = scan(corpora, languages)
    if languages:
        unknown = set(languages) - set(LANGS)
        if unknown:
            raise BenchError(
                f"unknown language(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(LANGS))})"
            )
    if not files:
        raise BenchError("no source files of the requested languages in the corpus")
    gen = Generator(files, seed)
    quotas = gen.quotas(n)
    made = 0
    for lang, quota in quotas.items():
        got = index = 0
        while got < quota and index < max(100, quota * 40):
            try:
                case = gen.case(lang, index)
            except RecursionError:
                case = None
            index += 1
            if case is None:
                continue
            got += 1
            made += 1
            if progress is not None:
                progress(made, n)
            yield case
        if got < quota:
            log.warning("%s: only %d of %d cases could be generated from this corpus", lang, got, quota)
