"""Benchmark (not a test): what the netlink probe costs the sends it does not report.

It attaches to every sendto/sendmsg of the processes it follows and reads the destination's family
from user memory before it can drop a send that is not rtnetlink. A child sends small UDP datagrams
to 127.0.0.1 with sendto in a loop; printed: ns per sendto untraced, traced (the child is the lineage
root), and the difference, median of alternating blocks. Then rtnetlink requests (RTM_NEWLINK up on
lo, which is up: a no-op) per second, traced, and how many arrived.

    sudo .venv/bin/python bench/netlink_overhead.py [--blocks 5] [--sends 200000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CHILD = r"""
import socket, struct, sys, time
sys.stdin.readline()
mode, n = sys.argv[1], int(sys.argv[2])
if mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dst = ("127.0.0.1", 9)  # discard: nobody listens, sendto still goes through the kernel
    t = time.perf_counter_ns()
    for _ in range(n):
        s.sendto(b"x", dst)
else:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    # RTM_NEWLINK, NLM_F_REQUEST, ifindex 1 (lo), IFF_UP in flags and change: lo is up already
    msg = struct.pack("=IHHII", 32, 16, 1, 0, 0) + struct.pack("=BxHiII", 0, 0, 1, 1, 1)
    t = time.perf_counter_ns()
    for i in range(n):
        s.sendto(msg, (0, 0))  # no NLM_F_ACK: nothing comes back to read
print((time.perf_counter_ns() - t) / n)
"""


def run(mode: str, n: int, traced: bool) -> tuple[float, int, int]:
    from beefine_tui.events.bus import Bus
    from beefine_tui.probes import netlink
    from beefine_tui.probes.base import ProbeOptions, Target

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    bus = Bus()
    sub = bus.subscribe("bench")
    runner = netlink.make_runner(ProbeOptions(target=Target(lineage_root=child.pid))) if traced else None
    got = lost = 0
    try:
        if runner is not None:
            runner.start(bus.publish)
        out, _ = child.communicate("go\n", timeout=300)
        if runner is not None:
            end = time.monotonic() + 2
            while time.monotonic() < end:
                for e in sub.get(0.1):
                    got += e.kind.startswith("rtm_")
                    lost += int(e.args.get("count", 0)) if e.kind == "lost" else 0
    finally:
        if runner is not None:
            runner.stop()
        sub.close()
    return float(out.strip()), got, lost


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--sends", type=int, default=200_000)
    a = ap.parse_args()
    plain: list[float] = []
    traced: list[float] = []
    for _ in range(a.blocks):
        plain.append(run("udp", a.sends, False)[0])
        traced.append(run("udp", a.sends, True)[0])
    p, t = statistics.median(plain), statistics.median(traced)
    print(f"UDP sendto, {a.sends} per block, {a.blocks} blocks (median ns per call)")
    print(f"  untraced {p:8.0f} ns   traced by netlink {t:8.0f} ns   added {t - p:6.0f} ns")
    n = a.sends // 10
    per, got, lost = run("netlink", n, True)
    print(
        f"rtnetlink RTM_NEWLINK (lo up, a no-op) traced: {per:.0f} ns per send, {1e9 / per:.0f}/s; "
        f"{got} of {n} reported, {lost} counted lost"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
