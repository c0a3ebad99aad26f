"""Loaded programs view, "c": run counts on through a (faked) BPF_ENABLE_STATS fd owned by the app
context, the method shown, off again on a second "c" and when the tab closes; the sysctl fallback
says what it is. No BPF: a pipe stands in for the stats fd, a temp file for the sysctl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from beefine_tui.app import BeefineApp
from beefine_tui.probes import inventory as inv
from beefine_tui.screens.programs_list import ProgramsListView
from tests.stats_fakes import is_open
from tests.tui.conftest import MakeApp, wait_until


@pytest.fixture
def fake_kernel(sysctl: Path, stats_fds: list[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setattr(inv, "inventory", lambda: [])
    return stats_fds


def _guards(app: BeefineApp) -> list[inv.StatsGuard]:
    return [g for g in app.ctx.owned() if isinstance(g, inv.StatsGuard)]


def _notice(view: ProgramsListView) -> str:
    return str(view.query_one(".notice", Static).render())


async def _open_with_counts_off(app: BeefineApp, pilot: Any) -> ProgramsListView:
    view = app.shell.open_view("loaded-programs")
    assert isinstance(view, ProgramsListView)
    await pilot.pause()
    await wait_until(pilot, lambda: "Run counts are off" in _notice(view))
    return view


async def test_c_holds_a_stats_fd_until_pressed_again_or_the_tab_closes(
    make_app: MakeApp, fake_kernel: list[int]
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _open_with_counts_off(app, pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: "BPF_ENABLE_STATS" in _notice(view))
        (guard,) = _guards(app)
        assert guard.on and inv.stats_held() and is_open(fake_kernel[0])
        assert Path(inv.STATS_SYSCTL).read_text() == "0\n"
        await pilot.press("c")
        await wait_until(pilot, lambda: not _guards(app))
        assert not guard.on and not is_open(fake_kernel[0]) and not inv.stats_held()
        await pilot.press("c")
        await wait_until(pilot, lambda: len(_guards(app)) == 1)
        await pilot.press("ctrl+w")
        await wait_until(pilot, lambda: not _guards(app))
        assert len(fake_kernel) == 2 and not is_open(fake_kernel[1]) and not inv.stats_held()


async def test_c_on_an_old_kernel_uses_the_sysctl_and_says_so(
    make_app: MakeApp, fake_kernel: list[int], old_kernel: None, sysctl: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _open_with_counts_off(app, pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: "older than 5.8" in _notice(view))
        assert sysctl.read_text() == "1"
        await pilot.press("c")
        await wait_until(pilot, lambda: not _guards(app))
        assert sysctl.read_text() == "0"
