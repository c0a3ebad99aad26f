"""How the output of a BCC-loaded BPF object reaches Python, for the built-in probes (bcc_runner) and
users' programs (user_program) alike: one thread waits on every output buffer's fd with one epoll
(with a timeout), drains them, hands the sink a batch every FLUSH_EVERY_S or FLUSH_EVENTS events,
and about every LOST_EVERY_S runs the runner's housekeeping (loss counters become `lost` events).

Ring buffers are read through mmap where the CPU allows it (`MmapRing`, no ctypes callback per
record), elsewhere through libbpf's consumer in BCC; perf buffers (kernels without ring buffers, or
a user's BPF_PERF_OUTPUT) through BCC's reader.
"""

from __future__ import annotations

import contextlib
import mmap
import select
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes.decode_context import DecodeContext, Decoder
from beefine_tui.probes.fdinfo import map_max_entries
from beefine_tui.probes.mmap_ring import MmapRing, mmap_ring_supported

POLL_TIMEOUT_S = 0.05
FLUSH_EVERY_S = 0.05
FLUSH_EVENTS = 512
LOST_EVERY_S = 0.5
# At most one drain per DRAIN_EVERY_S while records trickle in. A ring buffer wakes its reader for a
# record only when the reader had caught up, so draining every record as it came meant one wakeup,
# one pass over every buffer and one batch of a few events each time: ~390 of them per traced
# `docker run`, and the poll thread's CPU (44 ms per run) was nearly all of ours. Waiting out the
# rest of the interval before draining leaves the records in the ring, so the producers wake nobody
# meanwhile. Events reach the sink at most DRAIN_EVERY_S later; they are handed on every
# FLUSH_EVERY_S anyway. Only rings read through mmap wait, and not for BUSY_HOLD_S after a drain
# that took BUSY_FILL of a ring or more: a busy probe must not fill its ring while we sleep. Without
# the hold, a flood through a one-page ring alternated a full drain with a one-record one, then a wait,
# and 671 of 50,000 opens arrived instead of 6,872 (tests/integration/test_loss.py). What does not
# fit is counted in the kernel in every case.
# While busy the loop does not drain back to back either: each drain that caught up with the producer
# armed the same wakeup for the next record, so a flood paid one wakeup (and one epoll return, one
# drain) per few records. It waits long enough for the ring to reach BUSY_TARGET at the fastest rate
# seen since the flood began, when that is at least MIN_WAIT_S (a small ring under a flood gets no
# wait, as before). bench/probe_throughput.py, C flood of 100k opens/s, the default 256-page ring, two
# alternating runs each: the poll thread's CPU 43/41% -> 35/33% of a core for the whole path, 31/40%
# -> 9/10% for a reader that only counts records; 0 lost, exact. Unpaced, the counting reader took
# ~300k -> ~1.1M records per CPU-second, and the flooder itself ran 187-189k -> 247-314k opens/s.
DRAIN_EVERY_S = 0.025
BUSY_FILL = 1 / 8
BUSY_HOLD_S = 1.0
BUSY_TARGET = BUSY_FILL / 2
MIN_WAIT_S = 0.001

# A perf buffer wakes its reader after `wakeup_events` records (BCC's default: every one). Like the
# drain per record above, that cost a wakeup per record on both sides: with the perf fallback forced,
# a files flood ran at 72-85k opens/s instead of 218-253k, and at 50k opens/s the poll thread used
# 46-54% of a core instead of 10-25% (bench/probe_throughput.py --perf, with and without --rate).
# Records that do not reach the count wait at most POLL_TIMEOUT_S, when the loop drains anyway. The
# count is bounded so that that many records of up to PERF_RECORD_BOUND bytes fill at most 1/8 of a
# CPU's buffer before the reader is woken: a small buffer (a user's, 8 pages) keeps a wakeup each.
PERF_WAKEUP_EVENTS = 32
PERF_RECORD_BOUND = 4096

RecordCallback = Callable[[Any, Any, int], Any]
"""BCC's per-record callback: (ctx or cpu, data pointer, size)."""


def _open_ring_buffer(bpf: Any, name: bytes, cb: RecordCallback) -> None:
    """Like RingBuf.open_ring_buffer, minus BCC's per-event Python wrapper (a try/except and an
    int() around our callback: ~0.3 us per event). Falls back to the public API if BCC changes."""
    table = bpf[name]
    try:
        from bcc.libbcc import _RINGBUF_CB_TYPE

        fn = _RINGBUF_CB_TYPE(cb)
        bpf._open_ring_buffer(table.map_fd, fn, None)
        table._cbs[0] = fn  # the C side holds only a raw pointer: keep the ctypes object alive
    except (ImportError, AttributeError):
        table.open_ring_buffer(cb)


class OutputBuffers:
    """The output buffers of one BCC object, drained together by the poll loop."""

    def __init__(self, bpf: Any, ctx: DecodeContext) -> None:
        self.bpf = bpf
        self.ctx = ctx
        self.rings: list[tuple[MmapRing, Decoder]] = []
        self.libbpf_rings = 0  # ring buffers consumed through BCC/libbpf callbacks
        self._ring_fds: list[int] = []
        self._perf_tables: list[Any] = []
        # the largest share of a ring the last drain took; None when a buffer cannot be measured
        # (perf, libbpf's consumer): see DRAIN_EVERY_S
        self.last_fill: float | None = None
        self.busy_until = 0.0  # monotonic: no full DRAIN_EVERY_S wait before a drain until then
        self.peak_rate = 0.0  # the largest share of a ring filled per second while busy
        self._drained_at = time.monotonic()

    def open_ring(self, name: str, decode: Decoder, callback: RecordCallback) -> bool:
        """Read ring buffer `name` through mmap with `decode`, or where that cannot be done through
        BCC calling `callback` per record. True when read through mmap: only then is the object
        free of BCC's consumer (which binds itself to the object for its life)."""
        table = self.bpf[name.encode()]
        self._ring_fds.append(table.map_fd)
        ring = None
        if mmap_ring_supported():
            with contextlib.suppress(OSError):  # e.g. a kernel refusing the mapping
                ring = MmapRing(table.map_fd, map_max_entries(table.map_fd))
        if ring is not None:
            self.rings.append((ring, decode))
            return True
        _open_ring_buffer(self.bpf, name.encode(), callback)
        self.libbpf_rings += 1
        return False

    def open_perf(
        self, name: str, callback: RecordCallback, page_cnt: int, lost_cb: Callable[[int], None]
    ) -> None:
        table = self.bpf[name.encode()]
        table.open_perf_buffer(
            callback, page_cnt=page_cnt, lost_cb=lost_cb, wakeup_events=perf_wakeup_events(page_cnt)
        )
        self._perf_tables.append(table)

    def fds(self) -> list[int]:
        """What the poll loop waits on: ring buffers' map fds, perf buffers' per-CPU reader fds."""
        fds = list(self._ring_fds)
        if self._perf_tables:
            from bcc import lib

            ids = {id(t) for t in self._perf_tables}
            for (tid, _cpu), reader in list(self.bpf.perf_buffers.items()):
                if tid in ids:
                    fds.append(lib.perf_reader_fd(reader))
        return fds

    def drain(self, out: list[Event]) -> int:
        """Decode what the buffers hold now into `out` (callbacks append on their own). Returns the
        records read through mmap that their decoder raised on."""
        if self._perf_tables:
            self.bpf.perf_buffer_consume()
        bad = 0
        fill = 0.0
        for ring, decode in self.rings:
            before = ring.position()
            ring.consume(decode, self.ctx, out)
            bad += ring.bad
            fill = max(fill, (ring.position() - before) / ring.size)
        if self.libbpf_rings:
            self.bpf.ring_buffer_consume()
        self.last_fill = None if self._perf_tables or self.libbpf_rings else fill
        now = time.monotonic()
        elapsed, self._drained_at = now - self._drained_at, now
        if now >= self.busy_until:
            self.peak_rate = 0.0  # a flood that ended long ago says nothing about the next one
        if elapsed > 0:
            # a short interval overstates the rate: that only shortens the wait
            self.peak_rate = max(self.peak_rate, fill / elapsed)
        if fill >= BUSY_FILL:
            self.busy_until = now + BUSY_HOLD_S
        return bad

    def busy_wait(self) -> float:
        """How long the loop may wait before draining while this buffer is busy (see MIN_WAIT_S)."""
        if self.peak_rate <= 0:
            return 0.0
        wait = min(DRAIN_EVERY_S, BUSY_TARGET / self.peak_rate)
        return wait if wait >= MIN_WAIT_S else 0.0

    def close(self) -> None:
        """Unmap the rings read through mmap; call before the object's cleanup(), which frees BCC's
        own readers. Our references to perf tables go too: a PerfEventArray that outlives cleanup()
        raises from __del__ once its map is closed."""
        for ring, _decode in self.rings:
            with contextlib.suppress(Exception):
                ring.close()
        self.rings.clear()
        self._perf_tables.clear()


def perf_wakeup_events(page_cnt: int) -> int:
    """Records a perf buffer of page_cnt pages per CPU holds before it wakes the reader (see
    PERF_WAKEUP_EVENTS)."""
    fits = page_cnt * mmap.PAGESIZE // (8 * PERF_RECORD_BOUND)
    return max(1, min(PERF_WAKEUP_EVENTS, fits))


def drain_interval(buffers: Iterable[OutputBuffers | None]) -> float:
    """How long after the last drain the poll loop waits before the next (see DRAIN_EVERY_S): 0 when
    a buffer cannot be measured, less than DRAIN_EVERY_S while one is busy."""
    now = time.monotonic()
    wait = DRAIN_EVERY_S
    for b in buffers:
        if b is None:
            continue
        if b.last_fill is None:
            return 0.0
        if now < b.busy_until:
            wait = min(wait, b.busy_wait())
    return wait


def run_poll_loop(
    stop: threading.Event,
    fds: Sequence[int],
    batch: list[Event],
    *,
    drain: Callable[[], None],
    flush: Callable[[], None],
    housekeeping: Callable[[], None],
    interval: Callable[[], float] | None = None,
) -> None:
    """Until `stop` is set: wait on `fds` (POLL_TIMEOUT_S at most; then, given `interval`, no sooner
    than `interval()` after the last drain), `drain` into `batch`, `flush` it
    when FLUSH_EVENTS are waiting or FLUSH_EVERY_S has passed, and run `housekeeping` every
    LOST_EVERY_S. Then drain, housekeeping and flush once more: what is in the buffers at stop was
    produced while we ran. Exceptions reach the caller, which says how it failed."""
    ep = select.epoll()
    try:
        for fd in fds:
            ep.register(fd, select.EPOLLIN)
        last_flush = last_lost = last_drain = time.monotonic()
        while not stop.is_set():
            ep.poll(POLL_TIMEOUT_S)
            if interval is not None:
                wait = last_drain + interval() - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    break  # the drain below, after the loop, takes what is there
            drain()
            now = last_drain = time.monotonic()
            if len(batch) >= FLUSH_EVENTS or now - last_flush >= FLUSH_EVERY_S:
                flush()
                last_flush = now
            if now - last_lost >= LOST_EVERY_S:
                housekeeping()
                last_lost = now
        drain()
        housekeeping()
        flush()
    finally:
        ep.close()
