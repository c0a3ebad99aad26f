"""Chart: a small live chart (a titled Sparkline) over a bounded history.

chart = Chart("tcp packets/s", history=60)
chart.push(123.0)            # one sample per tick; older samples fall off
"""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline


class Chart(Vertical):
    DEFAULT_CSS = """
    Chart { height: 4; }
    Chart > Label { height: 1; }
    Chart > Sparkline { height: 1fr; }
    """

    def __init__(self, title: str, *, history: int = 60, unit: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.unit = unit
        self.history: deque[float] = deque(maxlen=history)

    def compose(self) -> ComposeResult:
        yield Label(self._label())
        yield Sparkline(self._points())

    def _points(self) -> list[float]:
        # Sparkline draws a single sample, or an all-zero history, as a wall of full blocks: an idle
        # chart must look idle, so it gets no points (a flat baseline) until there is something to show.
        if len(self.history) < 2 or not any(self.history):
            return []
        return list(self.history)

    def _label(self) -> str:
        last = self.history[-1] if self.history else 0.0
        peak = max(self.history, default=0.0)
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.title}: {last:,.0f}{unit}  (max {peak:,.0f})"

    def push(self, value: float) -> None:
        self.history.append(float(value))
        if self.is_mounted:
            self.query_one(Sparkline).data = self._points()
            self.query_one(Label).update(self._label())
