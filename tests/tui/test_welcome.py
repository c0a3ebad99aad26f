"""The welcome text reflows to the width: a paragraph never ends a line early where the next word would
have fitted (what hard line breaks did at 120 columns), and the sidebar's sections stay a list whose
items wrap under their own text."""

from __future__ import annotations

from itertools import pairwise

import pytest
from rich.cells import cell_len
from textual.widgets import Static

from beefine_tui.screens.shell import WELCOME_SECTIONS
from tests.tui.conftest import MakeApp, wait_long

SIZES = [(80, 24), (120, 40), (200, 60)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_paragraphs_reflow_and_lists_stay_lists(make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await wait_long(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#welcome")))
        await pilot.pause()
        welcome = app.shell.query_one("#welcome", Static)
        # the widget's lines and size are its content, inside its padding
        right_edge = welcome.size.width
        lines = [welcome.render_line(y).text.rstrip() for y in range(welcome.size.height)]
        assert all(cell_len(line) <= right_edge for line in lines), lines
        continuations = 0
        for a, b in pairwise(lines):
            body = b.strip()
            if not a.strip() or not body or body.startswith("•"):
                continue  # a paragraph's or an item's first line
            continuations += 1
            # b wraps a's paragraph: its first word could not have been put at the end of a
            first_word = body.split()[0]
            assert cell_len(a) + 1 + cell_len(first_word) > right_edge, (a, b)
        assert continuations > 0  # something wrapped at every size: the check above was exercised
        # the sections are a list: one bullet each, continuation lines indented under the item's text
        for name, _ in WELCOME_SECTIONS:
            item = [i for i, line in enumerate(lines) if line.lstrip().startswith(f"• {name}: ")]
            assert len(item) == 1, (name, lines)
            bullet_at = lines[item[0]].index("•")
            for line in lines[item[0] + 1 :]:
                if not line.strip() or line.lstrip().startswith("•"):
                    break
                assert len(line) - len(line.lstrip()) == bullet_at + 2, line
