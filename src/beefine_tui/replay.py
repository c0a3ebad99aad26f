"""Feed a recording into a Bus, at the recorded pace (scaled by `speed`) or as fast as possible.

No Textual here: the TUI and tests use the same engine. The Replayer is a Runner-like object with
`start()` and an idempotent `stop()`; events keep their recorded `ts`, so views show recorded times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event, RecordHeader, status_event
from beefine_tui.events.record import RecordError, Recording, read_recording

BATCH_MAX = 5000
BATCH_WINDOW_NS = 20_000_000  # events within 20 ms of recorded time travel together


class Replayer:
    def __init__(
        self,
        events: Iterable[Event],
        bus: Bus,
        *,
        speed: float = 1.0,  # 1 = recorded pace, 2 = twice as fast, 0 = as fast as possible
        probe: str = "replay",
        on_done: Callable[[BaseException | None], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._source = events  # a Recording knows, once read, whether it ended cleanly
        self._events = iter(events)
        self.bus = bus
        self.speed = speed
        self.probe = probe
        self.on_done = on_done
        self.published = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sleep = sleep

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=2.0)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._stop.wait(seconds)

    def run_sync(self) -> None:
        """Replay in the calling thread (tests, `replay --print` uses read_recording directly)."""
        self._run()

    def _run(self) -> None:
        err: BaseException | None = None
        try:
            self.bus.publish([status_event(self.probe, "replaying")])
            first_rec: int | None = None
            t0 = time.monotonic()
            batch: list[Event] = []
            batch_start = 0
            for ev in self._events:
                if self._stop.is_set():
                    break
                if first_rec is None:
                    first_rec = ev.ts
                if batch and (len(batch) >= BATCH_MAX or ev.ts - batch_start > BATCH_WINDOW_NS):
                    self._flush(batch)
                    batch = []
                if not batch:
                    batch_start = ev.ts
                    if self.speed > 0:
                        due = (ev.ts - first_rec) / 1e9 / self.speed
                        self._wait(due - (time.monotonic() - t0))
                batch.append(ev)
            if batch and not self._stop.is_set():
                self._flush(batch)
            state = "stopped" if self._stop.is_set() else "finished"
            note = ""
            if state == "finished" and getattr(self._source, "complete", None) is False:
                note = f"the recording is incomplete: {getattr(self._source, 'problem', '')}"
            self.bus.publish([status_event(self.probe, state, note)])
        except RecordError as e:
            err = e
            self.bus.publish([status_event(self.probe, "error", e.message)])
        except Exception as e:  # never kill the app from a replay thread
            err = e
            self.bus.publish([status_event(self.probe, "error", f"{type(e).__name__}: {e}")])
        self.error = err
        if self.on_done is not None:
            self.on_done(err)

    def _flush(self, batch: list[Event]) -> None:
        self.bus.publish(batch)
        self.published += len(batch)


def open_recording(path: str | Path) -> tuple[RecordHeader, Recording]:
    """read_recording with the same RecordError contract (file and line in the message), once every
    probe module has defined its kinds' Args structs (the reader decodes into them)."""
    from beefine_tui.probes.catalog import all_probes

    all_probes()
    return read_recording(path)


def format_line(ev: Event, base_ts: int) -> str:
    """One readable line (the same layout as the TUI's event log)."""
    rel = (ev.ts - base_ts) / 1e9 if base_ts else 0.0
    if ev.kind == "lost":
        return f"{rel:10.6f} {ev.probe:<10} !! LOST {ev.text or ev.args}"
    text = ev.text or " ".join(f"{k}={v}" for k, v in ev.args.items())
    where = f" [{ev.container[:12]}]" if ev.container else ""
    return f"{rel:10.6f} {ev.probe:<10} {ev.pid:>7} {ev.comm:<15.15} {ev.kind:<10.10} {text}{where}"
