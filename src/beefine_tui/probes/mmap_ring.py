"""A BPF ring buffer read from Python through mmap: no C-to-Python callback per record."""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import struct

from beefine_tui.events.model import Event
from beefine_tui.probes.decode_context import DecodeContext, Decoder

# struct bpf_ringbuf_hdr (include/uapi/linux/bpf.h): u32 len (with these two flag bits), u32 pg_off
RINGBUF_BUSY_BIT = 1 << 31
RINGBUF_DISCARD_BIT = 1 << 30
RINGBUF_HDR_SZ = 8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def mmap_ring_supported() -> bool:
    """Reading the ring from Python relies on x86-64's ordered loads (see MmapRing); elsewhere the
    runner uses libbpf's consumer through BCC. BEEFINE_RING_LIBBPF=1 forces the latter."""
    return platform.machine() in ("x86_64", "AMD64") and os.environ.get("BEEFINE_RING_LIBBPF") != "1"


class MmapRing:
    """A BPF ring buffer read directly through mmap, without a C-to-Python callback per record.

    Layout (kernel/bpf/ringbuf.c, and libbpf's ringbuf.c consumer which this mirrors): page 0 holds
    consumer_pos (mapped read-write), page 1 producer_pos, then the data area mapped twice in a row
    (read-only) so a record that wraps is contiguous. Each record: an 8-byte header whose length has
    a BUSY bit while the producer is still writing it and a DISCARD bit if it was dropped, then the
    sample, padded to 8 bytes. x86-64 keeps loads in order, which gives the acquire semantics libbpf
    gets from smp_load_acquire; the consumer position is stored with one aligned 8-byte write.
    """

    def __init__(self, map_fd: int, size: int) -> None:
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._cons_mm = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._mm = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._cons = ctypes.c_uint64.from_buffer(self._cons_mm)
        self._data = page  # offset of the data area in self._mm
        self.bad = 0  # records of the last consume() the decoder could not read

    def consume(self, decode: Decoder, ctx: DecodeContext, out: list[Event], limit: int = 1 << 16) -> int:
        """Decode the committed records (up to `limit`) into `out` and free their space. Returns the
        number of records consumed; those the decoder raised on are counted in `self.bad`."""
        mm, mask, data = self._mm, self.mask, self._data
        u32 = _U32.unpack_from
        cons = self._cons.value
        prod = _U64.unpack_from(mm, 0)[0]
        n = 0
        self.bad = 0
        while cons < prod and n < limit:
            off = data + (cons & mask)
            ln = u32(mm, off)[0]
            if ln & RINGBUF_BUSY_BIT:
                break
            size = ln & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT)
            if not ln & RINGBUF_DISCARD_BIT:
                start = off + RINGBUF_HDR_SZ
                try:
                    ev = decode(mm[start : start + size], ctx)
                except Exception:
                    self.bad += 1
                else:
                    if ev is not None:
                        out.append(ev)
            cons += (size + RINGBUF_HDR_SZ + 7) & ~7
            n += 1
            if n & 255 == 0:
                self._cons.value = cons  # give the producer room during a long drain
            if cons >= prod:
                prod = _U64.unpack_from(mm, 0)[0]
        self._cons.value = cons
        return n

    def position(self) -> int:
        """The consumer position: bytes consumed since the ring was made (output_poll measures how
        much a drain took with it)."""
        return int(self._cons.value)

    def close(self) -> None:
        del self._cons  # the exported pointer must go before the mapping can close
        self._cons_mm.close()
        self._mm.close()
