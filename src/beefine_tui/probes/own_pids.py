"""The processes that are Beefine itself: this process and the helpers it spawns (bpftrace).

Probes exclude them in the kernel by default (ProbeOptions.include_self False): without it the files
probe in Trace syscalls is flooded by our own /proc reads, and a BCC probe would see the bpftrace
children of another view. A BCC runner seeds its `excluded` map (bpf/common.h, EXCLUDE_SELF) from
`current()` and subscribes, so helpers spawned while it runs are added (and removed when reaped).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

Listener = Callable[[int, bool], None]  # (tgid, True when added / False when removed)

_lock = threading.Lock()
_children: set[int] = set()
_listeners: list[Listener] = []


def current() -> set[int]:
    """Our own tgid (asked each time: right after a fork too) and our live helpers."""
    with _lock:
        return {os.getpid(), *_children}


def add_child(pid: int) -> None:
    with _lock:
        _children.add(pid)
        listeners = list(_listeners)
    for notify in listeners:
        notify(pid, True)


def remove_child(pid: int) -> None:
    with _lock:
        if pid not in _children:
            return
        _children.discard(pid)
        listeners = list(_listeners)
    for notify in listeners:
        notify(pid, False)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call `listener` for every helper spawned or reaped from now on; returns the unsubscriber."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe
