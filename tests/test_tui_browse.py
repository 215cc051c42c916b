"""The library helpers behind the TUI (`magicmarkup.browse`) and its offset <-> row/column map,
on real stores in temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from magicmarkup import browse
from magicmarkup import tags as tagapi
from magicmarkup.errors import TagNotFound
from magicmarkup.model import Status, Tag
from magicmarkup.retag import retag_worktree
from magicmarkup.store import Store
from tui.geometry import DocMap


@pytest.fixture
def store(repo: Path) -> Store:
    (repo / "a.py").write_text("def f(x):\n    return x * 2\n\n\ndef g():\n    return f(1)\n")
    (repo / "b.py").write_text("VALUE = 41\nprint(VALUE)\n")
    return Store.init(repo)


def test_summaries_and_review_queue_follow_real_retags(store: Store) -> None:
    kept = tagapi.add_tag(store, "a.py", match="return f(1)", note="Caller")
    gone = tagapi.add_tag(store, "b.py", match="print(VALUE)", note="Debug output\nremove later")
    (store.root / "b.py").write_text("VALUE = 41\n")
    retag_worktree(store)
    tags = tagapi.list_tags(store)
    summaries = browse.summarize(tags)
    assert [(s.path, s.tags, s.orphaned, s.attention) for s in summaries] == [
        ("a.py", 1, 0, False),
        ("b.py", 1, 1, True),
    ]
    assert [t.id for t in browse.needing_review(tags)] == [gone.id]
    assert kept.id not in {t.id for t in browse.needing_review(tags)}


def test_search_ranks_notes_first_and_needs_every_word(store: Store) -> None:
    by_note = tagapi.add_tag(store, "a.py", match="return x * 2", note="Doubling is the VALUE rule")
    by_text = tagapi.add_tag(store, "b.py", match="VALUE = 41", note="The answer, almost")
    tags = tagapi.list_tags(store)
    hits = browse.search_tags(tags, "value")
    assert [h.tag.id for h in hits] == [by_note.id, by_text.id]
    assert [h.field for h in hits] == ["note", "text"]
    assert [h.tag.id for h in browse.search_tags(tags, "value doubling")] == [by_note.id]
    assert browse.search_tags(tags, "value nowhere") == []
    assert browse.search_tags(tags, "   ") == []


def test_reject_placement_orphans_and_keeps_evidence(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="return x * 2")
    rejected = browse.reject_placement(store, tag.id[-8:])
    assert rejected.status is Status.ORPHANED and rejected.confidence == 0.0
    on_disk = Store(store.root).find(tag.id)
    assert on_disk.status is Status.ORPHANED
    assert on_disk.anchor == tag.anchor  # the last anchor stays, so it can be re-attached
    assert on_disk.history[-1].method == "rejected" and on_disk.history[-1].new_span is None
    with pytest.raises(TagNotFound):
        browse.reject_placement(store, "no-such-tag")


def test_revert_tag_undoes_edit_and_delete(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="return x * 2", note="first")
    tagapi.edit_tag(store, tag.id, note="second", metadata={"color": "red"})
    browse.revert_tag(store, tag)

    def as_stored(t: Tag) -> dict[str, object]:  # the pin; its history log only ever grows
        return t.model_dump(exclude={"history"})

    back = Store(store.root).find(tag.id)
    assert as_stored(back) == as_stored(tag)
    assert [e.method for e in back.history] == ["edited", "undo"]  # what happened, in order
    tagapi.remove_tag(store, tag.id)
    browse.revert_tag(store, tag)
    assert as_stored(Store(store.root).find(tag.id)) == as_stored(tag)
    assert len(Store(store.root).load("a.py")) == 1


def test_fingerprint_changes_on_every_write(store: Store) -> None:
    empty = browse.store_fingerprint(store)
    tag = tagapi.add_tag(store, "a.py", match="def g():")
    one = browse.store_fingerprint(store)
    assert one != empty and [entry[0] for entry in one] == [f"pins/a.py/{tag.id}.json"]
    tagapi.edit_tag(store, tag.id, note="x" * 40)  # same mtime granularity, but a new size
    assert browse.store_fingerprint(store) != one
    os.utime(store.pin_file("a.py", tag.id), ns=(1, 1))
    assert browse.store_fingerprint(store)[0][1] == 1
    other = tagapi.add_tag(store, "b.py", match="VALUE = 41")
    two = browse.store_fingerprint(store)
    assert [entry[0] for entry in two] == [f"pins/a.py/{tag.id}.json", f"pins/b.py/{other.id}.json"]
    tagapi.remove_tag(store, other.id)
    assert [entry[0] for entry in browse.store_fingerprint(store)] == [f"pins/a.py/{tag.id}.json"]
    (store.root / "a.py").write_text("\n" + (store.root / "a.py").read_text())
    tagapi.list_tags(store)  # refreshing the local view writes nothing it would see
    assert browse.store_fingerprint(store)[0][1] == 1


def test_tag_color_prefers_metadata(store: Store) -> None:
    tag = tagapi.add_tag(store, "a.py", match="def g():", metadata={"color": " orange "})
    assert browse.tag_color(tag) == "orange"
    plain = tagapi.add_tag(store, "b.py", match="VALUE = 41")
    assert browse.tag_color(plain) == browse.STATUS_COLORS[Status.ANCHORED]
    assert browse.first_line("\n\n  # Title  \nbody", 5) == "# Ti…"


def test_repo_files_lists_git_files_but_not_the_store(store: Store) -> None:
    tagapi.add_tag(store, "a.py", match="def g():")
    files = browse.repo_files(store)
    assert "a.py" in files and "b.py" in files
    assert not any(f.startswith(".magicmarkup/") for f in files)


@pytest.mark.parametrize(
    "text",
    ["", "one line", "a\nb\n", "a\r\nb\r\nc", "x\ry\x0cz\u2028w\n", "tab\tand\x85next\n\n"],
)
def test_docmap_agrees_with_splitlines(text: str) -> None:
    """TextArea splits with str.splitlines(); every offset must land on the same character."""
    docmap = DocMap(text)
    lines = text.splitlines() or [""]
    if text and text[-1] in "\n\r\x0c\x85\u2028":
        lines.append("")
    assert docmap.rows == len(lines)
    for offset in range(len(text) + 1):
        row, col = docmap.location(offset)
        assert 0 <= col <= len(lines[row])
        if offset < len(text) and col < len(lines[row]):
            assert lines[row][col] == text[offset]
            assert docmap.offset((row, col)) == offset


def test_docmap_row_segments_cover_a_span() -> None:
    text = "ab\ncdef\ngh\n"
    docmap = DocMap(text)
    assert docmap.row_segments(1, 2) == [(0, 1, 2)]
    assert docmap.row_segments(1, 9) == [(0, 1, None), (1, 0, None), (2, 0, 1)]
    assert docmap.row_segments(3, 8) == [(1, 0, None)]  # ends at column 0 of the next row
    assert docmap.row_segments(4, 4) == []
