"""Dashboard view at 80x24 fed with recorded snapshots: rows keyed and updated in place, removed when a
container stops, daemon loss said and recovered, nothing collected while hidden."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from beefine_tui.docker.stats import ContainerRow, DaemonFacts, Snapshot, totals
from beefine_tui.screens.dashboard import DashboardView

FACTS = DaemonFacts(
    version="20.10.24",
    api_version="1.41",
    storage_driver="overlay2",
    cgroup_driver="cgroupfs",
    cgroup_version="1",
    root_dir="/run/beefine/lab-x/root",
    cpus=2,
    mem_total=24 << 30,
    containers_running=2,
    containers_stopped=1,
    images=2,
)


def row(i: int, cpu: float | None, mem: int) -> ContainerRow:
    return ContainerRow(
        id=f"{i:x}" * 64 if i < 16 else str(i) * 64,
        name=f"web{i}",
        image="busybox",
        state="running",
        pid=1000 + i,
        cpu_percent=cpu,
        mem_bytes=mem,
        mem_limit=64 << 20,
        mem_percent=100 * mem / (64 << 20),
        net_rx=1156,
        net_tx=0,
        blk_read=0,
        blk_write=4096,
        pids=1,
    )


def snap(rows: list[ContainerRow], ts: float, error: str = "") -> Snapshot:
    if error:
        return Snapshot(ts=ts, daemon=None, rows=[], totals=totals([]), error=error)
    return Snapshot(ts=ts, daemon=FACTS, rows=rows, totals=totals(rows))


class Recorded:
    """Replays snapshots; the last one repeats."""

    def __init__(self, snaps: list[Snapshot]) -> None:
        self.snaps = snaps
        self.calls = 0

    def refresh(self) -> Snapshot:
        s = self.snaps[min(self.calls, len(self.snaps) - 1)]
        self.calls += 1
        return copy.deepcopy(s)


class DashApp(App[None]):
    def __init__(self, collector: Any) -> None:
        super().__init__()
        self.collector = collector

    def compose(self) -> ComposeResult:
        yield DashboardView(collector=self.collector, interval=0.05)


async def wait_refreshes(pilot: Any, view: DashboardView, n: int) -> None:
    for _ in range(1000):  # up to 20 s on a loaded machine
        if view.refreshes >= n:
            return
        await pilot.pause(0.02)
    raise AssertionError(f"only {view.refreshes} refreshes")


async def test_rows_update_in_place_and_go_away() -> None:
    a, b = row(1, None, 10 << 20), row(2, None, 20 << 20)
    a2 = row(1, 12.5, 11 << 20)
    rec = Recorded([snap([a, b], 1.0), snap([a2, b], 2.0), snap([a2], 3.0)])
    app = DashApp(rec)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(DashboardView)
        table: DataTable[str] = view.query_one(DataTable)
        await wait_refreshes(pilot, view, 1)
        assert [k.value for k in table.rows] == [a.id, b.id]
        assert str(table.get_cell(a.id, "cpu")) == "-"
        first_row_key = next(iter(table.rows))
        await wait_refreshes(pilot, view, 2)
        assert str(table.get_cell(a.id, "cpu")) == " 12.50%"
        assert str(table.get_cell(a.id, "mem")) == "11.0MiB / 64.0MiB"
        assert next(iter(table.rows)) is first_row_key  # same row object: updated, not re-added
        await wait_refreshes(pilot, view, 3)
        assert [k.value for k in table.rows] == [a.id]
        facts = str(view.query_one("#facts", Static).render())
        assert "overlay2" in facts and "cgroupfs v1" in facts and "2 running" in facts and "2 images" in facts


async def test_daemon_down_keeps_rows_and_recovers() -> None:
    a = row(1, 1.0, 10 << 20)
    rec = Recorded(
        [snap([a], 1.0), snap([], 2.0, error="the Docker daemon does not answer: refused"), snap([a], 3.0)]
    )
    app = DashApp(rec)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(DashboardView)
        table: DataTable[str] = view.query_one(DataTable)
        await wait_refreshes(pilot, view, 2)
        status = str(view.query_one("#dash-status", Static).render())
        assert "does not answer" in status
        assert [k.value for k in table.rows] == [a.id]  # last known kept
        await wait_refreshes(pilot, view, 3)
        assert "answers again" in str(view.query_one("#dash-status", Static).render())


async def test_hidden_view_collects_nothing() -> None:
    rec = Recorded([snap([row(1, 1.0, 1 << 20)], 1.0)])
    app = DashApp(rec)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(DashboardView)
        await wait_refreshes(pilot, view, 2)
        view.display = False
        await pilot.pause(1.0)  # let an in-flight refresh land
        calls = rec.calls
        await pilot.pause(0.4)
        assert rec.calls == calls
        view.display = True
        await wait_refreshes(pilot, view, view.refreshes + 1)
        assert rec.calls > calls


async def test_enter_on_a_row_asks_for_the_monitor() -> None:
    a = row(1, 1.0, 1 << 20)
    rec = Recorded([snap([a], 1.0)])
    chosen: list[str] = []

    class Catch(DashApp):
        def on_dashboard_view_container_chosen(self, message: DashboardView.ContainerChosen) -> None:
            chosen.append(message.container_id)

    app = Catch(rec)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(DashboardView)
        await wait_refreshes(pilot, view, 1)
        view.query_one(DataTable).focus()
        await pilot.press("enter")
        for _ in range(500):  # the message is handled asynchronously: wait for it, up to ~10 s
            if chosen:
                break
            await pilot.pause(0.02)
    assert chosen == [a.id]


@pytest.mark.parametrize("width", [80, 120, 200])
async def test_columns_fit_the_width_and_cut_with_an_ellipsis(width: int) -> None:
    """Nothing to scroll sideways to at any width; what is cut ends in '…', the cell keeps it whole."""
    long = row(1, 3.0, 10 << 20)
    long.name = "a-container-with-a-long-name-9"
    app = DashApp(Recorded([snap([long, row(2, 1.0, 20 << 20)], 1.0)]))
    async with app.run_test(size=(width, 24)) as pilot:
        view = app.query_one(DashboardView)
        table: DataTable[str] = view.query_one(DataTable)
        await wait_refreshes(pilot, view, 1)
        await pilot.pause()
        room = table.scrollable_content_region.width
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= room
        assert table.virtual_size.width <= room
        lines = [table.render_line(y).text for y in range(3)]  # header and the two rows
        assert all(cell_len(line.rstrip()) <= room for line in lines), lines
        assert "CPU % ▼" in lines[0] and " 3.00%" in lines[1] and "10.0MiB / 64.0MiB" in lines[1]
        if width == 80:
            assert " a-conta… " in lines[1] and " 111… " in lines[1]  # the id gave way first, then the name
        else:
            assert long.name in lines[1] and long.id[:12] in lines[1] and "…" not in lines[1]
        assert str(table.get_cell(long.id, "name")) == long.name
