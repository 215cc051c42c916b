"""Edit operators keep the expected span exact (the invariant), on real code in several languages."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark_gen.edits import OPERATORS, Edit, EditConflict, Source, apply_edits, errors, run_operator
from benchmark_gen.mechanical import SNIPPET_WEIGHTS, snippets
from benchmark_gen.scorer import squash

ROOT = Path(__file__).resolve().parents[1]

# Real code: this project's own modules, plus small programs in the other languages.
JS = """import { join } from 'path';

function total(items, rate) {
  let sum = 0;
  for (let i = 0; i < items.length; i++) {
    sum += items[i].price * rate;
  }
  return sum;
}

function label(item) {
  const name = item.name.trim();
  if (name.length > 10) {
    return name.slice(0, 10) + '...';
  }
  return join('items', name);
}

module.exports = { total, label };
"""
GO = """package shop

import "strings"

func Total(prices []float64, rate float64) float64 {
\tsum := 0.0
\tfor i := 0; i < len(prices); i++ {
\t\tsum += prices[i] * rate
\t}
\treturn sum
}

func Label(name string) string {
\tname = strings.TrimSpace(name)
\tif len(name) > 10 {
\t\treturn name[:10] + "..."
\t}
\treturn strings.ToUpper(name)
}
"""
RUST = """pub fn total(prices: &[f64], rate: f64) -> f64 {
    let mut sum = 0.0;
    for p in prices.iter() {
        sum += p * rate;
    }
    sum
}

pub fn label(name: &str) -> String {
    let trimmed = name.trim();
    if trimmed.len() > 10 {
        return format!("{}...", &trimmed[..10]);
    }
    trimmed.to_uppercase()
}
"""
C = """#include <stdio.h>

static double total(const double *prices, int n, double rate) {
    double sum = 0.0;
    int i = 0;
    while (i < n) {
        sum += prices[i] * rate;
        i++;
    }
    return sum;
}

int main(void) {
    double prices[3] = {1.5, 2.0, 3.25};
    printf("%f\\n", total(prices, 3, 1.2));
    return 0;
}
"""


def _documents() -> list[tuple[str, str]]:
    docs = [("javascript", JS), ("go", GO), ("rust", RUST), ("c", C)]
    for rel in ("magicmarkup/anchoring/fuzzy.py", "magicmarkup/anchoring/search.py"):
        docs.append(("python", (ROOT / rel).read_text(encoding="utf-8")))
    return docs


SAME_TEXT = {
    "insert_above",
    "insert_below",
    "delete_above",
    "delete_below",
    "move_function",
    "rename_outside",
    "duplicate",
}
SAME_SQUASHED = {"reindent", "reformat", "wrap_block"}


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_operator_span_invariant(op: str) -> None:
    applied = 0
    for language, text in _documents():
        src = Source(text, language)
        rng = random.Random(f"{op}:{language}")
        spans = []
        for kind in SNIPPET_WEIGHTS:
            spans.extend(src.span(node) for node, _ in snippets(src, kind))
        rng.shuffle(spans)
        pool = ["    x = compute(1)\n", "  log('hi');\n"]
        for span in spans[:12]:
            old_piece = text[span[0] : span[1]]
            step = run_operator(op, text, language, span, rng, pool, [])
            if step is None:
                continue
            applied += 1
            assert step.text != text
            assert errors(Source(step.text, language).root) <= errors(src.root), "an edit broke the syntax"
            if op == "delete":
                assert step.span is None
                assert old_piece not in step.text
                continue
            assert step.span is not None
            new_piece = step.text[step.span[0] : step.span[1]]
            if op in SAME_TEXT:
                assert new_piece == old_piece
            elif op in SAME_SQUASHED:
                assert squash(new_piece) == squash(old_piece)
            elif op == "rename_inside":
                old, new = step.note.split(" -> ")
                assert re.search(rf"\b{re.escape(old)}\b", old_piece)
                assert new in new_piece and squash(new_piece) != squash(old_piece)
            else:  # partial edits: the snippet changed, the rest of the document did not
                assert step.op.startswith("edit_")
                assert new_piece != old_piece
                assert step.text[: step.span[0]] == text[: span[0]]
                assert step.text[step.span[1] :] == text[span[1] :]
    assert applied >= 3, f"{op} applied only {applied} times"


def test_apply_edits_maps_and_refuses_boundary_crossings() -> None:
    text = "aaaa SPAN bbbb"
    new, span = apply_edits(text, (5, 9), [Edit(0, 0, "xx"), Edit(6, 7, "ZZ"), Edit(14, 14, "!")])
    assert new == "xxaaaa SZZAN bbbb!" and new[span[0] : span[1]] == "SZZAN"
    # Insertions exactly at the boundaries stay outside the span.
    new, span = apply_edits(text, (5, 9), [Edit(5, 5, "<"), Edit(9, 9, ">")])
    assert new[span[0] : span[1]] == "SPAN" and new == "aaaa <SPAN> bbbb"
    with pytest.raises(EditConflict):
        apply_edits(text, (5, 9), [Edit(3, 6, "")])
    with pytest.raises(EditConflict):
        apply_edits(text, (5, 9), [Edit(1, 3, ""), Edit(2, 4, "")])


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet="ab \n", min_size=4, max_size=40),
    data=st.data(),
)
def test_apply_edits_property(text: str, data: st.DataObject) -> None:
    s = data.draw(st.integers(0, len(text) - 1))
    e = data.draw(st.integers(s + 1, len(text)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    edits = [
        Edit(a, b, data.draw(st.text(alphabet="XY", max_size=3)))
        for a, b in zip(cuts[::2], cuts[1::2], strict=False)
    ]
    crosses = any(a < s < b or a < e < b for a, b in ((x.start, x.end) for x in edits))
    covers = any(x.start < s and x.end > e for x in edits)
    try:
        new, (ns, ne) = apply_edits(text, (s, e), edits)
    except EditConflict:
        # Pure insertions at the span's start count as before it, at its end as after it.
        inside = [
            Edit(x.start - s, x.end - s, x.text)
            for x in edits
            if s <= x.start and x.end <= e and not (x.start == x.end and x.start in (s, e))
        ]
        emptied = _apply(text[s:e], inside) == "" if not (crosses or covers) else False
        assert crosses or covers or emptied
        return
    assert not crosses
    before = [x for x in edits if x.end <= s]
    after = [x for x in edits if x.start >= e and x.end > s]
    assert new[:ns] == _apply(text[:s], before)
    assert new[ne:] == _apply(text[e:], [Edit(x.start - e, x.end - e, x.text) for x in after])
    assert len(new) == len(text) + sum(len(x.text) - (x.end - x.start) for x in edits)


def _apply(text: str, edits: list[Edit]) -> str:
    out, pos = [], 0
    for x in sorted(edits, key=lambda x: (x.start, x.end)):
        out.append(text[pos : x.start] + x.text)
        pos = x.end
    return "".join(out) + text[pos:]
