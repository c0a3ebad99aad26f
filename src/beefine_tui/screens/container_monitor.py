"""Container monitor: what makes one container a container, live.

Pick a container (running, or stopped for what Docker still knows). The full report (namespaces,
cgroup, mounts, processes, network, security) is built once in a thread by docker.inspect.build_report,
the same code as `beefine-tui inspect`. Then a sampler ticks at the chosen resolution (cgroup usage
for the charts, the process list) in a non-overlapping worker, and, when BPF is allowed, an exec+fork
probe session filtered to the container's pid namespace adds processes the moment they exec, so a
short `ps` run inside is seen even between polls. Limits and pause/unpause go through Docker after a
confirmation, and each change is shown as an event. A container that exits keeps what was known; a
daemon that goes away is retried until it answers again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Button, DataTable, Input, Select, Static, TabbedContent, TabPane, Tabs
from textual.worker import Worker, WorkerState

from beefine_tui.agent.remote_monitor import short_key
from beefine_tui.docker.inspect import ContainerReport, Sample
from beefine_tui.docker.namespaces import sharers_text
from beefine_tui.docker.netinfo import NetInfo
from beefine_tui.docker.stats import host_mem_total, human_bytes
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, STATUS, Event, FreeArgs, now_ns
from beefine_tui.screens.common import app_context, view_origin_ns
from beefine_tui.screens.confirm import Confirm
from beefine_tui.screens.monitor_source import monitor_source
from beefine_tui.widgets.charts import Chart
from beefine_tui.widgets.event_log import EventLog

RESOLUTIONS = (("1 s", 1.0), ("2 s", 2.0), ("5 s", 5.0), ("10 s", 10.0))
HISTORY = 120  # samples per chart: 2 minutes at 1 s, 20 minutes at 10 s
LIVE_PROBES = ("exec", "fork")
NET_PROBES = ("sockets", "tcp")
NS_COLUMNS = ("kind", "container", "host", "", "also in it", "isolates")
NET_REFRESH_S = 2.0  # the Network tab re-reads /proc/PID/net this often while it is shown
EXEC_ROW_KEEP = 10.0  # seconds a short-lived process seen by an exec event stays listed after it exits


def change_event(cid: str, kind: str, text: str, error: str = "") -> Event:
    args: dict[str, Any] = {"request": text}
    if error:
        args["error"] = error
    return Event(
        ts=now_ns(),
        probe="monitor",
        kind=kind,
        container=cid,
        args=FreeArgs(fields=args, line=(f"{text}: REJECTED: {error}" if error else text)),
    )


class ContainerMonitorView(Vertical):
    BINDINGS = [
        Binding("],alt+right", "section(1)", "Next section", key_display="]"),
        Binding("[,alt+left", "section(-1)", "Prev section", key_display="["),
    ]
    DEFAULT_CSS = """
    ContainerMonitorView { height: 1fr; }
    ContainerMonitorView > #pick { height: 3; }
    ContainerMonitorView > #pick > Select { width: 1fr; }
    ContainerMonitorView > #pick > Button { width: auto; min-width: 9; }
    ContainerMonitorView > #mon-status { height: auto; max-height: 3; color: $warning; }
    ContainerMonitorView DataTable { height: 1fr; }
    /* TabPane is height auto: without this a section grows past the screen instead of scrolling */
    ContainerMonitorView #mon-tabs { height: 1fr; }
    ContainerMonitorView #mon-tabs > ContentSwitcher { height: 1fr; }
    ContainerMonitorView #mon-tabs TabPane { height: 1fr; }
    ContainerMonitorView #charts { height: 1fr; }
    ContainerMonitorView #charts > Chart { height: 1fr; }
    ContainerMonitorView #cg-text { height: auto; }
    ContainerMonitorView #cg-head { height: auto; }
    ContainerMonitorView #cg-usage { height: auto; }
    ContainerMonitorView #res { width: 16; margin-left: 1; }
    ContainerMonitorView #cg-top { height: auto; }
    ContainerMonitorView #t-cg > VerticalScroll > #charts { min-height: 12; }
    ContainerMonitorView .limits { height: auto; }
    ContainerMonitorView .limits > Input { width: 1fr; min-width: 10; }
    ContainerMonitorView .limits > Button { width: auto; min-width: 7; }
    ContainerMonitorView #ns-detail { height: auto; max-height: 4; padding: 0 1; }
    ContainerMonitorView #net-buttons { height: auto; }
    ContainerMonitorView #net-buttons > Button { width: auto; }
    ContainerMonitorView #layers { height: 8; }
    ContainerMonitorView #ifaces { height: 6; }
    ContainerMonitorView #xdp-counts { height: auto; }
    """

    def __init__(self, source: Any = None, container: str | None = None, live_probes: bool = True) -> None:
        super().__init__()
        self.source = source
        self.cid: str | None = container
        self.live_probes = live_probes
        self.bus = Bus()  # this monitor's sessions publish here, not where other views' events go
        # the charts' axes when the container has no limit (a small /proc read, once)
        self.host_cores = os.cpu_count() or 1
        self.host_memory = host_mem_total()
        self.report: ContainerReport | None = None
        self.last: Sample | None = None
        self.interval = RESOLUTIONS[0][1]
        self.exited = False
        self.daemon_down = False
        self.samples = 0
        self.session: Any = None
        self.extra_sessions: dict[tuple[str, ...], Any] = {}  # sockets/tcp, xdp: started on request
        self._timer: Timer | None = None
        self._net_timer: Timer | None = None  # the Network tab's refresh, from the first report on
        self._exec_rows: dict[int, float] = {}  # pid seen by an exec event -> keep its row until
        self._pump: Any = None
        self._xdp_if: str | None = None
        self._lock = threading.Lock()

    # ---- layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="pick"):
            yield Select[str]([], prompt="container", id="container", allow_blank=True)
            yield Button("Reload", id="reload")
        yield Static("Choose a container.", id="mon-status", markup=False)
        with TabbedContent(id="mon-tabs"):
            with TabPane("Namespaces", id="t-ns"), Vertical():
                yield DataTable(id="ns", cursor_type="row")
                # the isolates column is cut at 80 columns: the highlighted row's full text lives here
                yield Static("", id="ns-detail")
            with TabPane("Cgroup", id="t-cg"), VerticalScroll():
                with Horizontal(id="cg-top"):
                    with Vertical(id="cg-text"):
                        yield Static("", id="cg-head")
                        yield Static("", id="cg-usage")
                    yield Select[float](
                        [(label, v) for label, v in RESOLUTIONS], value=1.0, allow_blank=False, id="res"
                    )
                # controls above the charts: the charts stretch, the buttons must stay on screen at 80x24
                with Horizontal(classes="limits"):
                    # hints, not values: the limits in force are in the text above
                    yield Input(placeholder="new memory, e.g. 64m", id="in-mem")
                    yield Input(placeholder="new cpus, e.g. 0.5", id="in-cpus")
                    yield Input(placeholder="new pids, e.g. 50", id="in-pids")
                    yield Button("Apply", id="apply", variant="warning")
                    yield Button("Pause", id="pause")
                    yield Button("Unpause", id="unpause")
                with Vertical(id="charts"):
                    yield Chart("CPU", history=HISTORY, unit="% of a core", id="c-cpu")
                    yield Chart("memory", history=HISTORY, unit="MiB", id="c-mem")
                    yield Chart("block I/O", history=HISTORY, unit="kB/s", id="c-io")
            with TabPane("Mounts", id="t-mnt"), Vertical():
                yield DataTable(id="layers", cursor_type="row")
                yield DataTable(id="mounts", cursor_type="row")
            with TabPane("Processes", id="t-ps"):
                yield DataTable(id="ps", cursor_type="row")
            with TabPane("Network", id="t-net"), Vertical():
                yield DataTable(id="ifaces", cursor_type="row")
                with Horizontal(id="net-buttons"):
                    yield Button("Watch sockets/TCP", id="net-watch")
                    yield Button("XDP on veth", id="xdp")
                yield Static("", id="xdp-counts")
                yield DataTable(id="socks", cursor_type="row")
            with TabPane("Security", id="t-sec"), VerticalScroll():
                yield Static("", id="sec")
            with TabPane("Events", id="t-ev"):
                yield EventLog(max_lines=5000)

    def on_mount(self) -> None:
        cols = {
            "ns": NS_COLUMNS,
            "layers": ("#", "role", "image layer", "diff id", "cache id"),
            "mounts": ("mount point", "type", "source", "options", "propagation"),
            "ps": ("pid", "ns pid", "ppid", "user", "state", "cpu%", "rss", "command"),
            "ifaces": ("if", "addresses", "host veth", "mac", "rx", "tx"),
            "socks": ("proto", "local", "remote", "state", "pids"),
        }
        for tid, names in cols.items():
            t = self.query_one(f"#{tid}", DataTable)
            for n in names:
                t.add_column(n, key=n or "mark")

        self.query_one(EventLog).set_origin(view_origin_ns(self.app))  # Events: times from opening
        if self.source is None:
            self.source = monitor_source(app_context(self))  # this machine's, or over --remote the host's
        self._load_list()
        if self.cid:
            self.choose(self.cid)

    @on(DataTable.RowHighlighted, "#ns")
    def ns_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= 0 and event.row_key is not None:
            row = tuple(str(c) for c in event.data_table.get_row(event.row_key))
            self.query_one("#ns-detail", Static).update(_ns_detail(row))

    def action_section(self, step: int) -> None:
        """Keyboard-only (over SSH): move to the next/previous section tab."""
        tabs = self.query_one("#mon-tabs", TabbedContent)
        ids = [p.id for p in tabs.query(TabPane) if p.id]
        if ids:
            i = ids.index(tabs.active) if tabs.active in ids else 0
            tabs.active = ids[(i + step) % len(ids)]
            # keep focus on the tab strip: the new section may hold an Input that would eat "[" and "]"
            tabs.query_one(Tabs).focus()

    def focus_target(self) -> Any:
        return self.query_one("#container", Select)

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._stop_sessions()

    def status(self, text: str) -> None:
        self.query_one("#mon-status", Static).update(text)

    def event(self, ev: Event) -> None:
        self.query_one(EventLog).add_events([ev])

    # ---- container list
    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def _load_list(self) -> list[tuple[str, str]]:
        result: list[tuple[str, str]] = self.source.containers()
        return result

    @on(Button.Pressed, "#reload")
    def reload(self) -> None:
        """Re-read the list and the report. Live probes keep running (Reload once stopped them)."""
        self._load_list()
        if self.cid:
            self.choose(self.cid, keep_sessions=True)

    @on(Select.Changed, "#container")
    def picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.cid:
            self.choose(event.value)

    @on(Select.Changed, "#res")
    def resolution(self, event: Select.Changed) -> None:
        if isinstance(event.value, float):
            self.interval = event.value

    def choose(self, cid: str, keep_sessions: bool = False) -> None:
        if not (keep_sessions and cid == self.cid):
            self._stop_sessions()
        self.cid = cid
        self.report = None
        self.last = None
        self.exited = False
        self._exec_rows.clear()
        for tid in ("ns", "layers", "mounts", "ps", "ifaces", "socks"):
            self.query_one(f"#{tid}", DataTable).clear()
        self.status(f"reading {short_key(cid)}…")
        self._build(cid)

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def _build(self, cid: str) -> ContainerReport:
        rep: ContainerReport = self.source.report(cid)
        return rep

    # ---- workers finishing (main thread)
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            msg = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
            hint = getattr(err, "hint", "")
            if group == "sample":
                self.daemon_down = True
                self.status(f"{msg}; keeping what was known, retrying")
                self._arm(max(self.interval, 2.0))
            elif group in ("change", "probes"):
                self.status(f"{msg}" + (f" (hint: {hint})" if hint else ""))
            else:
                self.status(f"{msg}" + (f" (hint: {hint})" if hint else ""))
            return
        if event.state != WorkerState.SUCCESS:
            if event.state == WorkerState.CANCELLED and group == "sample":
                self._arm(self.interval)
            return
        result = event.worker.result
        if group == "list" and isinstance(result, list):
            sel = self.query_one("#container", Select)
            sel.set_options(result)
            unlisted = getattr(self.source, "unlisted", None)  # hosts that did not answer (--remote)
            if unlisted:  # a notification: the status line is rewritten by the report and the ticks
                self.notify("; ".join(unlisted), title="Containers not listed", severity="warning")
            if self.cid and any(v == self.cid for _, v in result):
                with sel.prevent(Select.Changed):
                    sel.value = self.cid
        elif group == "report" and isinstance(result, ContainerReport):
            self.show_report(result)
            self._arm(0.01)
            ctx = getattr(self.app, "ctx", None)
            if self.live_probes and result.pid > 0 and ctx is not None and not ctx.bpf_allowed:
                self.status(
                    f"{result.name}: processes by polling only (short ones can be missed): "
                    "exec events need root, run: sudo beefine-tui"
                )
            live = self.live_probes and result.pid > 0 and ctx is not None and ctx.bpf_allowed
            if live and self.session is None:
                self._start_live(self.cid or result.id, LIVE_PROBES, None)
            if self._net_timer is None:
                self._net_timer = self.set_interval(NET_REFRESH_S, self._net_tick)
        elif group == "sample" and isinstance(result, Sample):
            self.show_sample(result)
            self._arm(self.interval)
        elif group == "probes" and isinstance(result, tuple):
            names, session = result
            self._attach_session(names, session)
        elif group == "change" and isinstance(result, Event):
            self.event(result)
            self.status(result.text)
            self._load_list()
            if self.cid:
                self._refresh_report(self.cid)
        elif group == "net" and isinstance(result, NetInfo):
            if self.report is not None:
                self.report.network = result
            self.show_network(result)
        elif group == "refresh" and isinstance(result, ContainerReport):
            self.report = result
            self.show_cgroup_head(result)

    # ---- the report
    def show_report(self, rep: ContainerReport) -> None:
        self.report = rep
        state = rep.status + (f", exit code {rep.exit_code}" if rep.exit_code is not None else "")
        notes = "  ".join(rep.notes)
        self.status(f"{rep.name} {rep.id[:12]} {rep.image}: {state}, pid {rep.pid or '-'}  {notes}".strip())
        ns_rows: list[tuple[str, ...]] = []
        for n in rep.namespaces:
            who = sharers_text(n)
            mark = "shared with host" if n.shared_with_host else "NEW"
            ns_rows.append((n.kind, str(n.inode), str(n.host_inode), mark, who, n.meaning))
        ns = self.query_one("#ns", DataTable)
        _fill_fixed(ns, NS_COLUMNS, ns_rows)
        self.query_one("#ns-detail", Static).update(_ns_detail(ns_rows[0]) if ns_rows else "")
        layers = self.query_one("#layers", DataTable)
        for la in rep.layers:
            idx = f"{la.image_index}/{len(rep.image_diff_ids)}" if la.image_index else ""
            layers.add_row(str(la.position), la.role, idx, la.diff_id[:19], la.cache_id[:16])
        mounts = self.query_one("#mounts", DataTable)
        for m in rep.mounts:
            src = m.root if m.root != "/" else m.source
            mounts.add_row(m.mount_point, m.fstype, _short(src), m.options, m.propagation)
        if not rep.mounts:
            for dm in rep.docker_mounts:
                mounts.add_row(dm.destination, dm.type, dm.source, dm.mode, dm.propagation)
        self.show_processes(rep.processes)
        if rep.network is not None:
            self.show_network(rep.network)
        self.query_one("#sec", Static).update(security_text(rep))
        self.show_cgroup_head(rep)

    def show_network(self, net: NetInfo) -> None:
        """Interfaces and sockets, keyed: changed cells updated, new rows added, gone rows removed."""
        ifaces: dict[str, tuple[str, ...]] = {}
        for i in net.interfaces:
            peer = f"{i.host_peer} (#{i.host_peer_ifindex})" if i.host_peer else ""
            rx, tx = human_bytes(i.rx_bytes), human_bytes(i.tx_bytes)
            ifaces[i.name] = (i.name, " ".join(i.addresses), peer, i.mac, rx, tx)
        socks: dict[str, tuple[str, ...]] = {}
        for so in net.sockets:
            socks[f"{so.proto} {so.local} {so.remote}"] = (
                so.proto,
                so.local,
                so.remote,
                so.state,
                " ".join(map(str, so.pids)),
            )
        _sync_rows(self.query_one("#ifaces", DataTable), ifaces)
        _sync_rows(self.query_one("#socks", DataTable), socks)

    def _net_tick(self) -> None:
        """Timer: re-read the network in a worker while the Network tab is on screen."""
        rep = self.report
        if rep is None or rep.pid <= 0 or self.exited or not self.is_mounted or not self.shown():
            return
        if self.query_one("#mon-tabs", TabbedContent).active != "t-net":
            return
        network = getattr(self.source, "network", None)
        if callable(network):
            pids = [p.pid for p in rep.processes]
            self._read_net(network, self.cid or rep.id, rep.pid, pids, rep.network_mode == "host")

    @work(thread=True, exclusive=True, exit_on_error=False, group="net")
    def _read_net(self, network: Any, cid: str, pid: int, pids: list[int], host_netns: bool) -> NetInfo:
        info: NetInfo = network(cid, pid, pids, host_netns)
        return info

    def show_cgroup_head(self, rep: ContainerReport) -> None:
        head = self.query_one("#cg-head", Static)
        if rep.cgroup is None:
            conf = rep.configured
            head.update(
                f"no cgroup (container {rep.status}); Docker's configuration: memory "
                f"{human_bytes(conf.memory) if conf.memory else 'unlimited'}, cpus "
                f"{conf.nano_cpus / 1e9 if conf.nano_cpus else 'unlimited'}, "
                f"pids {conf.pids_limit or 'unlimited'}"
            )
            return
        lim = rep.cgroup.limits
        share = f"shares {lim.cpu_shares}" if lim.cpu_shares is not None else f"weight {lim.cpu_weight}"
        self.set_chart_axes(lim.cpus, lim.memory_bytes)
        head.update(
            f"cgroup v{rep.cgroup.version} {_short(rep.cgroup.path)}\n"
            f"limits: memory {human_bytes(lim.memory_bytes) if lim.memory_bytes else 'unlimited'}, "
            f"cpus {lim.cpus or 'unlimited'} ({share}), pids {lim.pids_max or 'unlimited'}"
        )

    def set_chart_axes(self, cpus: float | None, memory: int | None) -> None:
        """Charts from 0 to 100 % of what the container may use: its limits, else the host's."""
        if cpus:
            self.query_one("#c-cpu", Chart).set_ceiling(cpus * 100, f"limit {cpus:g} cpus")
        else:
            cores = self.host_cores
            self.query_one("#c-cpu", Chart).set_ceiling(cores * 100.0, f"{cores} cores, no limit")
        if memory:
            self.query_one("#c-mem", Chart).set_ceiling(memory / (1 << 20), "limit")
        elif self.host_memory:
            self.query_one("#c-mem", Chart).set_ceiling(self.host_memory / (1 << 20), "host memory, no limit")

    @work(thread=True, exclusive=True, exit_on_error=False, group="refresh")
    def _refresh_report(self, cid: str) -> ContainerReport:
        rep: ContainerReport = self.source.report(cid)
        return rep

    # ---- periodic sampling
    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(max(delay, 0.01), self._tick)

    def shown(self) -> bool:
        node: Any = self
        while node is not None and hasattr(node, "display"):
            if not node.display:
                return False
            node = node.parent
        return True

    def _tick(self) -> None:
        if not self.is_mounted or self.cid is None:
            return
        if not self.shown():
            self._arm(self.interval)
            return
        self._sample(self.cid)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sample")
    def _sample(self, cid: str) -> Sample:
        s: Sample = self.source.sample(cid)
        return s

    def show_sample(self, s: Sample) -> None:
        self.samples += 1
        if self.daemon_down:
            self.daemon_down = False
            self.status(self.source.answering_again(self.cid or ""))
        prev, self.last = self.last, s
        if s.host_cpus and (s.host_cpus, s.host_memory) != (self.host_cores, self.host_memory):
            # the axes without a limit are the container's machine's (another host over --remote)
            self.host_cores, self.host_memory = s.host_cpus, s.host_memory or self.host_memory
            if self.report is not None and self.report.cgroup is not None:
                lim = self.report.cgroup.limits
                self.set_chart_axes(lim.cpus, lim.memory_bytes)
        if prev is not None and prev.status != s.status:
            self._load_list()  # the picker's label carries the state ("running" -> "paused")
        if s.pid <= 0 or s.status in ("exited", "dead"):
            was_running = self.report is not None and self.report.pid > 0
            if was_running and not self.exited:
                self.exited = True
                self.status(
                    f"the container is now {s.status or 'gone'}: showing what was known before it stopped"
                )
                self.event(change_event(self.cid or "", "exited", f"container {s.status}"))
                self._stop_sessions()
            return
        if self.exited or (self.report is not None and self.report.pid != s.pid):  # (re)started
            self.exited = False
            if self.cid:
                self.choose(self.cid)
            return
        if s.processes:
            self.show_processes(s.processes)
        if s.usage is not None:
            self.query_one("#cg-usage", Static).update(usage_text(s))
        if s.usage is None or prev is None or prev.usage is None:
            return
        dt = s.ts - prev.ts
        if dt <= 0:
            return
        cpu = s.usage.cpu_ns or 0
        pcpu = prev.usage.cpu_ns or 0
        self.query_one("#c-cpu", Chart).push(max(0.0, (cpu - pcpu) / 1e9 / dt * 100))
        self.query_one("#c-mem", Chart).push((s.usage.memory_working_set or 0) / (1 << 20))
        io = (s.usage.io_read_bytes or 0) + (s.usage.io_write_bytes or 0)
        pio = (prev.usage.io_read_bytes or 0) + (prev.usage.io_write_bytes or 0)
        self.query_one("#c-io", Chart).push(max(0.0, (io - pio) / dt / 1000))

    def show_processes(self, procs: list[Any]) -> None:
        t = self.query_one("#ps", DataTable)
        want = {str(p.pid) for p in procs}
        now = time.monotonic()
        self._exec_rows = {pid: until for pid, until in self._exec_rows.items() if until > now}
        for key in [k for k in t.rows if k.value not in want and int(k.value or 0) not in self._exec_rows]:
            t.remove_row(key)
        have = {k.value for k in t.rows}
        for p in procs:
            cells = (
                str(p.pid),
                str(p.ns_pid),
                str(p.ppid),
                p.user,
                p.state,
                "-" if p.cpu_percent is None else f"{p.cpu_percent:.1f}",
                human_bytes(p.rss_bytes),
                " ".join(p.cmdline) or f"[{p.comm}]",
            )
            pkey = str(p.pid)
            if pkey in have:
                for col, v in zip(
                    ("pid", "ns pid", "ppid", "user", "state", "cpu%", "rss", "command"), cells, strict=True
                ):
                    if t.get_cell(pkey, col) != v:
                        t.update_cell(pkey, col, v)
            else:
                t.add_row(*cells, key=pkey)

    # ---- live probes
    def _start_live(self, cid: str, names: tuple[str, ...], interface: str | None) -> None:
        self._probe_worker(cid, names, interface)

    @work(thread=True, exit_on_error=False, group="probes")
    def _probe_worker(
        self, cid: str, names: tuple[str, ...], interface: str | None
    ) -> tuple[tuple[str, ...], Any]:
        return names, self.source.start_probes(cid, names, interface, bus=self.bus)

    def _attach_session(self, names: tuple[str, ...], session: Any) -> None:
        if not self.is_mounted or self.cid is None:
            self.source.stop_probes(session)
            return
        if names == LIVE_PROBES:
            old, self.session = self.session, session
        else:
            old = self.extra_sessions.pop(names, None)
            self.extra_sessions[names] = session
        if old is not None:
            self.source.stop_probes(old)
        if self._pump is None:
            from beefine_tui.widgets.pump import EventPump

            self._pump = EventPump(
                self.bus, name=f"monitor-{id(self)}", on_batch=self.on_events, accept=self._accept
            )
            self.mount(self._pump)
        self.event(change_event(self.cid, "probes", f"watching {', '.join(names)} live"))

    def _accept(self, ev: Event) -> bool:
        cid = self.cid
        # the source's key (an id prefix, HOST/ID over --remote) or the full id events carry
        if ev.container is not None and ev.container in (cid, self.report.id if self.report else None):
            return True
        if ev.probe == "xdp" and self._xdp_if is not None and ev.args.get("ifname") == self._xdp_if:
            return True  # XDP sees the host end of the veth: no process, so no container on the event
        return ev.kind in (LOST, STATUS) and ev.probe in LIVE_PROBES + NET_PROBES + ("xdp",)

    def on_events(self, events: list[Event]) -> None:
        t = self.query_one("#ps", DataTable)
        have = {k.value for k in t.rows}
        for ev in events:
            if ev.probe == "exec" and ev.kind == "exec" and not ev.args.get("error"):
                key = str(ev.pid)
                argv = " ".join(ev.args.get("argv") or []) or ev.comm
                if key in have:
                    t.update_cell(key, "command", argv)
                    t.update_cell(key, "state", "exec (event)")
                else:
                    t.add_row(key, "?", str(ev.ppid or "?"), "", "exec (event)", "-", "-", argv, key=key)
                    have.add(key)
                self._exec_rows[ev.pid] = time.monotonic() + EXEC_ROW_KEEP
            elif ev.probe == "xdp" and ev.kind == "xdp_counts":
                self.query_one("#xdp-counts", Static).update(f"XDP (host side): {ev.text}")
            elif ev.probe == "exec" and ev.kind == "exit" and str(ev.pid) in have:
                t.update_cell(str(ev.pid), "state", f"exited ({ev.args.get('code')})")
        self.query_one(EventLog).add_events(events)

    def _stop_sessions(self) -> None:
        with self._lock:
            sessions = [s for s in (self.session, *self.extra_sessions.values()) if s is not None]
            self.session, self.extra_sessions = None, {}
            self._xdp_if = None
        for s in sessions:
            self.source.stop_probes(s)

    @on(Button.Pressed, "#net-watch")
    def watch_net(self) -> None:
        if self.cid and self.report and self.report.pid > 0:
            self._start_live(self.cid, NET_PROBES, None)

    @on(Button.Pressed, "#xdp")
    def watch_xdp(self) -> None:
        rep = self.report
        peer = None
        if rep and rep.network:
            peer = next((i.host_peer for i in rep.network.interfaces if i.host_peer), None)
        if not peer or not self.cid:
            self.status("this container has no veth pair to attach XDP to")
            return
        self._xdp_if = peer
        self.query_one("#xdp-counts", Static).update(f"XDP on {peer}: attaching…")
        self._start_live(self.cid, ("xdp",), peer)

    # ---- changing isolation
    @on(Input.Submitted, ".limits > Input")
    @on(Button.Pressed, "#apply")
    def apply_limits(self) -> None:
        from beefine_tui.docker.limits import parse_cpus, parse_size
        from beefine_tui.errors import BeefineError

        if not self.cid:
            return
        raw = {k: self.query_one(f"#in-{k}", Input).value.strip() for k in ("mem", "cpus", "pids")}
        try:
            mem = parse_size(raw["mem"]) if raw["mem"] else None
            cpus = parse_cpus(raw["cpus"]) if raw["cpus"] else None
            if raw["pids"] and not raw["pids"].lstrip("-").isdigit():
                raise BeefineError(f"not a number of pids: {raw['pids']!r}")
            pids = int(raw["pids"]) if raw["pids"] else None
        except BeefineError as e:
            # the status line is rewritten by refreshes; a refused input must stay visible
            self.status(e.message)
            self.notify(e.message + (f"\n{e.hint}" if e.hint else ""), title="Not changed", severity="error")
            return
        if mem is None and cpus is None and pids is None:
            self.status("type a memory, cpus or pids limit first")
            return
        parts = [
            f"memory {human_bytes(mem)}" if mem is not None else "",
            f"cpus {cpus}" if cpus is not None else "",
            f"pids {pids}" if pids is not None else "",
        ]
        what = ", ".join(p for p in parts if p)
        cid = self.cid
        self._confirm(
            f"Change {short_key(cid)}'s limits to {what}?", lambda: self.source.update(cid, mem, cpus, pids)
        )

    @on(Button.Pressed, "#pause")
    def do_pause(self) -> None:
        if self.cid:
            cid = self.cid
            self._confirm(f"Pause {short_key(cid)} (freeze every process)?", lambda: self.source.pause(cid))

    @on(Button.Pressed, "#unpause")
    def do_unpause(self) -> None:
        if self.cid:
            cid = self.cid
            self._confirm(f"Unpause {short_key(cid)}?", lambda: self.source.unpause(cid))

    def _confirm(self, question: str, action: Callable[[], str]) -> None:
        def done(ok: bool | None) -> None:
            if ok:
                self._change(action)

        self.app.push_screen(Confirm(question), done)

    @work(thread=True, exclusive=True, exit_on_error=False, group="change")
    def _change(self, action: Callable[[], str]) -> Event:
        from beefine_tui.errors import BeefineError

        cid = self.cid or ""
        try:
            return change_event(cid, "isolation", action())
        except BeefineError as e:
            return change_event(cid, "isolation", "change", error=e.message)


def usage_text(s: Sample) -> str:
    u = s.usage
    if u is None:
        return ""
    frozen = "  FROZEN (paused)" if u.frozen else ""
    throttled = f", throttled {u.throttled_periods} periods" if u.throttled_periods else ""
    return (
        f"usage: memory {human_bytes(u.memory_working_set)} (with cache {human_bytes(u.memory_bytes)}), "
        f"cpu {(u.cpu_ns or 0) / 1e9:.2f} s{throttled}, pids {u.pids}, "
        f"io read {human_bytes(u.io_read_bytes)} write {human_bytes(u.io_write_bytes)}{frozen}"
    )


def _sync_rows(table: DataTable[Any], rows: dict[str, tuple[str, ...]]) -> None:
    """Make `table` show `rows` (key -> cells) in place: the cursor stays where it was."""
    for gone in [k for k in table.rows if k.value not in rows]:
        table.remove_row(gone)
    columns = [c.key for c in table.ordered_columns]
    for key, cells in rows.items():
        if key in table.rows:
            for col, value in zip(columns, cells, strict=False):
                if table.get_cell(key, col) != value:
                    table.update_cell(key, col, value)
        else:
            table.add_row(*cells, key=key)


def _fill_fixed(table: DataTable[Any], columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns with widths measured from all rows, then the rows.

    With auto-width columns DataTable widens them on idle, after it may already have painted (and
    cached) the first row at header widths: that row stayed garbled until something re-rendered it."""
    from rich.cells import cell_len

    table.clear(columns=True)
    for i, name in enumerate(columns):
        width = max([cell_len(name)] + [cell_len(r[i]) for r in rows])
        table.add_column(name, key=name or "mark", width=width)
    for r in rows:
        table.add_row(*r, key=r[0])


def _ns_detail(row: tuple[str, ...]) -> str:
    kind, inode, _host, mark, who, meaning = row
    where = "shared with the host" if mark != "NEW" else f"new ({who})" if who else "new"
    return f"{kind} {inode}: {where}; isolates {meaning}"


def _short(s: str) -> str:
    import re

    return re.sub(r"([0-9a-f]{12})[0-9a-f]{52}", r"\1…", s)


def security_text(rep: ContainerReport) -> str:
    sec = rep.security
    if sec is None:
        return f"no process to read (container {rep.status}); privileged: {rep.privileged}"
    maps = "; ".join(f"{m.inside}->{m.outside} x{m.count}" for m in sec.uid_map)
    # Docker's default capability set: moby oci/caps/defaults.go; seccomp modes: proc(5)
    return (
        f"effective capabilities ({len(sec.cap_effective)}): {', '.join(sec.cap_effective) or 'none'}\n\n"
        f"bounding set: {len(sec.cap_bounding)} capabilities; dropped compared with the host: "
        f"{', '.join(sec.dropped_from_host) or 'none'}\n\n"
        f"seccomp: {sec.seccomp}"
        + (f" ({sec.seccomp_filters} filter(s))" if sec.seccomp_filters else "")
        + f"   no_new_privs: {sec.no_new_privs}\n"
        f"LSM label: {sec.lsm_label or 'none (no AppArmor/SELinux here)'}\n"
        f"user namespace: {sec.user_namespace}; uid_map {maps}\n"
        f"privileged: {rep.privileged}"
    )
