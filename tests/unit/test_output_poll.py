"""The poll loop's wait before a drain (output_poll.DRAIN_EVERY_S) is skipped when a buffer cannot be
measured, and shortened while a recent drain took a large share of a ring, to what keeps the ring
under BUSY_TARGET at the fastest rate seen: fakes for the ring and the clock, no BPF."""

from __future__ import annotations

import mmap
from typing import Any

import pytest

from beefine_tui.events.model import Event
from beefine_tui.probes import output_poll
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.output_poll import DRAIN_EVERY_S, OutputBuffers, drain_interval


class FakeRing:
    """Consumes `take` bytes per drain of a ring of `size` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.take = 0
        self.pos = 0
        self.bad = 0

    def position(self) -> int:
        return self.pos

    def consume(self, decode: Any, ctx: DecodeContext, out: list[Event]) -> int:
        self.pos += self.take
        return self.take // 64


def buffers(ring: FakeRing) -> OutputBuffers:
    b = OutputBuffers(object(), DecodeContext())
    b.rings.append((ring, lambda raw, ctx: None))  # type: ignore[arg-type]
    return b


class Clock:
    """time.monotonic for output_poll, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(output_poll.time, "monotonic", c)
    return c


def test_unmeasured_buffers_never_wait(clock: Clock) -> None:
    b = buffers(FakeRing(4096))
    assert b.last_fill is None and drain_interval([b]) == 0  # before any drain
    b._perf_tables.append(object())  # a perf buffer: BCC's reader, nothing to measure
    b.bpf = type("B", (), {"perf_buffer_consume": lambda self: None})()
    b.drain([])
    assert b.last_fill is None and drain_interval([b]) == 0


def test_a_quiet_ring_waits_the_full_interval(clock: Clock) -> None:
    ring = FakeRing(1 << 20)
    b = buffers(ring)
    ring.take = 4096  # a few records in 25 ms: 1/256 of the ring
    clock.now += DRAIN_EVERY_S
    b.drain([])
    assert b.last_fill == pytest.approx(1 / 256)
    assert drain_interval([b]) == DRAIN_EVERY_S
    assert drain_interval([None, b]) == DRAIN_EVERY_S


def test_a_busy_ring_waits_what_keeps_it_under_the_target(clock: Clock) -> None:
    ring = FakeRing(1 << 20)
    b = buffers(ring)
    ring.take = ring.size // 2  # half the ring in 25 ms: 20 rings a second
    clock.now += DRAIN_EVERY_S
    b.drain([])
    # the wait that fills BUSY_TARGET (1/16) at that rate: 3.125 ms, not 25 and not 0
    assert drain_interval([b]) == pytest.approx(output_poll.BUSY_TARGET / 20)
    ring.take = 64  # a small drain soon after: the flood's peak rate still sets the wait
    clock.now += 0.003
    b.drain([])
    assert b.last_fill is not None and b.last_fill < output_poll.BUSY_FILL
    assert drain_interval([b]) == pytest.approx(output_poll.BUSY_TARGET / 20)
    # a quiet ring beside it does not lengthen the wait, one not yet drained removes it
    quiet = buffers(FakeRing(1 << 20))
    assert drain_interval([b, quiet]) == 0.0
    quiet.drain([])
    assert drain_interval([b, quiet]) == pytest.approx(output_poll.BUSY_TARGET / 20)
    clock.now += output_poll.BUSY_HOLD_S  # the hold has run out
    assert drain_interval([b]) == DRAIN_EVERY_S
    ring.take = 4096
    b.drain([])  # and the old flood's rate is forgotten
    assert b.peak_rate < 1


def test_a_small_ring_under_a_flood_gets_no_wait(clock: Clock) -> None:
    """A one-page ring fills in microseconds under a flood: waiting even MIN_WAIT_S would lose records
    (tests/integration/test_loss.py), so the loop drains back to back, as it did before the wait."""
    ring = FakeRing(4096)
    b = buffers(ring)
    ring.take = 4096  # a full ring in 50 us
    clock.now += 0.00005
    b.drain([])
    assert drain_interval([b]) == 0.0


def test_a_perf_buffer_wakes_its_reader_per_batch_unless_it_is_small() -> None:
    """BCC's default woke the reader for every record; a batch of records must still fit in an eighth
    of a CPU's buffer at PERF_RECORD_BOUND bytes each, so a small buffer keeps a wakeup each."""
    page = mmap.PAGESIZE
    assert output_poll.perf_wakeup_events(256) == output_poll.PERF_WAKEUP_EVENTS  # the probes' default
    assert output_poll.perf_wakeup_events(64) == 64 * page // (8 * output_poll.PERF_RECORD_BOUND)
    assert output_poll.perf_wakeup_events(8) == 1  # a user's program with a small buffer
    assert output_poll.perf_wakeup_events(1) == 1


def test_open_perf_passes_the_wakeup_count_to_bcc() -> None:
    seen: dict[str, Any] = {}

    class Table:
        def open_perf_buffer(self, cb: Any, **kw: Any) -> None:
            seen.update(kw)

    b = OutputBuffers(type("B", (), {"__getitem__": lambda self, name: Table()})(), DecodeContext())
    b.open_perf("events", lambda *a: 0, 256, lambda n: None)
    assert seen["wakeup_events"] == output_poll.PERF_WAKEUP_EVENTS and seen["page_cnt"] == 256
