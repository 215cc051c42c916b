"""The pure tracking module: buffers, position encodings and spans moved through edits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from magicmarkup.lsp.tracking import UTF8, UTF16, UTF32, Buffer, Edit, Tracker, _line_starts, shift

ALPHABET = st.sampled_from(list("ab \n\r\té€😀x"))
TEXT = st.text(ALPHABET, max_size=60)


def test_insert_before_shifts() -> None:
    assert shift(10, 20, Edit(0, 0, 5)) == (15, 25)
    assert shift(10, 20, Edit(10, 10, 3)) == (13, 23)  # typing at its start pushes it
    assert shift(10, 20, Edit(2, 8, 0)) == (4, 14)


def test_edit_after_leaves_it() -> None:
    assert shift(10, 20, Edit(20, 20, 4)) == (10, 20)  # typing right after it
    assert shift(10, 20, Edit(25, 30, 1)) == (10, 20)


def test_edit_inside_grows_or_shrinks() -> None:
    assert shift(10, 20, Edit(15, 15, 4)) == (10, 24)
    assert shift(10, 20, Edit(12, 18, 0)) == (10, 14)
    assert shift(10, 20, Edit(10, 12, 5)) == (10, 23)  # its head retyped: still part of it
    assert shift(10, 20, Edit(18, 20, 1)) == (10, 19)
    assert shift(10, 20, Edit(5, 12, 0)) == (5, 13)  # overlapping its head
    assert shift(10, 20, Edit(15, 25, 2)) == (10, 17)  # overlapping its tail


def test_removing_the_whole_span_loses_it() -> None:
    assert shift(10, 20, Edit(10, 20, 0)) is None
    assert shift(10, 20, Edit(0, 30, 3)) is None
    tracker = Tracker([("a", 10, 20), ("b", 30, 40)])
    assert tracker.apply(Edit(5, 25, 0)) == ["a"]
    assert tracker.spans == {"b": (10, 20)} and tracker.lost == {"a"}
    tracker.set("a", (0, 3))
    assert tracker.spans["a"] == (0, 3) and not tracker.lost


@settings(max_examples=200, deadline=None)
@given(TEXT, st.data())
def test_tracker_matches_shift_and_keeps_the_text(text: str, data: st.DataObject) -> None:
    """A span that survives an edit outside it still covers the same text."""
    if len(text) < 2:
        return
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    a = data.draw(st.integers(0, len(text)))
    b = data.draw(st.integers(a, len(text)))
    new = data.draw(TEXT)
    tracker = Tracker([("t", start, end)])
    tracker.apply(Edit(a, b, len(new)))
    assert tracker.spans.get("t") == shift(start, end, Edit(a, b, len(new)))
    after = text[:a] + new + text[b:]
    moved = tracker.spans.get("t")
    if moved is not None and (b <= start or a >= end) and not (a == b == end):
        assert after[moved[0] : moved[1]] == text[start:end]
    if moved is not None:
        assert 0 <= moved[0] < moved[1] <= len(after)


def _pos(text: str, offset: int, encoding: str) -> tuple[int, int]:
    line = text.count("\n", 0, offset)
    begin = text.rfind("\n", 0, offset) + 1
    chunk = text[begin:offset]
    if encoding == UTF32:
        return line, len(chunk)
    if encoding == UTF16:
        return line, len(chunk.encode("utf-16-le")) // 2
    return line, len(chunk.encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(TEXT, st.sampled_from([UTF8, UTF16, UTF32]), st.data())
def test_positions_round_trip(text: str, encoding: str, data: st.DataObject) -> None:
    buf = Buffer(text, encoding)
    offset = data.draw(st.integers(0, len(text)))
    pos = buf.position(offset)
    assert pos == _pos(text, offset, encoding)
    assert buf.offset(*pos) == offset


def test_utf16_surrogate_pairs() -> None:
    buf = Buffer("a😀b\nx", UTF16)
    assert buf.position(2) == (0, 3)  # after the emoji: two UTF-16 units
    assert buf.offset(0, 3) == 2
    assert buf.offset(0, 99) == 3  # past the line's end: its end
    assert buf.offset(9, 0) == len(buf.text)  # past the last line: the text's end


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT, st.sampled_from([UTF8, UTF16, UTF32]), st.data())
def test_incremental_changes_keep_text_and_lines(
    text: str, new: str, encoding: str, data: st.DataObject
) -> None:
    buf = Buffer(text, encoding)
    a = data.draw(st.integers(0, len(text)))
    b = data.draw(st.integers(a, len(text)))
    edit = buf.apply(_pos(text, a, encoding), _pos(text, b, encoding), new)
    assert buf.text == text[:a] + new + text[b:]
    assert buf.starts == _line_starts(buf.text)
    assert edit == Edit(a, b, len(new))


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT)
def test_full_document_change_is_one_minimal_edit(old: str, new: str) -> None:
    buf = Buffer(old)
    edit = buf.set_text(new)
    assert buf.text == new
    assert buf.starts == _line_starts(new)
    assert old[: edit.start] + new[edit.start : edit.start + edit.length] + old[edit.end :] == new
    # a tag outside the changed part keeps its text
    tracker = Tracker([("t", 0, max(1, edit.start))])
    if edit.start > 0:
        tracker.apply(edit)
        assert new[slice(*tracker.spans["t"])] == old[: edit.start]


def test_full_change_of_a_large_text_keeps_tags_below() -> None:
    old = "".join(f"line {i}\n" for i in range(5000))
    new = "inserted\n" + old
    buf = Buffer(old)
    tracker = Tracker([("t", old.index("line 4000"), old.index("line 4000") + 9)])
    tracker.apply(buf.set_text(new))
    assert new[slice(*tracker.spans["t"])] == "line 4000"


def test_where_matches_positions() -> None:
    from magicmarkup.positions import Positions

    text = "ab😀\ncd\n\nefg"
    buf = Buffer(text)
    for start in range(len(text)):
        for end in range(start, len(text) + 1):
            assert buf.where("p.py", start, end) == Positions(text).where("p.py", start, end)
