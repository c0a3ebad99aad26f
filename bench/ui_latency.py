"""UI latency under load (a benchmark, not a test: it prints numbers, asserts nothing).

A headless Beefine app shows a live probe view (the real EventPump -> EventLog -> StatusStrip path)
while a producer thread publishes RATE events/s into the app's bus. Every INTERVAL seconds a key
press ("p": pause/follow the log, which changes what the screen shows) is injected, and we time it
from injection until the first screen refresh after the key's handler ran. At the end it prints
p50/p99 of that latency, what was delivered and dropped, and the process RSS sampled over time (to
show it stops growing once the bounded log and queues are full).

    .venv/bin/python bench/ui_latency.py                 # 100,000 ev/s until 10 million events
    .venv/bin/python bench/ui_latency.py --total 2000000 # shorter run
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psutil

from beefine_tui.app import BeefineApp
from beefine_tui.appcontext import AppContext
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event, now_ns
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.widgets.event_log import EventLog

PROBE = "bench"


def producer(
    bus: Bus, rate: int, total: int, batch: int, stop: threading.Event, sent: list[int], reuse: bool
) -> None:
    """Publish `rate` events/s in batches: new Event objects each time (like a runner decoding them
    in this process), or with --reuse the same prebuilt batch (isolates the UI's own cost)."""
    t0 = time.perf_counter()
    n = 0
    comms = ("runc", "containerd-shim", "dockerd", "sh", "busybox")
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
        events = [
            Event(
                ts=ts + i,
                probe=PROBE,
                kind="exec",
                pid=1000 + (n + i) % 30000,
                tid=1000 + (n + i) % 30000,
                comm=comms[(n + i) % 5],
                args={"filename": "/bin/true", "argv": ["true", str(n + i)], "ret": 0},
                text=f"/bin/true {n + i}",
            )
            for i in range(min(batch, total - n))
        ]
        prebuilt = events
        bus.publish(events)
        n += len(events)
        sent[0] = n
        ahead = n / rate - (time.perf_counter() - t0)
        if ahead > 0:
            time.sleep(ahead)


async def run(args: argparse.Namespace) -> None:
    ctx = AppContext(docker_host=None, docker_error="benchmark", bpf_allowed=True)
    app = BeefineApp(ctx)
    proc = psutil.Process()
    latencies: list[float] = []
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

        stop = threading.Event()
        sent = [0]
        pargs = (ctx.bus, args.rate, args.total, args.batch, stop, sent, args.reuse)
        t = threading.Thread(target=producer, args=pargs, daemon=True)
        start = time.perf_counter()
        t.start()
        next_key = start + args.interval
        next_rss = start
        loop = asyncio.get_running_loop()
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
                    done: asyncio.Future[float] = loop.create_future()
                    t0 = time.perf_counter()

                    def painted(fut: asyncio.Future[float] = done) -> None:
                        if not fut.done():
                            fut.set_result(time.perf_counter())

                    # the key is handled on the UI loop; then wait for the next screen refresh
                    def on_key(fut: asyncio.Future[float] = done) -> None:
                        app.screen.call_after_refresh(painted, fut)

                    app.simulate_key("p")
                    app.call_later(on_key)
                    try:
                        t1 = await asyncio.wait_for(done, timeout=5)
                        latencies.append((t1 - t0) * 1000)
                    except TimeoutError:
                        latencies.append(5000.0)
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            t.join(timeout=5)
        elapsed = time.perf_counter() - start
        await pilot.pause(0.5)
        rss.append((time.perf_counter() - start, sent[0], proc.memory_info().rss))
        tally = ctx.bus.tally().get(PROBE)
        print()
        print(f"events sent {sent[0]:,} in {elapsed:.1f} s = {sent[0] / elapsed:,.0f} ev/s")
        print(f"events shown by the log {log.total:,}; lost on the bus {tally.lost_bus if tally else 0:,}")
        if latencies:
            qs = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
            p50 = statistics.median(latencies)
            print(
                f"key press -> screen updated, {len(latencies)} presses: p50 {p50:.1f} ms, "
                f"p99 {qs[98]:.1f} ms, max {max(latencies):.1f} ms"
            )
        first = next((r for r in rss if r[1] >= args.total * 0.2), rss[0])
        print(
            f"RSS at 20% of events {first[2] / 2**20:.1f} MiB, at the end {rss[-1][2] / 2**20:.1f} MiB "
            f"(growth after warm-up {(rss[-1][2] - first[2]) / 2**20:+.1f} MiB)"
        )
    ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=100_000, help="events per second (default 100000)")
    ap.add_argument("--total", type=int, default=10_000_000, help="events in all (default 10 million)")
    ap.add_argument("--batch", type=int, default=1000, help="events per publish (default 1000)")
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between key presses")
    ap.add_argument("--rss-every", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--reuse", action="store_true", help="publish one prebuilt batch again and again")
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=50)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
