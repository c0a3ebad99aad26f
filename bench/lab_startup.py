"""Seconds from `lab up` to a container running, median of N runs (each: up + run + down).

    sudo .venv/bin/python bench/lab_startup.py [-n 3] [--no-seed-time]

Prints each run's phases (up, first `docker run --rm <small> true`, down) and the median and spread of
up -> container exited. A benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from beefine_tui.docker import lab
from beefine_tui.docker.client import connect, exit_on_signals
from beefine_tui.errors import BeefineError


def one_run(name: str) -> tuple[float, float, float]:
    t0 = time.monotonic()
    info = lab.up(name, seed=True, timeout=120)
    t_up = time.monotonic()
    try:
        client = connect(info.docker_host)
        try:
            client.containers.run(info.images["small"], ["true"], remove=True, labels={"beefine": "1"})
        finally:
            client.close()
        t_run = time.monotonic()
    finally:
        lab.down(name)
    t_down = time.monotonic()
    return t_up - t0, t_run - t0, t_down - t_run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=3, help="number of up+run+down cycles (default 3)")
    args = ap.parse_args()
    if args.runs < 1:
        print("lab_startup: --runs must be at least 1", file=sys.stderr)
        return 2
    name = f"bench{os.getpid()}"
    totals: list[float] = []
    try:
        with exit_on_signals():
            for i in range(args.runs):
                up_s, total_s, down_s = one_run(name)
                totals.append(total_s)
                print(f"run {i + 1}: up {up_s:.2f} s, container ran at {total_s:.2f} s, down {down_s:.2f} s")
    except BeefineError as e:
        print(f"lab_startup: {e}", file=sys.stderr)
        return 1
    spread = max(totals) - min(totals)
    load = os.getloadavg()
    print(
        f"load average now {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cpus "
        "(the figures scale with it)"
    )
    print(
        f"lab up -> container running: median {statistics.median(totals):.2f} s over {len(totals)} runs "
        f"(min {min(totals):.2f}, max {max(totals):.2f}, spread {spread:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
