"""The Container monitor's Network tab on a real lab container, headless: a listener started after the
view opened appears without Reload, and rx grows with traffic we send; both checked against the
container's own network namespace as `ss` and `ip -s link` (run through nsenter) see it."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Any

import pytest

from tests.lab_fixtures import run_sleeper

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def in_netns(pid: int, *cmd: str) -> str:
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-n", *cmd], capture_output=True, text=True, timeout=30, check=True
    ).stdout


async def test_network_tab_is_live(lab: Any, lab_client: Any, cleanup_containers: dict[str, str]) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, TabbedContent

    from beefine_tui.appcontext import AppContext
    from beefine_tui.screens.container_monitor import ContainerMonitorView

    c = run_sleeper(lab_client, lab, cleanup_containers)
    pid = int(c.attrs["State"]["Pid"])
    ip = c.attrs["NetworkSettings"]["IPAddress"]

    class Mon(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.ctx = AppContext(docker_host=lab.docker_host, bpf_allowed=False)

        def compose(self) -> ComposeResult:
            yield ContainerMonitorView(container=c.id, live_probes=False)

    app = Mon()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.query_one(ContainerMonitorView)
            for _ in range(600):
                if view.report is not None and view.report.network is not None:
                    break
                await pilot.pause(0.05)
            assert view.report is not None and view.report.network is not None
            view.query_one("#mon-tabs", TabbedContent).active = "t-net"
            socks: DataTable[str] = view.query_one("#socks", DataTable)

            def listening() -> bool:
                return any(":9731" in str(socks.get_row_at(i)[1]) for i in range(socks.row_count))

            assert not listening()
            c.exec_run(["nc", "-l", "-p", "9731"], detach=True)
            for _ in range(300):
                await pilot.pause(0.05)
                if listening():
                    break
            assert listening(), "the new listener showed without Reload"
            assert ":9731" in in_netns(pid, "ss", "-ltnH")

            def rx() -> int:
                assert view.report is not None and view.report.network is not None
                return next(i.rx_bytes for i in view.report.network.interfaces if i.name == "eth0")

            before = rx()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for _ in range(20):
                    udp.sendto(b"x" * 1000, (ip, 9999))
            kernel = json.loads(in_netns(pid, "ip", "-s", "-j", "link", "show", "eth0"))[0]
            kernel_rx = int(kernel["stats64"]["rx"]["bytes"])
            for _ in range(300):
                await pilot.pause(0.05)
                if rx() >= kernel_rx:
                    break
            assert rx() - before >= 20 * 1000, "rx grew by our datagrams"
            # what the tab read (after our datagrams) is what the kernel counts, give or take stray packets
            assert 0 <= rx() - kernel_rx < 2000, (rx(), kernel_rx)
    finally:
        app.ctx.close()
