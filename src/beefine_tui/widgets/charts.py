"""Chart: a small live chart (a titled Sparkline) over a bounded history.

chart = Chart("tcp packets/s", history=60)
chart.push(123.0)            # one sample per tick; older samples fall off
chart.set_ceiling(200.0, "2 cores")   # the axis top: 100 % of the limit, of the cores, of host memory

Two lines above the bars: the title with the latest value, and the axis. Bars are drawn from 0 up to
the ceiling ("axis 0-200 % (2 cores)"). Without a ceiling (a rate with no natural maximum) the axis
top is the peak of the history, and the axis line says so ("axis 0-peak 1,234 kB/s"): a chart scaled
to its own tiny peak made an idle container look saturated.
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
    as an empty bar, read as a drop to 0 %: these bars are measured from 0 instead, up to `top`."""

    top: float | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = self.width or options.max_width
        height = self.height or 1
        buckets = list(self._buckets(list(self.data), num_buckets=width)) or [[0.0]]
        peak = self.top if self.top and self.top > 0 else (max(max(self.data, default=0.0), 0.0) or 1.0)
        segments = len(self.BARS) * height - 1
        lo, hi = self.min_color.color, self.max_color.color
        for row in reversed(range(height)):
            low, high = row * len(self.BARS), (row + 1) * len(self.BARS)
            for col in range(width):
                ratio = min(max(self.summary_function(buckets[col * len(buckets) // width]), 0.0) / peak, 1.0)
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
    top: float | None = None

    def render(self) -> Any:
        r = super().render()  # Textual's renderable, with the CSS colours resolved
        assert isinstance(r, SparklineRenderable)
        z = _FromZero(r.data, width=r.width, height=r.height, summary_function=r.summary_function)
        z.min_color, z.max_color = r.min_color, r.max_color
        z.top = self.top
        return z


def _num(v: float) -> str:
    return f"{v:,.1f}" if 0 < abs(v) < 10 else f"{v:,.0f}"


class Chart(Vertical):
    DEFAULT_CSS = """
    Chart { height: 5; }
    Chart > Label { height: 1; width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    Chart > .chart--axis { color: $text-muted; }
    Chart > Sparkline { height: 1fr; }
    """

    def __init__(self, title: str, *, history: int = 60, unit: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.unit = unit
        self.history: deque[float] = deque(maxlen=history)
        self.ceiling: float | None = None  # the axis top; None: the history's peak
        self.ceiling_note = ""  # what the ceiling is (e.g. "2 cores", "host memory")

    def compose(self) -> ComposeResult:
        yield Label(self.label_text(), classes="chart--title")
        yield Label(self.axis_text(), classes="chart--axis")
        spark = _Sparkline(self._points())
        spark.top = self.ceiling
        yield spark

    def _points(self) -> list[float]:
        # Sparkline draws a single sample, or an all-zero history, as a wall of full blocks: an idle
        # chart must look idle, so it gets no points (a flat baseline) until there is something to show.
        if len(self.history) < 2 or not any(self.history):
            return []
        return list(self.history)

    def label_text(self) -> str:
        """Title and the latest value."""
        last = self.history[-1] if self.history else 0.0
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.title}: {_num(last)}{unit}"

    def axis_text(self) -> str:
        """What the top of the bars means."""
        unit = f" {self.unit}" if self.unit else ""
        if self.ceiling:
            note = f" ({self.ceiling_note})" if self.ceiling_note else ""
            return f"axis 0-{_num(self.ceiling)}{unit}{note}"
        return f"axis 0-peak {_num(max(self.history, default=0.0))}{unit}"

    def set_ceiling(self, ceiling: float | None, note: str = "") -> None:
        """The axis top (100 % of what can be used), or None to scale to the history's peak."""
        ceiling = ceiling if ceiling and ceiling > 0 else None
        if (ceiling, note) == (self.ceiling, self.ceiling_note):
            return
        self.ceiling, self.ceiling_note = ceiling, note
        self._redraw()

    def push(self, value: float) -> None:
        self.history.append(float(value))
        self._redraw()

    def _redraw(self) -> None:
        if self.is_mounted:
            spark = self.query_one(_Sparkline)
            spark.top = self.ceiling
            spark.data = self._points()
            spark.refresh()
            self.query_one(".chart--title", Label).update(self.label_text())
            self.query_one(".chart--axis", Label).update(self.axis_text())
