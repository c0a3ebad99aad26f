"""CPU to paint a full EventLog view after a batch (a benchmark: it prints numbers, asserts nothing).

While following, every batch slides the window: each row on screen is a new event, formatted and
turned into a strip when painted. This times painting every row of a WIDTHxHEIGHT view (render_lines,
as the compositor calls it, so Textual's styling of each row counts too) after each of BATCHES batches
of 1000 events (the line caches emptied first), on the UI thread's CPU clock.

    .venv/bin/python bench/log_paint.py [--width 160 --height 50 --batches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from textual.app import App, ComposeResult

from beefine_tui.events.model import Event, FreeArgs, now_ns
from beefine_tui.widgets.event_log import EventLog

COMMS = ("runc", "containerd-shim", "dockerd", "sh", "busybox")


def batch(start: int, n: int, ts: int) -> list[Event]:
    return [
        Event(
            ts=ts + i,
            probe="bench",
            kind="exec",
            pid=1000 + i % 30000,
            tid=1000 + i % 30000,
            comm=COMMS[i % 5],
            args=FreeArgs(fields={"filename": "/bin/true", "argv": ["true", str(i)]}, line=f"true {i}"),
        )
        for i in range(start, start + n)
    ]


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EventLog(max_lines=5000)


async def run(args: argparse.Namespace) -> None:
    app = LogApp()
    async with app.run_test(headless=True, size=(args.width, args.height)) as pilot:
        await pilot.pause()
        log = app.query_one(EventLog)
        view = log.log_widget
        ms: list[float] = []
        ts = now_ns()
        for k in range(args.batches):
            log.add_events(batch(1000 * k, 1000, ts + 1000 * k))
            view.forget()
            view._styles_cache.clear()  # Textual's own cache of the styled rows: all new after a batch
            c0 = time.thread_time()
            view.render_lines(view.size.region)  # what the compositor calls: the rows and their styling
            ms.append((time.thread_time() - c0) * 1000)
        rows = view.scrollable_content_region.height
        qs = statistics.quantiles(ms, n=100, method="inclusive")
        print(
            f"paint {rows} new rows, CPU: p50 {statistics.median(ms):.2f} ms, p99 {qs[98]:.2f} ms, "
            f"max {max(ms):.2f} ms (n={len(ms)})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=50)
    ap.add_argument("--batches", type=int, default=200)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
