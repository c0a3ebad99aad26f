"""EventPump: from a bus Subscription to the UI thread, one message per batch, bounded.

Usage (any widget or screen):

    pump = EventPump(app.ctx.bus, name="exec-view", on_batch=self.handle_events,
                     accept=lambda ev: ev.probe in {"exec"})
    await self.mount(pump)          # starts the reader thread; unmounting stops it

`on_batch(events)` runs on the UI thread with a list of events. Without `on_batch`, the pump posts
`EventPump.Batch` to its parent instead (handle it with `on_event_pump_batch`).

At most one batch is in flight and batches are at least `min_interval` (0.1 s) apart.
Why it is bounded: a reader thread takes up to `max_batch` events per read with a 50 ms timeout,
posts ONE message, then waits until the UI thread has handled it before reading again. While the UI
is busy, events wait in the bus Subscription, which is bounded: its overflow is dropped and counted,
and arrives as a `lost` event (source "bus") in the next batch. So a flood can never grow a queue
without limit, and loss is never silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.message import Message
from textual.widget import Widget

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import LOST, Event

BatchHandler = Callable[[list[Event]], None]


class EventPump(Widget):
    """An invisible widget owning a reader thread on a bus subscription."""

    DEFAULT_CSS = "EventPump { display: none; }"

    class Batch(Message):
        """A batch of events for the parent (posted only when no `on_batch` was given)."""

        def __init__(self, pump: EventPump, events: list[Event]) -> None:
            super().__init__()
            self.pump = pump
            self.events = events

    class _Delivery(Message):
        bubble = False

        def __init__(self, events: list[Event]) -> None:
            super().__init__()
            self.events = events

    def __init__(
        self,
        bus: Bus,
        *,
        name: str = "ui",
        on_batch: BatchHandler | None = None,
        accept: Callable[[Event], bool] | None = None,
        capacity: int = 65_536,
        max_batch: int = 20_000,
        timeout: float = 0.05,
        min_interval: float = 0.1,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.bus = bus
        self.sub_name = name
        self.on_batch = on_batch
        self.accept = accept
        self.capacity = capacity
        self.max_batch = max_batch
        self.timeout = timeout
        self.min_interval = min_interval  # at most ~10 UI updates a second: keys stay responsive
        self.delivered = 0  # events handed to the UI (after `accept`)
        self._sub: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._handled = threading.Event()
        self._handled.set()

    def on_mount(self) -> None:
        self.start()

    def on_unmount(self) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._sub = self.bus.subscribe(self.sub_name, capacity=self.capacity)
        self._thread = threading.Thread(target=self._run, name=f"pump-{self.sub_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Idempotent; returns within about one read timeout."""
        self._stop.set()
        self._handled.set()
        sub, self._sub = self._sub, None
        if sub is not None:
            sub.close()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=1.0)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stop.is_set()

    def _run(self) -> None:
        sub = self._sub
        if sub is None:
            return
        accept = self.accept
        last_post = 0.0
        while not self._stop.is_set():
            # wait until the UI handled the previous batch (back-pressure), checking for stop
            if not self._handled.wait(self.timeout):
                continue
            # and do not post more often than min_interval: under a flood, fewer bigger batches
            # leave the UI loop idle time for key presses (events wait, bounded, in the subscription)
            wait = last_post + self.min_interval - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            events = sub.get(timeout=self.timeout, max_events=self.max_batch)
            if not events:
                continue
            if accept is not None:
                # loss reports always pass: a filter must never hide them
                events = [ev for ev in events if ev.kind == LOST or accept(ev)]
                if not events:
                    continue
            self._handled.clear()
            last_post = time.monotonic()
            try:
                self.post_message(self._Delivery(events))
            except Exception:
                # the app is shutting down; nothing to deliver to
                self._handled.set()
                return

    def on_event_pump__delivery(self, message: EventPump._Delivery) -> None:
        message.stop()
        try:
            self.delivered += len(message.events)
            if self.on_batch is not None:
                self.on_batch(message.events)
            else:
                if self.parent is not None:
                    self.parent.post_message(self.Batch(self, message.events))
        finally:
            self._handled.set()
