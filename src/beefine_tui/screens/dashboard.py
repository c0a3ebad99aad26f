"""Docker dashboard: daemon facts, counts, and a live table of running containers with small charts.

Refresh follows Dolphie's pattern: a thread worker only collects (StatsCollector.refresh, plain data);
when it finishes, the main thread renders and re-arms a one-shot timer, so polls never overlap and a
slow daemon only slows the refresh. The table is keyed by container id and updated in place (changed
cells only, rows added and removed), never cleared. Nothing is collected while the tab is hidden.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from beefine_tui.docker.stats import ContainerRow, Snapshot, StatsCollector, human_bytes, human_si
from beefine_tui.screens.common import app_context
from beefine_tui.screens.container_monitor import ContainerMonitorView
from beefine_tui.widgets.charts import Chart

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "NAME"),
    ("id", "CONTAINER"),
    ("cpu", "CPU %"),
    ("mem", "MEM USAGE / LIMIT"),
    ("memp", "MEM %"),
    ("net", "NET I/O"),
    ("blk", "BLOCK I/O"),
    ("pids", "PIDS"),
)


def row_cells(r: ContainerRow) -> dict[str, str]:
    return {
        "name": r.name + (" (paused)" if r.state == "paused" else ""),
        "id": r.id[:12],
        "cpu": "-" if r.cpu_percent is None else f"{r.cpu_percent:6.2f}%",
        "mem": f"{human_bytes(r.mem_bytes)} / {human_bytes(r.mem_limit)}",
        "memp": "-" if r.mem_percent is None else f"{r.mem_percent:.2f}%",
        "net": f"{human_si(r.net_rx)} / {human_si(r.net_tx)}",
        "blk": f"{human_si(r.blk_read)} / {human_si(r.blk_write)}",
        "pids": "-" if r.pids is None else str(r.pids),
    }


def facts_text(snap: Snapshot) -> str:
    d = snap.daemon
    if d is None:
        return "Docker: -"
    return (
        f"Docker {d.version} · {d.storage_driver} · cgroup {d.cgroup_driver} v{d.cgroup_version} · "
        f"{d.root_dir}\n"
        f"{d.containers_running} running, {d.containers_paused} paused, {d.containers_stopped} stopped · "
        f"{d.images} images · host {d.cpus} CPUs {human_bytes(d.mem_total)}"
    )


class DashboardView(Vertical):
    DEFAULT_CSS = """
    DashboardView { height: 1fr; }
    DashboardView > #facts { height: auto; max-height: 4; }
    DashboardView > #dash-status { height: auto; color: $warning; }
    DashboardView > #charts { height: 4; }
    DashboardView > #charts > Chart { width: 1fr; }
    DashboardView > DataTable { height: 1fr; }
    """

    class ContainerChosen(Message):
        """Enter on a row: the shell may open the container monitor on it."""

        def __init__(self, container_id: str) -> None:
            super().__init__()
            self.container_id = container_id

    def __init__(self, collector: Any = None, interval: float = 1.0, history: int = 120) -> None:
        super().__init__()
        self.collector = collector  # anything with refresh() -> Snapshot; built from app.ctx if None
        self.interval = interval
        self.history = history
        self.snapshot: Snapshot | None = None
        self.refreshes = 0
        self._timer: Timer | None = None
        self._prev_ts: float | None = None
        self._prev_net: int | None = None
        self._daemon_down = False

    def compose(self) -> ComposeResult:
        yield Static("Docker: connecting…", id="facts")
        yield Static("", id="dash-status")
        with Horizontal(id="charts"):
            yield Chart("cpu%", history=self.history, id="chart-cpu")
            yield Chart("mem", history=self.history, unit="MiB", id="chart-mem")
            yield Chart("net", history=self.history, unit="kB/s", id="chart-net")
        yield DataTable(id="containers", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        for key, label in COLUMNS:
            t.add_column(label, key=key)
        self._arm(0.0)

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        close = getattr(self.collector, "close", None)
        if callable(close):
            close()  # only os.close() of cgroup files: cheap enough for the UI thread

    # ---- the refresh loop: timer -> worker (collect) -> main thread (render) -> timer
    def _arm(self, delay: float) -> None:
        self._timer = self.set_timer(max(delay, 0.01), self._tick)

    def shown(self) -> bool:
        """False when this view or any ancestor is hidden (e.g. an inactive tab)."""
        node: Any = self
        while node is not None and hasattr(node, "display"):
            if not node.display:
                return False
            node = node.parent
        return True

    def _tick(self) -> None:
        if not self.is_mounted:
            return
        if not self.shown():
            self._arm(self.interval)  # hidden tab: collect nothing
            return
        self._collect()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dashboard")
    def _collect(self) -> Snapshot:
        if self.collector is None:
            ctx = app_context(self)
            self.collector = StatsCollector(ctx.docker_client(), host=ctx.docker_host or "")
        snap: Snapshot = self.collector.refresh()
        return snap

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "dashboard":
            return
        if event.state == WorkerState.SUCCESS:
            snap = event.worker.result
            if isinstance(snap, Snapshot):
                self.show(snap)
            self._arm(self.interval)
        elif event.state == WorkerState.ERROR:
            err = event.worker.error
            msg = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
            self.status(f"{msg} (retrying every {max(self.interval, 2.0):g} s)")
            self._daemon_down = True
            self._arm(max(self.interval, 2.0))
        elif event.state == WorkerState.CANCELLED:
            self._arm(self.interval)

    def status(self, text: str) -> None:
        s = self.query_one("#dash-status", Static)
        s.update(text)
        s.display = bool(text)

    # ---- rendering (main thread)
    def show(self, snap: Snapshot) -> None:
        self.refreshes += 1
        if snap.error:
            self._daemon_down = True
            self.status(f"{snap.error}; showing the last figures, retrying")
            return
        if self._daemon_down:
            self.status("the Docker daemon answers again")
            self._daemon_down = False
        elif self.refreshes > 1:
            self.status("")
        self.snapshot = snap
        self.query_one("#facts", Static).update(facts_text(snap))
        self.update_table(snap.rows)
        t = snap.totals
        self.query_one("#chart-cpu", Chart).push(t.cpu_percent)
        self.query_one("#chart-mem", Chart).push(t.mem_bytes / (1 << 20))
        net = t.net_rx + t.net_tx
        rate = 0.0
        if self._prev_ts is not None and self._prev_net is not None and snap.ts > self._prev_ts:
            rate = max(0.0, (net - self._prev_net) / (snap.ts - self._prev_ts) / 1000)
        self._prev_ts, self._prev_net = snap.ts, net
        self.query_one("#chart-net", Chart).push(rate)

    def update_table(self, rows: list[ContainerRow]) -> None:
        table: DataTable[str] = self.query_one(DataTable)
        wanted = {r.id for r in rows}
        for key in [k for k in table.rows if k.value not in wanted]:
            table.remove_row(key)
        existing = {k.value for k in table.rows}
        for r in rows:
            cells = row_cells(r)
            if r.id in existing:
                for col, value in cells.items():
                    if table.get_cell(r.id, col) != value:
                        table.update_cell(r.id, col, value)
            else:
                table.add_row(*(cells[k] for k, _ in COLUMNS), key=r.id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: open the container monitor on it (through the shell when there is one)."""
        cid = event.row_key.value
        if not cid:
            return
        self.post_message(self.ContainerChosen(cid))
        opener = getattr(self.screen, "open_view", None)
        if callable(opener):
            name = next(
                (r.name for r in (self.snapshot.rows if self.snapshot else []) if r.id == cid), cid[:12]
            )
            opener(
                f"monitor-{cid[:12]}",
                label=f"Monitor {name}",
                factory=lambda: ContainerMonitorView(container=cid),
            )

    def focus_target(self) -> DataTable[str]:
        return self.query_one(DataTable)
