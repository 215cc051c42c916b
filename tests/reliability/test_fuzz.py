"""Property-based fuzzing (hypothesis).

- The store loader: random bytes, random JSON and mutated valid files either load as valid tags
  or raise StoreError; never any other exception (a crash) and never a silently wrong tag.
- The doctor: whatever the store files hold, it reports instead of crashing, and never rewrites
  a file it could not parse.
- The diff mapping + cascade: edits on other lines (inserted, deleted or rewritten lines, any
  characters, any line endings) never move a span off its text: it is placed exactly where
  unchanged lines vouch for it, and never placed on other text (with duplicate lines the diff
  may be ambiguous; then the tag may be left for review, never misplaced).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magicmarkup.anchoring import diffmap, reanchor
from magicmarkup.doctor import check
from magicmarkup.errors import StoreError
from magicmarkup.model import Anchor, Span, Tag, TagFile
from magicmarkup.store import Store, dump_tag_file, parse_tag_file
from tests.reliability.harness import FULL

EXAMPLES = 1500 if FULL else 200
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def valid_doc() -> dict[str, Any]:
    tag = Tag(path="a.py", span=Span(start=1, end=4), anchor=Anchor(text="abc", snapshot="0" * 64))
    return json.loads(dump_tag_file("a.py", [tag]))


TAG_KEYS = list(valid_doc()["tags"][0])


def _check_loaded(parsed: TagFile) -> None:
    for tag in parsed.tags:
        assert 0 <= tag.span.start <= tag.span.end
        assert 0.0 <= tag.confidence <= 1.0
    assert len({t.id for t in parsed.tags}) == len(parsed.tags)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_load_or_raise_store_error(data: bytes) -> None:
    try:
        _check_loaded(parse_tag_file(data, "fuzz.json"))
    except StoreError as exc:
        assert "fuzz.json" in str(exc) and "\n" not in str(exc)


@FUZZ
@given(json_values)
def test_random_json_loads_or_raises_store_error(value: object) -> None:
    try:
        _check_loaded(parse_tag_file(json.dumps(value).encode(), "fuzz.json"))
    except StoreError as exc:
        assert "fuzz.json" in str(exc)


@FUZZ
@given(
    st.sampled_from(["top", "tag", "span", "anchor", "metadata", "history"]),
    st.sampled_from([*TAG_KEYS, "schema_version", "path", "tags", "start", "end", "text", "extra"]),
    json_values,
)
def test_mutated_valid_files_load_or_raise_store_error(where: str, key: str, value: object) -> None:
    doc = valid_doc()
    target: dict[str, Any] = {
        "top": doc,
        "tag": doc["tags"][0],
        "span": doc["tags"][0]["span"],
        "anchor": doc["tags"][0]["anchor"],
        "metadata": doc["tags"][0]["metadata"],
        "history": doc["tags"][0],
    }[where]
    if where == "history":
        target["history"] = [{key: value, "old_span": {"start": 0, "end": 1}}]
    else:
        target[key] = value
    try:
        _check_loaded(parse_tag_file(json.dumps(doc).encode(), "fuzz.json"))
    except StoreError as exc:
        assert "fuzz.json" in str(exc)


@settings(max_examples=EXAMPLES // 4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_store_and_doctor_never_crash_on_a_fuzzed_file(tmp_path_factory: Any, data: bytes) -> None:
    root = tmp_path_factory.mktemp("fz")
    (root / "a.py").write_text("abcdef\n")
    store = Store.init(root)
    file = store.tag_file("a.py")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data)
    try:
        store.all_tags()
        loaded = True
    except StoreError:
        loaded = False
    report = check(store, fix=True)
    if not loaded:
        assert not report.ok
        assert file.read_bytes() == data  # never rewritten when it could not be parsed
    else:
        assert Path(file).exists() or not data


# -- the diff mapping ----------------------------------------------------------------------

chars = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n")
text_line = st.text(chars, max_size=30)
newline = st.sampled_from(["\n", "\r\n"])
doc_lines = st.lists(st.tuples(text_line, newline), min_size=2, max_size=30)
line_edit = st.tuples(
    st.sampled_from(["insert", "delete", "rewrite"]), st.integers(0, 10**6), text_line, newline
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    doc_lines,
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(1, 10**6),
    st.lists(line_edit, max_size=8),
)
def test_edits_on_other_lines_never_move_a_span_off_its_text(
    lines: list[tuple[str, str]], which: int, a: int, b: int, edits: list[tuple[str, int, str, str]]
) -> None:
    k = which % len(lines)
    body, _ = lines[k]
    if not body:
        lines[k] = ("tagged", lines[k][1])
        body = "tagged"
    s_in = a % len(body)
    e_in = s_in + 1 + b % (len(body) - s_in)
    piece = body[s_in:e_in]
    rows = [list(x) for x in lines]
    tagged = rows[k]
    old = "".join(t + n for t, n in rows)
    start = sum(len(t) + len(n) for t, n in rows[:k]) + s_in
    assert old[start : start + len(piece)] == piece

    for kind, pos, new_text, nl in edits:
        others = [i for i, r in enumerate(rows) if r is not tagged]
        if kind == "insert":
            rows.insert(pos % (len(rows) + 1), [new_text, nl])
        elif others and kind == "delete":
            del rows[others[pos % len(others)]]
        elif others:
            rows[others[pos % len(others)]] = [new_text, nl]
    new = "".join(t + n for t, n in rows)
    k_new = next(i for i, r in enumerate(rows) if r is tagged)
    expected = sum(len(t) + len(n) for t, n in rows[:k_new]) + s_in

    dm = diffmap.build(old, new)
    hit = dm.untouched(start, start + len(piece))
    # The diff may pick another equally short alignment (a blank or duplicate line matched
    # instead of the tagged one), so it may not vouch for the span; when it does, it is right.
    assert hit is None or new[hit[0] : hit[0] + len(piece)] == piece
    [placement] = reanchor(old, new, [(start, start + len(piece))])
    if hit is not None and hit[1] and new.count(piece) == 1:  # unchanged lines vouch, no look-alike
        assert placement.status.placed and placement.start == hit[0], placement
    if placement.status.placed:  # never placed on any other text
        assert placement.start is not None and placement.end is not None
        assert new[placement.start : placement.end] == piece, (placement, expected)
        if new.count(piece) == 1:
            assert placement.start == expected
