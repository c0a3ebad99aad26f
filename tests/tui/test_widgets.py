"""The shared live widgets on their own: pump batching and loss, log filter/pause, status strip counts."""

from __future__ import annotations

from textual.app import App, ComposeResult

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import UPSTREAM, Event
from beefine_tui.widgets.charts import Chart
from beefine_tui.widgets.event_log import EventLog
from beefine_tui.widgets.filter_bar import EventFilter
from beefine_tui.widgets.pump import EventPump
from beefine_tui.widgets.status_strip import StatusStrip
from tests.tui.events_fixture import exec_events, lost, mount_events


class FrozenClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class WidgetApp(App[None]):
    def __init__(self, bus: Bus, capacity: int = 65_536) -> None:
        super().__init__()
        self.bus = bus
        self.clock = FrozenClock()
        self.capacity = capacity
        self.batches: list[int] = []

    def compose(self) -> ComposeResult:
        yield StatusStrip(self.bus, ("exec", "mounts"), label="test", clock=self.clock)
        yield EventLog(max_lines=100)
        yield Chart("events", history=5)

    def on_mount(self) -> None:
        self.mount(EventPump(self.bus, name="t", on_batch=self._on_batch, capacity=self.capacity))

    def _on_batch(self, events: list[Event]) -> None:
        self.batches.append(len(events))
        self.query_one(EventLog).add_events(events)


async def wait_for(pilot, cond, tries: int = 200) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition never became true")


async def test_pump_delivers_in_batches_and_log_shows_them() -> None:
    bus = Bus()
    app = WidgetApp(bus)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "t" in bus.subscribers())
        bus.publish(exec_events(10))
        log = app.query_one(EventLog)
        await wait_for(pilot, lambda: log.total == 10)
        assert sum(app.batches) == 10
        assert len(app.batches) <= 2  # one message per batch, not per event
        lines = log.lines()
        assert any("runc arg0" in line for line in lines)
        assert any("sh exited code=0" in line for line in lines)
    assert "t" not in bus.subscribers()  # the pump unsubscribed when it unmounted


async def test_pump_reports_bus_drops_as_lost_and_strip_highlights() -> None:
    bus = Bus()
    app = WidgetApp(bus, capacity=5)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "t" in bus.subscribers())
        strip = app.query_one(StatusStrip)
        strip.reset()
        bus.publish(exec_events(50))  # 45 of them cannot fit
        bus.publish([lost("exec", 7, "kernel")])
        log = app.query_one(EventLog)
        await wait_for(pilot, lambda: any("LOST" in line and "(bus)" in line for line in log.lines()))
        assert any("7 events lost (kernel)" in line for line in log.lines())
        strip.refresh_counts()
        assert strip.total == 50
        assert strip.lost_kernel == 7
        assert strip.lost_bus >= 45
        assert "lost 5" in str(strip.render_text()) or f"lost {strip.lost}" in str(strip.render_text())
        spans = [s for s in strip.render_text().spans if "red" in str(s.style)]
        assert spans, "lost > 0 must be highlighted"
        assert "agent" not in strip.render_text().plain  # nothing was lost upstream: not named
        bus.publish([lost("exec", 4, UPSTREAM)])  # over --remote: the agent's queue or the client's
        strip.refresh_counts()
        assert strip.lost_kernel == 7 and strip.lost_upstream == 4
        assert f"(kernel 7, bus {strip.lost_bus}, agent 4)" in strip.render_text().plain


async def test_filter_by_field_and_text_keeps_lost_lines() -> None:
    bus = Bus()
    app = WidgetApp(bus)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(exec_events(9) + mount_events(3) + [lost("mounts", 3)])
        await pilot.pause()
        log.set_filter("comm=runc")
        lines = log.lines()
        assert lines and all(" runc " in line or "LOST" in line for line in lines)
        assert any("LOST" in line for line in lines)
        log.set_filter("probe=mounts proc2")
        assert [line for line in log.lines() if "LOST" not in line] == [
            line for line in log.lines() if "/proc2" in line
        ]
        log.set_filter("")
        assert len(log.lines()) == 13


async def test_filter_keys_slash_types_and_escape_clears() -> None:
    bus = Bus()
    app = WidgetApp(bus)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(exec_events(9))
        log.log_widget.focus()
        await pilot.press("slash")
        await pilot.press(*"kind=exit")
        await pilot.pause()
        assert log.filter_text == "kind=exit"
        assert len(log.lines()) == 4
        await pilot.press("escape")
        await pilot.pause()
        assert log.filter_text == ""
        assert len(log.lines()) == 9


async def test_scrolling_back_pauses_and_end_resumes() -> None:
    bus = Bus()
    app = WidgetApp(bus)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(exec_events(60))
        await pilot.pause()
        log.log_widget.focus()
        await pilot.press("pageup")
        assert log.paused
        before = log.lines()
        log.add_events(exec_events(5, start=60))
        await pilot.pause()
        assert log.lines() == before  # view held still
        assert log.pending_while_paused == 5
        await pilot.press("end")
        await pilot.pause()
        assert not log.paused
        assert any("arg64" in line for line in log.lines())
        assert log.log_widget.is_vertical_scroll_end


def test_event_filter_syntax() -> None:
    ev = exec_events(1)[0]
    line = "x runc arg0"
    assert EventFilter("comm=runc").matches(ev, line)
    assert not EventFilter("comm=run").matches(ev, line)
    assert EventFilter("comm~run").matches(ev, line)
    assert EventFilter("pid=1000").matches(ev, line)
    assert EventFilter("filename=/usr/bin/runc").matches(ev, line)
    assert EventFilter("probe=mounts,exec arg0").matches(ev, line)
    assert not EventFilter("!comm=runc").matches(ev, line)
    assert not EventFilter("nosuchword").matches(ev, line)


def test_event_filter_matches_a_typed_field_by_number_or_name() -> None:
    from beefine_tui.probes.tcp import TcpStateArgs

    args = TcpStateArgs(
        family=2, saddr="127.0.0.1", sport=1, daddr="127.0.0.1", dport=80, oldstate=2, newstate=1
    )
    ev = Event(ts=1, probe="tcp", kind="tcp_state", args=args)
    assert EventFilter("newstate=TCP_ESTABLISHED").matches(ev, "")
    assert EventFilter("newstate=1 family=af_inet").matches(ev, "")
    assert EventFilter("oldstate~syn").matches(ev, "")
    assert not EventFilter("newstate=TCP_CLOSE").matches(ev, "")
    assert not EventFilter("!family=AF_INET").matches(ev, "")


async def test_chart_keeps_bounded_history() -> None:
    bus = Bus()
    app = WidgetApp(bus)
    async with app.run_test(size=(100, 30)):
        chart = app.query_one(Chart)
        for i in range(20):
            chart.push(i)
        assert list(chart.history) == [15, 16, 17, 18, 19]


async def test_idle_chart_draws_a_baseline_not_full_blocks() -> None:
    from textual.widgets import Sparkline

    app = WidgetApp(Bus())
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.query_one(Chart)
        spark = chart.query_one(Sparkline)
        assert not spark.data  # nothing yet: a flat baseline
        chart.push(0)
        chart.push(0)
        await pilot.pause()
        assert not spark.data  # all zero is still idle
        chart.push(3)
        await pilot.pause()
        assert list(spark.data or []) == [0, 0, 3]
