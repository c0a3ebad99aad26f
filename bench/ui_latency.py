"""UI latency under load (a benchmark, not a test: it prints numbers, asserts nothing).

A headless Beefine app shows a live probe view (the real EventPump -> EventLog -> StatusStrip path)
while a producer thread publishes RATE events/s into the app's bus. Every INTERVAL seconds a key
press ("p": pause/follow the log, which changes what the screen shows) is injected, and we time it
from injection until the first screen refresh after the key's handler ran. At the end it prints
p50/p99 of that latency, what was delivered and dropped, and the process RSS sampled over time (to
show it stops growing once the bounded log and queues are full).

It first times the same key with a full log and no producer (the UI's own cost), then under the flood,
and splits each press into: waiting for the handler, the handler (wall and CPU), and handler -> refresh.
It also prints what competes with the UI thread in this one process: the EventLog's per-batch work,
Textual's layout passes and repaints, how late the UI loop and a 1 ms sleeper wake (GIL waits), the
cyclic GC's pauses per generation (it holds the GIL), and CPU seconds per thread.

    .venv/bin/python bench/ui_latency.py                 # 100,000 ev/s until 10 million events
    .venv/bin/python bench/ui_latency.py --total 2000000 # shorter run
    .venv/bin/python bench/ui_latency.py --reuse         # the same prebuilt batch again: no new objects
    .venv/bin/python bench/ui_latency.py --gc-defaults   # without the app's GC tuning (app.tune_gc)
    .venv/bin/python bench/ui_latency.py --gc-young 5000 # the app's tuning with another gen-0 threshold
    .venv/bin/python bench/ui_latency.py --switch-interval 5  # another GIL switch interval (ms)
    .venv/bin/python bench/ui_latency.py --fps 60        # Textual's own frame rate, not the app's
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import statistics
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psutil
import textual.screen

import beefine_tui.app as app_module
from beefine_tui.app import BeefineApp
from beefine_tui.appcontext import AppContext
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event, FreeArgs, now_ns
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.widgets.event_log import EventLog

PROBE = "bench"


def timed(fn: Callable[..., Any], wall: list[float], cpu: list[float]) -> Callable[..., Any]:
    """fn, recording each call's wall time and the calling thread's CPU time (ms): the difference is
    time spent waiting (for the GIL, mostly)."""

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)

    return wrapper


def gil_probe(stop: threading.Event, delays: array[float]) -> None:
    """Sleep 1 ms again and again and record the overshoot (ms): a sleeping thread needs the GIL back
    to wake up, so this is how long any thread (the UI's included) waits for it under this load."""
    while not stop.is_set():
        t0 = time.perf_counter()
        time.sleep(0.001)
        delays.append((time.perf_counter() - t0) * 1000 - 1.0)


def pct(xs: Sequence[float]) -> str:
    """p50/p99/max of a list of milliseconds."""
    if not xs:
        return "none"
    qs = statistics.quantiles(xs, n=100, method="inclusive") if len(xs) > 1 else [xs[0]] * 99
    return f"p50 {statistics.median(xs):.2f} ms, p99 {qs[98]:.2f} ms, max {max(xs):.2f} ms (n={len(xs)})"


def thread_cpu(proc: psutil.Process) -> dict[str, float]:
    """CPU seconds (user+system) of each live thread of this process, by thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for th in proc.threads():
        name = names.get(th.id, "other")
        name = "pump" if name.startswith("pump-") else name
        out[name] = out.get(name, 0.0) + th.user_time + th.system_time
    return out


COMMS = ("runc", "containerd-shim", "dockerd", "sh", "busybox")


def make_event(n: int, ts: int) -> Event:
    return Event(
        ts=ts,
        probe=PROBE,
        kind="exec",
        pid=1000 + n % 30000,
        tid=1000 + n % 30000,
        comm=COMMS[n % 5],
        args=FreeArgs(fields={"filename": "/bin/true", "argv": ["true", str(n)], "ret": 0}, line=f"true {n}"),
    )


def producer(
    bus: Bus,
    rate: int,
    total: int,
    batch: int,
    stop: threading.Event,
    sent: list[int],
    reuse: bool,
    cpu: list[float],
) -> None:
    """Publish `rate` events/s in batches: new Event objects each time (like a runner decoding them
    in this process), or with --reuse the same prebuilt batch (isolates the UI's own cost)."""
    t0 = time.perf_counter()
    n = 0
    prebuilt: list[Event] | None = None
    while n < total and not stop.is_set():
        ts = now_ns()
        if reuse and prebuilt is not None and len(prebuilt) == min(batch, total - n):
            bus.publish(prebuilt)
            n += len(prebuilt)
            sent[0] = n
            ahead = n / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
            continue
        events = [make_event(n + i, ts + i) for i in range(min(batch, total - n))]
        prebuilt = events
        bus.publish(events)
        n += len(events)
        sent[0] = n
        ahead = n / rate - (time.perf_counter() - t0)
        if ahead > 0:
            time.sleep(ahead)
    cpu.append(time.thread_time())


class KeyTimer:
    """Injects "p" and times it: injected -> handler starts -> handler returns -> the frame that shows
    its effect is written (the end of the first repaint, begun after the handler, that paints the
    log). Also, as this bench did before, -> a call_after_refresh callback runs: that adds a message
    hop after the repaint, and a whole frame when a repaint was already due before the log's
    update reached the screen."""

    def __init__(self, app: BeefineApp, log: EventLog) -> None:
        self.app = app
        self.total: list[float] = []  # key injected -> its frame written
        self.queued: list[float] = []  # key injected -> its handler starts
        self.handler: list[float] = []  # the handler itself (pause / follow)
        self.handler_cpu: list[float] = []  # its CPU time: the rest of `handler` is waiting
        self.paint: list[float] = []  # handler returned -> its frame written
        self.total_callback: list[float] = []  # key injected -> after-refresh callback
        self._t0 = 0.0
        self._h1: float | None = None  # the handler returned, its frame not yet written
        self._done: asyncio.Future[float] | None = None
        self._view = log.log_widget
        original = log.action_toggle_pause

        def handler() -> None:
            h0, c0 = time.perf_counter(), time.thread_time()
            original()
            h1, c1 = time.perf_counter(), time.thread_time()
            done = self._done
            if done is None or done.done():
                return
            self.queued.append((h0 - self._t0) * 1000)
            self.handler.append((h1 - h0) * 1000)
            self.handler_cpu.append((c1 - c0) * 1000)
            self._h1 = h1
            app.screen.call_after_refresh(self._called_back, done)

        log.action_toggle_pause = handler  # type: ignore[method-assign]

    def frame_written(self, began: float, ended: float, dirty: Any) -> None:
        """Called after every repaint of the screen (see watch_frames)."""
        h1 = self._h1
        if h1 is None or began < h1 or (self._view not in dirty and self.app.screen not in dirty):
            return
        self._h1 = None
        self.paint.append((ended - h1) * 1000)
        self.total.append((ended - self._t0) * 1000)

    def _called_back(self, done: asyncio.Future[float]) -> None:
        if not done.done():
            done.set_result(time.perf_counter())

    async def press(self) -> None:
        self._done = done = asyncio.get_running_loop().create_future()
        self._t0 = time.perf_counter()
        self._h1 = None
        self.app.simulate_key("p")
        try:
            t1 = await asyncio.wait_for(done, timeout=5)
            self.total_callback.append((t1 - self._t0) * 1000)
        except TimeoutError:
            self.total_callback.append(5000.0)
        for _ in range(500):  # the callback can come first: its repaint was due before the log's
            if self._h1 is None:
                break
            await asyncio.sleep(0.002)
        if self._h1 is not None:  # no frame painted the log after the handler: count it as lost
            self._h1 = None
            self.total.append(5000.0)
            self.paint.append(5000.0)

    def report(self, title: str) -> None:
        print(f"{title}: key press -> its frame written, {len(self.total)} presses: {pct(self.total)}")
        print(f"    key injected -> handler starts    {pct(self.queued)}")
        print(f"    handler (pause/follow) itself      {pct(self.handler)}")
        print(f"    handler's own CPU time             {pct(self.handler_cpu)}")
        print(f"    handler done -> frame written     {pct(self.paint)}")
        print(
            "    (key -> after-refresh callback, this bench's figure before 2026-12-04: "
            f"{pct(self.total_callback)})"
        )


def watch_frames(screen: Any, timers: Callable[[], KeyTimer | None]) -> None:
    """Tell the current KeyTimer when each repaint began and ended, and what it painted."""
    original = screen._compositor_refresh

    def refresh() -> None:
        began = time.perf_counter()
        dirty = set(screen._dirty_widgets)  # cleared by the repaint
        original()
        timer = timers()
        if timer is not None:
            timer.frame_written(began, time.perf_counter(), dirty)

    screen._compositor_refresh = refresh


class GcTimer:
    """How long the cyclic garbage collector ran, per generation: it holds the GIL throughout."""

    def __init__(self) -> None:
        # doubles, not float objects: the bench's own samples should not show up as the app's RSS
        self.ms: dict[int, array[float]] = {0: array("d"), 1: array("d"), 2: array("d")}
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms[info["generation"]].append((time.perf_counter() - self._t0) * 1000)

    def report(self) -> None:
        for gen, xs in self.ms.items():
            print(f"  GC generation {gen}: total {sum(xs):.0f} ms, {pct(xs)}")


async def run(args: argparse.Namespace) -> None:
    ctx = AppContext(docker_host=None, docker_error="benchmark", bpf_allowed=True)
    if args.gc_young:
        app_module.GC_YOUNG_THRESHOLD = args.gc_young  # read by tune_gc when the app mounts
    app = BeefineApp(ctx, gc_tuning=not args.gc_defaults)
    if args.fps:
        # after the app's own tuning (app.tune_frame_rate); read when the screen first paints
        textual.screen.UPDATE_PERIOD = 1 / args.fps  # type: ignore[misc]
    proc = psutil.Process()
    rss: list[tuple[float, int, int]] = []  # (seconds, events sent, RSS bytes)
    async with app.run_test(headless=True, size=(args.width, args.height)) as pilot:
        await pilot.pause(0.2)
        view = app.shell.open_view("bench", label="bench", factory=lambda: ProbeView((PROBE,), title="bench"))
        for _ in range(200):
            await pilot.pause(0.02)
            if view.is_mounted and view.query(EventLog):
                break
        assert isinstance(view, ProbeView)
        log = view.event_log
        log.log_widget.focus()
        await pilot.pause(0.2)

        # the UI thread's own work, timed apart from waiting: every batch the log takes, every key handler
        add_ms: list[float] = []
        add_cpu: list[float] = []
        log.add_events = timed(log.add_events, add_ms, add_cpu)  # type: ignore[method-assign]

        print(f"objects the GC tracks: {len(gc.get_objects()):,}", flush=True)
        print(f"GC thresholds {gc.get_threshold()}, frozen at start-up {gc.get_freeze_count():,}", flush=True)
        if args.switch_interval:
            sys.setswitchinterval(args.switch_interval / 1000)  # after the app's own tuning, on mount
        print(f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms", flush=True)
        # first with no producer: a full log and nothing else running, the UI's own cost
        idle_keys = KeyTimer(app, log)
        timing: list[KeyTimer] = [idle_keys]
        watch_frames(app.screen, lambda: timing[-1])
        idle_gc = GcTimer()
        gc.callbacks.append(idle_gc)
        view.bus.publish(
            [make_event(i, now_ns()) for i in range(log.max_lines)]
        )  # what its session would feed
        for _ in range(200):
            if log.total >= log.max_lines:
                break
            await pilot.pause(0.02)
        for _ in range(args.idle_presses):
            await idle_keys.press()
            await asyncio.sleep(args.interval)
        if log.paused:
            await idle_keys.press()
        gc.callbacks.remove(idle_gc)
        keys = KeyTimer(app, log)  # wraps the idle timer's handler: its own figures start empty
        timing.append(keys)
        add_ms.clear()
        add_cpu.clear()

        # Textual's own screen updates: a layout pass (after a size or display change) and a repaint
        layout_ms: list[float] = []
        layout_cpu: list[float] = []
        paint_ms: list[float] = []
        paint_cpu: list[float] = []
        screen: Any = app.screen
        screen._refresh_layout = timed(screen._refresh_layout, layout_ms, layout_cpu)
        screen._compositor_refresh = timed(screen._compositor_refresh, paint_ms, paint_cpu)
        lag_ms = array("d")  # how late the UI loop wakes from a 10 ms sleep
        gil_ms = array("d")
        gc_timer = GcTimer()
        gc.callbacks.append(gc_timer)

        stop = threading.Event()
        sent = [0]
        producer_cpu: list[float] = []
        pargs = (view.bus, args.rate, args.total, args.batch, stop, sent, args.reuse, producer_cpu)
        t = threading.Thread(target=producer, args=pargs, daemon=True, name="producer")
        g = threading.Thread(target=gil_probe, args=(stop, gil_ms), daemon=True, name="gil-probe")
        cpu0 = proc.cpu_times()
        main_cpu0 = time.thread_time()
        start = time.perf_counter()
        t.start()
        g.start()
        next_key = start + args.interval
        next_rss = start
        try:
            while t.is_alive():
                now = time.perf_counter()
                if now >= next_rss:
                    rss.append((now - start, sent[0], proc.memory_info().rss))
                    print(
                        f"  t={now - start:6.1f}s sent={sent[0]:>10,} shown={log.total:>10,} "
                        f"RSS={proc.memory_info().rss / 2**20:7.1f} MiB",
                        flush=True,
                    )
                    next_rss += args.rss_every
                if now >= next_key:
                    next_key += args.interval
                    await keys.press()
                s0 = time.perf_counter()
                await asyncio.sleep(0.01)
                lag_ms.append((time.perf_counter() - s0) * 1000 - 10.0)
        finally:
            threads = thread_cpu(proc)  # before the producer's thread ends
            stop.set()
            t.join(timeout=5)
            g.join(timeout=5)
            gc.callbacks.remove(gc_timer)
        elapsed = time.perf_counter() - start
        cpu1 = proc.cpu_times()
        main_cpu = time.thread_time() - main_cpu0
        await pilot.pause(0.5)
        rss.append((time.perf_counter() - start, sent[0], proc.memory_info().rss))
        tally = view.bus.tally().get(PROBE)
        print()
        print(f"events sent {sent[0]:,} in {elapsed:.1f} s = {sent[0] / elapsed:,.0f} ev/s")
        print(f"events shown by the log {log.total:,}; lost on the bus {tally.lost_bus if tally else 0:,}")
        idle_keys.report(f"no producer, {log.max_lines:,} events in the log")
        idle_gc.report()
        keys.report(f"under {args.rate:,} ev/s")
        print(f"  EventLog.add_events per batch, wall: {pct(add_ms)}")
        print(f"  EventLog.add_events per batch, CPU:  {pct(add_cpu)}")
        print(f"  screen layout passes, wall: {pct(layout_ms)}; CPU: {pct(layout_cpu)}")
        print(f"  screen repaints, wall: {pct(paint_ms)}; CPU: {pct(paint_cpu)}")
        print(f"  UI loop wake-up lag (10 ms sleep)  {pct(lag_ms)}")
        print(f"  GIL wait (1 ms sleep overshoot, a probe thread)  {pct(gil_ms)}")
        gc_timer.report()
        busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        print(f"  CPU seconds over {elapsed:.1f} s: whole process {busy:.1f}", end="")
        print(f", producer {producer_cpu[0] if producer_cpu else threads.get('producer', 0.0):.1f}", end="")
        print(f", UI (main) thread {main_cpu:.1f}, pump reader {threads.get('pump', 0.0):.1f}")
        first = next((r for r in rss if r[1] >= args.total * 0.2), rss[0])
        print(
            f"RSS at 20% of events {first[2] / 2**20:.1f} MiB, at the end {rss[-1][2] / 2**20:.1f} MiB "
            f"(growth after warm-up {(rss[-1][2] - first[2]) / 2**20:+.1f} MiB; the bench's own samples "
            f"{sum(len(a) * a.itemsize for a in (gil_ms, lag_ms, *gc_timer.ms.values())) / 2**20:.1f} MiB)"
        )
        n_retained = len(log._events) + len(getattr(log, "_frozen", None) or ())
        print(f"events the log holds {n_retained:,} (max_lines {log.max_lines:,}, plus a paused view's rows)")
    ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=100_000, help="events per second (default 100000)")
    ap.add_argument("--total", type=int, default=10_000_000, help="events in all (default 10 million)")
    ap.add_argument("--batch", type=int, default=1000, help="events per publish (default 1000)")
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between key presses")
    ap.add_argument("--rss-every", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--idle-presses", type=int, default=20, help="key presses timed before the flood")
    ap.add_argument(
        "--gc-defaults", action="store_true", help="the interpreter's GC settings, not the app's tuning"
    )
    ap.add_argument("--gc-young", type=int, default=0, help="gen-0 threshold for the app's tuning")
    ap.add_argument("--reuse", action="store_true", help="publish one prebuilt batch again and again")
    ap.add_argument("--switch-interval", type=float, default=0.0, help="GIL switch interval, ms")
    ap.add_argument("--fps", type=int, default=0, help="Textual's screen updates per second at most")
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=50)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
