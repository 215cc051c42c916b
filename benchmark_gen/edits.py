"""Edit operators that change real code while tracking a tagged span exactly.

Every operator builds a list of non-overlapping text edits; `apply_edits` applies them and maps
the span through them (an edit is before, inside or after the span, never across a boundary),
then checks the invariant independently: the new span's text equals the old snippet with only
the inside edits applied. So a generated case's expected answer is exact by construction.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from magicmarkup.anchoring import syntax

Span = tuple[int, int]


class EditConflict(Exception):
    """An edit would cut across the tagged span's boundary: the operator does not apply here."""


@dataclass(frozen=True, slots=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass(slots=True)
class Step:
    """One operator's result: the new text, and the span the tag should now be on (None: gone)."""

    text: str
    span: Span | None
    op: str
    note: str = ""


# --- language tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class LangSpec:
    call: frozenset[str]
    subexpr: frozenset[str]
    constant: frozenset[str]
    assignment: frozenset[str]
    loops: frozenset[str]
    blocks: frozenset[str]  # statement blocks (loop bodies, if bodies)
    functions: frozenset[str]
    containers: frozenset[str]  # nodes whose named children are statements/definitions
    top_containers: frozenset[str]  # containers outside any function
    args: frozenset[str]
    identifiers: frozenset[str]
    strings: frozenset[str]
    comment: str
    indent: str
    true: str


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


_C_LIKE = dict(
    call=_fs("call_expression"),
    subexpr=_fs("binary_expression"),
    loops=_fs("for_statement", "while_statement", "do_statement"),
    args=_fs("argument_list"),
    strings=_fs("string_literal", "char_literal", "raw_string_literal", "concatenated_string"),
    comment="//",
    indent="    ",
)

LANGS: dict[str, LangSpec] = {
    "python": LangSpec(
        call=_fs("call"),
        subexpr=_fs("binary_operator", "comparison_operator", "boolean_operator"),
        constant=_fs("integer", "float", "string"),
        assignment=_fs("assignment", "augmented_assignment"),
        loops=_fs("for_statement", "while_statement"),
        blocks=_fs("block"),
        functions=_fs("function_definition"),
        containers=_fs("module", "block"),
        top_containers=_fs("module"),
        args=_fs("argument_list"),
        identifiers=_fs("identifier"),
        strings=_fs("string", "concatenated_string"),
        comment="#",
        indent="    ",
        true="True",
    ),
    "javascript": LangSpec(
        call=_fs("call_expression"),
        subexpr=_fs("binary_expression"),
        constant=_fs("number", "string"),
        assignment=_fs("variable_declarator", "assignment_expression", "augmented_assignment_expression"),
        loops=_fs("for_statement", "while_statement", "do_statement"),
        blocks=_fs("statement_block"),
        functions=_fs(
            "function_declaration",
            "method_definition",
            "function_expression",
            "generator_function_declaration",
        ),
        containers=_fs("program", "statement_block", "class_body"),
        top_containers=_fs("program", "class_body"),
        args=_fs("arguments"),
        identifiers=_fs("identifier", "property_identifier", "shorthand_property_identifier"),
        strings=_fs("string", "template_string", "regex"),
        comment="//",
        indent="  ",
        true="true",
    ),
    "c": LangSpec(
        constant=_fs("number_literal", "string_literal", "char_literal"),
        assignment=_fs("init_declarator", "assignment_expression"),
        blocks=_fs("compound_statement"),
        functions=_fs("function_definition"),
        containers=_fs("translation_unit", "compound_statement"),
        top_containers=_fs("translation_unit"),
        identifiers=_fs("identifier", "field_identifier"),
        true="1",
        **_C_LIKE,  # type: ignore[arg-type]
    ),
    "java": LangSpec(
        call=_fs("method_invocation"),
        subexpr=_fs("binary_expression"),
        constant=_fs(
            "decimal_integer_literal",
            "string_literal",
            "hex_integer_literal",
            "decimal_floating_point_literal",
        ),
        assignment=_fs("local_variable_declaration", "assignment_expression"),
        loops=_fs("for_statement", "while_statement", "enhanced_for_statement", "do_statement"),
        blocks=_fs("block"),
        functions=_fs("method_declaration", "constructor_declaration"),
        containers=_fs("program", "block", "class_body"),
        top_containers=_fs("program", "class_body"),
        args=_fs("argument_list"),
        identifiers=_fs("identifier"),
        strings=_fs("string_literal", "character_literal"),
        comment="//",
        indent="    ",
        true="true",
    ),
    "go": LangSpec(
        call=_fs("call_expression"),
        subexpr=_fs("binary_expression"),
        constant=_fs("int_literal", "interpreted_string_literal", "float_literal", "raw_string_literal"),
        assignment=_fs("short_var_declaration", "assignment_statement"),
        loops=_fs("for_statement"),
        blocks=_fs("block"),
        functions=_fs("function_declaration", "method_declaration"),
        containers=_fs("source_file", "statement_list"),
        top_containers=_fs("source_file"),
        args=_fs("argument_list"),
        identifiers=_fs("identifier", "field_identifier"),
        strings=_fs("interpreted_string_literal", "raw_string_literal", "rune_literal"),
        comment="//",
        indent="\t",
        true="true",
    ),
    "rust": LangSpec(
        call=_fs("call_expression", "macro_invocation"),
        subexpr=_fs("binary_expression"),
        constant=_fs("integer_literal", "string_literal", "float_literal", "char_literal"),
        assignment=_fs("let_declaration", "assignment_expression", "compound_assignment_expr"),
        loops=_fs("for_expression", "while_expression", "loop_expression"),
        blocks=_fs("block"),
        functions=_fs("function_item"),
        containers=_fs("source_file", "block", "declaration_list"),
        top_containers=_fs("source_file", "declaration_list"),
        args=_fs("arguments"),
        identifiers=_fs("identifier", "field_identifier"),
        strings=_fs("string_literal", "raw_string_literal", "char_literal", "token_tree"),
        comment="//",
        indent="    ",
        true="true",
    ),
}
LANGS["typescript"] = LangSpec(
    **{
        **LANGS["javascript"].__dict__,
        "functions": LANGS["javascript"].functions | _fs("function_signature"),
    }
)
LANGS["cpp"] = LangSpec(
    **{
        **LANGS["c"].__dict__,
        "functions": _fs("function_definition"),
        "containers": _fs(
            "translation_unit", "compound_statement", "declaration_list", "field_declaration_list"
        ),
        "top_containers": _fs("translation_unit", "declaration_list", "field_declaration_list"),
        "loops": LANGS["c"].loops | _fs("for_range_loop"),
        "true": "true",
    }
)

SNIPPET_TYPES = (
    "function_call",
    "subexpression",
    "constant",
    "loop_condition",
    "variable_assignment",
    "code_block",
    "function",
)


# --- a parsed document ----------------------------------------------------------------------


class Source:
    """A document with its syntax tree, in code points (tree-sitter counts bytes)."""

    def __init__(self, text: str, language: str) -> None:
        self.text = text
        self.language = language
        self.spec = LANGS[language]
        tree = syntax.parse(text, language)
        if tree is None:
            raise ValueError(f"no grammar for {language}")
        self.tree = tree
        self.root: Node = tree.tree.root_node

    def span(self, node: Node) -> Span:
        return self.tree.to_char(node.start_byte), self.tree.to_char(node.end_byte)

    def node_text(self, node: Node) -> str:
        s, e = self.span(node)
        return self.text[s:e]

    def walk(self) -> Iterator[Node]:
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def leaves(self, start: int, end: int) -> list[Node]:
        """Leaf tokens inside [start, end), in order."""
        out: list[Node] = []
        b0, b1 = self.tree.to_byte(start), self.tree.to_byte(end)
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.end_byte <= b0 or node.start_byte >= b1:
                continue
            if node.child_count == 0:
                if node.start_byte >= b0 and node.end_byte <= b1:
                    out.append(node)
                continue
            stack.extend(reversed(node.children))
        return out

    def line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def line_end(self, pos: int) -> int:
        """Offset just past the newline of the line containing pos (or len(text))."""
        k = self.text.find("\n", pos)
        return len(self.text) if k < 0 else k + 1

    def indentation(self, pos: int) -> str:
        ls = self.line_start(pos)
        m = re.match(r"[ \t]*", self.text[ls:])
        return m.group(0) if m else ""

    def line_aligned(self, node: Node) -> bool:
        """The node starts its line (after indentation) and nothing but whitespace follows it."""
        s, e = self.span(node)
        ls = self.line_start(s)
        if self.text[ls:s].strip():
            return False
        le = self.line_end(max(s, e - 1))
        return not self.text[e:le].strip()

    def full_lines(self, node: Node) -> Span:
        s, e = self.span(node)
        return self.line_start(s), self.line_end(max(s, e - 1))

    def in_string(self, node: Node) -> bool:
        n: Node | None = node.parent
        depth = 0
        while n is not None and depth < 4:
            if n.type in self.spec.strings or "string" in n.type or n.type.startswith("preproc"):
                return True
            n = n.parent
            depth += 1
        return False

    def in_preproc(self, node: Node) -> bool:
        n: Node | None = node
        while n is not None:
            if n.type.startswith("preproc"):
                return True
            n = n.parent
        return False

    def statement_of(self, node: Node, allow_top: bool = False) -> Node | None:
        """The smallest line-aligned statement (a container's child) enclosing the node."""
        n: Node | None = node
        while n is not None and n.parent is not None:
            parent = n.parent
            if parent.type in self.spec.containers and n.is_named and self.line_aligned(n):
                if allow_top or parent.type not in self.spec.top_containers:
                    return n
                return None
            n = parent
        return None

    def function_of(self, node: Node) -> Node | None:
        """The outermost function-like definition enclosing the node, as a container child."""
        n: Node | None = node
        found = None
        while n is not None:
            if n.type in self.spec.functions:
                found = n
            n = n.parent
        if found is None:
            return None
        # Python decorators belong to the definition when it moves.
        if found.parent is not None and found.parent.type == "decorated_definition":
            found = found.parent
        return found

    def statements(self, top: bool | None = None) -> list[Node]:
        """Line-aligned named children of containers (insertion/deletion anchors)."""
        out = []
        for node in self.walk():
            parent = node.parent
            if parent is None or not node.is_named or parent.type not in self.spec.containers:
                continue
            if node.type in ("comment", "line_comment", "block_comment") or node.type.startswith("preproc"):
                continue
            is_top = parent.type in self.spec.top_containers
            if top is not None and is_top != top:
                continue
            if self.line_aligned(node):
                out.append(node)
        return out


# --- applying edits -------------------------------------------------------------------------


def apply_edits(text: str, span: Span, edits: list[Edit]) -> tuple[str, Span]:
    """Apply non-overlapping edits and map the span; raise EditConflict on a boundary crossing.

    Pure insertions at the span's start count as before it, at its end as after it."""
    s, e = span
    ordered = sorted(edits, key=lambda x: (x.start, x.end))
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise EditConflict("overlapping edits")
    shift_s = shift_e = 0
    inside: list[Edit] = []
    for ed in ordered:
        delta = len(ed.text) - (ed.end - ed.start)
        if ed.end <= s:
            shift_s += delta
            shift_e += delta
        elif ed.start >= e:
            continue
        elif s <= ed.start and ed.end <= e:
            inside.append(ed)
            shift_e += delta
        else:
            raise EditConflict(f"edit {ed.start}:{ed.end} crosses span {s}:{e}")
    out = []
    pos = 0
    for ed in ordered:
        out.append(text[pos : ed.start])
        out.append(ed.text)
        pos = ed.end
    out.append(text[pos:])
    new_text = "".join(out)
    ns, ne = s + shift_s, e + shift_e
    if ne <= ns:
        raise EditConflict("the edits remove the whole span")
    # Independent check: the snippet with only the inside edits applied.
    parts = []
    pos = s
    for ed in inside:
        parts.append(text[pos : ed.start])
        parts.append(ed.text)
        pos = ed.end
    parts.append(text[pos:e])
    piece = "".join(parts)
    if new_text[ns:ne] != piece:
        raise AssertionError("span tracking invariant violated")
    return new_text, (ns, ne)


def _rel_indent(block: str, new_indent: str) -> str:
    """Re-indent a line block so its first line has `new_indent` (relative structure kept)."""
    lines = block.splitlines(keepends=True)
    if not lines:
        return block
    first = re.match(r"[ \t]*", lines[0])
    base = first.group(0) if first else ""
    out = []
    for line in lines:
        if line.startswith(base):
            out.append(new_indent + line[len(base) :] if line.strip() else line)
        else:
            out.append(new_indent + line.lstrip() if line.strip() else line)
    text = "".join(out)
    return text if text.endswith("\n") else text + "\n"


# --- operators --------------------------------------------------------------------------------

Operator = Callable[["Context"], Step | None]


@dataclass
class Context:
    """What an operator may look at: the current document, the span, randomness, and a pool of
    unrelated real code of the same language (for insertions)."""

    src: Source
    span: Span
    rng: random.Random
    pool: list[str] = field(default_factory=list)  # line-aligned statements from other files
    top_pool: list[str] = field(default_factory=list)  # whole definitions from other files

    @property
    def text(self) -> str:
        return self.src.text

    def node(self) -> Node | None:
        """The named node the span is exactly (after trimming), or the smallest covering one."""
        s, e = syntax.trim(self.text, *self.span)
        node = self.src.tree.exact_node(s, e)
        return node if node is not None else self.src.tree.smallest_covering(s, e)


def _outside(ctx: Context, a: int, b: int) -> bool:
    s, e = ctx.span
    return b <= s or a >= e


def _unrelated(ctx: Context, indent: str, top: bool) -> str:
    rng = ctx.rng
    pool = ctx.top_pool if top else ctx.pool
    if pool and rng.random() < 0.75:
        return _rel_indent(rng.choice(pool), indent)
    words = rng.sample(["cache", "retry", "limit", "note", "keep", "order", "value", "check", "path"], 3)
    return f"{indent}{ctx.src.spec.comment} {' '.join(words)}\n"


def _insert(ctx: Context, above: bool) -> Step | None:
    s, e = ctx.span
    anchors = [n for n in ctx.src.statements() + ctx.src.statements(top=True)]
    spots = []
    for n in anchors:
        ls = ctx.src.line_start(ctx.src.span(n)[0])
        if (above and ls <= s and ls <= ctx.src.line_start(s)) or (not above and ls >= e):
            spots.append((ls, n))
    if not spots:
        return None
    spots.sort(key=lambda t: abs(t[0] - s))
    ls, node = ctx.rng.choice(spots[:8])
    top = node.parent is not None and node.parent.type in ctx.src.spec.top_containers
    block = _unrelated(ctx, ctx.src.indentation(ls), top)
    if top and not block.endswith("\n\n"):
        block += "\n"
    text, span = apply_edits(ctx.text, ctx.span, [Edit(ls, ls, block)])
    return Step(text, span, "insert_above" if above else "insert_below")


def op_insert_above(ctx: Context) -> Step | None:
    return _insert(ctx, True)


def op_insert_below(ctx: Context) -> Step | None:
    return _insert(ctx, False)


def _delete(ctx: Context, above: bool) -> Step | None:
    s, e = ctx.span
    spots = []
    for n in ctx.src.statements():
        a, b = ctx.src.full_lines(n)
        if not ((above and b <= ctx.src.line_start(s)) or (not above and a >= e)):
            continue
        parent = n.parent
        if parent is None or parent.named_child_count < 2 or b - a > 600:
            continue
        spots.append((a, b))
    if not spots:
        return None
    spots.sort(key=lambda t: abs(t[0] - s))
    a, b = ctx.rng.choice(spots[:6])
    text, span = apply_edits(ctx.text, ctx.span, [Edit(a, b, "")])
    return Step(text, span, "delete_above" if above else "delete_below")


def op_delete_above(ctx: Context) -> Step | None:
    return _delete(ctx, True)


def op_delete_below(ctx: Context) -> Step | None:
    return _delete(ctx, False)


def op_move_function(ctx: Context) -> Step | None:
    """Cut the enclosing function (whole lines) and paste it before another sibling definition."""
    node = ctx.node()
    if node is None:
        return None
    fn = ctx.src.function_of(node)
    if fn is None or fn.parent is None:
        return None
    a, b = ctx.src.full_lines(fn)
    # Take the blank line after it along, so spacing stays natural.
    if ctx.text[b : b + 1] == "\n":
        b += 1
    siblings = [c for c in fn.parent.named_children if c.id != fn.id and ctx.src.line_aligned(c)]
    targets = [ctx.src.full_lines(c)[0] for c in siblings if c.type not in ("comment",)]
    targets = [t for t in targets if t < a or t >= b]
    if not targets:
        return None
    t = ctx.rng.choice(targets)
    chunk = ctx.text[a:b]
    if not chunk.endswith("\n\n"):
        chunk += "\n"
    s, e = ctx.span
    if t < a:
        new_text = ctx.text[:t] + chunk + ctx.text[t:a] + ctx.text[b:]
        ns = t + (s - a)
    else:
        new_text = ctx.text[:a] + ctx.text[b:t] + chunk + ctx.text[t:]
        ns = a + (t - b) + (s - a)
    ne = ns + (e - s)
    if new_text[ns:ne] != ctx.text[s:e]:
        raise AssertionError("move invariant violated")
    return Step(new_text, (ns, ne), "move_function")


_SUFFIXES = ("_new", "2", "_tmp", "_val", "_x", "Alt")


def _rename(ctx: Context, inside: bool) -> Step | None:
    s, e = ctx.span
    idents: dict[str, list[Span]] = {}
    for node in ctx.src.walk():
        if node.type in ctx.src.spec.identifiers and node.child_count == 0 and not ctx.src.in_preproc(node):
            idents.setdefault(ctx.src.node_text(node), []).append(ctx.src.span(node))
    choices = []
    for name, spans in idents.items():
        if len(name) < 2 or name in ("self", "this", "cls"):
            continue
        n_in = sum(1 for a, b in spans if s <= a and b <= e)
        crosses = any(a < s < b or a < e < b for a, b in spans)
        if crosses:
            continue
        if (inside and n_in > 0) or (not inside and n_in == 0 and any(abs(a - s) < 1500 for a, _ in spans)):
            choices.append(name)
    if not choices:
        return None
    name = ctx.rng.choice(sorted(choices))
    new = name + ctx.rng.choice(_SUFFIXES)
    if re.search(rf"\b{re.escape(new)}\b", ctx.text):
        return None
    edits = [Edit(a, b, new) for a, b in idents[name]]
    text, span = apply_edits(ctx.text, ctx.span, edits)
    return Step(text, span, "rename_inside" if inside else "rename_outside", f"{name} -> {new}")


def op_rename_inside(ctx: Context) -> Step | None:
    return _rename(ctx, True)


def op_rename_outside(ctx: Context) -> Step | None:
    return _rename(ctx, False)


def op_reindent(ctx: Context) -> Step | None:
    """Change the indentation of the enclosing function (Python: 4 -> 2 spaces per level)."""
    node = ctx.node()
    if node is None:
        return None
    fn = ctx.src.function_of(node) or ctx.src.statement_of(node)
    if fn is None:
        return None
    a, b = ctx.src.full_lines(fn)
    base = ctx.src.indentation(a)
    edits: list[Edit] = []
    pos = a
    python = ctx.src.language == "python"
    grow = not python and ctx.rng.random() < 0.5
    shrink_to = "\t" if ctx.rng.random() < 0.5 else "  "
    while pos < b:
        le = ctx.src.line_end(pos)
        line = ctx.text[pos:le]
        m = re.match(r"[ \t]*", line)
        ind = m.group(0) if m else ""
        if line.strip() and pos != a:
            if python:
                rel = ind[len(base) :] if ind.startswith(base) else ""
                if rel and "\t" not in rel and ind.startswith(base):
                    new_rel = " " * ((len(rel) // 4) * 2 + len(rel) % 4)
                    if new_rel != rel:
                        edits.append(Edit(pos + len(base), pos + len(ind), new_rel))
            elif grow:
                edits.append(Edit(pos, pos, "  "))
            elif ind.startswith("    "):
                edits.append(Edit(pos, pos + 4, shrink_to))
            elif ind.startswith("\t"):
                edits.append(Edit(pos, pos + 1, "    "))
        elif line.strip() and not python and grow:
            edits.append(Edit(pos, pos, "  "))
        pos = le
    edits = [ed for ed in edits if _outside(ctx, ed.start, ed.end) or _inside(ctx, ed)]
    if not edits:
        return None
    text, span = apply_edits(ctx.text, ctx.span, edits)
    return Step(text, span, "reindent")


def _inside(ctx: Context, ed: Edit) -> bool:
    s, e = ctx.span
    return s <= ed.start and ed.end <= e and not (ed.start == ed.end == s)


_OPS_BREAK = {
    ",",
    "(",
    ")",
    "[",
    "]",
    "=",
    "+",
    "-",
    "*",
    "/",
    "<",
    ">",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    ":",
}


def op_reformat(ctx: Context) -> Step | None:
    """Change whitespace between tokens in and around the span (spaces, and line breaks after
    commas in argument lists), never inside strings or preprocessor lines."""
    s, e = ctx.span
    lo = ctx.src.line_start(s)
    hi = ctx.src.line_end(max(s, e - 1))
    leaves = [lf for lf in ctx.src.leaves(lo, hi) if not ctx.src.in_string(lf) and lf.type != "comment"]
    edits: list[Edit] = []
    for left, right in itertools.pairwise(leaves):
        a = ctx.src.span(left)[1]
        b = ctx.src.span(right)[0]
        if b < a or (a <= s < b) or (a < e <= b and b != e) or a < s < b:
            continue
        gap = ctx.text[a:b]
        if "\n" in gap or (gap and gap.strip()):
            continue
        lt, rt = ctx.text[a - 1 : a], ctx.text[b : b + 1]
        ltok, rtok = ctx.src.node_text(left), ctx.src.node_text(right)
        if ltok in (".", "::", "->") or rtok in (".", "::", "->", "?."):
            continue
        word_l, word_r = (lt.isalnum() or lt == "_"), (rt.isalnum() or rt == "_")
        if word_l and word_r:
            continue  # never join or split two words
        roll = ctx.rng.random()
        if ltok == "," and left.parent is not None and left.parent.type in ctx.src.spec.args and roll < 0.3:
            indent = ctx.src.indentation(a) + ctx.src.spec.indent
            edits.append(Edit(a, b, "\n" + indent))
        elif gap == " " and roll < 0.5 and (ltok in _OPS_BREAK or rtok in _OPS_BREAK):
            edits.append(Edit(a, b, ""))
        elif gap == "" and roll < 0.5 and (word_l or word_r) and (ltok in _OPS_BREAK or rtok in _OPS_BREAK):
            edits.append(Edit(a, b, " "))
        elif gap == " " and roll < 0.2:
            edits.append(Edit(a, b, "  "))
    # Boundary gaps: an edit touching s or e must not cross; keep only safe ones.
    safe = [ed for ed in edits if ed.end <= s or ed.start >= e or (s <= ed.start and ed.end <= e)]
    if not any(s <= ed.start and ed.end <= e and ed.start < ed.end for ed in safe):
        return None
    text, span = apply_edits(ctx.text, ctx.span, safe)
    return Step(text, span, "reformat")


def op_wrap_block(ctx: Context) -> Step | None:
    """Wrap the enclosing statement in a block (`if True:`/`try:` or `{ }`/`if (x) { }`)."""
    node = ctx.node()
    if node is None:
        return None
    lang = ctx.src.language
    stmt = ctx.src.statement_of(node, allow_top=lang == "python")
    if (
        stmt is None
        or stmt.type in ctx.src.spec.functions
        or stmt.type in ("class_definition", "decorated_definition")
    ):
        return None
    if lang == "go" and stmt.type in ("short_var_declaration", "var_declaration", "const_declaration"):
        pass  # still parses; scope changes do not matter to the benchmark
    a, b = ctx.src.full_lines(stmt)
    if b - a > 2500:
        return None
    ind = ctx.src.indentation(a)
    unit = (
        "\t"
        if ind.startswith("\t")
        else ctx.src.spec.indent
        if not ind
        else ("    " if ind.startswith("    ") else "  ")
    )
    edits: list[Edit] = []
    pos = a
    while pos < b:
        le = ctx.src.line_end(pos)
        if ctx.text[pos:le].strip():
            edits.append(Edit(pos, pos, unit))
        pos = le
    closer = "" if ctx.text[b - 1 : b] == "\n" else "\n"
    if lang == "python":
        if ctx.rng.random() < 0.5:
            head, tail = f"{ind}if True:\n", f"{closer}"
        else:
            head, tail = f"{ind}try:\n", f"{closer}{ind}except Exception:\n{ind}{unit}pass\n"
        kind = "wrap_if" if head.endswith("True:\n") else "wrap_try"
    else:
        choice = ctx.rng.random()
        if choice < 0.4:
            head, kind = f"{ind}{{\n", "wrap_braces"
        elif lang in ("go", "rust"):
            head, kind = f"{ind}if {ctx.src.spec.true} {{\n", "wrap_if"
        else:
            head, kind = f"{ind}if ({ctx.src.spec.true}) {{\n", "wrap_if"
        tail = f"{closer}{ind}}}\n"
    # The header goes before the first line's indentation edit; both are insertions at `a`.
    first = edits[0] if edits and edits[0].start == a else None
    if first is not None:
        edits[0] = Edit(a, a, head + first.text)
    else:
        edits.insert(0, Edit(a, a, head))
    edits.append(Edit(b, b, tail))
    try:
        text, span = apply_edits(ctx.text, ctx.span, edits)
    except EditConflict:
        return None
    return Step(text, span, "wrap_block", kind)


def op_duplicate(ctx: Context) -> Step | None:
    """Paste a copy of the statement holding the snippet somewhere else (farther than 3 lines)."""
    node = ctx.node()
    if node is None:
        return None
    stmt = ctx.src.statement_of(node, allow_top=True)
    if stmt is None:
        return None
    a, b = ctx.src.full_lines(stmt)
    block = ctx.text[a:b]
    if block.count("\n") > 25:
        return None
    top = stmt.parent is not None and stmt.parent.type in ctx.src.spec.top_containers
    definition = stmt.type in ctx.src.spec.functions or stmt.type == "decorated_definition"
    spots = []
    for n in ctx.src.statements():
        if n.parent is None or stmt.parent is None or n.parent.type != stmt.parent.type:
            continue
        if definition and n.parent.id != stmt.parent.id:
            continue  # a copied definition goes next to its siblings, not into a body
        ls = ctx.src.line_start(ctx.src.span(n)[0])
        if (ls < a and ctx.text.count("\n", ls, a) > 3) or (ls >= b and ctx.text.count("\n", b, ls) > 3):
            spots.append(ls)
    if not spots:
        return None
    ls = ctx.rng.choice(spots)
    copy = _rel_indent(block, ctx.src.indentation(ls))
    if top:
        copy += "\n"
    text, span = apply_edits(ctx.text, ctx.span, [Edit(ls, ls, copy)])
    return Step(text, span, "duplicate")


_OPERATOR_SWAPS = {
    "+": "-",
    "-": "+",
    "*": "/",
    "/": "*",
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "&&": "||",
    "||": "&&",
    "and": "or",
    "or": "and",
    "%": "+",
    "&": "|",
    "|": "&",
}


def op_edit_inside(ctx: Context) -> Step | None:
    """Partially edit the snippet: change a literal, an operator, an operand, or add an argument."""
    s, e = ctx.span
    leaves = ctx.src.leaves(s, e)
    spec = ctx.src.spec
    options: list[tuple[str, Edit]] = []
    for lf in leaves:
        a, b = ctx.src.span(lf)
        tok = ctx.text[a:b]
        parent = lf.parent
        if re.fullmatch(r"\d+", tok) and not ctx.src.in_preproc(lf):
            options.append(("edit_literal", Edit(a, b, str(int(tok) * 2 + 1))))
        elif (
            parent is not None and parent.type in spec.subexpr and not lf.is_named and tok in _OPERATOR_SWAPS
        ):
            if ctx.src.language != "python" and tok in ("and", "or", "is", "in"):
                continue
            if ctx.src.language == "python" and tok in ("&&", "||"):
                continue
            options.append(("edit_operator", Edit(a, b, _OPERATOR_SWAPS[tok])))
        elif lf.type in ("string_content", "string_fragment", "interpreted_string_literal_content") and tok:
            options.append(("edit_literal", Edit(b, b, " updated")))
        elif lf.type in spec.identifiers and parent is not None and parent.type in spec.args:
            options.append(("edit_operand", Edit(a, b, tok + "_b")))
    for node in ctx.src.walk():
        if node.type in spec.args:
            a, b = ctx.src.span(node)
            if s <= a and b <= e and ctx.text[b - 1 : b] == ")":
                inner = ctx.text[a + 1 : b - 1].strip()
                options.append(("edit_argument", Edit(b - 1, b - 1, ", extra" if inner else "extra")))
    options = [o for o in options if s <= o[1].start and o[1].end <= e and not (o[1].start == o[1].end == e)]
    if not options:
        return None
    kind, edit = ctx.rng.choice(options)
    text, span = apply_edits(ctx.text, ctx.span, [edit])
    return Step(text, span, kind)


def op_delete(ctx: Context) -> Step | None:
    """Delete the code the tag was on (its whole statement, or the function); expected: orphaned.
    Only when the snippet's text then no longer occurs anywhere (so 'orphaned' is unambiguous)."""
    node = ctx.node()
    if node is None:
        return None
    s, e = ctx.span
    stmt = ctx.src.statement_of(node, allow_top=True)
    target = stmt
    if target is None:
        return None
    a, b = ctx.src.full_lines(target)
    snippet = ctx.text[s:e]
    replacement = ""
    parent = target.parent
    if (
        ctx.src.language == "python"
        and parent is not None
        and parent.type == "block"
        and parent.named_child_count < 2
    ):
        replacement = ctx.src.indentation(a) + "pass\n"
    new_text = ctx.text[:a] + replacement + ctx.text[b:]
    squashed = re.sub(r"\s+", "", snippet)
    if snippet.strip() in new_text or squashed in re.sub(r"\s+", "", new_text):
        return None  # a copy survives (even re-indented): "orphaned" would not be the one answer
    return Step(new_text, None, "delete")


OPERATORS: dict[str, Operator] = {
    "insert_above": op_insert_above,
    "insert_below": op_insert_below,
    "delete_above": op_delete_above,
    "delete_below": op_delete_below,
    "move_function": op_move_function,
    "rename_inside": op_rename_inside,
    "rename_outside": op_rename_outside,
    "reindent": op_reindent,
    "reformat": op_reformat,
    "wrap_block": op_wrap_block,
    "duplicate": op_duplicate,
    "edit_inside": op_edit_inside,
    "delete": op_delete,
}


def run_operator(
    name: str,
    text: str,
    language: str,
    span: Span,
    rng: random.Random,
    pool: list[str] | None = None,
    top_pool: list[str] | None = None,
) -> Step | None:
    """Parse, apply one operator, and check the result; None when it does not apply here."""
    ctx = Context(Source(text, language), span, rng, pool or [], top_pool or [])
    try:
        step = OPERATORS[name](ctx)
    except EditConflict:
        return None
    if step is None or step.text == text:
        return None
    if errors(Source(step.text, language).root) > errors(ctx.src.root):
        return None  # the edit broke the syntax: not a realistic change
    if step.span is not None:
        ns, ne = step.span
        if not (0 <= ns < ne <= len(step.text)):
            raise AssertionError(f"{name}: span out of range")
    return step


def errors(root: Node) -> int:
    """How many ERROR/MISSING nodes a tree has (an operator must not add any)."""
    if not root.has_error:
        return 0
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        if node.has_error:
            stack.extend(node.children)
    return count
