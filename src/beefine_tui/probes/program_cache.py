"""Compiled BCC objects kept for the app's session, so a probe attached again with the same
parameters (the Image monitor's second run, a view reopened) skips clang: about a second per probe
here, 7-10 s for a trace's eight.

What is kept, and why that way: a cached object is loaded but DETACHED. The runner closes its
tracepoint perf events at stop as before, so between runs no program of ours runs on any syscall:
an idle app costs the traced machine nothing, which keeping programs attached with an emptied
filter map would not (every syscall on the host would still enter them). On reuse the runner
empties the object's maps (the lineage table, pending calls, loss counters: state of the last run)
and attaches its tracepoints again, which takes milliseconds. `bpftool prog list` shows the idle
programs (loaded, attached to nothing) until the cache is closed: the app closes it at exit, after
its sessions stopped; the kernel frees them with the process in any case (nothing is pinned).

bpftrace probes are not kept: bpftrace compiles and attaches in one process and cannot detach and
re-attach, so keeping one would mean keeping it attached host-wide (their filter is not in the
kernel), the cost this module exists to avoid. XDP is not kept either (one small program, its own
runner, an interface to re-link). Perf-buffer fallback objects are not kept: BCC binds their
readers to the object for its lifetime. Objects with raw tracepoints (the syscalls probe) are not
kept: BCC attaches those itself and the runner's detach does not close them, so a kept one would
stay attached to every syscall of the machine.

A cache is off unless installed (`install()`, done by the TUI's AppContext); headless commands load
once per process and gain nothing from it. No BCC import here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CacheKey = tuple[str, str, tuple[str, ...]]  # probe, program text, cflags: what the compile depends on
MAX_IDLE = 24  # idle objects kept; beyond, the oldest is freed (each holds its ring buffer, 1 MiB)


@dataclass
class CachedProgram:
    """One compiled and loaded BCC object, idle (nothing attached) while it sits in the cache."""

    key: CacheKey
    bpf: Any  # bcc.BPF
    prog_ids: set[int]
    attach: tuple[tuple[bytes, bytes], ...]  # (tracepoint "cat:name", function) to attach again
    uses: int = 1


@dataclass
class ProgramCache:
    max_idle: int = MAX_IDLE
    free: Callable[[CachedProgram], None] | None = None  # how an object is freed (BPF.cleanup)
    hits: int = 0
    misses: int = 0
    _idle: list[CachedProgram] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def take(self, key: CacheKey) -> CachedProgram | None:
        """An idle object compiled from exactly this text and these cflags, now the caller's; None
        (a miss) when there is none: an object in use by another view is never shared."""
        with self._lock:
            for i, entry in enumerate(self._idle):
                if entry.key == key:
                    del self._idle[i]
                    self.hits += 1
                    entry.uses += 1
                    return entry
            self.misses += 1
            return None

    def give(self, entry: CachedProgram) -> None:
        """Back from a stopped runner, detached. Freed at once when the cache is closed or full."""
        evicted: list[CachedProgram] = []
        with self._lock:
            if self._closed:
                evicted.append(entry)
            else:
                self._idle.append(entry)
                while len(self._idle) > self.max_idle:
                    evicted.append(self._idle.pop(0))
        for e in evicted:
            self._free(e)

    def idle(self) -> list[CachedProgram]:
        with self._lock:
            return list(self._idle)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Free every idle object (their programs and maps go). Idempotent; objects given back later
        are freed at once."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for e in idle:
            self._free(e)

    def _free(self, entry: CachedProgram) -> None:
        with contextlib.suppress(Exception):
            if self.free is not None:
                self.free(entry)
            else:
                entry.bpf.cleanup()


_current: ProgramCache | None = None
_current_lock = threading.Lock()


def install(cache: ProgramCache | None) -> ProgramCache | None:
    """Make `cache` the one BCC runners of this process use (None: none); returns the previous."""
    global _current
    with _current_lock:
        previous, _current = _current, cache
    return previous


def current() -> ProgramCache | None:
    return _current
