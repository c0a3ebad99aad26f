"""Benchmark (not a test): the Image monitor's run here beside the same run on a host's agent.

The real app runs headless (BeefineApp.run_test) with the Image monitor open and runs the lab's small
image, in alternating rounds: `local` (an AppContext on the daemon: probes compiled, attached and the
story fed in this process) and `agent` (a RemoteContext whose link runs `beefine-tui agent` on this
machine over a pipe, as --remote does over ssh: the agent traces, the story is fed here from its
stream). Per round: seconds from Run to the first phase the view shows, seconds to the run's end
(the status says the exit code), the story's events, the phases found (and whether they are the
local side's), and the CPU seconds of this process (where the local side also compiles). With --lab
(default when no --docker-host) a private lab is started and downed after.

    sudo .venv/bin/python bench/remote_image_monitor.py [--rounds 3] [--docker-host URL --image REF]

Measured 2026-12-03 on the 2-CPU VM shared with three other engineers' work, the lab's small image
(its own CMD, /bin/sh, which ends at once), 3 rounds each side, alternating. First phase shown: local
median 21.0 s (18.6-25.4), agent 18.3 s (15.2-19.0); run's end: local 22.5 s (20.1-29.1), agent 19.9 s
(16.2-21.0); CPU of this process: local 13.4 s (12.0-15.4, it compiles and attaches), agent 3.1 s
(2.7-3.3, the app and the story only); ~1,640 events a story on both sides and the same 14 phases
found in every round. Compiling and attaching the story's probes is most of the wait on either side;
the first phase is the pull, which begins only once they are attached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import time
from typing import Any

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.client import parse_remote
from beefine_tui.app import BeefineApp
from beefine_tui.appcontext import AppContext
from beefine_tui.probes.catalog import all_probes
from beefine_tui.screens.image_monitor import ImageMonitorView
from daemon import daemon_and_image


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _context(side: str, host: str) -> AppContext:
    if side == "local":
        return AppContext(docker_host=host)
    agent = ["env", f"DOCKER_HOST={host}", sys.executable, "-m", "beefine_tui", "agent"]
    link = R.RemoteLink(parse_remote("localpipe"), argv=agent)
    link.connect_first()
    return R.RemoteContext(links=[link])


async def _round(side: str, host: str, image: str) -> dict[str, Any]:
    ctx = _context(side, host)
    app = BeefineApp(ctx)
    cpu0 = _cpu()
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            view = app.shell.open_view("image-monitor")
            assert isinstance(view, ImageMonitorView), view
            while not (view.is_mounted and view.query("#im-image")):
                await pilot.pause(0.02)
            view.query_one("#im-image").value = image  # type: ignore[attr-defined]
            t0 = time.monotonic()
            view.action_run()
            first = None
            deadline = t0 + 600
            status = view.query_one("#im-status")
            while view.running or "exit code" not in str(status.render()):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{side}: no end after 600 s: {status.render()}")
                run = view.run_obj
                if (
                    first is None
                    and run is not None
                    and any(p.start_ns is not None for p in run.timeline().phases)
                ):
                    first = time.monotonic() - t0
                await pilot.pause(0.05)
            end = time.monotonic() - t0
            tl = view.run_obj.timeline()
            said = str(status.render())
    finally:
        ctx.release_outliving()
        ctx.close()
    if "exit code 0" not in said:
        raise SystemExit(f"{side}: the run did not end well: {said}")
    return {
        "first": first if first is not None else end,
        "end": end,
        "events": sum(p.total for p in tl.phases),
        "found": tl.found(),
        "cpu": _cpu() - cpu0,
    }


def _spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):7.2f} ({min(xs):.2f}-{max(xs):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--docker-host", help="a daemon on this machine (default: a private lab)")
    ap.add_argument("--image", help="with --docker-host: the image to run (present or pullable)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/remote_image_monitor.py")
    if a.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    all_probes()
    with contextlib.ExitStack() as stack:
        host, image = daemon_and_image(stack, a.docker_host, a.image, "bi")
        results: dict[str, list[dict[str, Any]]] = {"local": [], "agent": []}
        for n in range(a.rounds):
            for side in results:  # alternating: drift on a shared machine hits both sides
                res = asyncio.run(_round(side, host, image))
                results[side].append(res)
                print(
                    f"round {n + 1} {side:6} first phase {res['first']:6.2f} s  end {res['end']:6.2f} s  "
                    f"cpu here {res['cpu']:6.2f} s  {res['events']:6} events  found {len(res['found'])}",
                    flush=True,
                )
        local_found = [r["found"] for r in results["local"]]
        print(f"\n{a.rounds} rounds each, alternating; image {image}")
        for side, rs in results.items():
            same = sum(1 for r in rs if r["found"] in local_found)
            print(
                f"{side:6} first phase s {_spread([r['first'] for r in rs])}   "
                f"end s {_spread([r['end'] for r in rs])}   cpu here s {_spread([r['cpu'] for r in rs])}   "
                f"events {_spread([float(r['events']) for r in rs])}   phases as local: {same}/{len(rs)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
