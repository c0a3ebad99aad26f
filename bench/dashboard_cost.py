"""What the Docker dashboard costs: CPU % of one core spent refreshing it, with N running containers.

Not a test: prints figures. Starts its own lab (removed at the end) unless --docker-host is given,
runs N `sleep` containers labelled beefine=1 (removed at the end, however the bench exits), then:

1. engine: StatsCollector.refresh() every --interval seconds for --seconds, measuring this process's
   CPU time (user+sys, every thread) over wall time;
2. view: the real DashboardView in a headless Textual app at 120x40 refreshing every --interval, the
   same measurement (includes rendering, the worker threads and Textual's own loop).

    sudo .venv/bin/python bench/dashboard_cost.py [--containers 20] [--seconds 20] [--docker-host URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
import uuid
from typing import Any


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure_engine(client: Any, seconds: float, interval: float) -> tuple[float, float, int]:
    from beefine_tui.docker.stats import StatsCollector

    col = StatsCollector(client)
    col.refresh()
    walls: list[float] = []
    rows = 0
    c0, t0 = cpu_seconds(), time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        s = time.monotonic()
        snap = col.refresh()
        walls.append(time.monotonic() - s)
        rows = len(snap.rows)
        time.sleep(max(0.0, interval - (time.monotonic() - s)))
    cpu, wall = cpu_seconds() - c0, time.monotonic() - t0
    return 100.0 * cpu / wall, 1000.0 * sum(walls) / len(walls), rows


def measure_idle(seconds: float) -> float:
    """The same headless Textual app showing only a static text: what Textual costs by itself."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Idle(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("idle")

    result: dict[str, float] = {}

    async def run() -> None:
        async with Idle().run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            c0, t0 = cpu_seconds(), time.monotonic()
            await pilot.pause(seconds)
            result["cpu"] = 100.0 * (cpu_seconds() - c0) / (time.monotonic() - t0)

    asyncio.run(run())
    return result["cpu"]


def measure_view(client: Any, seconds: float, interval: float) -> tuple[float, int, int]:
    from textual.app import App, ComposeResult

    from beefine_tui.docker.stats import StatsCollector
    from beefine_tui.screens.dashboard import DashboardView

    class Bench(App[None]):
        def compose(self) -> ComposeResult:
            yield DashboardView(collector=StatsCollector(client), interval=interval)

    result: dict[str, Any] = {}

    async def run() -> None:
        app = Bench()
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.query_one(DashboardView)
            while view.refreshes < 2:
                await pilot.pause(0.1)
            c0, t0, r0 = cpu_seconds(), time.monotonic(), view.refreshes
            await pilot.pause(seconds)
            result["cpu"] = 100.0 * (cpu_seconds() - c0) / (time.monotonic() - t0)
            result["refreshes"] = view.refreshes - r0
            result["rows"] = len(view.snapshot.rows) if view.snapshot else 0

    asyncio.run(run())
    return result["cpu"], result["refreshes"], result["rows"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--docker-host", help="use this daemon instead of starting a lab")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (the lab and /proc of containers need it)", file=sys.stderr)
        return 77

    from beefine_tui.docker import lab
    from beefine_tui.docker.client import connect, exit_on_signals

    name = f"bench{os.getpid()}"
    label = {"beefine": "1", "beefine.bench": uuid.uuid4().hex[:12]}
    with exit_on_signals(), contextlib.ExitStack() as stack:
        if args.docker_host:
            host, image = args.docker_host, None
        else:
            info = lab.up(name, seed=True, timeout=120)
            stack.callback(lab.down, name)
            host, image = info.docker_host, info.images["small"]
        client = connect(host, timeout=60)
        stack.callback(client.close)

        def remove_ours() -> None:
            for c in client.containers.list(
                all=True, filters={"label": f"beefine.bench={label['beefine.bench']}"}
            ):
                with contextlib.suppress(Exception):
                    c.remove(force=True)

        stack.callback(remove_ours)
        if image is None:
            image = next(t for i in client.images.list() for t in i.tags if "busybox" in t or "bb" in t)
        t = time.monotonic()
        for _ in range(args.containers):
            client.containers.run(image, ["sleep", "3600"], detach=True, labels=label)
        print(f"{args.containers} containers of {image} started in {time.monotonic() - t:.1f} s on {host}")
        cpu, ms, rows = measure_engine(client, args.seconds, args.interval)
        print(
            f"engine: {cpu:.2f}% of one core over {args.seconds:.0f} s "
            f"(refresh every {args.interval:g} s, {ms:.1f} ms wall per refresh, {rows} rows)"
        )
        vcpu, n, vrows = measure_view(client, args.seconds, args.interval)
        print(
            f"view (headless Textual app, 120x40, rendering included): {vcpu:.2f}% of one core "
            f"over {args.seconds:.0f} s ({n} refreshes, {vrows} rows)"
        )
        idle = measure_idle(args.seconds)
        print(f"baseline: the same headless app showing a static text costs {idle:.2f}% of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
