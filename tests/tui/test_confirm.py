"""Confirm answers once: a second answer queued before it closed must not stop the app."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Button

from beefine_tui.screens.confirm import Confirm


async def test_a_second_answer_before_it_closes_is_ignored() -> None:
    answers: list[bool | None] = []
    app: App[None] = App()
    async with app.run_test() as pilot:
        screen = Confirm("remove it?")
        await app.push_screen(screen, answers.append)
        await pilot.pause()
        # two presses queued before the modal closes (as a fast double Enter or the key fuzz makes)
        screen.query_one("#no", Button).press()
        screen.query_one("#yes", Button).press()
        await pilot.pause()
        assert answers == [False]  # the first answer counts
        assert app.is_running and not isinstance(app.screen, Confirm)
