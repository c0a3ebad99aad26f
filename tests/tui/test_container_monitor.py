"""Container monitor at 80x24, fed with a report recorded from a real container (`inspect --json`) and
fake samples: every section shows it, charts move, a limit Docker rejects is shown as an event, the
container exiting and the daemon going away are said and what was known stays, exec events add rows."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Button, DataTable, Input, Select, Sparkline, Static, TabbedContent

from beefine_tui.appcontext import AppContext
from beefine_tui.docker.cgroups import CgroupUsage
from beefine_tui.docker.inspect import ContainerReport, Sample
from beefine_tui.errors import BeefineError, DockerUnavailableError
from beefine_tui.events.model import Event, FreeArgs
from beefine_tui.screens.container_monitor import Confirm, ContainerMonitorView
from beefine_tui.widgets.charts import Chart
from beefine_tui.widgets.event_log import EventLog

REPORT = msgspec.json.decode(
    (Path(__file__).parent / "fixtures" / "report_running.json").read_bytes(), type=ContainerReport
)
CID = REPORT.id


class FakeSource:
    def __init__(self) -> None:
        self.ticks = 0
        self.status = "running"
        self.down = False
        self.changes: list[tuple[Any, ...]] = []
        self.sessions: list[Any] = []
        self.stopped: list[Any] = []

    def containers(self) -> list[tuple[str, str]]:
        return [(f"{REPORT.name} {CID[:12]} {self.status}", CID)]

    def report(self, cid: str) -> ContainerReport:
        return copy.deepcopy(REPORT)

    def sample(self, cid: str) -> Sample:
        if self.down:
            raise DockerUnavailableError("the Docker daemon did not answer: ConnectionError")
        self.ticks += 1
        if self.status != "running":
            return Sample(ts=float(self.ticks), status=self.status, pid=0)
        usage = CgroupUsage(
            cpu_ns=self.ticks * 250_000_000,
            memory_working_set=(10 + self.ticks) << 20,
            io_read_bytes=self.ticks * 4096,
            io_write_bytes=0,
        )
        return Sample(
            ts=float(self.ticks),
            status="running",
            pid=REPORT.pid,
            usage=usage,
            processes=copy.deepcopy(REPORT.processes),
        )

    def answering_again(self, cid: str) -> str:
        return "the Docker daemon answers again"

    def update(self, cid: str, memory: int | None, cpus: float | None, pids: int | None) -> str:
        self.changes.append(("update", memory, cpus, pids))
        if memory is not None and memory < 6 << 20:
            raise BeefineError("Docker rejected the new limits: Minimum memory limit allowed is 6MB")
        return f"update {cid[:12]}: Memory={memory}"

    def pause(self, cid: str) -> str:
        self.changes.append(("pause",))
        return f"pause {cid[:12]}"

    def unpause(self, cid: str) -> str:
        self.changes.append(("unpause",))
        return f"unpause {cid[:12]}"

    def start_probes(
        self, cid: str, names: tuple[str, ...], interface: str | None = None, bus: Any = None
    ) -> Any:
        s = object()
        self.sessions.append((names, s))
        return s

    def stop_probes(self, session: Any) -> None:
        self.stopped.append(session)


class MonApp(App[None]):
    def __init__(self, source: FakeSource, live: bool = False) -> None:
        super().__init__()
        self.source = source
        self.live = live
        self.ctx = AppContext(docker_host=None, bpf_allowed=True)

    def compose(self) -> ComposeResult:
        yield ContainerMonitorView(source=self.source, container=CID, live_probes=self.live)


async def until(pilot: Any, cond: Any, what: str) -> None:
    for _ in range(1000):  # up to 20 s on a loaded machine
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def status(view: ContainerMonitorView) -> str:
    return str(view.query_one("#mon-status", Static).render())


async def test_every_section_shows_the_report() -> None:
    app = MonApp(FakeSource())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        ns: DataTable[str] = view.query_one("#ns", DataTable)
        assert ns.row_count == 8
        assert ns.get_cell("pid", "mark") == "NEW" and ns.get_cell("user", "mark") == "shared with host"
        assert view.query_one("#mounts", DataTable).row_count == len(REPORT.mounts)
        assert view.query_one("#layers", DataTable).row_count == len(REPORT.layers)
        ps: DataTable[str] = view.query_one("#ps", DataTable)
        assert ps.row_count == len(REPORT.processes)
        assert ps.get_cell(str(REPORT.pid), "ns pid") == "1"
        ifs: DataTable[str] = view.query_one("#ifaces", DataTable)
        assert ifs.row_count == 2
        assert "CAP_NET_RAW" in str(view.query_one("#sec", Static).render())
        assert "running" in status(view)
        assert "cgroup v1" in str(view.query_one("#cg-head", Static).render())
        tabs = view.query_one("#mon-tabs", TabbedContent)
        view.query_one("#ns", DataTable).focus()
        await pilot.press("]")
        assert tabs.active == "t-cg"
        await pilot.press("[", "[")
        assert tabs.active == "t-ev"  # wraps around


async def test_charts_move_then_container_exits_and_is_kept() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        view.interval = 0.05
        await until(pilot, lambda: view.samples >= 3, "samples")
        cpu = view.query_one("#c-cpu", Chart)
        assert list(cpu.history)[-1] == 25.0  # 0.25 s of CPU per 1 s sample
        assert list(view.query_one("#c-mem", Chart).history)[-1] > 10
        assert "usage: memory" in str(view.query_one("#cg-usage", Static).render())
        src.status = "exited"
        await until(pilot, lambda: view.exited, "the exit")
        assert "now exited" in status(view) and "what was known" in status(view)
        assert view.query_one("#ns", DataTable).row_count == 8  # kept
        assert view.query_one("#ps", DataTable).row_count == len(REPORT.processes)


async def test_daemon_down_then_back() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        view.interval = 0.05
        await until(pilot, lambda: view.samples >= 1, "a sample")
        src.down = True
        await until(pilot, lambda: view.daemon_down, "the daemon loss")
        assert "did not answer" in status(view) and "keeping what was known" in status(view)
        assert view.query_one("#ns", DataTable).row_count == 8
        src.down = False
        await until(pilot, lambda: not view.daemon_down, "recovery")
        assert "answers again" in status(view)


async def test_rejected_limit_is_an_event_and_a_good_one_too() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        view.query_one("#in-mem", Input).value = "3m"
        view.query_one("#apply", Button).press()
        await until(
            pilot, lambda: isinstance(app.screen, Confirm) and app.screen.query("#yes"), "the confirm"
        )
        app.screen.query_one("#yes", Button).press()
        log = view.query_one(EventLog)
        await until(pilot, lambda: any("REJECTED" in line for line in log.lines()), "the rejection event")
        assert src.changes == [("update", 3 << 20, None, None)]
        assert "Minimum memory limit" in status(view)
        # cancel does nothing
        view.query_one("#pause", Button).press()
        await until(
            pilot, lambda: isinstance(app.screen, Confirm) and app.screen.query("#yes"), "the confirm"
        )
        app.screen.query_one("#no", Button).press()
        await pilot.pause(0.1)
        assert src.changes == [("update", 3 << 20, None, None)]
        view.query_one("#in-mem", Input).value = "64m"
        view.query_one("#apply", Button).press()
        await until(
            pilot, lambda: isinstance(app.screen, Confirm) and app.screen.query("#yes"), "the confirm"
        )
        app.screen.query_one("#yes", Button).press()
        await until(pilot, lambda: any("Memory=67108864" in line for line in log.lines()), "the change event")


async def test_bad_limit_input_is_refused_before_docker() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        view.query_one("#in-mem", Input).value = "lots"
        view.query_one("#apply", Button).press()
        # a notification, not only the status line (which a refresh may rewrite at any time)
        await until(
            pilot, lambda: any("not a size" in str(n.message) for n in app._notifications), "the refusal"
        )
        # what was typed is said as typed: brackets in it are not markup (they stopped the app)
        view.query_one("#in-mem", Input).value = ""
        view.query_one("#in-pids", Input).value = "[/b]"
        view.query_one("#apply", Button).press()
        status = view.query_one("#mon-status", Static)
        await until(pilot, lambda: "not a number of pids: '[/b]'" in str(status.render()), "the pids refusal")
        assert src.changes == []


async def test_exec_events_add_processes_live() -> None:
    src = FakeSource()
    app = MonApp(src, live=True)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.session is not None, "the live session")
        assert src.sessions[0][0] == ("exec", "fork")
        await pilot.pause(0.1)
        ev = Event(
            ts=1,
            probe="exec",
            kind="exec",
            pid=99999,
            ppid=REPORT.pid,
            comm="ps",
            container=CID,
            args=FreeArgs(fields={"filename": "/bin/ps", "argv": ["ps", "aux"], "ret": 0}, line="ps aux"),
        )
        other = Event(
            ts=2,
            probe="exec",
            kind="exec",
            pid=88888,
            comm="ls",
            container="f" * 64,
            args=FreeArgs(fields={"argv": ["ls"], "ret": 0}, line="ls"),
        )
        view.bus.publish([ev, other])
        ps: DataTable[str] = view.query_one("#ps", DataTable)
        await until(pilot, lambda: "99999" in {k.value for k in ps.rows}, "the exec row")
        assert ps.get_cell("99999", "command") == "ps aux"
        assert "88888" not in {k.value for k in ps.rows}  # another container's exec
    assert src.stopped  # the session stops when the view goes


async def test_created_container_is_not_called_stopped_and_start_is_picked_up() -> None:
    src = FakeSource()
    created = copy.deepcopy(REPORT)
    created.status, created.pid, created.namespaces, created.processes = "created", 0, [], []
    created.notes = ["container is created: no process"]
    src.report = lambda cid: copy.deepcopy(created)  # type: ignore[method-assign]
    src.status = "created"
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        view.interval = 0.05
        await until(pilot, lambda: view.samples >= 2, "samples")
        assert not view.exited and "now" not in status(view)
        assert "created" in status(view)
        # it starts: the monitor reads it again
        src.report = lambda cid: copy.deepcopy(REPORT)  # type: ignore[method-assign]
        src.status = "running"
        await until(pilot, lambda: view.report is not None and view.report.pid == REPORT.pid, "the restart")
        await until(pilot, lambda: view.query_one("#ns", DataTable).row_count == 8, "namespaces")


async def test_xdp_on_the_veth_on_request() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        view.query_one("#xdp", Button).press()
        await until(pilot, lambda: ("xdp",) in view.extra_sessions, "the XDP session")
        assert src.sessions[-1][0] == ("xdp",)
        await pilot.pause(0.1)
        counts = Event(
            ts=1,
            probe="xdp",
            kind="xdp_counts",
            args=FreeArgs(
                fields={"ifname": "veth7ba21df"}, line="veth7ba21df: 3 packets, 238 bytes (icmp 2)"
            ),
        )
        other = Event(
            ts=2,
            probe="xdp",
            kind="xdp_counts",
            args=FreeArgs(fields={"ifname": "eth9"}, line="eth9: 99 packets"),
        )
        view.bus.publish([counts, other])
        xdp = view.query_one("#xdp-counts", Static)
        await until(pilot, lambda: "3 packets" in str(xdp.render()), "the counts")
        await pilot.pause(0.1)
        assert "99 packets" not in str(xdp.render())
    assert src.stopped  # detached when the view goes


# (time.monotonic(), cpuacct.usage) read once a second from a cgroup v1 cpuacct group holding one
# `while 1: pass` on this 2-CPU machine: 99.2 to 100.0 % of a core
BURNER = [
    (31436.688400, 491948754),
    (31437.688935, 1491684921),
    (31438.689487, 2491516257),
    (31439.690079, 3491169348),
    (31440.692082, 4485041049),
    (31441.692602, 5481557952),
    (31442.696076, 6485451733),
    (31443.696555, 7484967296),
    (31444.697135, 8484800385),
    (31445.697761, 9484723513),
    (31446.700071, 10481852059),
    (31447.700515, 11478330276),
]


class BurnerSource(FakeSource):
    def sample(self, cid: str) -> Sample:
        ts, cpu = BURNER[min(self.ticks, len(BURNER) - 1)]
        self.ticks += 1
        return Sample(ts=ts, status="running", pid=REPORT.pid, usage=CgroupUsage(cpu_ns=cpu))


async def test_a_core_burned_all_the_time_never_draws_as_zero() -> None:
    """The sparkline used to scale from its smallest sample: the 99.2 % second was drawn as an empty
    column, read as a drop to 0 %."""
    src = BurnerSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        view.interval = 0.05
        view.query_one("#mon-tabs", TabbedContent).active = "t-cg"
        await until(pilot, lambda: src.ticks >= len(BURNER) + 1, "every recorded sample")
        cpu = view.query_one("#c-cpu", Chart)
        values = list(cpu.history)
        assert len(values) == len(BURNER) - 1 and min(values) > 99.0  # the arithmetic was right
        spark = cpu.query_one(Sparkline)
        assert spark.size.height >= 2
        console = Console(width=spark.size.width, color_system=None, legacy_windows=False)
        with console.capture() as cap:
            console.print(spark.render(), end="")
        rows = cap.get().splitlines()
        assert len(rows) == spark.size.height
        assert set(rows[-1]) == {"█"}, rows  # every column stands on a full block: no 0 % column


async def test_cgroup_controls_are_on_screen_and_enter_applies() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        view.query_one("#mon-tabs", TabbedContent).active = "t-cg"
        await pilot.pause(0.1)
        screen = app.screen.region
        for bid in ("#apply", "#pause", "#unpause", "#in-mem"):
            r = view.query_one(bid).region
            assert r.area > 0 and screen.contains_region(r), (bid, r)
        inp = view.query_one("#in-pids", Input)
        inp.focus()
        inp.value = "50"
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(app.screen, Confirm) and app.screen.query("#yes"), "the confirm"
        )
        app.screen.query_one("#yes", Button).press()
        await until(pilot, lambda: src.changes == [("update", None, None, 50)], "the change")


async def test_picker_label_follows_pause() -> None:
    src = FakeSource()
    app = MonApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        view.interval = 0.05
        await until(pilot, lambda: view.samples >= 2, "samples")
        sel = view.query_one("#container", Select)
        assert "running" in str(sel.query_one("SelectCurrent Static#label").render())
        src.status = "paused"
        await until(
            pilot, lambda: "paused" in str(sel.query_one("SelectCurrent Static#label").render()), "the label"
        )
        assert sel.value == CID


async def test_namespaces_first_row_has_full_columns_and_a_detail_line() -> None:
    app = MonApp(FakeSource())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ContainerMonitorView)
        await until(pilot, lambda: view.report is not None, "the report")
        ns: DataTable[str] = view.query_one("#ns", DataTable)
        for col in ns.columns.values():
            assert not col.auto_width  # widths known before the first paint, not widened on idle
            assert col.width >= max(len(str(ns.get_cell(r, col.key))) for r in ns.rows)
        detail = view.query_one("#ns-detail", Static)
        assert str(detail.render()).startswith("mnt ")
        mnt = next(n for n in REPORT.namespaces if n.kind == "mnt")
        assert mnt.meaning in str(detail.render()).replace("\n", " ")
        ns.focus()
        await pilot.press("down")
        await until(pilot, lambda: str(detail.render()).startswith("uts "), "the next row's detail")
