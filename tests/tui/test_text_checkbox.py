"""A checkbox says on or off in its text, readable without colour (TERM=linux, screen)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from beefine_tui.widgets.text_checkbox import TextCheckbox


class One(App[None]):
    def compose(self) -> ComposeResult:
        yield TextCheckbox("include Beefine", value=False, id="box")


async def test_on_and_off_differ_in_text() -> None:
    app = One()
    async with app.run_test(size=(40, 5)) as pilot:
        box = app.query_one("#box", TextCheckbox)
        assert str(box.render()).startswith("[ ] include Beefine")
        box.toggle()
        await pilot.pause()
        assert str(box.render()).startswith("[x] include Beefine")
