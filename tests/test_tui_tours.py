"""Tours in the TUI (`T`): the tours of the store, a tour's steps in order, a step opens its tag."""

from __future__ import annotations

from textual.widgets import OptionList

from magicmarkup.store import Store
from magicmarkup.tours import TourStep, add_step
from tests.test_tui import NEEDS_REVIEW, ORPHAN, SIZE, STOCK_ERROR, make_app, shop
from tui.screens import TourScreen

__all__ = ["shop"]  # the fixture


async def test_tours_list_steps_in_order_and_open_a_step(shop: Store) -> None:
    add_step(shop, "stock", TourStep(text="Start with the stock rules."), title="How stock works")
    add_step(shop, "stock", TourStep(tag=STOCK_ERROR))
    add_step(shop, "stock", TourStep(tag=NEEDS_REVIEW), position=2)
    add_step(shop, "stock", TourStep(text="The folder.", directory="inventory"))
    add_step(shop, "other", TourStep(tag=ORPHAN))
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("T")
        await pilot.pause()
        assert isinstance(app.screen, TourScreen)
        options = app.screen.query_one("#tour-list", OptionList)
        titles = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert [t.split("  ")[0] for t in titles] == ["other", "How stock works"]
        options.highlighted = 1
        await pilot.press("enter")  # the second tour: its steps, in order
        await pilot.pause()
        steps = [options.get_option_at_index(i) for i in range(options.option_count)]
        assert [str(s.prompt)[:4] for s in steps] == ["  1.", "  2.", "  3.", "  4."]
        assert "Start with the stock rules." in str(steps[0].prompt) and steps[0].disabled
        assert [s.id for s in steps[1:3]] == [NEEDS_REVIEW, STOCK_ERROR]
        assert "[directory: inventory]" in str(steps[3].prompt) and steps[3].disabled
        await pilot.press("escape")  # back to the tours
        await pilot.pause()
        assert isinstance(app.screen, TourScreen) and app.screen.open_tour is None
        options.highlighted = 1
        await pilot.press("enter")
        await pilot.pause()
        options.highlighted = 2
        await pilot.press("enter")  # step 3 opens its tag
        await pilot.pause()
        assert not isinstance(app.screen, TourScreen)
        assert app.selected == STOCK_ERROR and app.current_path == "inventory/stock.py"
