"""Chart: a small live chart (a titled Sparkline) over a bounded history.

chart = Chart("tcp packets/s", history=60)
chart.push(123.0)            # one sample per tick; older samples fall off
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.color import Color, blend_rgb
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.widgets import Label, Sparkline


class _FromZero(SparklineRenderable[float]):
    """Textual's sparkline scales from the smallest sample, so a steady 99 % draws its 99.2 % column
    as an empty bar, read as a drop to 0 %: these bars are measured from 0 instead."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = self.width or options.max_width
        height = self.height or 1
        buckets = list(self._buckets(list(self.data), num_buckets=width)) or [[0.0]]
        peak = max(max(self.data, default=0.0), 0.0) or 1.0
        segments = len(self.BARS) * height - 1
        lo, hi = self.min_color.color, self.max_color.color
        for row in reversed(range(height)):
            low, high = row * len(self.BARS), (row + 1) * len(self.BARS)
            for col in range(width):
                ratio = max(self.summary_function(buckets[col * len(buckets) // width]), 0.0) / peak
                bar = int(ratio * segments)
                if bar < low:
                    yield Segment(" ")
                    continue
                color = None
                if lo is not None and hi is not None:
                    rgb = blend_rgb(lo.get_truecolor(), hi.get_truecolor(), min(ratio, 1.0))
                    color = Color.from_triplet(rgb)
                yield Segment("█" if bar >= high else self.BARS[bar % len(self.BARS)], Style(color=color))
            if row > 0:
                yield Segment.line()


class _Sparkline(Sparkline):
    def render(self) -> Any:
        r = super().render()  # Textual's renderable, with the CSS colours resolved
        assert isinstance(r, SparklineRenderable)
        z = _FromZero(r.data, width=r.width, height=r.height, summary_function=r.summary_function)
        z.min_color, z.max_color = r.min_color, r.max_color
        return z


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
        yield _Sparkline(self._points())

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
