"""The ring buffer read through mmap (probes/mmap_ring.py), on a memfd laid out like the kernel's
mappings. No root, no BPF."""

from __future__ import annotations

import os
from typing import Any

from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.mmap_ring import RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, MmapRing


def _fake_ring(records: list[tuple[int, bytes]], size: int = 4096) -> tuple[int, int]:
    """A memfd laid out like a BPF ring buffer's mappings: consumer page, producer page, data twice.
    records: (flag bits, sample). Returns (fd, producer position)."""
    import mmap
    import struct

    page = mmap.PAGESIZE
    fd = os.memfd_create("beefine-test-ring")
    os.ftruncate(fd, 2 * page + 2 * size)
    data = bytearray(size)
    pos = 0
    for flags, sample in records:
        struct.pack_into("<II", data, pos, len(sample) | flags, 0)
        data[pos + 8 : pos + 8 + len(sample)] = sample
        pos += (len(sample) + 8 + 7) & ~7
    os.pwrite(fd, struct.pack("<Q", pos), page)
    os.pwrite(fd, bytes(data) * 2, 2 * page)
    return fd, pos


def raw_record(raw: bytes, ctx: DecodeContext) -> Any:
    """A decoder that keeps the record's bytes, to see exactly what the ring hands over."""
    return raw


def test_mmap_ring_reads_committed_records_only() -> None:
    recs = [(0, b"one"), (RINGBUF_DISCARD_BIT, b"dropped"), (0, b"three33"), (RINGBUF_BUSY_BIT, b"wip")]
    fd, _prod = _fake_ring(recs)
    try:
        ring = MmapRing(fd, 4096)
        out: list[Any] = []
        seen = ring.consume(raw_record, DecodeContext(), out)
        assert out == [b"one", b"three33"]  # discarded skipped, busy stops the reader
        assert seen == 3
        # the consumer position is after the third record (8+3 -> 16, 8+7 -> 16, 8+7 -> 16)
        assert int.from_bytes(os.pread(fd, 8, 0), "little") == 48
        assert ring.consume(raw_record, DecodeContext(), out) == 0  # still busy
        ring.close()
    finally:
        os.close(fd)


def test_mmap_ring_counts_undecodable_records() -> None:
    fd, _ = _fake_ring([(0, b"a"), (0, b"b")])
    try:
        ring = MmapRing(fd, 4096)

        def decode(raw: bytes, ctx: object) -> None:
            if raw == b"a":
                raise ValueError("bad record")

        out: list[Any] = []
        assert ring.consume(decode, DecodeContext(), out) == 2
        assert ring.bad == 1 and out == []
        ring.close()
    finally:
        os.close(fd)
