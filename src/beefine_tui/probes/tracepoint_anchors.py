"""Anchors: perf events of our own, opened on a tracepoint and never enabled, so that detaching our
BPF programs from it is quick.

Why: the kernel counts the perf events on each tracepoint. When the last one closes it unregisters
the tracepoint's perf handler and waits, under the global `event_mutex`, for every CPU to leave it
(perf_trace_event_unreg -> tracepoint_synchronize_unregister: ~35-70 ms here). A story's 149
programs therefore took 4.3-5.6 s to detach, however many threads closed them, and a new run started
meanwhile waited for that (bench/attach_time.py). With an anchor still open on each tracepoint, none
of our BPF perf events is the last one: closed from several threads they go in ~0.1 s per 40
(measured: 1.5 s without anchors, same threads).

The anchors themselves are closed later, by a background thread, one at a time: LINGER_S after the
last detach, and never while a runner attaches or detaches (`busy()`), so a run started right after
another waits for at most the one close in progress. While they are open, a syscall on the host
passes our tracepoint handler, which finds no program and no enabled event and returns: nothing is
recorded, no BPF runs. Once they are closed the app again costs the host nothing while idle.

An anchor is a plain fd of this process: the kernel closes it when the process ends, however it ends.
No BCC import here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from beefine_tui.privileges import TRACEFS_ROOTS
from beefine_tui.probes.bpf_syscall import libc_syscall

LINGER_S = 5.0  # after the last detach, before the anchors go: a run started meanwhile reuses them
CLOSER_POLL_S = 0.2  # how often a waiting closer looks again (it is also woken on every change)

_PERF_TYPE_TRACEPOINT = 2
_PERF_FLAG_FD_CLOEXEC = 8
_ATTR_DISABLED = 1  # perf_event_attr's first flag bit: the event is never scheduled in
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}


class _PerfEventAttr(ctypes.Structure):
    """perf_event_attr as of PERF_ATTR_SIZE_VER0 (64 bytes): the kernel zero-fills the rest."""

    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64),
    ]


def tracepoint_id(tracepoint: str) -> int:
    """The kernel's id of "category:name", from tracefs; OSError when it cannot be read."""
    category, _, name = tracepoint.partition(":")
    last: OSError = FileNotFoundError(f"no tracefs with events/{category}/{name}")
    for root in TRACEFS_ROOTS:
        try:
            return int(Path(root, "events", category, name, "id").read_text())
        except OSError as e:
            last = e
        except ValueError as e:
            raise OSError(f"{tracepoint}: unreadable id: {e}") from None
    raise last


def open_anchor(tracepoint: str) -> int:
    """A disabled perf event on the tracepoint (CPU 0, every process): its fd. OSError when refused."""
    nr = _NR_PERF_EVENT_OPEN.get(platform.machine())
    if nr is None:
        raise OSError(f"perf_event_open: unknown syscall number on {platform.machine()}")
    attr = _PerfEventAttr(
        type=_PERF_TYPE_TRACEPOINT,
        size=ctypes.sizeof(_PerfEventAttr),
        config=tracepoint_id(tracepoint),
        sample_period=1,
        flags=_ATTR_DISABLED,
    )
    fd = int(libc_syscall()(nr, ctypes.byref(attr), -1, 0, -1, _PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"perf_event_open({tracepoint}): {os.strerror(err)}")
    return fd


class TracepointAnchors:
    """The anchors of one app session (ProgramCache.anchors): opened by `hold` before a detach,
    closed in the background LINGER_S after it, all of them at `close`. Thread-safe."""

    def __init__(
        self,
        *,
        linger_s: float = LINGER_S,
        open_fn: Callable[[str], int] = open_anchor,
        close_fn: Callable[[int], None] = os.close,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.linger_s = linger_s
        self._open = open_fn
        self._close = close_fn
        self._clock = clock
        self._fds: dict[str, int] = {}
        self._busy = 0  # runners attaching or detaching now: the closer waits
        self._quiet_since = 0.0  # when the last of them finished
        self._closed = False
        self._closer: threading.Thread | None = None
        self._changed = threading.Condition()
        self.refused: dict[str, str] = {}  # tracepoint -> why its anchor did not open (detach is slow)

    def held(self) -> list[str]:
        with self._changed:
            return sorted(self._fds)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around a runner's attach or detach: the closer holds the kernel's event_mutex for each
        close, so it waits until this is over (and LINGER_S more)."""
        with self._changed:
            self._busy += 1
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._quiet_since = self._clock()
                self._changed.notify_all()

    def hold(self, tracepoints: Iterable[str]) -> None:
        """An anchor on each of these tracepoints ("category:name"), before their BPF perf events
        close. Opening one where ours are still attached takes microseconds. One that cannot open is
        noted in `refused` and that tracepoint detaches the slow way."""
        with self._changed:
            if self._closed:
                return
            missing = [tp for tp in dict.fromkeys(tracepoints) if tp not in self._fds]
        for tp in missing:
            try:
                fd = self._open(tp)
            except OSError as e:
                self.refused[tp] = str(e)
                continue
            with self._changed:
                if self._closed or tp in self._fds:
                    extra = True
                else:
                    self._fds[tp] = fd
                    extra = False
            if extra:
                self._close(fd)
        self._start_closer()

    def _start_closer(self) -> None:
        with self._changed:
            self._quiet_since = self._clock()
            if self._closer is None and self._fds and not self._closed:
                self._closer = threading.Thread(target=self._close_idle, name="beefine-anchors", daemon=True)
                self._closer.start()
            self._changed.notify_all()

    def _next_idle(self) -> int | None:
        """The fd of the next anchor to close, once nothing is busy and LINGER_S passed; None when
        there is none left (the closer ends)."""
        with self._changed:
            while True:
                if self._closed or not self._fds:
                    self._closer = None
                    return None
                left = self._quiet_since + self.linger_s - self._clock()
                if self._busy == 0 and left <= 0:
                    return self._fds.popitem()[1]
                self._changed.wait(min(left, CLOSER_POLL_S) if left > 0 else CLOSER_POLL_S)

    def _close_idle(self) -> None:
        while (fd := self._next_idle()) is not None:
            with contextlib.suppress(OSError):
                self._close(fd)  # outside the lock: this is the slow part (an RCU wait)

    def drop(self) -> None:
        """Close every anchor now, waiting for each (seconds); later detaches hold new ones. For a
        benchmark whose next block must not share the machine with the background closer."""
        with self._changed:
            fds = list(self._fds.values())
            self._fds.clear()
            self._changed.notify_all()
        for fd in fds:
            with contextlib.suppress(OSError):
                self._close(fd)

    def close(self) -> None:
        """Close every anchor now (the app ends); none is opened after. Idempotent."""
        with self._changed:
            self._closed = True
        self.drop()


def busy_with(anchors: TracepointAnchors | None) -> contextlib.AbstractContextManager[None]:
    """`anchors.busy()`, or nothing to do when there are none (no session cache)."""
    return anchors.busy() if anchors is not None else contextlib.nullcontext()
