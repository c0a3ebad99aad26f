"""Benchmark (not a test): events/s from an agent into the TUI's live view over --remote.

The real app runs headless on a RemoteContext (agent/remote_context.py) with a `probe:files` view,
as `beefine-tui --remote HOST --open probe:files` would; a child process here makes --opens failing
openat calls of its own path. Per round: events the view's bus received, lost (kernel, bus, and
dropped by this client), seconds from the first open to the last event shown, events/s, and the CPU
seconds of this (client) process. The files probe is filtered in the kernel to the flood's path, so
other work on the machine does not count; opens that never reached the view count as lost.
Transports are run side by side in alternating rounds: a local
pipe to `beefine-tui agent`, and with --remote SPEC the same over SSH (BEEFINE_SSH and
BEEFINE_AGENT_COMMAND apply, as for the CLI).

    sudo .venv/bin/python bench/remote_view.py [--opens 100000] [--rounds 3] [--remote root@host]

Measured 2026-12-03 on the 2-CPU VM shared with five other suites (load ~8), 100k opens, 2 rounds
each side, alternating, SSH to 127.0.0.1: pipe median 42k events/s into the view (41k-44k), over
SSH 38k (28k-49k); loss 0 in one round of each and 10-13k in the other, all of it said (the strip's
count equalled the shortfall), about 0.9 s of client CPU per 100k events. A first run, before the
agent's queue losses were renamed (remote_context.UPSTREAM_LOSS), showed losses the strip did not
count: that is what this bench found.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.client import parse_remote
from beefine_tui.app import BeefineApp
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.catalog import all_probes
from beefine_tui.screens.probe_view import ProbeView
from flood import FLOOD

LOCAL_AGENT = [sys.executable, "-m", "beefine_tui", "agent"]


def _context(spec: str | None) -> R.RemoteContext:
    if spec is None:
        link = R.RemoteLink(parse_remote("localpipe"), argv=LOCAL_AGENT)
    else:
        link = R.RemoteLink(parse_remote(spec))
    link.connect_first()
    return R.RemoteContext(links=[link])


async def _round(spec: str | None, opens: int) -> dict[str, float]:
    ctx = _context(spec)
    app = BeefineApp(ctx)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            view = app.shell.open_view("bench", factory=lambda: ProbeView(probes=("files",), title="bench"))
            assert isinstance(view, ProbeView)
            await pilot.pause(0.5)
            path = tempfile.mktemp(prefix="beefine-remote-view-")
            # the view's own bus and widgets, filtered in the kernel to the flood's path: what
            # other work on the machine opens does not count
            opts = ProbeOptions(path_prefix=path)
            view.session = await asyncio.to_thread(ctx.start_probes, ["files"], opts, view.bus)
            await pilot.pause(2.0)  # the probes attach after the reply: let them settle
            flood = subprocess.Popen([sys.executable, "-c", FLOOD, path, str(opens)], stdin=subprocess.PIPE)
            cpu0 = time.process_time()
            t0 = time.monotonic()
            before = sum(t.received for t in view.bus.tally().values())
            assert flood.stdin is not None
            flood.stdin.write(b"go\n")
            flood.stdin.close()
            last, last_change = before, time.monotonic()
            while time.monotonic() - last_change < 2.0:
                await pilot.pause(0.2)
                now = sum(t.received for t in view.bus.tally().values())
                if now != last:
                    last, last_change = now, time.monotonic()
            flood.wait(60)
            elapsed = last_change - t0
            tally = view.bus.tally()
            shown = sum(1 for line in view.event_log.lines() if path in line)
            return {
                "events": last - before,
                "per_s": (last - before) / elapsed if elapsed > 0 else 0.0,
                "lost": float(max(0, opens - (last - before))),  # never reached the view
                "said": float(sum(t.lost for t in tally.values())),  # what loss markers reported
                "client_cpu_s": time.process_time() - cpu0,
                "flood_in_log": float(shown),
            }
    finally:
        app.close_context()
        ctx.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opens", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--remote", help="[user@]host[:port]: also over SSH, alternating with the pipe")
    args = ap.parse_args()
    if os.geteuid() != 0 and args.remote is None:
        print("the local agent needs root: sudo .venv/bin/python bench/remote_view.py", file=sys.stderr)
        return 2
    all_probes()
    sides: list[tuple[str, str | None]] = [("pipe", None)]
    if args.remote:
        sides.append((f"ssh {args.remote}", args.remote))
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sides}
    for i in range(args.rounds):
        for name, spec in sides if i % 2 == 0 else list(reversed(sides)):
            r = asyncio.run(_round(spec, args.opens))
            results[name].append(r)
            print(
                f"round {i + 1} {name:>24}: {r['events']:>9,.0f} events in the view, {r['per_s']:>9,.0f}/s, "
                f"lost {r['lost']:,.0f} (said {r['said']:,.0f}), client CPU {r['client_cpu_s']:.2f} s",
                flush=True,
            )
    print(f"\n{args.opens:,} failing opens per round, files probe filtered to their path, view at 160x50")
    for name, rs in results.items():
        rates = [r["per_s"] for r in rs]
        lost = [r["lost"] for r in rs]
        print(
            f"{name:>24}: median {statistics.median(rates):,.0f} events/s (min {min(rates):,.0f}, "
            f"max {max(rates):,.0f}); lost median {statistics.median(lost):,.0f}; "
            f"client CPU median {statistics.median(r['client_cpu_s'] for r in rs):.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
