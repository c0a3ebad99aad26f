"""The Container monitor over --remote, against the real agent (agent/server.py) run as a child on
pipes with a stand-in Docker (tests/monitor_fakes.py: its container's init is a `sleep` child of the
test): the view shows the report (namespaces as /proc/PID/ns says), samples, a live exec event and
the picker's host/name rows, a limit change goes to the host's Docker and says so; an agent without
the monitor's commands (tests/fake_agent.py) is said to be older, with no traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, Select, Static

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.client import Remote
from beefine_tui.agent.remote_monitor import RemoteMonitorSource
from beefine_tui.app import BeefineApp
from beefine_tui.probes.catalog import all_probes
from beefine_tui.screens.confirm import Confirm
from beefine_tui.screens.container_monitor import ContainerMonitorView
from beefine_tui.widgets.charts import Chart
from beefine_tui.widgets.event_log import EventLog
from tests.fake_agent import install_fake_ssh
from tests.monitor_fakes import CID, EXEC_PID, HOST_CPUS, NAME
from tests.waiting import eventually

FAKES = Path(__file__).resolve().parents[1] / "monitor_fakes.py"


@pytest.fixture
def init() -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen(["sleep", "300"])
    yield p
    p.kill()
    p.wait()


def _link(label: str) -> R.RemoteLink:
    return R.RemoteLink(Remote(host=label), label=label, argv=[sys.executable, str(FAKES)])


@pytest.fixture
def ctx(init: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch) -> Iterator[R.RemoteContext]:
    all_probes()
    monkeypatch.setenv("FAKE_MONITOR_PID", str(init.pid))
    links: list[R.RemoteLink] = []
    try:
        for label in ("hostA", "hostB"):
            links.append(_link(label))
            links[-1].connect_first()
        c = R.RemoteContext(links=links)
        yield c
        c.close()
    finally:
        for link in links:
            link.close()


def _status(view: ContainerMonitorView) -> str:
    return str(view.query_one("#mon-status", Static).render())


async def _monitor(app: BeefineApp, key: str) -> ContainerMonitorView:
    view = app.shell.open_container(key)
    assert isinstance(view, ContainerMonitorView)
    await eventually(lambda: view.is_mounted and bool(view.query("#ns")), "the monitor never mounted")
    return view


async def test_the_monitor_shows_a_remote_containers_report_samples_and_live_execs(
    ctx: R.RemoteContext, init: subprocess.Popen[bytes]
) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _monitor(app, f"hostB/{CID}")
        assert isinstance(view.source, RemoteMonitorSource)
        await eventually(lambda: view.report is not None, f"no report: {_status(view)}")
        assert view.report is not None and view.report.pid == init.pid
        ns = view.query_one("#ns", DataTable)
        shown = {str(ns.get_row_at(i)[0]): str(ns.get_row_at(i)[1]) for i in range(ns.row_count)}
        for kind, inode in shown.items():
            link = os.readlink(f"/proc/{init.pid}/ns/{kind}")
            assert link.endswith(f"[{inode}]"), (kind, link, inode)
        assert {"pid", "net", "mnt"} <= set(shown)
        await eventually(lambda: view.samples >= 2, "no samples came")
        assert "usage: memory" in str(view.query_one("#cg-usage", Static).render())
        # with no CPU limit the chart's top is the host's cores as its daemon says (not this machine's)
        rep = view.report
        assert rep is not None and rep.cgroup is not None and not rep.cgroup.limits.cpus
        cpu = view.query_one("#c-cpu", Chart)
        await eventually(lambda: cpu.ceiling_note == f"{HOST_CPUS} cores, no limit", cpu.ceiling_note)
        # live probes run on that host's agent, and its exec event lands in the process table
        await eventually(lambda: view.session is not None, f"no live session: {_status(view)}")
        assert view.session.link.label == "hostB"
        ps = view.query_one("#ps", DataTable)
        await eventually(lambda: str(EXEC_PID) in {k.value for k in ps.rows}, "the live exec never showed")
        # the picker: every host's containers, as HOST/NAME
        sel = view.query_one("#container", Select)
        await eventually(lambda: len(sel._options) > 2, "the picker stayed empty")
        labels = [str(label) for label, _ in sel._options]
        assert any(x.startswith(f"hostA/{NAME}") for x in labels)
        assert any(x.startswith(f"hostB/{NAME}") for x in labels)
        assert sel.value == f"hostB/{CID}"
        await pilot.pause()


async def test_a_limit_changed_over_remote_reaches_the_hosts_docker(ctx: R.RemoteContext) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _monitor(app, f"hostA/{CID}")
        await eventually(lambda: view.report is not None, f"no report: {_status(view)}")
        log = view.query_one(EventLog)
        for value, said in (("3m", "Minimum memory limit"), ("64m", "Memory=67108864")):
            view.query_one("#in-mem", Input).value = value
            view.query_one("#apply", Button).press()
            await eventually(
                lambda: isinstance(app.screen, Confirm) and bool(app.screen.query("#yes")), "confirm"
            )
            assert "hostA/" in str(app.screen.query_one("#question", Static).render())
            app.screen.query_one("#yes", Button).press()
            await eventually(lambda: any(said in line for line in log.lines()), f"{said!r} not in the events")  # noqa: B023
        assert any("REJECTED" in line and "hostA" in line for line in log.lines())
        # the agent's Docker holds it: its inspect, asked anew, says the new limit
        rep = await asyncio.to_thread(view.source.report, f"hostA/{CID}")
        assert rep.configured.memory == 64 << 20
        await pilot.pause()


async def test_an_agent_without_the_monitor_commands_is_said_to_be_older(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    ctx = R.connect_remotes(["old"])
    app = BeefineApp(ctx)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            view = await _monitor(app, "old/old-web1")
            await eventually(lambda: "is older" in _status(view), f"not said: {_status(view)}")
            said = _status(view)  # the list's refusal or the report's: whichever came last
            assert "Traceback" not in said and ("'sample'" in said or "'containers'" in said), said
            await pilot.pause()
    finally:
        ctx.close()


async def test_enter_on_a_hosts_dashboard_row_opens_that_hosts_container(ctx: R.RemoteContext) -> None:
    from textual.coordinate import Coordinate

    from beefine_tui.screens.hosts_dashboard import HostsDashboardView

    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        dash = app.shell.open_view("dashboard")
        assert isinstance(dash, HostsDashboardView)
        await eventually(lambda: dash.is_mounted and bool(dash.query(DataTable)), "no dashboard")
        table = dash.query_one(DataTable)
        # the stand-in agent's stats: its one running container, on each host
        await eventually(lambda: table.row_count == 2, "the hosts' containers never showed")
        at = next(i for i in range(2) if str(table.get_cell_at(Coordinate(i, 0))) == "hostB")
        table.focus()
        table.move_cursor(row=at)
        await pilot.press("enter")
        await eventually(lambda: bool(app.query(ContainerMonitorView)), "Enter opened no monitor")
        view = app.query(ContainerMonitorView).first()
        assert view.cid == f"hostB/{CID}"
        await eventually(lambda: view.report is not None, f"no report: {_status(view)}")
        await pilot.pause()


async def test_the_picker_says_which_host_it_could_not_list(ctx: R.RemoteContext) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        ctx.links[0].close()
        view = await _monitor(app, f"hostB/{CID}")
        await eventually(
            lambda: any("hostA: not connected" in str(n.message) for n in app._notifications), "not said"
        )
        await eventually(lambda: view.report is not None, f"no report: {_status(view)}")
        await pilot.pause()


async def test_the_palette_lists_every_hosts_containers_and_opens_one(ctx: R.RemoteContext) -> None:
    from beefine_tui.screens.common import container_names

    listed = await asyncio.to_thread(container_names, ctx)
    assert (f"hostB/{NAME}", f"hostB/{CID[:12]}", "running") in listed
    assert (f"hostA/{NAME}", f"hostA/{CID[:12]}", "running") in listed
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _monitor(app, f"hostA/{CID[:12]}")  # what the palette's entry opens
        await eventually(lambda: view.report is not None, f"no report: {_status(view)}")
        assert view.report is not None and view.report.id == CID
        await eventually(lambda: view.samples >= 1, "no sample")
        await pilot.pause()


async def test_a_cut_connection_is_said_and_the_monitor_resumes_on_the_new_agent(
    ctx: R.RemoteContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    monkeypatch.setattr(R, "BACKOFF_FIRST_S", 0.2)
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _monitor(app, f"hostA/{CID}")
        await eventually(
            lambda: view.samples >= 1 and view.session is not None, f"not started: {_status(view)}"
        )
        link = ctx.links[0]
        assert link.client is not None
        first = link.client.proc.pid
        psutil.Process(first).kill()
        log = view.query_one(EventLog)  # the live probes' status events say it
        await eventually(lambda: any("disconnected" in line for line in log.lines()), "the cut was not said")
        await eventually(lambda: link.client is not None and link.client.proc.pid != first, "no new agent")
        before = view.samples
        await eventually(lambda: view.samples > before + 1, "the samples did not resume")
        assert not view.daemon_down
        # the live stream was asked again of the new agent, and its events come
        ps = view.query_one("#ps", DataTable)
        view._exec_rows.clear()
        await eventually(lambda: str(EXEC_PID) in {k.value for k in ps.rows}, "live events did not resume")
        await pilot.pause()


def test_keys_split_on_the_last_slash() -> None:
    from beefine_tui.agent.remote_monitor import short_key, split_key

    assert split_key("ns/pod/" + CID) == ("ns/pod", CID)
    assert split_key(CID) == (None, CID)
    assert short_key("db1:2222/" + CID) == "db1:2222/" + CID[:12]
    assert short_key(CID) == CID[:12]


def test_a_host_that_does_not_answer_is_said_while_the_other_is_listed(ctx: R.RemoteContext) -> None:
    from beefine_tui.errors import BeefineError

    src = RemoteMonitorSource(ctx)
    assert {key.split("/")[0] for _, key in src.containers()} == {"hostA", "hostB"}
    assert src.unlisted == []
    ctx.links[0].close()
    keys = [key for _, key in src.containers()]
    assert keys and all(k.startswith("hostB/") for k in keys)
    assert len(src.unlisted) == 1 and src.unlisted[0].startswith("hostA: not connected")
    ctx.links[1].close()
    with pytest.raises(BeefineError, match="not connected"):
        src.containers()


def test_xdp_on_a_remote_containers_veth_is_asked_of_its_hosts_agent(ctx: R.RemoteContext) -> None:
    """The interface goes to the host's agent, which checks it against the host's own interfaces
    (this machine's here: there is no veth0 on it, and the refusal names the ones there are)."""
    from beefine_tui.errors import BeefineError

    with pytest.raises(BeefineError, match="veth0") as refused:
        RemoteMonitorSource(ctx).start_probes(f"hostA/{CID}", ("xdp",), "veth0")
    assert "lo" in str(refused.value) + str(getattr(refused.value, "hint", ""))
    assert "not available over --remote" not in str(refused.value)


def test_recovery_names_the_host_not_only_its_docker(ctx: R.RemoteContext) -> None:
    """Over --remote samples fail for a cut connection as much as for the host's Docker: when they
    come again the view names the host (it said "the Docker daemon answers again")."""
    src = RemoteMonitorSource(ctx)
    assert src.answering_again(f"hostB/{CID}").startswith("hostB answers again")
