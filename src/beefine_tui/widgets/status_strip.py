"""StatusStrip: one line under a live view: probe(s), state, events/s, total, lost, elapsed.

    strip = StatusStrip(bus, probes=("exec",), label="Trace exec")
    strip.state = "running"        # or "starting", "stopped", "error", "replay"

Counts come from `Bus.tally()` (what the bus received for these probes, what the kernel reported lost,
what the bus dropped). Lost is never hidden: it is always shown, and highlighted when above zero.
It refreshes itself twice a second; `clock` can be frozen for deterministic screenshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from beefine_tui.events.bus import Bus


def _fmt_count(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def _fmt_elapsed(s: float) -> str:
    s = int(s)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class StatusStrip(Widget):
    # a fixed-size widget that re-renders itself: updating it never triggers a layout pass, which under
    # a flood of events cost ~200 ms per refresh of the whole screen (measured with bench/ui_latency.py)
    DEFAULT_CSS = """
    StatusStrip { height: 1; width: 1fr; background: $boost; padding: 0 1; }
    """

    state: reactive[str] = reactive("idle")

    def __init__(
        self,
        bus: Bus,
        probes: Sequence[str] = (),
        *,
        label: str = "",
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.5,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.bus = bus
        self.probes = tuple(probes)
        self.label = label or ", ".join(self.probes)
        self.clock = clock
        self.interval = interval
        self.started: float | None = None
        self.total = 0
        self.lost_kernel = 0
        self.lost_bus = 0
        self.rate = 0.0
        self._last: tuple[float, int] | None = None
        self._base = (0, 0, 0)  # tally at the moment this strip was (re)started

    def on_mount(self) -> None:
        self.refresh_counts()
        self.set_interval(self.interval, self.refresh_counts)

    def set_probes(self, probes: Sequence[str], label: str = "") -> None:
        self.probes = tuple(probes)
        self.label = label or ", ".join(self.probes)
        self.reset()

    def reset(self) -> None:
        """Count from now (a new session): the bus tally so far is subtracted."""
        self._base = self._sum()
        self.started = self.clock()
        self._last = None
        self.refresh_counts()

    def _sum(self) -> tuple[int, int, int]:
        tally = self.bus.tally()
        r = lk = lb = 0
        for name in self.probes:
            t = tally.get(name)
            if t is not None:
                r += t.received
                lk += t.lost_kernel
                lb += t.lost_bus
        return r, lk, lb

    def watch_state(self, old: str, new: str) -> None:
        if new in ("running", "replay") and old not in ("running", "replay"):
            self.started = self.clock()
        self.refresh_counts()

    def refresh_counts(self) -> None:
        r, lk, lb = self._sum()
        self.total = r - self._base[0]
        self.lost_kernel = lk - self._base[1]
        self.lost_bus = lb - self._base[2]
        now = self.clock()
        if self._last is not None and now > self._last[0]:
            self.rate = (self.total - self._last[1]) / (now - self._last[0])
        self._last = (now, self.total)
        self.refresh()

    def render(self) -> Text:
        return self.render_text()

    @property
    def lost(self) -> int:
        return self.lost_kernel + self.lost_bus

    def render_text(self) -> Text:
        state_style = {
            "running": "bold green",
            "replay": "bold cyan",
            "starting": "yellow",
            "error": "bold red",
            "stopped": "dim",
        }.get(self.state, "")
        elapsed = (self.clock() - self.started) if self.started is not None else 0.0
        t = Text()
        t.append(self.label or "-", "bold")
        t.append("  ")
        t.append(self.state, state_style)
        t.append(f"  {_fmt_count(self.rate)} ev/s  total {_fmt_count(self.total)}  ")
        lost = f"lost {self.lost} (kernel {self.lost_kernel}, bus {self.lost_bus})"
        t.append(lost, "bold white on red" if self.lost else "dim")
        t.append(f"  {_fmt_elapsed(elapsed)}")
        return t
