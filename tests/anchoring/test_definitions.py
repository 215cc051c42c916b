"""The helpers behind the silent-misplacement checks: named definitions per grammar, the
whitespace-insensitive search on a squashed copy, and the bounded fuzzy windows."""

from __future__ import annotations

import random

import pytest

from magicmarkup.anchoring import fuzzy, syntax
from magicmarkup.anchoring.search import SquashedText, find_ignoring_whitespace

SOURCES = {
    "python": (
        "class App:\n    @property\n    def name(self):\n        return 1\n",
        "return 1",
        ("App", "name"),
    ),
    "typescript": (
        "export class Cart {\n  total(): number {\n    return 1;\n  }\n}\nconst f = () => { return 2; };\n",
        "return 2",
        ("f",),
    ),
    "java": ("class Pool {\n    Pool() {\n        size = 1;\n    }\n}\n", "size = 1", ("Pool", "Pool")),
    "go": (
        'package p\nfunc (r *Reader) String() string {\n\treturn "r"\n}\n',
        'return "r"',
        ("Reader.String",),
    ),
    "rust": (
        "impl Display for Point {\n    fn fmt(&self) -> u8 {\n        7\n    }\n}\n",
        "7",
        ("impl Display for Point", "fmt"),
    ),
    "c": ("static int\ncount(int *xs)\n{\n    return xs[0];\n}\n", "return xs[0];", ("count",)),
    "cpp": (
        "namespace calc {\nint A::foo(int x) {\n    return x;\n}\n}\n",
        "return x;",
        ("calc", "A::foo"),
    ),
}


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_definitions_holding_a_span(language: str) -> None:
    text, piece, expected = SOURCES[language]
    tree = syntax.parse(text, language)
    assert tree is not None
    start = text.index(piece)
    assert tree.definitions(start, start + len(piece)) == expected
    # Each of them is found again by its name.
    for name in expected:
        assert tree.definition_spans(name), name


def test_a_decorated_definition_is_seen_through_its_wrapper() -> None:
    text = "@cache\ndef load(path):\n    return open(path).read()\n"
    tree = syntax.parse(text, "python")
    assert tree is not None
    assert tree.definitions(0, len(text.rstrip())) == ("load",)


def test_a_struct_used_as_a_type_is_no_definition() -> None:
    text = "struct point origin;\nstruct point { int x; };\n"
    tree = syntax.parse(text, "c")
    assert tree is not None
    spans = tree.definition_spans("point")
    assert len(spans) == 1 and text[spans[0].start : spans[0].end].startswith("struct point {")


def test_squashed_search_matches_the_regex_search() -> None:
    rng = random.Random(3)
    words = ["foo", "(", ")", "bar", " ", "\n", "\t", "x", "=", "1"]
    for _ in range(200):
        text = "".join(rng.choice(words) for _ in range(rng.randint(0, 80)))
        needle = "".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        assert SquashedText(text).find(needle) == find_ignoring_whitespace(text, needle)


def test_far_windows_are_few_and_small_in_a_large_text() -> None:
    filler = "".join(f"value_{i} = compute({i})\n" for i in range(5000))
    needle = "result = transform_payload(rare_identifier_here, other)\n"
    text = filler[:40_000] + needle + filler[40_000:]
    windows = fuzzy.far_windows(needle, text, (0, 100))
    assert 1 <= len(windows) <= fuzzy.MAX_WINDOWS
    assert all(b - a <= 2 * (len(needle) + 200) + 64 for a, b in windows)
    assert any(a <= text.index(needle) < b for a, b in windows)
