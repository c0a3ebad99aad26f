"""The Textual fix the key fuzz found: paging an OptionList that has no size yet must not raise."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import OptionList

from beefine_tui.widgets import textual_fixes


class HiddenList(App[None]):
    def compose(self) -> ComposeResult:
        options = OptionList(*[f"option {i}" for i in range(50)])
        options.display = False  # never laid out: no row index yet, as in a list filled a moment ago
        yield options


async def test_paging_a_list_not_laid_out_does_nothing() -> None:
    textual_fixes.apply()
    async with HiddenList().run_test() as pilot:
        options = pilot.app.query_one(OptionList)
        options.highlighted = 3
        options.action_page_down()  # raised KeyError: 3 before the fix
        options.action_page_up()
        assert options.highlighted == 3
        options.display = True
        await pilot.pause()
        options.action_page_down()  # once shown, paging works as before
        assert options.highlighted is not None and options.highlighted > 3
