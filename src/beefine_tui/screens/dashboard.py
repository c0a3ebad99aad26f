"""Docker dashboard: daemon facts, counts, and a live table of running containers with small charts.

Keys on the selected container: Enter opens its Container monitor, l streams its logs, x opens a shell
in it (`docker exec -it ID sh`, the TUI suspended meanwhile), t tails its syscalls in the split pane,
K stops, R restarts and D removes it (each after a confirmation). s/S sort by CPU, memory, name, pids
(busiest CPU first by default), as does a click on those headers.

Refresh follows Dolphie's pattern: a thread worker only collects (StatsCollector.refresh, plain data);
when it finishes, the main thread renders and re-arms a one-shot timer, so polls never overlap and a
slow daemon only slows the refresh. The table is keyed by container id and updated in place (changed
cells only, rows added and removed), never cleared. Nothing is collected while the tab is hidden.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import DataTable, Label, Log, Static
from textual.worker import Worker, WorkerState

from beefine_tui.docker.stats import ContainerRow, Snapshot, human_bytes, human_si
from beefine_tui.screens.common import app_context
from beefine_tui.screens.confirm import Confirm
from beefine_tui.screens.container_monitor import ContainerMonitorView
from beefine_tui.widgets.charts import Chart
from beefine_tui.widgets.fit_table import Fit, FitTable, cell
from beefine_tui.widgets.table_sort import SortKeys, TableSort
from beefine_tui.widgets.ui_thread import ui_soon

# the figures people sort by first, so they are on screen at 80 columns; the I/O totals after them
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "NAME"),
    ("id", "ID"),
    ("cpu", "CPU %"),
    ("mem", "MEM / LIMIT"),
    ("memp", "MEM %"),
    ("pids", "PIDS"),
    ("net", "NET I/O"),
    ("blk", "BLOCK I/O"),
)
SORTABLE = (("cpu", "CPU %"), ("mem", "MEM / LIMIT"), ("name", "NAME"), ("pids", "PIDS"))
# how columns give way in a narrow terminal: the id first (the name says which container it is), then
# the I/O totals, then names; the memory limit last. The figures (CPU, MEM %, PIDS) are never cut.
FITS = {
    "id": Fit(min=4, tier=0),
    "net": Fit(min=7, tier=1),
    "blk": Fit(min=7, tier=1),
    "name": Fit(min=8, tier=2),
    "mem": Fit(min=13, tier=3),
}
LOG_LINES = 2000  # lines the logs window keeps
LOG_PENDING = 5000  # lines waiting for the next repaint: beyond, the oldest are skipped and counted


def sort_values(r: ContainerRow) -> dict[str, object]:
    return {"cpu": r.cpu_percent, "mem": r.mem_bytes, "name": r.name, "pids": r.pids}


class ContainerLogs(ModalScreen[None]):
    """A container's logs, streamed: the last lines, then new ones as they come. Esc or q closes."""

    DEFAULT_CSS = """
    ContainerLogs { align: center middle; }
    ContainerLogs > Vertical { width: 95%; height: 90%; border: thick $primary; background: $surface; }
    ContainerLogs Label { width: 1fr; color: $text-muted; }
    ContainerLogs Log { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close")]

    def __init__(self, stream: Any, title: str) -> None:
        super().__init__()
        self.stream = stream  # a docker.actions.LogStream, or a fake with lines() and close()
        self.title_text = title
        self.pending: deque[str] = deque()
        self.skipped = 0
        self.ended = ""
        self._lock = threading.Lock()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"logs of {self.title_text} (following; Esc closes)", id="logs-title")
            yield Log(max_lines=LOG_LINES, id="logs")

    def on_mount(self) -> None:
        self._read()
        self.set_interval(0.2, self._drain)

    @work(thread=True, exclusive=True, exit_on_error=False, group="logs")
    def _read(self) -> None:
        try:
            for line in self.stream.lines():
                with self._lock:
                    if len(self.pending) >= LOG_PENDING:
                        self.pending.popleft()
                        self.skipped += 1
                    self.pending.append(line)
            end = "the log stream ended (the container stopped)"
        except Exception as e:
            end = f"the log stream failed: {getattr(e, 'message', None) or e}"
        with self._lock:
            self.ended = end

    def _drain(self) -> None:
        with self._lock:
            lines, self.pending = list(self.pending), deque()
            skipped, ended = self.skipped, self.ended
        if lines:
            self.query_one(Log).write_lines(lines)
        notes = [f"{skipped} lines skipped (they came faster than the screen repaints)"] if skipped else []
        if ended:
            notes.append(ended)
        if notes:
            self.query_one("#logs-title", Label).update(f"logs of {self.title_text}: " + "; ".join(notes))

    def on_unmount(self) -> None:
        threading.Thread(target=self.stream.close, name="close-logs", daemon=True).start()


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


class DashboardView(SortKeys, Vertical):
    BINDINGS = [
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", key_display="S"),
        Binding("l", "logs", "Logs"),
        Binding("x", "shell", "Shell"),
        Binding("t", "trace", "Trace syscalls"),
        Binding("K", "stop", "Stop", key_display="K"),
        Binding("R", "restart", "Restart", key_display="R"),
        Binding("D", "remove", "Remove", key_display="D"),
    ]

    DEFAULT_CSS = """
    DashboardView { height: 1fr; }
    DashboardView > #facts { height: auto; max-height: 4; }
    DashboardView > #dash-status { height: auto; color: $warning; }
    DashboardView > #charts { height: 5; }
    DashboardView > #charts > Chart { width: 1fr; border-left: outer $primary-darken-2; padding-left: 1; }
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
        self.sorter: TableSort | None = None
        self.actions: Any = None  # docker.actions, or a fake in tests

    def compose(self) -> ComposeResult:
        yield Static("Docker: connecting…", id="facts")
        yield Static("", id="dash-status", markup=False)
        with Horizontal(id="charts"):
            yield Chart("CPU (all)", history=self.history, unit="%", id="chart-cpu")
            yield Chart("memory", history=self.history, unit="MiB", id="chart-mem")
            yield Chart("net rx+tx", history=self.history, unit="kB/s", id="chart-net")
        yield FitTable(FITS, id="containers", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        self.sorter = TableSort(t, SORTABLE, default="cpu", descending=True, numeric=("cpu", "mem", "pids"))
        for key, label in COLUMNS:
            t.add_column(self.sorter.header(key, label), key=key)
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
            self.collector = app_context(self).stats_collector()
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
        d = snap.daemon
        # axes from 0 to what the host has: docker's CPU % is 100 per core, memory up to host memory
        if d is not None and d.cpus:
            self.query_one("#chart-cpu", Chart).set_ceiling(100.0 * d.cpus, f"{d.cpus} cores")
        if d is not None and d.mem_total:
            self.query_one("#chart-mem", Chart).set_ceiling(d.mem_total / (1 << 20), "host memory")
        self.query_one("#chart-cpu", Chart).push(t.cpu_percent)
        self.query_one("#chart-mem", Chart).push(t.mem_bytes / (1 << 20))
        net = t.net_rx + t.net_tx
        rate = 0.0
        if self._prev_ts is not None and self._prev_net is not None and snap.ts > self._prev_ts:
            rate = max(0.0, (net - self._prev_net) / (snap.ts - self._prev_ts) / 1000)
        self._prev_ts, self._prev_net = snap.ts, net
        self.query_one("#chart-net", Chart).push(rate)

    def update_table(self, rows: list[ContainerRow]) -> None:
        table = self.query_one(FitTable)
        wanted = {r.id for r in rows}
        for key in [k for k in table.rows if k.value not in wanted]:
            table.remove_row(key)
        existing = {k.value for k in table.rows}
        for r in rows:
            cells = row_cells(r)
            if r.id in existing:
                for col, value in cells.items():
                    if str(table.get_cell(r.id, col)) != value:
                        table.update_cell(r.id, col, cell(value))
            else:
                table.add_row(*(cell(cells[k]) for k, _ in COLUMNS), key=r.id)
        if self.sorter is not None:
            self.sorter.apply({r.id[:12]: sort_values(r) for r in rows})
        table.fit()

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

    # ---- actions on the selected container
    def selected(self) -> ContainerRow | None:
        t: DataTable[str] = self.query_one(DataTable)
        if not t.row_count or self.snapshot is None:
            return None
        cid = t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        return next((r for r in self.snapshot.rows if r.id == cid), None)

    def _actions(self) -> Any:
        if self.actions is None:
            from beefine_tui.docker import actions

            self.actions = actions
        return self.actions

    def _client(self) -> Any:
        return app_context(self).docker_client()

    def action_logs(self) -> None:
        row = self.selected()
        if row is None:
            return
        try:
            stream = self._actions().LogStream(self._client(), row.id)
        except Exception as e:  # the daemon went away: say so, as the refresh loop does
            self.app.notify(getattr(e, "message", None) or str(e), title="No logs", severity="error")
            return
        self.app.push_screen(ContainerLogs(stream, f"{row.name} ({row.id[:12]})"))

    def action_shell(self) -> None:
        """Suspend the TUI, run `docker exec -it ID sh` in the terminal, come back when it exits."""
        import subprocess

        from beefine_tui.errors import BeefineError

        row = self.selected()
        if row is None:
            return
        try:
            argv = self._actions().shell_command(app_context(self).docker_host, row.id)
        except BeefineError as e:
            self.app.notify(e.message + (f"\n{e.hint}" if e.hint else ""), title="No shell", severity="error")
            return
        try:
            with self.app.suspend():
                rc = subprocess.run(argv, check=False).returncode
        except Exception as e:  # SuspendNotSupported (no real terminal, e.g. a web or test driver)
            self.app.notify(f"cannot open a shell here: {type(e).__name__}: {e}", severity="error")
            return
        if rc:
            self.app.notify(f"the shell in {row.name} exited with {rc}")

    async def action_trace(self) -> None:
        """Tail the container's syscalls in the split pane (what ctrl+t opens), already filled in."""
        row = self.selected()
        toggle = getattr(self.screen, "toggle_split", None)
        if row is None or not callable(toggle):
            return
        from textual.widgets import Input

        from beefine_tui.screens.probe_view import ProbeView

        if not self.screen.query("#split ProbeView"):
            await toggle()  # mounted before fill() looks for it

        def fill() -> None:
            for view in self.screen.query("#split ProbeView").results(ProbeView):
                if view.session is None:
                    view.query_one("#container", Input).value = row.name
                    view.start()
                else:  # never silently: the pane is busy with another container
                    self.app.notify("the split pane is already tailing a container: ctrl+t closes it first")

        self.call_after_refresh(fill)

    def _confirm_then(self, question: str, yes: str, what: str, act: Callable[[Any, str], str]) -> None:
        row = self.selected()
        if row is None:
            return

        def answered(ok: bool | None) -> None:
            if ok:
                self.app.notify(f"{what} {row.name}…")
                self._act(act, row.id)

        self.app.push_screen(
            Confirm(question.format(name=row.name, id=row.id[:12]), yes, danger=True), answered
        )

    @work(thread=True, exit_on_error=False, group="container-action")
    def _act(self, act: Callable[[Any, str], str], cid: str) -> None:
        try:
            text, failed = act(self._client(), cid), False
        except Exception as e:
            text, failed = getattr(e, "message", None) or f"{type(e).__name__}: {e}", True
        # a toast: the status line is rewritten by the next refresh
        ui_soon(self, self._said, text, failed)

    def _said(self, text: str, failed: bool) -> None:
        self.app.notify(text, severity="error" if failed else "information")

    def action_stop(self) -> None:
        self._confirm_then(
            "Stop {name} ({id})? Docker sends SIGTERM, then SIGKILL after 10 s.",
            "Stop it",
            "stopping",
            self._actions().stop,
        )

    def action_restart(self) -> None:
        self._confirm_then("Restart {name} ({id})?", "Restart it", "restarting", self._actions().restart)

    def action_remove(self) -> None:
        self._confirm_then(
            "Remove {name} ({id})? A running container is killed first, and its writable layer is lost.",
            "Remove it",
            "removing",
            self._actions().remove,
        )
