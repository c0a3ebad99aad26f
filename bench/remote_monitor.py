"""Benchmark (not a test): what the Container monitor's calls cost locally and through an agent.

For one running container, the view's source is asked what the view asks: `sample` (every tick,
1 s by default), `report` (once, and after each change) and `network` (every 2 s while the Network
tab shows; the local source reads the report's pids, an agent finds them itself). Sides: the local
MonitorSource (this process reads Docker and /proc), RemoteMonitorSource through `beefine-tui agent`
on a local pipe, and with --remote SPEC the same over SSH (BEEFINE_SSH and BEEFINE_AGENT_COMMAND
apply, as for the CLI). Rounds alternate the sides' order. Prints per side and call: p50 and p99
over every call, and the spread of the rounds' medians; and this process's CPU per sample call (the
agent's side is not in it: it is the host's cost).

    sudo .venv/bin/python bench/remote_monitor.py [--rounds 5] [--samples 20] [--remote root@host]

With no --docker-host a private lab is started for the run (its small image runs the container) and
removed after.

Measured 2026-12-03 on the 2-CPU VM shared with three other engineers' work, 5 rounds, 20 samples a
round, SSH to a private sshd on 127.0.0.1: sample p50 local 2.8 ms, pipe 3.0 ms, SSH 3.3 ms (round
medians 2.1..3.5, 2.7..4.2, 3.0..5.0); report p50 31.0 / 31.2 / 32.8 ms; network p50 4.5 / 7.4 /
8.8 ms (the agent also lists the container's processes to find its sockets' owners: the pids are
not taken from the client). The client's CPU per sample fell from 2.3 ms (local reads) to 0.15 ms:
over --remote the reading is the host's. A 1 s tick costs well under 1% either way."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.client import Remote
from beefine_tui.agent.remote_monitor import RemoteMonitorSource
from beefine_tui.appcontext import AppContext
from beefine_tui.screens.monitor_source import MonitorSource
from daemon import daemon_and_image

LOCAL_AGENT = [sys.executable, "-m", "beefine_tui", "agent"]


def _timed(fn: Callable[[], Any], n: int) -> tuple[list[float], float]:
    """Seconds per call, and this process's CPU seconds for all n."""
    out = []
    c0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out, time.process_time() - c0


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=20, help="sample calls per side per round")
    ap.add_argument("--docker-host", help="a daemon on this machine (default: a private lab)")
    ap.add_argument("--image", help="with --docker-host: an image with sleep (present)")
    ap.add_argument("--remote", metavar="SPEC", help="also over real SSH to SPEC")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the agent and the local source read other users' /proc")
    with contextlib.ExitStack() as stack:
        host, image = daemon_and_image(stack, a.docker_host, a.image, "bm")
        local_ctx = AppContext(docker_host=host, bpf_allowed=False)
        stack.callback(local_ctx.close)
        client = local_ctx.docker_client()
        c = client.containers.run(
            image,
            ["sh", "-c", "sleep 600 & sleep 600"],
            detach=True,
            network_mode="none",
            labels={"beefine": "bench"},
        )
        stack.callback(lambda: c.remove(force=True))
        cid = str(c.id)
        os.environ["DOCKER_HOST"] = host  # the agents' daemon: the same one
        os.environ.setdefault(
            "BEEFINE_AGENT_COMMAND", f"env DOCKER_HOST={host} {sys.executable} -m beefine_tui agent"
        )
        pipe = R.RemoteLink(Remote(host="pipe"), label="pipe", argv=LOCAL_AGENT)
        pipe.connect_first()
        links = [pipe]
        if a.remote:
            links += R.connect_remotes([a.remote]).links
        ctx = R.RemoteContext(links=links, bpf_allowed=False)
        stack.callback(ctx.close)
        sides: dict[str, tuple[Any, str]] = {"local": (MonitorSource(local_ctx), cid)}
        for link in links:
            sides[f"agent ({'ssh' if link is not pipe else 'pipe'})"] = (
                RemoteMonitorSource(ctx),
                f"{link.label}/{cid}",
            )
        ops = ("sample", "report", "network")
        calls: dict[tuple[str, str], list[float]] = {(s, o): [] for s in sides for o in ops}
        medians: dict[tuple[str, str], list[float]] = {(s, o): [] for s in sides for o in ops}
        cpu: dict[str, list[float]] = {s: [] for s in sides}
        names = list(sides)
        for r in range(a.rounds):
            for side in names if r % 2 == 0 else list(reversed(names)):
                src, key = sides[side]
                rep = src.report(key)
                # what the view passes: the report's init and processes (an agent finds its own)
                pid, pids = rep.pid, [p.pid for p in rep.processes]
                runs: dict[str, tuple[Callable[[], Any], int]] = {
                    "sample": (partial(src.sample, key), a.samples),
                    "report": (partial(src.report, key), 3),
                    "network": (partial(src.network, key, pid, pids, False), 5),
                }
                for op, (fn, n) in runs.items():
                    xs, used = _timed(fn, n)
                    calls[(side, op)] += xs
                    medians[(side, op)].append(statistics.median(xs))
                    if op == "sample":
                        cpu[side].append(used / n)
        print(
            f"{a.rounds} rounds, sides alternating; container {cid[:12]} ({image}), "
            f"{a.samples} samples a round"
        )
        for op in ops:
            for side in names:
                xs, ms = calls[(side, op)], medians[(side, op)]
                print(
                    f"{op:8} {side:13} p50 {statistics.median(xs) * 1e3:7.2f} ms  "
                    f"p99 {_pct(xs, 0.99) * 1e3:7.2f} ms"
                    f"  round medians {min(ms) * 1e3:.2f}..{max(ms) * 1e3:.2f} ms  ({len(xs)} calls)"
                )
        for side in names:
            per = cpu[side]
            print(
                f"cpu here per sample {side:13} {statistics.median(per) * 1e3:6.2f} ms "
                f"({min(per) * 1e3:.2f}..{max(per) * 1e3:.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
