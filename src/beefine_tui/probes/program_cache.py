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
Detaching is quick because the cache also keeps the session's tracepoint anchors (disabled perf
events, probes/tracepoint_anchors.py): held while runners detach, closed in the background LINGER_S
after the last detach, and all at close().

bpftrace probes are not kept: bpftrace compiles and attaches in one process and cannot detach and
re-attach, so keeping one would mean keeping it attached host-wide (their filter is not in the
kernel), the cost this module exists to avoid. Nor compiled ahead (precompile.py): bpftrace 0.17's
ahead-of-time mode (`--aot`, run by bpftrace-aotrt) refuses positional parameters and struct casts
(tried on bpftrace/namespaces.bt), and our scripts need both (filters, BTF reads of curtask);
starting bpftrace early would only mean attaching it host-wide early. XDP is not kept either (one
small program, its own runner, an interface to re-link). Perf-buffer fallback objects are not kept:
BCC binds their readers to the object for its lifetime. Objects with raw tracepoints (the syscalls
probe) are not kept: BCC attaches those itself and the runner's detach does not close them, so a
kept one would stay attached to every syscall of the machine.

A cache is off unless installed (`install()`, done by the TUI's AppContext); headless commands load
once per process and gain nothing from it. No BCC import here.

Filled ahead of use too (probes/precompile.py): the app compiles the story's probes in the background
into the cache, loaded and attached to nothing, so even the first Image monitor run only attaches.
One text is never compiled twice at once: a precompile announces what it builds (`begin_build`) and
a runner asking for that key waits for it (`take(..., wait_s)`); a runner's own compile and its use
of an object `hold` the key, so the precompiler skips what a runner has.

Why not on disk, per kernel: bcc.BPF compiles C text and creates the maps in one step; it has no way
to load a saved ELF object (no libbpf object loader in its Python API), and its table objects come
from the rewriter's metadata of that same compile. Reusing an object across processes would mean
re-creating the maps and patching their fds into saved instructions ourselves: BCC's loader rewritten.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from beefine_tui.probes.tracepoint_anchors import TracepointAnchors

CacheKey = tuple[str, str, tuple[str, ...]]  # probe, program text, cflags: what the compile depends on
MAX_IDLE = 24  # idle objects kept; beyond, the oldest is freed (each holds its ring buffer, 1 MiB)
# how long a runner waits for the precompile of the key it wants (one compile is ~0.5-2 s; more
# while other compiles hold the lock) before compiling it itself
BUILD_WAIT_S = 60.0


@dataclass
class CachedProgram:
    """One compiled and loaded BCC object, idle (nothing attached) while it sits in the cache."""

    key: CacheKey
    bpf: Any  # bcc.BPF
    prog_ids: set[int]
    attach: tuple[tuple[bytes, bytes], ...]  # (tracepoint "cat:name", function) to attach again
    uses: int = 1
    returning: bool = False  # its runner is stopping (detaching): a take of its key waits for it


@dataclass
class ProgramCache:
    max_idle: int = MAX_IDLE
    free: Callable[[CachedProgram], None] | None = None  # how an object is freed (BPF.cleanup)
    hits: int = 0
    misses: int = 0
    waited: int = 0  # takes that waited for a precompile of their key
    _idle: list[CachedProgram] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)
    _held: Counter[CacheKey] = field(default_factory=Counter)  # keys a runner compiles or uses
    _building: set[CacheKey] = field(default_factory=set)  # keys the precompiler compiles now
    _returning: Counter[CacheKey] = field(default_factory=Counter)  # objects on their way back
    _closed: bool = False
    # held on the tracepoints of detaching runners, so a detach takes a fraction of a second (None:
    # none held, every close waits for the kernel: bench/attach_time.py's comparison)
    anchors: TracepointAnchors | None = field(default_factory=TracepointAnchors)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def take(
        self, key: CacheKey, wait_s: float = 0.0, cancelled: Callable[[], bool] | None = None
    ) -> CachedProgram | None:
        """An idle object compiled from exactly this text and these cflags, now the caller's; None
        (a miss) when there is none: an object in use by another view is never shared. While the
        precompiler builds this key, or a stopping runner is giving its object back (detaching takes
        seconds), waits for it (up to `wait_s`, or until `cancelled()`) rather than compiling the same
        text a second time. Either way the key is held by the caller until
        it gives the object back (`give`) or says it will not (`release`)."""
        deadline = time.monotonic() + wait_s
        with self._changed:
            counted = False
            while (key in self._building or self._returning[key] > 0) and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0 or (cancelled is not None and cancelled()):
                    break
                if not counted:
                    self.waited += 1
                    counted = True
                self._changed.wait(min(left, 0.2))  # short slices: `cancelled` is polled
            self._held[key] += 1
            for i, entry in enumerate(self._idle):
                if entry.key == key:
                    del self._idle[i]
                    self.hits += 1
                    entry.uses += 1
                    return entry
            self.misses += 1
            return None

    def returning(self, entry: CachedProgram) -> None:
        """Its runner started to stop: the object comes back once detached (give). Until then a
        take of its key waits for it instead of compiling a copy (a new run while the last detaches)."""
        with self._lock:
            if not entry.returning:
                entry.returning = True
                self._returning[entry.key] += 1

    def give(self, entry: CachedProgram) -> None:
        """Back from a stopped runner, detached. Freed at once when the cache is closed or full."""
        with self._lock:
            self._unhold(entry.key)
            if entry.returning:
                entry.returning = False
                if self._returning[entry.key] > 1:
                    self._returning[entry.key] -= 1
                else:
                    self._returning.pop(entry.key, None)
        self._keep(entry)

    def release(self, key: CacheKey) -> None:
        """The holder of `key` (see take) will give nothing back: its compile failed, or its object
        cannot be kept."""
        with self._lock:
            self._unhold(key)

    def _unhold(self, key: CacheKey) -> None:
        if self._held[key] > 1:
            self._held[key] -= 1
        else:
            self._held.pop(key, None)

    def _keep(self, entry: CachedProgram) -> None:
        evicted: list[CachedProgram] = []
        with self._changed:
            if self._closed:
                evicted.append(entry)
            else:
                self._idle.append(entry)
                while len(self._idle) > self.max_idle:
                    evicted.append(self._idle.pop(0))
            self._changed.notify_all()
        for e in evicted:
            self._free(e)

    def begin_build(self, key: CacheKey) -> bool:
        """For the precompiler: True when `key` should be compiled now (nobody has, holds or builds
        it), and it is marked as being built; False to skip it."""
        with self._lock:
            if self._closed or key in self._building or self._held[key] > 0:
                return False
            if any(e.key == key for e in self._idle):
                return False
            self._building.add(key)
            return True

    def end_build(self, key: CacheKey, entry: CachedProgram | None) -> None:
        """The precompile of `key` ended: its object (None: it failed) becomes idle; waiters wake."""
        with self._changed:
            self._building.discard(key)
            self._changed.notify_all()
        if entry is not None:
            self._keep(entry)

    def has(self, key: CacheKey) -> bool:
        """Compiled already (idle, held by a runner) or being compiled: nothing to precompile."""
        with self._lock:
            return key in self._building or self._held[key] > 0 or any(e.key == key for e in self._idle)

    def idle(self) -> list[CachedProgram]:
        with self._lock:
            return list(self._idle)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Free every idle object (their programs and maps go). Idempotent; objects given back later
        are freed at once."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for e in idle:
            self._free(e)
        if self.anchors is not None:
            self.anchors.close()

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


def anchors_of(cache: ProgramCache | None) -> TracepointAnchors | None:
    """The cache's tracepoint anchors while it is open (None: no cache, closed, or kept none)."""
    return cache.anchors if cache is not None and not cache.closed else None
