"""Snapshots of the Docker screens at 80x24, 120x40 and 200x60: the dashboard with two containers and
the container monitor on a report recorded from a real container. One refresh each (the next one is an
hour away), so what is drawn does not depend on how fast this machine is.

After an intended visual change:
    .venv/bin/python -m pytest tests/tui/test_docker_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult

from beefine_tui.appcontext import AppContext
from beefine_tui.screens.container_monitor import ContainerMonitorView
from beefine_tui.screens.dashboard import DashboardView
from tests.tui.test_container_monitor import CID, FakeSource
from tests.tui.test_dashboard import Recorded, row, snap

SIZES = [(80, 24), (120, 40), (200, 60)]
NEVER = 3600.0  # seconds to the next refresh: longer than any test


class DashApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        rows = [row(1, 12.5, 11 << 20), row(2, 0.4, 20 << 20)]
        self.collector = Recorded([snap(rows, 1.0)])

    def compose(self) -> ComposeResult:
        yield DashboardView(collector=self.collector, interval=NEVER)


class MonApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.source = FakeSource()
        self.ctx = AppContext(docker_host=None, bpf_allowed=True)

    def compose(self) -> ComposeResult:
        view = ContainerMonitorView(source=self.source, container=CID, live_probes=False)
        view.interval = NEVER
        view.host_cores, view.host_memory = 2, 24 << 30  # the charts' axes without a limit: not this host's
        yield view


async def until(pilot: Any, cond: Any, what: str) -> None:
    for _ in range(1000):  # up to 20 s on a loaded machine
        if cond():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare: Any, size: tuple[int, int]) -> None:
    app = DashApp()

    async def run_before(pilot: Any) -> None:
        view = app.query_one(DashboardView)
        await until(pilot, lambda: view.refreshes >= 1, "the first refresh")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_container_monitor(snap_compare: Any, size: tuple[int, int]) -> None:
    app = MonApp()

    async def run_before(pilot: Any) -> None:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None and view.last is not None, "report and sample")

    assert snap_compare(app, terminal_size=size, run_before=run_before)
