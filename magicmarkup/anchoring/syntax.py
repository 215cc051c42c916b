"""Tree-sitter views of a document: which syntax node a span is, and snapping a rough match
to whole nodes, so a tag on a call stays on the whole call when the call changes.

Grammars come from `tree-sitter-language-pack` (0.13 ships them compiled in the wheel, so this
works offline). A language without a grammar is plain text: every function here degrades to
"no syntax" instead of failing.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tree_sitter import Node, Parser

LANGUAGES = (
    "python",
    "javascript",
    "typescript",
    "tsx",
    "c",
    "cpp",
    "java",
    "go",
    "rust",
    "racket",
    "scheme",
)
ALIASES = {
    "js": "javascript",
    "ts": "typescript",
    "jsx": "javascript",
    "py": "python",
    "c++": "cpp",
    "golang": "go",
    "rs": "rust",
}
MAX_PARSE_CHARS = 1_500_000  # past this (~40k lines), syntax snapping is skipped: plain text placement


def normalize_language(language: str | None) -> str | None:
    if not language:
        return None
    name = language.strip().lower()
    return ALIASES.get(name, name)


@lru_cache(maxsize=32)
def get_parser(language: str) -> Parser | None:
    """A parser for `language`, or None when no grammar is available."""
    try:
        from tree_sitter_language_pack import get_parser as pack_parser

        return pack_parser(language)  # type: ignore[arg-type]
    except Exception:
        return None


@dataclass(frozen=True, slots=True)
class NodeSpan:
    start: int
    end: int
    type: str
    depth: int


class SyntaxTree:
    """A parsed document with code-point offsets (tree-sitter itself counts UTF-8 bytes)."""

    def __init__(self, text: str, tree: Any) -> None:
        self.text = text
        self.tree = tree
        self._ascii = text.isascii()
        self._byte_starts: list[int] = []
        self._defs: dict[str, list[NodeSpan]] = {}
        if not self._ascii:
            self._byte_starts = [
                0,
                *itertools.accumulate(len(c.encode("utf-8", "surrogatepass")) for c in text),
            ]

    def to_byte(self, offset: int) -> int:
        return offset if self._ascii else self._byte_starts[offset]

    def to_char(self, byte: int) -> int:
        if self._ascii:
            return byte
        return bisect.bisect_left(self._byte_starts, byte)

    def node_span(self, node: Node, depth: int = 0) -> NodeSpan:
        return NodeSpan(self.to_char(node.start_byte), self.to_char(node.end_byte), node.type, depth)

    def smallest_covering(self, start: int, end: int) -> Node | None:
        """The smallest named node whose range contains [start, end)."""
        root = self.tree.root_node
        node = root.named_descendant_for_byte_range(self.to_byte(start), self.to_byte(max(start, end)))
        return node

    def exact_node(self, start: int, end: int) -> Node | None:
        """The outermost named node whose range is exactly [start, end), if any."""
        node = self.smallest_covering(start, end)
        b0, b1 = self.to_byte(start), self.to_byte(end)
        found = None
        while node is not None:
            if node.start_byte == b0 and node.end_byte == b1:
                if node.is_named:
                    found = node
            elif node.start_byte < b0 or node.end_byte > b1:
                break
            node = node.parent
        return found

    def exact_types(self, start: int, end: int) -> set[str]:
        """Types of every named node whose range is exactly [start, end) (a block holding one
        statement, the statement and its expression can all share one range)."""
        node = self.smallest_covering(start, end)
        b0, b1 = self.to_byte(start), self.to_byte(end)
        out: set[str] = set()
        while node is not None:
            if node.start_byte == b0 and node.end_byte == b1:
                if node.is_named:
                    out.add(node.type)
            elif node.start_byte < b0 or node.end_byte > b1:
                break
            node = node.parent
        return out

    def nodes_around(self, start: int, end: int, up: int = 4) -> list[NodeSpan]:
        """Candidate nodes to snap [start, end) to: the covering node, its ancestors, and the
        named nodes inside the range that are large parts of it."""
        out: list[NodeSpan] = []
        cover = self.smallest_covering(start, end)
        node = cover
        depth = 0
        while node is not None and depth <= up:
            if node.is_named and node.parent is not None:
                out.append(self.node_span(node, depth))
            node = node.parent
            depth += 1
        if cover is not None:
            b0, b1 = self.to_byte(start), self.to_byte(end)
            stack = [(c, 1) for c in cover.named_children]
            while stack:
                child, d = stack.pop()
                if child.end_byte <= b0 or child.start_byte >= b1:
                    continue
                out.append(self.node_span(child, -d))
                if d < 3:
                    stack.extend((c, d + 1) for c in child.named_children)
        return out

    def definitions(self, start: int, end: int) -> tuple[str, ...]:
        """Names of the named definitions that contain [start, end), outermost first
        (a span that is exactly a definition counts as inside it)."""
        node = self.smallest_covering(start, end)
        names: list[str] = []
        inner = _wrapped_definition(node) if node is not None else None
        if inner is not None:
            name = definition_name(inner)
            if name:
                names.append(name)
        while node is not None:
            name = definition_name(node)
            if name:
                names.append(name)
            node = node.parent
        return tuple(reversed(names))

    def definition_spans(self, name: str) -> list[NodeSpan]:
        """Every named definition called `name` (found by its name's occurrences in the text)."""
        cached = self._defs.get(name)
        if cached is not None:
            return cached
        out: list[NodeSpan] = []
        seen: set[int] = set()
        # A Rust impl is found by its type's name, a Go method by its name without the receiver.
        needles = [name.split()[-1]] if name.startswith("impl ") else [name.rsplit(".", 1)[-1]]
        for needle in needles:
            pos = self.text.find(needle)
            tries = 0
            while pos != -1 and len(out) < 64 and tries < 2000:
                tries += 1
                node = self.smallest_covering(pos, pos + len(needle))
                for _ in range(4):  # the name is a child (or grandchild, C declarators) of its definition
                    if node is None:
                        break
                    if definition_name(node) == name and node.id not in seen:
                        seen.add(node.id)
                        out.append(self.node_span(node))
                        break
                    node = node.parent
                pos = self.text.find(needle, pos + 1)
        self._defs[name] = out
        return out

    def syntax_path(self, start: int, end: int, limit: int = 4) -> list[str]:
        """Types of the nodes enclosing a span, innermost first (a short path for the anchor)."""
        node = self.smallest_covering(start, end)
        path: list[str] = []
        while node is not None and len(path) < limit:
            if node.is_named:
                path.append(node.type)
            node = node.parent
        return path


# Named definitions (functions, methods, classes, modules...) of the supported grammars: what
# "the same code" belongs to. A statement identical in two functions is two different tags' code.
DEFINITION_TYPES = frozenset(
    {
        # python
        "function_definition",
        "class_definition",
        # javascript / typescript / tsx
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "variable_declarator",  # only with a function as its value (see `definition_name`)
        # java
        "method_declaration",
        "constructor_declaration",
        "enum_declaration",
        "record_declaration",
        # go
        "type_spec",
        # rust
        "function_item",
        "impl_item",
        "struct_item",
        "enum_item",
        "trait_item",
        "mod_item",
        # c / c++
        "struct_specifier",
        "class_specifier",
        "namespace_definition",
    }
)
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_NEEDS_BODY = frozenset({"struct_specifier", "class_specifier"})  # `struct s x;` is a use, not one


def definition_name(node: Node) -> str | None:
    """The name a definition node defines (`impl Trait for Type` for a Rust impl), or None
    when the node is not a named definition."""
    kind = node.type
    if kind not in DEFINITION_TYPES:
        return None
    if kind == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is None or value.type not in _FUNCTION_VALUES:
            return None
    if kind in _NEEDS_BODY and node.child_by_field_name("body") is None:
        return None
    if kind == "impl_item":
        parts = [node.child_by_field_name(f) for f in ("trait", "type")]
        return "impl " + " for ".join(_node_text(p) for p in parts if p is not None)
    name = node.child_by_field_name("name")
    receiver = node.child_by_field_name("receiver") if kind == "method_declaration" else None
    if name is not None and receiver is not None and receiver.named_child_count:
        # Go: `func (r *Reader) String()` and `func (w Writer) String()` are different methods.
        rtype = receiver.named_children[0].child_by_field_name("type")
        if rtype is not None:
            return _node_text(rtype).lstrip("*") + "." + _node_text(name)
    if name is None:
        # C/C++ functions: the name sits at the bottom of a chain of declarators.
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.child_by_field_name("declarator") is not None:
            decl = decl.child_by_field_name("declarator")
        name = decl
    return _node_text(name) if name is not None else None


WRAPPERS = {"decorated_definition": "definition", "export_statement": "declaration"}


def _wrapped_definition(node: Node) -> Node | None:
    """The definition inside a wrapper node (decorators, `export`), if `node` is one."""
    field = WRAPPERS.get(node.type)
    return node.child_by_field_name(field) if field is not None else None


def _node_text(node: Node) -> str:
    raw = node.text
    return raw.decode("utf-8", "replace") if raw is not None else ""


@lru_cache(maxsize=8)
def parse(text: str, language: str | None) -> SyntaxTree | None:
    """Parse `text`, or None when there is no grammar or the text is too large to bother.

    Cached: re-anchoring many tags of one document, and anchoring each of them afterwards,
    asks for the same few texts over and over."""
    lang = normalize_language(language)
    if lang is None or len(text) > MAX_PARSE_CHARS:
        return None
    parser = get_parser(lang)
    if parser is None:
        return None
    tree = parser.parse(text.encode("utf-8", "surrogatepass"))
    return SyntaxTree(text, tree)


def describe_span(text: str, start: int, end: int, language: str | None) -> tuple[str | None, list[str]]:
    """The node type a span is exactly (after trimming whitespace), and its syntax path."""
    tree = parse(text, language)
    if tree is None:
        return None, []
    s, e = trim(text, start, end)
    node = tree.exact_node(s, e)
    return (node.type if node is not None else None), tree.syntax_path(s, e)


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) without leading and trailing whitespace (unchanged if all whitespace)."""
    s, e = start, end
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e) if s < e else (start, end)
