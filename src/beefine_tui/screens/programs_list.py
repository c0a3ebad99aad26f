"""Loaded programs: every BPF program on this machine (like bpftop): id, type, name, attach point,
owner, run count and run time per second where the kernel counts them. "c" turns counting on by
holding a BPF_ENABLE_STATS fd (the kernel stops counting by itself if the app dies, even by SIGKILL);
only kernels older than 5.8 get kernel.bpf_stats_enabled instead, put back when the tab closes.

Data comes from probes/inventory.py (bpftool + /proc fdinfo), collected in a thread worker.
Refresh is a timer re-armed only after a refresh finished, so polls never
overlap (Dolphie's pattern). The table is diffed by program id (changed cells updated, gone rows
removed), so the cursor stays put. Sorted like bpftop, busiest first (runs/s); `s` sorts by the next
column, `S` reverses, a click on a header sorts by it. The figures come before the long columns
(owner, attach), which give way first when the columns are fitted to the width (widgets/fit_table.py).
"Unload" works for programs this app loaded: it stops the probe session or user program that holds them.
Over --remote the programs are a host's (agent/host_views.py RemotePrograms, the agent's `progs`);
"u" unloads there only what this app had the agent load, and says why for any other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker

from beefine_tui.agent.host_views import Collected, RemotePrograms
from beefine_tui.appcontext import AppContext
from beefine_tui.probes import inventory
from beefine_tui.probes.inventory import StatsGuard
from beefine_tui.screens.common import app_context, stop_in_background
from beefine_tui.screens.errors import WorkerErrors, describe
from beefine_tui.widgets.fit_table import Fit, FitTable, cell
from beefine_tui.widgets.table_sort import SortKeys, TableSort
from beefine_tui.widgets.ui_thread import ui_soon

REFRESH_S = 2.0
COLUMNS = ("id", "type", "name", "runs/s", "avg ns", "ours", "owner", "attach")
SORTABLE = (
    ("runs/s", "runs/s"),
    ("avg ns", "avg ns"),
    ("id", "id"),
    ("type", "type"),
    ("name", "name"),
    ("owner", "owner"),
)
NUMERIC = ("runs/s", "avg ns", "id")
# how columns give way in a narrow terminal: owner lists and attach points first (the widest of the
# two loses a cell first), then types, then names; the figures are never cut
FITS = {
    "owner": Fit(min=6, tier=0),
    "attach": Fit(min=6, tier=0),
    "type": Fit(min=6, tier=1),
    "name": Fit(min=8, tier=2),
}


@dataclass
class ProgRow:
    id: int
    type: str
    name: str
    attach: str = ""
    owner: str = ""
    run_cnt: int | None = None
    run_time_ns: int | None = None
    ours: bool = False


def view_row(r: inventory.ProgRow) -> ProgRow:
    """One inventory row (here, or a host's from its agent) as the table shows it."""
    p = r.prog
    owners = [f"{pid}/{comm}" for pid, comm in zip(r.owners, r.owner_comms, strict=False)]
    return ProgRow(
        id=p.id,
        type=p.type,
        name=p.name,
        attach=r.attach_text,
        owner=", ".join(owners) or ", ".join(str(x) for x in r.owners),
        run_cnt=p.run_cnt,
        run_time_ns=p.run_time_ns,
        ours=r.ours,
    )


def collect_programs() -> list[ProgRow]:
    """All loaded programs, joined with attach points and the processes holding them."""
    return [view_row(r) for r in inventory.inventory()]


class LocalPrograms:
    """This machine's programs (probes/inventory.py); run counts through a StatsGuard the app owns
    (stopped at exit), unloading through the session or program of ours that holds a program."""

    host = ""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._stats: StatsGuard | None = None
        self._lock = threading.Lock()  # the toggle runs in a worker, close() on the UI thread

    def collect(self) -> Collected:
        return Collected(list(inventory.inventory()), counting=inventory.counting())

    def toggle_stats(self) -> str:
        with self._lock:
            guard = self._stats
            if guard is None:
                guard = StatsGuard().start()
                self.ctx.own(guard)  # stopped at app exit; the fd dies with us anyway
                self._stats = guard
                return guard.describe() + "."
            self._stats = None
        self.ctx.disown(guard)
        guard.stop()
        return "Run counts off (we stopped counting; another holder may keep them on)."

    def stats_text(self) -> str:
        guard = self._stats
        return guard.describe() if guard is not None else ""

    def holder(self, prog_id: int) -> Any:
        return inventory.owner_of(prog_id, self.ctx.owned())

    def refusal(self, row_id: int, name: str, owner: str, ours: bool) -> str:
        return (
            f"Program {row_id} ({name}) is not one this app can unload"
            + (f": it is held by {owner}." if owner else ".")
            + " Close the tab that started it, or stop its owner."
        )

    def close(self) -> None:
        with self._lock:
            guard, self._stats = self._stats, None
        if guard is not None:
            self.ctx.disown(guard)
            guard.stop()


class ProgramsSource(Protocol):
    """What the view asks of a machine's programs: LocalPrograms, or agent/host_views RemotePrograms."""

    @property
    def host(self) -> str: ...

    def collect(self) -> Collected: ...

    def toggle_stats(self) -> str: ...

    def stats_text(self) -> str: ...

    def holder(self, prog_id: int) -> Any: ...

    def refusal(self, row_id: int, name: str, owner: str, ours: bool) -> str: ...

    def close(self) -> None: ...


def programs_source(ctx: AppContext, host: str | None = None) -> ProgramsSource:
    """This machine's programs, or over --remote a host's, from its agent's `progs`."""
    link = ctx.host_link(host)
    return LocalPrograms(ctx) if link is None else RemotePrograms(link, ctx.owned)


class ProgramsListView(SortKeys, WorkerErrors, Vertical):
    DEFAULT_CSS = """
    ProgramsListView { height: 1fr; }
    ProgramsListView > .notice { height: auto; color: $text-muted; }
    ProgramsListView > DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("r", "refresh_now", "Refresh"),
        Binding("u", "unload", "Unload ours"),
        Binding("c", "toggle_stats", "Run counts on/off"),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", key_display="S"),
    ]

    def __init__(self, refresh_s: float = REFRESH_S, host: str | None = None) -> None:
        super().__init__()
        self.refresh_s = refresh_s
        self.host = host  # over --remote: whose programs (None: the first host)
        self.source: ProgramsSource | None = None
        self._prev: dict[int, tuple[float, int, int]] = {}
        self.rows: dict[int, ProgRow] = {}
        self._busy = False
        self._stopped = False
        self._next: Timer | None = None  # the one pending automatic refresh
        self._stats_lock = threading.Lock()  # the toggle runs in a worker, stop_view on the UI thread
        self.sorter: TableSort | None = None
        self.sort_values: dict[str, dict[str, object]] = {}  # id cell -> column -> value to sort by

    def compose(self) -> ComposeResult:
        yield Static("", classes="notice", markup=False)
        yield FitTable(FITS, id="progs", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        self.sorter = TableSort(t, SORTABLE, default="runs/s", descending=True, numeric=NUMERIC)
        for c in COLUMNS:
            t.add_column(self.sorter.header(c, c), key=c)
        ctx = app_context(self)
        self.source = programs_source(ctx, self.host)
        if not ctx.bpf_allowed and not self.source.host:
            self.notice("Listing BPF programs needs root: quit (ctrl+q) and run: sudo beefine-tui")
            return
        self.action_refresh_now()

    def notice(self, text: str) -> None:
        self.query_one(".notice", Static).update(text)

    def action_refresh_now(self) -> None:
        if self._busy or self._stopped:
            return
        self._busy = True
        self._collect()

    @work(thread=True, exclusive=True, exit_on_error=False, group="collect")
    def _collect(self) -> None:
        assert self.source is not None
        got = self.source.collect()
        ui_soon(self, self._show, [view_row(r) for r in got.rows], time.monotonic(), got.counting, got.rates)

    def _show(
        self,
        rows: list[ProgRow],
        now: float,
        counting: bool = False,
        rates: dict[int, inventory.Rate] | None = None,
    ) -> None:
        self._busy = False
        if not self.is_mounted or self._stopped:
            return
        t = self.query_one(FitTable)
        seen: set[int] = set()
        values: dict[str, dict[str, object]] = {}
        with self.app.batch_update():
            for r in sorted(rows, key=lambda r: r.id):
                seen.add(r.id)
                runs, avg = "-", "-"
                runs_v: float | None = None
                avg_v: float | None = None
                rate = rates.get(r.id) if rates is not None else None
                if rate is not None:  # measured by the source itself (a host's agent)
                    runs_v, avg_v = rate.runs_per_s, rate.avg_ns
                    runs, avg = f"{runs_v:,.0f}", "-" if avg_v is None else f"{avg_v:,.0f}"
                elif r.run_cnt is not None and r.run_time_ns is not None:
                    prev = self._prev.get(r.id)
                    if prev is not None and now > prev[0]:
                        d_cnt = r.run_cnt - prev[1]
                        runs_v = d_cnt / (now - prev[0])
                        avg_v = (r.run_time_ns - prev[2]) / d_cnt if d_cnt > 0 else 0.0
                        runs, avg = f"{runs_v:,.0f}", f"{avg_v:,.0f}"
                    self._prev[r.id] = (now, r.run_cnt, r.run_time_ns)
                values[str(r.id)] = {
                    "runs/s": runs_v,
                    "avg ns": avg_v,
                    "id": r.id,
                    "type": r.type,
                    "name": r.name,
                    "owner": r.owner,
                }
                cells = (
                    str(r.id),
                    r.type,
                    r.name,
                    runs,
                    avg,
                    "yes" if r.ours else "",
                    r.owner,
                    r.attach,
                )
                key = str(r.id)
                if key in t.rows:
                    for c, v in zip(COLUMNS, cells, strict=True):
                        if str(t.get_cell(key, c)) != v:
                            t.update_cell(key, c, cell(v))
                else:
                    t.add_row(*(cell(v) for v in cells), key=key)
            for row_key in [k for k in t.rows if k.value is not None and int(k.value) not in seen]:
                t.remove_row(row_key)
                self._prev.pop(int(str(row_key.value)), None)
            self.sort_values = values
            if self.sorter is not None:
                self.sorter.apply(values)
            t.fit()
        self.rows = {r.id: r for r in rows}
        ours = sum(1 for r in rows if r.ours)
        host = self.source.host if self.source is not None else ""
        where, by = (f" on {host}", f"{host}'s agent") if host else ("", "this app")
        msg = f"{len(rows)} programs loaded{where}, {ours} by {by}. r refreshes, u unloads one of ours."
        stats = self.source.stats_text() if self.source is not None else ""
        if stats:
            msg += f" {stats}; c turns them off."
        elif counting:
            msg += " Run counts are on, turned on outside this tab."
        else:
            msg += " Run counts are off: c turns them on until you close this tab."
        if self.sorter is not None:
            msg += f" {self.sorter.describe().capitalize()} (s: next column, S: reverse)."
        self.notice(msg)
        # one pending timer, re-armed only after a refresh: a manual `r` must not start a second chain
        if self._next is not None:
            self._next.stop()
        self._next = self.set_timer(self.refresh_s, self.action_refresh_now)

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        self._busy = False
        info = describe(error)
        self.notice(f"{info.message}" + (f" ({info.hint})" if info.hint else "") + " — r retries")

    def action_unload(self) -> None:
        t = self.query_one(DataTable)
        if t.row_count == 0:
            return
        key = t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        row = self.rows.get(int(key)) if key else None
        if row is None:
            return
        ctx = app_context(self)
        if self.source is None:
            return
        holder = self.source.holder(row.id)
        if holder is None:
            self.notice(self.source.refusal(row.id, row.name, row.owner, row.ours))
            return
        stop_in_background(ctx, holder)
        self.notice(f"Unloading program {row.id} ({row.name}) and the probe set it belongs to…")

    def action_toggle_stats(self) -> None:
        self._toggle_stats_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="stats")
    def _toggle_stats_worker(self) -> None:
        with self._stats_lock:
            if self._stopped or self.source is None:
                return
            text = self.source.toggle_stats()
        ui_soon(self, self.notice, text)  # the next refresh keeps saying it

    def stop_view(self) -> None:
        with self._stats_lock:
            self._stopped = True
        if self.source is not None:
            self.source.close()

    def on_unmount(self) -> None:
        self.stop_view()
