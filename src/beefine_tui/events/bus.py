"""A bounded fan-out bus between probe runners (producers) and consumers (screens, recorder, CLI).

Producers never block: when a subscriber's queue is full the surplus is dropped and counted per
probe, and the subscriber receives a `lost` event (source "bus") with the count on its next read,
so loss is always visible in the same stream as the events.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from beefine_tui.events.model import LOST, UPSTREAM, Event, lost_event

DEFAULT_CAPACITY = 65_536


@dataclass
class ProbeTally:
    """What the bus has seen of one probe: events delivered to it and loss reported to it."""

    received: int = 0
    lost_kernel: int = 0  # reported by runners: ring buffer reserve failures, perf lost samples
    lost_bus: int = 0  # dropped here because a subscriber was full (sum over subscribers)
    lost_upstream: int = 0  # lost before this process: a remote agent's queue, the client's (UPSTREAM)

    @property
    def lost(self) -> int:
        return self.lost_kernel + self.lost_bus + self.lost_upstream


@dataclass
class _Drops:
    by_probe: Counter[str] = field(default_factory=Counter)
    # (first, last) ts of the events dropped per probe since the last report: the story places the
    # loss in its phases
    window: dict[str, tuple[int, int]] = field(default_factory=dict)

    def note(self, ev: Event) -> None:
        w = self.window.get(ev.probe)
        self.window[ev.probe] = (ev.ts, ev.ts) if w is None else (min(w[0], ev.ts), max(w[1], ev.ts))


class Subscription:
    """One consumer's bounded queue. Read with `get(timeout)`; never blocks longer than that."""

    def __init__(self, bus: Bus, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self._bus = bus
        self._queue: deque[Event] = deque()
        self._drops = _Drops()
        self._cond = threading.Condition()
        self._closed = False

    def _offer(self, events: Sequence[Event]) -> Counter[str]:
        """Called by the bus with its lock held. Returns what was dropped, per probe."""
        dropped: Counter[str] = Counter()
        with self._cond:
            if self._closed:
                return dropped
            room = self.capacity - len(self._queue)
            if room >= len(events):
                self._queue.extend(events)
            else:
                keep = max(room, 0)
                self._queue.extend(events[:keep])
                for ev in events[keep:]:
                    if ev.kind == LOST:
                        # loss reports are never lost: they replace the oldest event instead
                        if self._queue:
                            victim = self._queue.popleft()
                            dropped[victim.probe] += 1
                            self._drops.note(victim)
                        self._queue.append(ev)
                    else:
                        dropped[ev.probe] += 1
                        self._drops.note(ev)
                self._drops.by_probe.update(dropped)
            self._cond.notify()
        return dropped

    def get(self, timeout: float, max_events: int = 10_000) -> list[Event]:
        """Up to `max_events` events, waiting at most `timeout` seconds for the first one.

        Pending drop counts are delivered first, as `lost` events with source "bus".
        """
        with self._cond:
            if not self._queue and not self._drops.by_probe and not self._closed:
                self._cond.wait(timeout)
            out: list[Event] = []
            if self._drops.by_probe:
                win = self._drops.window
                drops = sorted(self._drops.by_probe.items())
                out.extend(lost_event(p, n, "bus", window=win.get(p)) for p, n in drops)
                self._drops.by_probe.clear()
                win.clear()
            n = min(len(self._queue), max(max_events - len(out), 0))
            out.extend(self._queue.popleft() for _ in range(n))
            return out

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        self._bus._unsubscribe(self)


class Bus:
    def __init__(self, default_capacity: int = DEFAULT_CAPACITY) -> None:
        self.default_capacity = default_capacity
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._tally: dict[str, ProbeTally] = {}

    def subscribe(self, name: str, capacity: int | None = None) -> Subscription:
        sub = Subscription(self, name, capacity or self.default_capacity)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, events: Sequence[Event]) -> None:
        """Hand a batch to every subscriber. Never blocks on a slow consumer."""
        if not events:
            return
        with self._lock:
            tally = self._tally
            for ev in events:
                t = tally.get(ev.probe)
                if t is None:
                    t = tally[ev.probe] = ProbeTally()
                if ev.kind == LOST:
                    source = ev.args.get("source")
                    if source == UPSTREAM:
                        t.lost_upstream += int(ev.args.get("count", 0))
                    elif source != "bus":
                        t.lost_kernel += int(ev.args.get("count", 0))
                else:
                    t.received += 1
            for sub in self._subs:
                for probe, n in sub._offer(events).items():
                    self._tally.setdefault(probe, ProbeTally()).lost_bus += n

    def tally(self) -> dict[str, ProbeTally]:
        """A copy of the per-probe counts."""
        with self._lock:
            return {p: dataclasses.replace(t) for p, t in self._tally.items()}

    def subscribers(self) -> Iterable[str]:
        with self._lock:
            return [s.name for s in self._subs]
