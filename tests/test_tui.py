"""The TUI driven by Textual's Pilot on a copy of a real fixture repository; every test checks
the store on disk afterwards (through a fresh Store, not the app's memory)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from magicmarkup.model import Status, Tag
from magicmarkup.store import Store
from tui.app import MagicMarkupApp
from tui.commands import ACTIONS
from tui.widgets import CodeView, TagList

FIXTURE = Path(__file__).parent / "fixtures" / "tui" / "shop"
SIZE = (100, 32)
NEEDS_REVIEW = "01hx0000000000000000000001"
ORPHAN = "01hx0000000000000000000004"
STOCK_ERROR = "01hx0000000000000000000006"
README_TAG = "01hx0000000000000000000008"


@pytest.fixture
def shop(tmp_path: Path) -> Store:
    root = tmp_path / "shop"
    shutil.copytree(FIXTURE, root)
    return Store(root)


def on_disk(store: Store, tag_id: str) -> Tag | None:
    fresh = Store(store.root)
    return next((t for t in fresh.all_tags(history=True) if t.id == tag_id), None)


def same_pin(a: Tag | None, b: Tag | None) -> bool:
    """The same tag as stored (its history may have grown: the log only appends)."""
    if a is None or b is None:
        return a is b
    return a.model_dump(exclude={"history"}) == b.model_dump(exclude={"history"})


def make_app(store: Store, **kwargs: object) -> MagicMarkupApp:
    return MagicMarkupApp(store, use_llm=False, poll_interval=0, **kwargs)  # type: ignore[arg-type]


async def select_text(app: MagicMarkupApp, pilot: Pilot[None], needle: str) -> None:
    """Put the cursor before `needle` (which ends its line) and select to the end of the line."""
    code = app.query_one(CodeView)
    code.focus()
    start = app.text.index(needle)
    assert app.text[start + len(needle)] == "\n"
    code.move_cursor(code.docmap.location(start))
    await pilot.press("shift+end")
    await pilot.pause()
    assert code.selected_span() == (start, start + len(needle))


async def test_browse_search_palette_and_theme(shop: Store) -> None:
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_path == "README.md"
        assert app.query_one(CodeView).text == (shop.root / "README.md").read_text()
        assert app.query_one(TagList).option_count == 1 and app.selected == README_TAG

        await pilot.press("slash", *"domain error", "enter")  # search jumps to the tag and its file
        await pilot.pause()
        assert app.selected == STOCK_ERROR and app.current_path == "inventory/stock.py"
        assert app.query_one(CodeView).cursor_offset() == on_disk(shop, STOCK_ERROR).span.start  # type: ignore[union-attr]

        app.open_file("inventory/pricing.py")
        await pilot.pause()
        order = [o.id for o in app.query_one(TagList)._options]
        assert len(order) == 5
        app.select(order[0])
        await pilot.press("n", "n")
        assert app.selected == order[2]
        await pilot.press("N")
        assert app.selected == order[1]

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"review")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.mode == "review"
        assert [o.id for o in app.query_one(TagList)._options] == [NEEDS_REVIEW, ORPHAN]
        bound = {b.action for b in app.BINDINGS if not isinstance(b, tuple)}
        assert {a[1] for a in ACTIONS} <= bound

        assert app.query_one(CodeView).theme == "vscode_dark"
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.theme == "textual-light"
        assert app.query_one(CodeView).theme == "github_light"


async def test_add_edit_delete_and_undo(shop: Store) -> None:
    before = on_disk(shop, STOCK_ERROR)
    app = make_app(shop, open_path="inventory/stock.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # add on a selection
        await select_text(app, pilot, "self.levels = {}")
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"Empty at start", "ctrl+s")
        await pilot.pause()
        added = [t for t in Store(shop.root).load("inventory/stock.py") if t.note == "Empty at start"]
        assert len(added) == 1
        assert added[0].anchor.text == "self.levels = {}"
        assert app.selected == added[0].id
        await pilot.press("u")  # undo the add
        await pilot.pause()
        assert on_disk(shop, added[0].id) is None

        # edit the note (Markdown editor) and the colour; other metadata is kept
        app.select(STOCK_ERROR)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press(*" Or a 409.")
        app.screen.query_one("#color").focus()
        await pilot.press(*"purple", "ctrl+s")
        await pilot.pause()
        edited = on_disk(shop, STOCK_ERROR)
        assert edited is not None
        assert edited.note == "Should be a domain error. Or a 409."
        assert edited.metadata["color"] == "purple" and edited.metadata["author"] == "bo"

        # delete asks first; undo restores exactly
        await pilot.press("d", "n")
        await pilot.pause()
        assert on_disk(shop, STOCK_ERROR) == edited
        await pilot.press("d", "y")
        await pilot.pause()
        assert on_disk(shop, STOCK_ERROR) is None
        assert STOCK_ERROR not in {t.id for t in app.all_tags}
        await pilot.press("u")
        await pilot.pause()
        restored = on_disk(shop, STOCK_ERROR)
        assert same_pin(restored, edited)
        assert restored is not None and "removed" in [e.method for e in restored.history]  # the log keeps it
        assert app.selected == STOCK_ERROR
        await pilot.press("u")  # and the edit too
        await pilot.pause()
        assert same_pin(on_disk(shop, STOCK_ERROR), before)


async def test_repair_candidate_orphan_reject_accept(shop: Store) -> None:
    tag = on_disk(shop, NEEDS_REVIEW)
    assert tag is not None and tag.status is Status.NEEDS_REVIEW and tag.candidates
    first = tag.candidates[0]
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r")  # the review queue across the repo
        await pilot.pause()
        assert app.selected == NEEDS_REVIEW and app.current_path == "inventory/pricing.py"
        await pilot.press("R")
        await pilot.pause()
        await pilot.press("a")  # accept the highlighted (best) candidate
        await pilot.pause()
        fixed = on_disk(shop, NEEDS_REVIEW)
        assert fixed is not None and fixed.status is Status.ANCHORED
        assert (fixed.span.start, fixed.span.end) == (first.start, first.end)
        assert fixed.anchor.text == first.text and fixed.history[-1].method == "candidate"

        # re-attach the orphan by selecting new text
        app.select(ORPHAN)
        await pilot.press("R", "s")
        await pilot.pause()
        assert app.reattach_pending == ORPHAN
        await select_text(app, pilot, "def order_total(items):")
        await pilot.press("t")
        await pilot.pause()
        orphan = on_disk(shop, ORPHAN)
        assert orphan is not None and orphan.status is Status.ANCHORED
        assert orphan.anchor.text == "def order_total(items):"
        assert orphan.note == "Remove once the 2019 contracts end."

        # undo both repairs, then reject the guess, undo, and accept it where it is
        await pilot.press("u", "u")
        await pilot.pause()
        undone = on_disk(shop, NEEDS_REVIEW)
        assert undone is not None and undone.model_copy(update={"history": tag.history}) == tag
        # the history log only grows: the repair and its undo are both in it
        assert [e.method for e in undone.history[-2:]] == ["candidate", "undo"]
        app.select(NEEDS_REVIEW)
        await pilot.press("R", "x")
        await pilot.pause()
        rejected = on_disk(shop, NEEDS_REVIEW)
        assert rejected is not None and rejected.status is Status.ORPHANED
        assert rejected.history[-1].method == "rejected"
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("R", "p")
        await pilot.pause()
        accepted = on_disk(shop, NEEDS_REVIEW)
        assert accepted is not None and accepted.status is Status.ANCHORED
        assert accepted.method == "accepted" and accepted.span == tag.span


async def test_retag_runs_in_a_worker_and_shows_results(shop: Store) -> None:
    stock = shop.root / "inventory" / "stock.py"
    stock.write_text('"""Moved down."""\n\n\n' + stock.read_text())
    before = on_disk(shop, STOCK_ERROR)
    assert before is not None
    app = make_app(shop, open_path="inventory/stock.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")  # runs in a thread worker; the UI keeps handling events
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.retag_running
        assert app.last_report is not None and app.last_report.tags == 8
        assert on_disk(shop, STOCK_ERROR) == before  # the shared pin is not rewritten by a retag
        shown = next(t for t in app.all_tags if t.id == STOCK_ERROR)
        assert shown.status is Status.MOVED  # the UI shows the result without a restart
        assert shown.span.start == before.span.start + len('"""Moved down."""\n\n\n')
        assert app.query_one(CodeView).text == stock.read_text()


async def test_refreshes_when_the_cli_changes_the_store(shop: Store) -> None:
    app = MagicMarkupApp(shop, use_llm=False, poll_interval=0.1, open_path="inventory/stock.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "magicmarkup",
                "add",
                "inventory/stock.py",
                "--match",
                "self.levels = {}",
                "--note",
                "from the CLI",
                "--json",
            ],
            cwd=shop.root,
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert proc.returncode == 0, proc.stderr
        for _ in range(50):
            await pilot.pause(0.1)
            if any(t.note == "from the CLI" for t in app.all_tags):
                break
        assert any(t.note == "from the CLI" for t in app.all_tags)
        assert app.query_one(TagList).option_count == 3


# -- snapshots (pytest-textual-snapshot): fixed ids, timestamps and terminal sizes ----------


def settled(*keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """Press `keys`, then wait for the background syntax parse, so a snapshot always has its
    colours (pressing can open another file, which starts another parse)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.press(*keys)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


def test_snapshot_main_80x24(shop: Store, snap_compare: object) -> None:
    app = make_app(shop, open_path="inventory/pricing.py")
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled())  # type: ignore[operator]


def test_snapshot_main_large(shop: Store, snap_compare: object) -> None:
    app = make_app(shop, open_path="inventory/stock.py")
    assert snap_compare(app, terminal_size=(150, 45), run_before=settled())  # type: ignore[operator]


def test_snapshot_review_light(shop: Store, snap_compare: object) -> None:
    app = make_app(shop, dark=False)
    assert snap_compare(app, terminal_size=(100, 30), run_before=settled("r"))  # type: ignore[operator]


def test_snapshot_repair(shop: Store, snap_compare: object) -> None:
    app = make_app(shop)
    assert snap_compare(app, terminal_size=(100, 30), run_before=settled("r", "R"))  # type: ignore[operator]


def test_snapshot_editor(shop: Store, snap_compare: object) -> None:
    app = make_app(shop, open_path="inventory/stock.py")
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled("e"))  # type: ignore[operator]


def test_snapshot_search(shop: Store, snap_compare: object) -> None:
    app = make_app(shop)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled("slash", *"price"))  # type: ignore[operator]


async def test_detail_pane_reads_the_history_log(shop: Store) -> None:
    """Histories live in a log the bulk load skips; the detail pane reads it on demand."""
    with shop.edit("inventory/pricing.py"):
        pass  # migrated to pins: the inline history moves to history/inventory/pricing.py.jsonl
    assert not shop.tag_file("inventory/pricing.py").exists()
    assert not any('"history"' in f.read_text() for f in shop.pin_dir("inventory/pricing.py").iterdir())
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.select(ORPHAN)
        await pilot.pause()
        shown = str(app.query_one("#detail-history", Static).render())
        assert "orphaned by none" in shown and "never moved" not in shown
