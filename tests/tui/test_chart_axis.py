"""Charts draw from 0 to a meaningful top (100 % of the cores or the limit, host memory) and say so:
an idle container scaled to its own tiny peak looked saturated."""

from __future__ import annotations

from textual.app import App, ComposeResult

from beefine_tui.widgets.charts import Chart, _Sparkline

FULL = "█"


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Chart("CPU", history=20, unit="%", id="c")


def painted(chart: Chart) -> str:
    spark = chart.query_one(_Sparkline)
    return "".join(seg.text for strip in spark.render_lines(spark.region.reset_offset) for seg in strip)


async def test_idle_against_a_ceiling_stays_low_and_the_label_shows_the_axis() -> None:
    app = ChartApp()
    async with app.run_test(size=(40, 10)) as pilot:
        chart = app.query_one(Chart)
        chart.set_ceiling(200.0, "2 cores")
        for v in [0.2, 0.4, 0.3] * 6:
            chart.push(v)
        await pilot.pause()
        assert FULL not in painted(chart)  # 0.4 % of 200 % is no bar at all, not a full one
        assert chart.label_text() == "CPU: 0.3 %"
        assert chart.axis_text() == "axis 0-200 % (2 cores)"


async def test_full_use_reaches_the_top_and_beyond_is_clipped() -> None:
    app = ChartApp()
    async with app.run_test(size=(40, 10)) as pilot:
        chart = app.query_one(Chart)
        chart.set_ceiling(100.0)
        for _ in range(20):
            chart.push(250.0)  # more than the ceiling (a burst): drawn as full, not past the widget
        await pilot.pause()
        assert painted(chart).strip(" ").count(FULL) > 0


async def test_without_a_ceiling_the_label_says_it_scales_to_the_peak() -> None:
    app = ChartApp()
    async with app.run_test(size=(40, 10)) as pilot:
        chart = app.query_one(Chart)
        chart.push(3.0)
        chart.push(1234.0)
        await pilot.pause()
        assert chart.label_text() == "CPU: 1,234 %"
        assert chart.axis_text() == "axis 0-peak 1,234 %"
