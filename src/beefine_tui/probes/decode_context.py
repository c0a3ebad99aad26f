"""What every BPF record decoder is handed besides the record: the decode context (clock, a cache of
C strings, the process table), and the decoder's type. Shared by the built-in probes' decoders and
the runners that call them."""

from __future__ import annotations

import time
from collections.abc import Callable

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.attribution import PROC_CACHE_SIZE, Attributor, ProcInfo, ProcTable
from beefine_tui.probes.base import Target


class DecodeContext:
    """What decoders need beyond the raw record: clock conversion, a bounded cache of decoded C strings
    (paths and comms repeat a lot), and `info(pid)` (a process's root directory, for paths seen from a
    chroot). Parent pid and container are not a decoder's business: the runner's Attributor sets them,
    sharing this context's process table."""

    STRINGS_MAX = 8192

    def __init__(self, target: Target | None = None, cache_size: int = PROC_CACHE_SIZE) -> None:
        self.target = target or Target()
        self.procs = ProcTable(cache_size)
        self._strings: dict[bytes, str] = {}
        # a decoded C string if cached, else None: one C call, no Python frame, for a decoder's hot path
        # (`ctx.cached_str(b) or ctx.cstr(b)`); cleared in place, so this stays bound to the cache
        self.cached_str = self._strings.get
        # CLOCK_MONOTONIC -> wall clock, measured once
        self.wall_offset_ns = time.time_ns() - time.monotonic_ns()

    def wall_ns(self, ts: int) -> int:
        return ts + self.wall_offset_ns

    def cstr(self, raw: bytes) -> str:
        """A NUL-terminated C string field decoded as UTF-8 (errors replaced), cached."""
        s = self._strings.get(raw)
        if s is None:
            s = raw.split(b"\0", 1)[0].decode(errors="replace")
            if len(self._strings) >= self.STRINGS_MAX:
                self._strings.clear()
            self._strings[raw] = s
        return s

    def info(self, pid: int) -> ProcInfo:
        return self.procs.info(pid)


def record_event(
    ctx: DecodeContext, probe: str, kind: str, args: Args, *, ts: int, pid: int, tid: int, comm: bytes
) -> Event:
    """The Event of a record that starts with struct beefine_hdr (bpf/common.h): its clock, tgid, tid
    and comm (a C string, through the context's cache) around the kind's args. No ppid or container:
    the runner's Attributor sets them."""
    return Event(ts=ts, probe=probe, kind=kind, pid=pid, tid=tid, comm=ctx.cstr(comm), args=args)


def attributed(decode: Decoder, attributor: Attributor) -> Decoder:
    """`decode` followed by the one attribution rule: what the runner runs for every record."""
    attribute = attributor.attribute

    def decode_and_attribute(raw: bytes, ctx: DecodeContext) -> Event | None:
        ev = decode(raw, ctx)
        return None if ev is None else attribute(ev)

    return decode_and_attribute


Decoder = Callable[[bytes, DecodeContext], "Event | None"]
