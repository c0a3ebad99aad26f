"""The poll loop's wait before a drain (output_poll.DRAIN_EVERY_S) is skipped when a buffer cannot be
measured or a recent drain took a large share of a ring: fakes for the ring, no BPF."""

from __future__ import annotations

from typing import Any

import pytest

from beefine_tui.events.model import Event
from beefine_tui.probes import output_poll
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.output_poll import OutputBuffers, busy


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


def test_unmeasured_buffers_never_wait() -> None:
    b = buffers(FakeRing(4096))
    assert b.last_fill is None and busy([b])  # before any drain
    b._perf_tables.append(object())  # a perf buffer: BCC's reader, nothing to measure
    b.bpf = type("B", (), {"perf_buffer_consume": lambda self: None})()
    b.drain([])
    assert b.last_fill is None and busy([b])


def test_a_quiet_ring_waits_and_a_busy_one_holds_off(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = FakeRing(1 << 20)
    b = buffers(ring)
    ring.take = 4096  # a few records: 1/256 of the ring
    b.drain([])
    assert b.last_fill == pytest.approx(1 / 256) and not busy([b])
    ring.take = ring.size // 4  # a quarter of the ring in one drain
    b.drain([])
    assert busy([b])
    ring.take = 64  # the next drain is small, but the hold keeps the loop from waiting
    b.drain([])
    assert b.last_fill is not None and b.last_fill < output_poll.BUSY_FILL and busy([b])
    b.busy_until = 0.0  # the hold has run out
    assert not busy([b])
    assert not busy([None, b]) and busy([b, buffers(FakeRing(4096))])
