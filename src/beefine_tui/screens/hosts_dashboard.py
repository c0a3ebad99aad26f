"""The Dashboard over --remote: every host's containers in one table with a HOST column, from the
agents' `stats` (agent/remote_context.py HostsStats). A host that does not answer is named above the
table while the others' rows go on refreshing. Enter on a row opens the Container monitor on that
host's container (its agent reads it there: agent/remote_monitor.py), `t` its syscalls on its host."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import DataTable, Input, Static

from beefine_tui.docker.stats import ContainerRow, Snapshot, human_bytes
from beefine_tui.screens.dashboard import COLUMNS, SORTABLE, DashboardView, row_cells, sort_values
from beefine_tui.widgets.fit_table import Fit, FitTable, cell
from beefine_tui.widgets.table_sort import TableSort

HOST_COLUMNS = (("host", "HOST"), *COLUMNS)
FILL_TRIES = 50  # frames to wait for the opened view to mount before filling in its container


def hosts_facts(snap: Snapshot) -> str:
    daemons = getattr(snap, "daemons", {})
    lines = [
        f"{host}: Docker {d.version} · {d.containers_running} running · {d.cpus} CPUs "
        f"{human_bytes(d.mem_total)}"
        for host, d in daemons.items()
    ]
    return "\n".join(lines) or "no host answered yet"


class HostsDashboardView(DashboardView):
    DEFAULT_CSS = """
    HostsDashboardView > #facts { height: auto; max-height: 6; }
    """

    def on_mount(self, event: events.Mount | None = None) -> None:
        if event is not None:
            event.prevent_default()  # the base class's on_mount would add its own columns
        t = self.query_one(FitTable)
        t.fits = {**t.fits, "host": Fit(min=6, tier=2)}
        self.sorter = TableSort(t, SORTABLE, default="cpu", descending=True, numeric=("cpu", "mem", "pids"))
        for key, label in HOST_COLUMNS:
            t.add_column(self.sorter.header(key, label), key=key)
        self._arm(0.0)

    def hosts(self) -> list[str]:
        return list(getattr(self.snapshot, "hosts", []))

    def show(self, snap: Snapshot) -> None:
        super().show(snap)
        if snap.error:
            return
        self.query_one("#facts", Static).update(hosts_facts(snap))
        errors = getattr(snap, "host_errors", [])
        if errors:
            self.status("; ".join(errors) + " (retrying)")

    def update_table(self, rows: list[ContainerRow]) -> None:
        table = self.query_one(FitTable)
        keyed = {f"{h}/{r.id}": (h, r) for h, r in zip(self.hosts(), rows, strict=True)}
        for gone in [k for k in table.rows if k.value not in keyed]:
            table.remove_row(gone)
        existing = {k.value for k in table.rows}
        for key, (host, r) in keyed.items():
            cells = {"host": host, **row_cells(r)}
            if key in existing:
                for col, value in cells.items():
                    if str(table.get_cell(key, col)) != value:
                        table.update_cell(key, col, cell(value))
            else:
                table.add_row(*(cell(cells[k]) for k, _ in HOST_COLUMNS), key=key)
        if self.sorter is not None:
            self.sorter.apply({r.id[:12]: sort_values(r) for r in rows})
        table.fit()

    def _row(self, key: str) -> tuple[str, ContainerRow] | None:
        for host, r in zip(self.hosts(), self.snapshot.rows if self.snapshot else [], strict=True):
            if f"{host}/{r.id}" == key:
                return host, r
        return None

    def selected(self) -> ContainerRow | None:
        t: DataTable[str] = self.query_one(DataTable)
        if not t.row_count:
            return None
        found = self._row(str(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value))
        return found[1] if found else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter: the Container monitor on the row's container, asked of its host's agent."""
        event.prevent_default()  # not the base's: its key is the bare id, which names the first host
        found = self._row(str(event.row_key.value))
        opener = getattr(self.screen, "open_view", None)
        if found is None or not callable(opener):
            return
        event.stop()
        host, r = found
        from beefine_tui.screens.container_monitor import ContainerMonitorView

        key = f"{host}/{r.id}"
        opener(
            f"monitor-{host}-{r.id[:12]}",
            label=f"Monitor {r.name} on {host}",
            factory=lambda: ContainerMonitorView(container=key),
        )

    async def action_trace(self) -> None:
        """`t`: the selected container's syscalls, traced on its host, in a tab of their own."""
        t: DataTable[str] = self.query_one(DataTable)
        found = (
            self._row(str(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value))
            if t.row_count
            else None
        )
        opener = getattr(self.screen, "open_view", None)
        if found is None or not callable(opener):
            return
        host, r = found
        from beefine_tui.screens.probe_view import ProbeView, split_probes

        title = f"{r.name} on {host}"
        view = opener(
            f"syscalls-{host}-{r.id[:12]}",
            label=title,
            factory=lambda: ProbeView(probes=split_probes(), title=title, container_required=True),
        )
        if isinstance(view, ProbeView):
            self._fill(view, f"{host}/{r.name}", FILL_TRIES)

    def _fill(self, view: Any, container: str, tries: int) -> None:
        """Type HOST/NAME into the opened view and start it, once it is mounted."""
        if not view.is_mounted or not view.query("#container"):
            if tries > 0:
                self.set_timer(0.05, lambda: self._fill(view, container, tries - 1))
            return
        if view.session is None:
            view.query_one("#container", Input).value = container
            view.start()

    # logs, shell, stop/restart/remove act on this machine's Docker
    def _remote_only(self) -> None:
        self.app.notify(
            "not available over --remote: Enter opens the container's monitor on its host, t its syscalls"
        )

    def action_logs(self) -> None:
        self._remote_only()

    def action_shell(self) -> None:
        self._remote_only()

    def action_stop(self) -> None:
        self._remote_only()

    def action_restart(self) -> None:
        self._remote_only()

    def action_remove(self) -> None:
        self._remote_only()
