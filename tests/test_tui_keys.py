"""The TUI's help, Escape on every overlay, a visible focus, the detail pane's scroll, and
places written as path:line:col (issue 16)."""

from __future__ import annotations

import re

from textual.command import CommandPalette
from textual.widgets import Static

from magicmarkup.store import Store
from tests.test_tui import NEEDS_REVIEW, ORPHAN, SIZE, STOCK_ERROR, make_app, on_disk, select_text, shop
from tui.commands import ACTIONS, key_label
from tui.screens import ConfirmScreen, HelpScreen, RepairScreen, SearchScreen, TagEditorScreen
from tui.widgets import TagDetail

__all__ = ["shop"]  # the fixture

OFFSETS = re.compile(r"(?<![\d:-])\d+:\d+(?![\d:-])")  # "395:416", not "12:5-12:26"


async def test_question_mark_and_f1_open_the_key_help(shop: Store) -> None:
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen), key
            text = str(app.screen.query_one("#help-keys", Static).render())
            for bound, _action, _label, help_text, _show, _prio in ACTIONS:
                assert help_text in text and key_label(bound) in text
            assert "ctrl+p" in text and "escape" in text
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)


async def test_escape_closes_every_overlay(shop: Store) -> None:
    app = make_app(shop, open_path="inventory/stock.py")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.select(STOCK_ERROR)
        main = app.screen
        for keys, kind in (
            (["ctrl+p"], CommandPalette),
            (["o"], CommandPalette),  # open a file: the palette again
            (["slash", *"stock"], SearchScreen),
            (["e", *"typing"], TagEditorScreen),  # the focus is in the note editor
            (["d"], ConfirmScreen),
            (["question_mark"], HelpScreen),
        ):
            await pilot.press(*keys)
            await pilot.pause()
            assert isinstance(app.screen, kind), keys
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is main, keys
        assert on_disk(shop, STOCK_ERROR) is not None  # nothing was deleted or edited
        assert on_disk(shop, STOCK_ERROR).note == "Should be a domain error."  # type: ignore[union-attr]
        app.select(ORPHAN)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RepairScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is main


async def test_focus_is_clearly_visible(shop: Store) -> None:
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for pane in ("#tags", "#code", "#files"):
            app.query_one(pane).focus()
            await pilot.pause()
            focused = app.query_one(pane).styles
            assert focused.border_top[0] == "heavy", pane
            assert focused.border_title_background.a > 0, pane
            others = [p for p in ("#tags", "#code", "#files") if p != pane]
            assert all(app.query_one(p).styles.border_top[0] == "round" for p in others)


async def test_detail_pane_starts_at_the_top_of_each_tag(shop: Store) -> None:
    app = make_app(shop, open_path="inventory/pricing.py")
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        app.select(NEEDS_REVIEW)
        await pilot.pause()
        detail = app.query_one(TagDetail)
        detail.scroll_end(animate=False)
        await pilot.pause()
        assert detail.scroll_offset.y > 0, "the fixture tag's detail must be taller than the pane"
        await pilot.press("n")
        await pilot.pause()
        assert app.selected != NEEDS_REVIEW
        assert detail.scroll_offset.y == 0


async def test_places_are_lines_and_columns(shop: Store) -> None:
    app = make_app(shop)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.pause()
        app.select(NEEDS_REVIEW)
        await pilot.pause()
        head = str(app.query_one("#detail-head", Static).render())
        assert re.search(r"inventory/pricing\.py:\d+:\d+-\d+:\d+", head), head
        history = str(app.query_one("#detail-history", Static).render())
        undated = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "", history)
        assert "→" in history and not OFFSETS.search(undated), history
        assert "inventory/pricing.py:13:17-13:38 → inventory/pricing.py:17:17-17:37" in history
        await pilot.press("R")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RepairScreen)
        options = screen.query_one("#candidates")
        shown = " ".join(str(o.prompt) for o in options._options)  # type: ignore[attr-defined]
        assert re.search(r"\b\d+:\d+-\d+:\d+\b", shown) and not OFFSETS.search(shown), shown
        await pilot.press("s")  # re-attach by selecting text
        await pilot.pause()
        await select_text(app, pilot, "def order_total(items):")
        await pilot.press("t")
        await pilot.pause()
        message = str(app.query_one("#status-message").render())
        assert re.search(r"re-attached tag \S+ to inventory/pricing\.py:\d+:1-\d+:23$", message), message
        tag = on_disk(shop, NEEDS_REVIEW)
        assert tag is not None and tag.anchor.text == "def order_total(items):"
        shown_id = message.split()[2]
        assert tag.id.startswith(shown_id)


def test_snapshot_help(shop: Store, snap_compare: object) -> None:
    from tests.test_tui import settled

    app = make_app(shop)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled("question_mark"))  # type: ignore[operator]
