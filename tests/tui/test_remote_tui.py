"""The app over --remote against a stand-in agent behind a stand-in ssh (tests/fake_agent.py): the
header names the host and its connection, the Dashboard shows the agent's containers, Trace exec
shows the agent's events in the usual log, a screen that cannot work remotely says so, and a cut
connection is shown in the header and the log, then retried."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.widgets import DataTable, Static

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.client import AgentCommandError
from beefine_tui.app import BeefineApp
from beefine_tui.probes.catalog import all_probes
from beefine_tui.screens.dashboard import DashboardView
from beefine_tui.screens.hosts_dashboard import HostsDashboardView
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.screens.shell import VIEWS
from beefine_tui.widgets.event_log import EventLog
from tests.fake_agent import install_fake_ssh
from tests.waiting import eventually


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[R.RemoteContext]:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    monkeypatch.setattr(R, "BACKOFF_FIRST_S", 0.2)
    c = R.connect_remotes(["root@far:2222"])
    yield c
    c.close()


def _log_lines(view: ProbeView) -> list[str]:
    """The view's log lines, none until it has mounted: on a busy machine one pause is not enough."""
    return view.event_log.lines() if view.is_mounted and view.query(EventLog) else []


async def _table_of(view: Widget) -> DataTable[Any]:
    await eventually(lambda: view.is_mounted and bool(view.query(DataTable)), f"{view} never mounted")
    return view.query_one(DataTable)


async def test_dashboard_and_trace_exec_over_remote(ctx: R.RemoteContext) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "remote far:2222" in app.sub_title
        assert not app.query("#banner").first(Static).display  # nothing says "not root": nothing loads here
        dash = app.shell.open_view("dashboard")
        assert isinstance(dash, DashboardView)
        table = await _table_of(dash)
        await eventually(lambda: table.row_count == 2, "the agent's containers never showed")
        names = {str(table.get_cell_at(Coordinate(i, 1))) for i in range(2)}
        assert names == {"far-web1", "far-web2"}  # after the HOST column

        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await eventually(lambda: any("far-event-" in line for line in _log_lines(view)), "no events")
        assert view.strip.state == "running"

        # cut the connection: the log says so, the header says it is retried, then it is up again
        link = ctx.links[0]
        assert link.client is not None
        psutil.Process(link.client.proc.pid).kill()
        await eventually(lambda: any("disconnected" in line for line in view.event_log.lines()), "not said")
        await eventually(lambda: "reconnected 1x" in app.sub_title, "the header never said it reconnected")
        before = len(view.event_log.lines())
        await eventually(lambda: len(view.event_log.lines()) > before + 1, "events did not resume")
        await pilot.pause()


async def test_every_screen_opens_over_remote(ctx: R.RemoteContext) -> None:
    """No screen is left saying it needs this machine: each is built on the host's agent (a view
    whose building raised shows its error instead, in a `not-available` placeholder)."""
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        for entry in VIEWS:
            view = app.shell.open_view(entry.key)
            await pilot.pause()
            assert not view.has_class("not-available"), (entry.key, str(getattr(view, "render", str)()))
            await app.shell.close_active_tab()


async def test_one_dashboard_of_two_hosts_and_enter_opens_that_hosts_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    ctx = R.connect_remotes(["h1", "admin@h2:2200"])
    app = BeefineApp(ctx)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            dash = app.shell.open_view("dashboard")
            assert isinstance(dash, HostsDashboardView)
            table = await _table_of(dash)
            await eventually(lambda: table.row_count == 4, "both hosts' containers never showed")
            rows = {
                (str(table.get_cell_at(Coordinate(i, 0))), str(table.get_cell_at(Coordinate(i, 1))))
                for i in range(4)
            }
            assert rows == {
                ("h1", "h1-web1"),
                ("h1", "h1-web2"),
                ("h2:2200", "h2-web1"),
                ("h2:2200", "h2-web2"),
            }
            assert "h1: Docker 20.10-fake" in str(dash.query_one("#facts", Static).render())
            table.focus()
            at = next(i for i in range(4) if str(table.get_cell_at(Coordinate(i, 1))) == "h2-web2")
            table.move_cursor(row=at)
            await pilot.press("t")  # Enter opens its Container monitor (tests/tui/test_remote_monitor.py)
            await eventually(lambda: bool(app.query(ProbeView)), "t opened nothing")
            view = app.query(ProbeView).first()
            await eventually(lambda: view.session is not None, "the container's view never started")
            assert view.session.link.label == "h2:2200" and view.session.container == "h2-web2"
            await eventually(lambda: any("h2-event-" in ln for ln in view.event_log.lines()), "no h2 events")
            assert not any("h1-event-" in ln for ln in view.event_log.lines())

            # one host gone: its name is said, the other's rows stay
            app.shell.open_view("dashboard")  # back to its tab: a hidden dashboard collects nothing
            h1 = ctx.link("h1")
            h1.argv = ["sh", "-c", "exit 255"]
            assert h1.client is not None
            psutil.Process(h1.client.proc.pid).kill()
            status = dash.query_one("#dash-status", Static)
            await eventually(lambda: "h1" in str(status.render()), "the lost host was not named")
            await eventually(lambda: table.row_count == 2, "the lost host's rows stayed")
    finally:
        ctx.close()


async def test_your_programs_load_and_unload_on_the_remote_host(ctx: R.RemoteContext) -> None:
    """Your programs over --remote: the program loads on the host (the agent's `load`), its output
    rows come from there, a verifier refusal shows in the error panel with its line selected, and
    unloading asks the agent to unload it."""
    from textual.widgets import TextArea

    from beefine_tui.screens.errors import ErrorPanel
    from beefine_tui.screens.user_programs import UserProgramsView

    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("user-programs")
        assert isinstance(view, UserProgramsView)
        await eventually(lambda: view.is_mounted and bool(view.query("#source")), "the view never mounted")
        assert "programs load on far:2222" in str(view.query_one(".notice", Static).render())
        area = view.query_one("#source", TextArea)
        area.text = "// name: far-prog\nint f(void *ctx) { return 0; }\n"
        view.action_load()
        loaded = view.query_one("#loaded", DataTable)
        await eventually(lambda: loaded.row_count == 1, "the program never loaded")
        assert [str(c) for c in loaded.get_row_at(0)[:4]] == ["far-prog", "bcc", "pasted", "901"]
        out = view.query_one("#output", DataTable)
        await eventually(lambda: out.row_count >= 1, "no output row came from the host")
        assert "/bin/far-prog-1" in [str(c) for c in out.get_row_at(0)]
        prog = view.loaded["user:far-prog"].runner
        assert isinstance(prog, R.RemoteProgram) and prog.program == 1

        area.text = "// name: bad\n// REJECT\nint f(void *ctx) { return 0; }\n"
        view.action_load()
        panel = view.query_one("#error", ErrorPanel)
        await eventually(lambda: panel.display, "the verifier's refusal was not shown")
        await eventually(lambda: area.selected_text.startswith("int f"), "the refused line was not selected")

        loaded.focus()
        await pilot.press("ctrl+u")
        await eventually(lambda: loaded.row_count == 0, "the program was not unloaded")
        await eventually(lambda: prog.stopped and prog.program is None, "unload was not asked")
        link_client = ctx.links[0].client
        assert link_client is not None
        with pytest.raises(AgentCommandError):  # the agent has it no more: it was unloaded there
            await asyncio.to_thread(link_client.request, "unload", 10, program=1)
        await pilot.pause()
