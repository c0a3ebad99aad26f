"""Container monitor: the Network tab is live (a new listener and growing rx/tx show without Reload),
Reload keeps "Watch sockets" running, the limit confirmation shows the whole question, and the
limit inputs read as hints. Fake source, no Docker."""

from __future__ import annotations

import copy

import pytest
from textual.widgets import Button, DataTable, Input, Static, TabbedContent

from beefine_tui.docker.netinfo import NetInfo, SocketInfo
from beefine_tui.screens import container_monitor
from beefine_tui.screens.container_monitor import Confirm, ContainerMonitorView
from tests.tui.test_container_monitor import REPORT, FakeSource, MonApp, until


class NetSource(FakeSource):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def network(self, cid: str, pid: int, pids: list[int], host_netns: bool) -> NetInfo:
        self.reads += 1
        assert REPORT.network is not None
        net = copy.deepcopy(REPORT.network)
        for i in net.interfaces:
            i.rx_bytes += self.reads * 1_000_000
        if self.reads >= 2:  # a server started listening after the report was read
            net.sockets.append(
                SocketInfo(proto="tcp", local="0.0.0.0:9731", remote="0.0.0.0:0", state="LISTEN", inode=4242)
            )
        return net


async def test_network_tab_refreshes_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container_monitor, "NET_REFRESH_S", 0.05)
    src = NetSource()
    app = MonApp(src)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        socks: DataTable[str] = view.query_one("#socks", DataTable)
        ifs: DataTable[str] = view.query_one("#ifaces", DataTable)
        before = {str(ifs.get_row_at(i)[4]) for i in range(ifs.row_count)}
        assert not any("9731" in str(socks.get_row_at(i)[1]) for i in range(socks.row_count))
        await pilot.pause(0.3)
        assert src.reads == 0, "nothing is read while the Network tab is hidden"
        view.query_one("#mon-tabs", TabbedContent).active = "t-net"
        await until(
            pilot,
            lambda: any("9731" in str(socks.get_row_at(i)[1]) for i in range(socks.row_count)),
            "the new listener",
        )
        after = {str(ifs.get_row_at(i)[4]) for i in range(ifs.row_count)}
        assert after != before, "rx moved"


async def test_reload_keeps_watching_sockets() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        view.query_one("#mon-tabs", TabbedContent).active = "t-net"
        await pilot.pause(0.1)
        view.query_one("#net-watch", Button).press()
        await until(pilot, lambda: bool(view.extra_sessions), "the sockets session")
        session = next(iter(view.extra_sessions.values()))
        view.reload()
        await until(
            pilot,
            lambda: view.report is not None and view.query_one("#ns", DataTable).row_count > 0,
            "the report again",
        )
        await pilot.pause(0.2)
        assert session not in src.stopped
        assert session in view.extra_sessions.values()


async def test_limit_confirmation_shows_the_whole_question() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        view.query_one("#mon-tabs", TabbedContent).active = "t-cg"
        await pilot.pause(0.1)
        for key, value in (("mem", "64m"), ("cpus", "0.5"), ("pids", "50")):
            view.query_one(f"#in-{key}", Input).value = value
        view.query_one("#apply", Button).press()
        await until(
            pilot, lambda: isinstance(app.screen, Confirm) and app.screen.query("#question"), "the confirm"
        )
        await pilot.pause(0.1)
        question = app.screen.query_one("#question", Static)
        lines = ["".join(seg.text for seg in question.render_line(y)) for y in range(question.size.height)]
        shown = " ".join(lines)
        assert "cpus 0.5" in " ".join(shown.split()) and "pids 50?" in " ".join(shown.split())


async def test_limit_inputs_are_hints() -> None:
    app = MonApp(FakeSource())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        for key in ("mem", "cpus", "pids"):
            hint = view.query_one(f"#in-{key}", Input).placeholder
            assert hint.startswith("new ") and "e.g." in hint, hint
