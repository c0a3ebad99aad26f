"""StatusStrip: one line under a live view: probe(s), state, events/s, total, lost, elapsed.

    strip = StatusStrip(bus, probes=("exec",), label="Trace exec")
    strip.state = "running"        # or "starting", "stopped", "error", "replay"

Counts come from `Bus.tally()` (what the bus received for these probes, what the kernel reported lost,
what the bus dropped). Lost is never hidden: it is always shown, and highlighted when above zero.
It refreshes itself twice a second; `clock` can be frozen for deterministic screenshots.

ev/s is windowed: events counted over the last RATE_WINDOW_S seconds divided by the time those samples
span. Events arrive in batches (~50 ms to 1 s apart), so a rate from one refresh to the next swung
between 0 and twice the true rate for a steady 2 events/s.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from beefine_tui.events.bus import Bus

RATE_WINDOW_S = 5.0


class WindowedRate:
    """Events per second over a sliding window of (time, cumulative count) samples.

    rate = (count now - count at the oldest sample inside the window) / (time between them).
    Bounded: samples older than the window are dropped (one is kept as the window's start)."""

    def __init__(self, window: float = RATE_WINDOW_S) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque(maxlen=4096)

    def reset(self) -> None:
        self._samples.clear()

    def add(self, now: float, total: int) -> float:
        s = self._samples
        if s and now <= s[-1][0]:
            s[-1] = (s[-1][0], total)  # same instant (a frozen clock): replace, never divide by zero
        else:
            s.append((now, total))
        # keep one sample at or before the window's start, so the span covers the whole window
        while len(s) > 2 and s[1][0] <= now - self.window:
            s.popleft()
        t0, n0 = s[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


def _fmt_count(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def _fmt_elapsed(s: float) -> str:
    s = int(s)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class RecordingState(Protocol):
    """What the strip shows of a recording in progress (events.record.BusRecording)."""

    @property
    def count(self) -> int: ...

    @property
    def error(self) -> str: ...


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
        self.lost_upstream = 0  # over --remote: lost in the agent's queue or this client's
        self.rate = 0.0
        self._rate = WindowedRate()
        self._base = (0, 0, 0, 0)  # tally at the moment this strip was (re)started
        self.recording: RecordingState | None = None  # shown while the view records

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
        self._rate.reset()
        self.refresh_counts()

    def _sum(self) -> tuple[int, int, int, int]:
        tally = self.bus.tally()
        r = lk = lb = lu = 0
        for name in self.probes:
            t = tally.get(name)
            if t is not None:
                r += t.received
                lk += t.lost_kernel
                lb += t.lost_bus
                lu += t.lost_upstream
        return r, lk, lb, lu

    def watch_state(self, old: str, new: str) -> None:
        if new in ("running", "replay") and old not in ("running", "replay"):
            self.started = self.clock()
        self.refresh_counts()

    def refresh_counts(self) -> None:
        r, lk, lb, lu = self._sum()
        self.total = r - self._base[0]
        self.lost_kernel = lk - self._base[1]
        self.lost_bus = lb - self._base[2]
        self.lost_upstream = lu - self._base[3]
        self.rate = self._rate.add(self.clock(), self.total)
        self.refresh()

    def render(self) -> Text:
        return self.render_text()

    @property
    def lost(self) -> int:
        return self.lost_kernel + self.lost_bus + self.lost_upstream

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
        upstream = f", agent {self.lost_upstream}" if self.lost_upstream else ""  # only ever over --remote
        lost = f"lost {self.lost} (kernel {self.lost_kernel}, bus {self.lost_bus}{upstream})"
        t.append(lost, "bold white on red" if self.lost else "dim")
        t.append(f"  {_fmt_elapsed(elapsed)}")
        rec = self.recording
        if rec is not None:
            if rec.error:
                t.append(f"  REC FAILED ({_fmt_count(rec.count)} written)", "bold white on red")
            else:
                t.append(f"  ● REC {_fmt_count(rec.count)}", "bold red")
        return t
