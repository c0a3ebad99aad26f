"""EventLog times: one origin, never negative, rows in timestamp order whatever order events arrive in.

Recorded the wrong way before: `-2.577089 exec` (an event older than the first one seen) and
`0.430354` above `0.430123` (two probes' batches interleaved)."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult

from beefine_tui.events.model import Event, FreeArgs, lost_event, status_event
from beefine_tui.widgets.event_log import EventLog
from tests.tui.events_fixture import BASE_TS


def ev(ms: float, probe: str = "exec", text: str = "") -> Event:
    return Event(
        ts=BASE_TS + int(ms * 1_000_000),
        probe=probe,
        kind="exec",
        pid=1,
        comm="sh",
        args=FreeArgs(fields={}, line=text or f"at{ms}"),
    )


def times(log: EventLog) -> list[float]:
    return [float(line.split()[0]) for line in log.lines()]


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EventLog(max_lines=1000)


async def test_a_batch_out_of_order_is_shown_in_order() -> None:
    app = LogApp()
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        log.add_events([ev(430.354), ev(430.123), ev(2.0), ev(500.0)])
        got = times(log)
        assert got == sorted(got) and min(got) >= 0
        assert [line.split()[-1] for line in log.lines()] == ["at2.0", "at430.123", "at430.354", "at500.0"]


async def test_a_later_batch_with_older_events_is_merged_back() -> None:
    app = LogApp()
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        log.add_events([ev(10, "files"), ev(20, "files"), ev(30, "files")])
        log.add_events([ev(15, "exec"), ev(25, "exec")])  # the exec probe's batch came later
        assert [line.split()[-1] for line in log.lines()] == ["at10", "at15", "at20", "at25", "at30"]
        assert log.total == 5 and log.late == 0


async def test_events_older_than_the_origin_move_it_back_never_negative() -> None:
    app = LogApp()
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        log.set_origin(BASE_TS + 5_000_000)  # the view started at 5 ms
        log.add_events([ev(7)])
        assert times(log) == [0.002]
        log.add_events([ev(1)])  # stamped before the view's start (e.g. at attach)
        assert times(log) == [0.0, 0.006]


async def test_shuffled_recording_with_status_and_loss_keeps_order_and_filter() -> None:
    app = LogApp()
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        recorded = [ev(i, "exec" if i % 2 else "files") for i in range(200)]
        rng = random.Random(7)
        batches = [recorded[i : i + 20] for i in range(0, 200, 20)]
        for b in batches:
            rng.shuffle(b)
        rng.shuffle(batches)  # whole batches late too
        log.set_filter("probe=exec")
        for b in batches:
            log.add_events(b)
        status = status_event("exec", "running", ts=BASE_TS - 1_000_000)
        log.add_events([status, lost_event("exec", 3, "kernel", ts=BASE_TS + 300_000_000)])
        got = times(log)
        assert got == sorted(got) and got[0] == 0.0
        assert len(log.lines()) == 100 + 2  # the odd ones, the status and the loss
        log.set_filter("")
        lines = log.lines()
        assert [line.split()[-1] for line in lines][:3] == ["running", "at0", "at1"]
        assert "LOST" in lines[-1]  # reported after everything that came before it
        assert log.total == 202


def _reference_order(batch: list[Event]) -> list[Event]:
    """The order by the rule alone (a loss report keyed by the newest event before it), no shortcut."""
    keys, last = [], 0
    for e in batch:
        if e.kind != "lost":
            last = max(last, e.ts)
        keys.append(last if e.kind == "lost" else e.ts)
    return [batch[i] for i in sorted(range(len(batch)), key=keys.__getitem__)]


def test_in_order_shortcut_gives_what_the_rule_gives() -> None:
    """The already-in-order shortcut (bench/ui_latency.py: most batches) never changes the result:
    sorted, shuffled and nearly sorted batches, with loss reports stamped before, between and after."""
    from beefine_tui.widgets.event_log import _in_time_order

    rng = random.Random(1234)
    for n in range(300):
        batch = [ev(i) for i in range(rng.randrange(1, 40))]
        if n % 3 == 1:
            rng.shuffle(batch)
        elif n % 3 == 2 and len(batch) > 2:
            i = rng.randrange(len(batch) - 1)
            batch[i], batch[i + 1] = batch[i + 1], batch[i]
        for _ in range(rng.randrange(3)):
            stamp = BASE_TS + rng.randrange(-5, 45) * 1_000_000
            batch.insert(rng.randrange(len(batch) + 1), lost_event("exec", 1, "kernel", ts=stamp))
        assert _in_time_order(batch) == _reference_order(batch), n
