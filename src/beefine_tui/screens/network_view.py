"""Inspect network: attach the XDP probe (probes/xdp.py, generic/SKB mode) to one interface chosen from
the real list; packets and bytes per protocol live, a small chart of packets/s, and a log of sampled packet
headers. Stop detaches; closing the tab detaches; exit detaches (the session is owned by the
AppContext). XDP programs never drop anything here: they count and pass (XDP_PASS).
Over --remote the interfaces are the host's (its agent's `interfaces`) and its agent attaches XDP there.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Select, Static
from textual.worker import Worker

from beefine_tui.appcontext import AppContext
from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.xdp import XdpCountsArgs
from beefine_tui.screens.common import app_context, stop_in_background, view_origin_ns
from beefine_tui.screens.errors import WorkerErrors, describe, show_error
from beefine_tui.widgets.charts import Chart
from beefine_tui.widgets.event_log import EventLog
from beefine_tui.widgets.pump import EventPump
from beefine_tui.widgets.status_strip import StatusStrip
from beefine_tui.widgets.ui_thread import ui_soon

PROBE = "xdp"
# the probe's counters overlap: "total" is every packet, ipv4/ipv6/arp/other split it by ethertype, and
# tcp/udp/icmp/ip_other split the IP packets by L4 (see bpf/xdp.bpf.c). Shown as that tree, in this order;
# only "total" is a packet rate (adding the rows counted one packet up to three times).
PROTOCOL_ROWS: tuple[tuple[str, str], ...] = (
    ("total", "all packets"),
    ("ipv4", "├ ipv4"),
    ("ipv6", "├ ipv6"),
    ("arp", "├ arp"),
    ("other", "└ other"),
    ("tcp", "  ├ tcp (v4+v6)"),
    ("udp", "  ├ udp"),
    ("icmp", "  ├ icmp"),
    ("ip_other", "  └ ip other"),
)
NOT_ROOT = "Attaching XDP needs root: quit (ctrl+q) and run: sudo beefine-tui"


def list_interfaces(ctx: AppContext, host: str | None = None) -> list[tuple[str, str]]:
    """(label, name) for the chooser: this machine's interfaces, or over --remote the host's."""
    out: list[tuple[str, str]] = []
    for info in ctx.network_interfaces(host):
        busy = " (has XDP)" if info.has_xdp else ""
        out.append((f"{info.name}  {info.kind} {info.operstate}{busy}".strip(), info.name))
    return out


def format_packet(ev: Event, base_ts: int) -> str:
    """Time, then the packet's own line (XdpPacketArgs.describe); other kinds say theirs after it."""
    rel = (ev.ts - base_ts) / 1e9 if base_ts else 0.0
    if ev.kind != "xdp_packet":
        return f"{rel:10.6f} {ev.kind} {ev.text}"
    return f"{rel:10.6f} {ev.text}"


class ProtocolRates:
    """Cumulative xdp_counts events -> per-protocol (packets, bytes, packets/s) and the packet rate.

    Plain data, no widgets: the view shows what this computes, and tests check it against `ip -s link`."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, int]] = {name: (0, 0) for name, _ in PROTOCOL_ROWS}
        self.rates: dict[str, float | None] = {name: None for name, _ in PROTOCOL_ROWS}
        self._prev_ts: int | None = None

    def update(self, ev: Event) -> float | None:
        """Take one xdp_counts event; return the packet rate since the previous one (None for the first)."""
        if not isinstance(ev.args, XdpCountsArgs):
            return None
        dt = (ev.ts - self._prev_ts) / 1e9 if self._prev_ts is not None else 0.0
        for name, c in ev.args.protocols.items():
            pk, by = c.packets, c.bytes
            old = self.counts.get(name, (0, 0))
            self.rates[name] = (pk - old[0]) / dt if dt > 0 else None
            self.counts[name] = (pk, by)
        if dt <= 0:
            self._prev_ts = ev.ts if self._prev_ts is None else self._prev_ts
            return None
        self._prev_ts = ev.ts
        return self.rates.get("total")

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(key, label, packets, bytes, pkt/s) for every counter, known ones first in tree order."""
        known = dict(PROTOCOL_ROWS)
        keys = [k for k, _ in PROTOCOL_ROWS] + sorted(k for k in self.counts if k not in known)
        out = []
        for k in keys:
            pk, by = self.counts.get(k, (0, 0))
            rate = self.rates.get(k)
            out.append((k, known.get(k, k), f"{pk:,}", f"{by:,}", "-" if rate is None else f"{rate:,.0f}"))
        return out


class NetworkView(WorkerErrors, Vertical):
    DEFAULT_CSS = """
    NetworkView { height: 1fr; }
    NetworkView > .controls { height: auto; }
    NetworkView > .controls > Select { width: 1fr; }
    NetworkView > .controls > Button { width: auto; min-width: 8; }
    NetworkView > .notice { height: auto; color: $warning; }
    /* a header and the nine counters: every row on screen */
    NetworkView > .top { height: 11; }
    NetworkView > .top > DataTable { width: auto; max-width: 60; }
    NetworkView > .top > Chart { width: 1fr; height: 11; margin-left: 2; }
    """

    def __init__(
        self, interface: str | None = None, autostart: bool = False, host: str | None = None
    ) -> None:
        super().__init__()
        self.host = host  # over several --remote hosts: whose interfaces (None: here, or the first host)
        self.session: Any = None
        self.bus = Bus()  # this view's own: another network view on another interface must not feed it
        self.ifname: str | None = interface
        self.autostart = autostart
        self.rates = ProtocolRates()
        self._lock = threading.Lock()

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Select[str]([], prompt="interface", id="iface", allow_blank=True)
            yield Button("Start", id="start", variant="success")
            yield Button("Stop", id="stop", variant="error", disabled=True)
        yield Static("", classes="notice", markup=False)
        with Horizontal(classes="top"):
            yield DataTable(id="protocols", cursor_type="none")
            yield Chart("packets/s", history=60, unit="pkt/s")
        yield StatusStrip(
            self.bus, (PROBE,), label="XDP", clock=getattr(self.app, "clock", None) or time.monotonic
        )
        yield EventLog(max_lines=2000, formatter=format_packet)
        yield EventPump(
            self.bus, name="network", on_batch=self._on_batch, accept=lambda ev: ev.probe == PROBE
        )

    def on_mount(self) -> None:
        t = self.query_one("#protocols", DataTable)
        for c in ("protocol", "packets", "bytes", "pkt/s"):
            t.add_column(c, key=c)
        ctx = app_context(self)
        if not ctx.bpf_allowed:
            self.notice(NOT_ROOT)
            self.query_one("#start", Button).disabled = True
        else:
            self.notice("Choose an interface, then Start (XDP in generic mode: every packet passes).")
        self._load_interfaces()

    def notice(self, text: str) -> None:
        n = self.query_one(".notice", Static)
        n.update(text)
        n.display = bool(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ifaces")
    def _load_interfaces(self) -> None:
        options = list_interfaces(app_context(self), self.host)
        ui_soon(self, self._set_interfaces, options)

    def _set_interfaces(self, options: list[tuple[str, str]]) -> None:
        sel = self.query_one("#iface", Select)
        sel.set_options(options)
        if self.ifname and self.ifname in {name for _, name in options}:
            sel.value = self.ifname
            if self.autostart and app_context(self).bpf_allowed:
                self.start()
        elif self.ifname:
            self.notice(f"No interface named {self.ifname!r} here; choose one from the list.")

    # ---- start / stop
    @on(Button.Pressed, "#start")
    def start(self) -> None:
        if self.session is not None:
            return
        value = self.query_one("#iface", Select).value
        if not isinstance(value, str):
            self.notice("Choose an interface first.")
            return
        self.ifname = value
        self.rates = ProtocolRates()
        log = self.query_one(EventLog)
        if not log.base_ts:  # times count from this view's first start
            log.set_origin(view_origin_ns(self.app))
        self.query_one("#start", Button).disabled = True
        self.query_one(StatusStrip).set_probes((PROBE,), f"XDP on {value}")
        self.query_one(StatusStrip).state = "starting"
        self.notice(f"Attaching XDP to {value}…")
        self._start_worker(value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="session")
    def _start_worker(self, ifname: str) -> None:
        ctx = app_context(self)
        options = ProbeOptions(interface=ifname, target=ctx.host_target(self.host))
        session = ctx.start_probes([PROBE], options, bus=self.bus)
        ui_soon(self, self._started, session)

    def _started(self, session: Any) -> None:
        if not self.is_mounted:
            stop_in_background(app_context(self), session)
            return
        self.session = session
        self.notice("")
        self.query_one(StatusStrip).state = "running"
        self.query_one("#stop", Button).disabled = False

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        info = describe(error)
        self.query_one("#start", Button).disabled = not app_context(self).bpf_allowed
        self.query_one(StatusStrip).state = "error"
        self.notice(f"{info.message}" + (f"\nhint: {info.hint}" if info.hint else ""))
        if (isinstance(error, ProbeLoadError) and error.log) or info.internal:
            show_error(self.app, error)

    @on(Button.Pressed, "#stop")
    def stop_pressed(self) -> None:
        self.stop_view()

    def stop_view(self, update_ui: bool = True) -> None:
        """Detach XDP (idempotent; the detach runs in a thread, the process waits for it at exit)."""
        with self._lock:
            session, self.session = self.session, None
        if session is not None:
            stop_in_background(app_context(self), session)
        if update_ui and self.is_mounted and self.query(StatusStrip):
            self.query_one(StatusStrip).state = "stopped"
            self.query_one("#stop", Button).disabled = True
            self.query_one("#start", Button).disabled = not app_context(self).bpf_allowed
            if session is not None:
                self.notice(f"Detached from {self.ifname}.")

    def on_unmount(self) -> None:
        self.stop_view(update_ui=False)

    # ---- events
    def _on_batch(self, events: list[Event]) -> None:
        packets = [ev for ev in events if ev.kind != "xdp_counts"]
        for ev in events:
            if ev.kind == "xdp_counts":
                self._counts(ev)
        if packets:
            self.query_one(EventLog).add_events(packets)

    def _counts(self, ev: Event) -> None:
        rate = self.rates.update(ev)
        t = self.query_one("#protocols", DataTable)
        with self.app.batch_update():
            for key, *cells in self.rates.rows():
                if key in t.rows:
                    for col, v in zip(("protocol", "packets", "bytes", "pkt/s"), cells, strict=True):
                        t.update_cell(key, col, v)
                else:
                    t.add_row(*cells, key=key)
        if rate is not None:
            self.query_one(Chart).push(rate)
