"""A terminal far too small (a split pane, a phone over SSH): the app says what size it needs, keeps
running, and comes back when the terminal grows."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from tests.tui.conftest import MakeApp


@pytest.mark.parametrize("size", [(20, 5), (79, 24), (80, 23), (1, 1)])
async def test_too_small_says_the_size_it_needs(make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        notice = app.shell.query_one("#too-small", Static)
        assert notice.display and "at least 80x24" in str(notice.render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not notice.display and app.is_running
