"""The app over --remote against a stand-in agent behind a stand-in ssh (tests/fake_agent.py): the
header names the host and its connection, the Dashboard shows the agent's containers, Trace exec
shows the agent's events in the usual log, a screen that cannot work remotely says so, and a cut
connection is shown in the header and the log, then retried."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from beefine_tui.agent import remote_context as R
from beefine_tui.app import BeefineApp
from beefine_tui.probes.catalog import all_probes
from beefine_tui.screens.dashboard import DashboardView
from beefine_tui.screens.probe_view import ProbeView
from tests.fake_agent import install_fake_ssh


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[R.RemoteContext]:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    monkeypatch.setattr(R, "BACKOFF_FIRST_S", 0.2)
    c = R.connect_remotes(["root@far:2222"])
    yield c
    c.close()


async def _until(cond: Callable[[], bool], what: str, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


async def test_dashboard_and_trace_exec_over_remote(ctx: R.RemoteContext) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "remote far:2222" in app.sub_title
        assert not app.query("#banner").first(Static).display  # nothing says "not root": nothing loads here
        dash = app.shell.open_view("dashboard")
        assert isinstance(dash, DashboardView)
        await pilot.pause()
        table = dash.query_one(DataTable)
        await _until(lambda: table.row_count == 2, "the agent's containers never showed")
        names = {str(table.get_cell_at(Coordinate(i, 0))) for i in range(2)}
        assert names == {"far-web1", "far-web2"}

        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await pilot.pause()
        await _until(lambda: any("far-event-" in line for line in view.event_log.lines()), "no events")
        assert view.strip.state == "running"

        # cut the connection: the log says so, the header says it is retried, then it is up again
        link = ctx.links[0]
        assert link.client is not None
        psutil.Process(link.client.proc.pid).kill()
        await _until(lambda: any("disconnected" in line for line in view.event_log.lines()), "not said")
        await _until(lambda: "reconnected 1x" in app.sub_title, "the header never said it reconnected")
        before = len(view.event_log.lines())
        await _until(lambda: len(view.event_log.lines()) > before + 1, "events did not resume")
        await pilot.pause()


async def test_screens_that_cannot_work_remotely_say_so(ctx: R.RemoteContext) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        for key in ("helpers", "network", "image-monitor", "container-monitor"):
            view = app.shell.open_view(key)
            await pilot.pause()
            assert isinstance(view, Static)
            assert "not available over --remote" in str(view.render())
