"""Benchmark (not a test): what the syscalls probe costs a container it does NOT watch.

A syscall-heavy loop (`dd if=/dev/zero of=/dev/null bs=1`: one read and one write per byte) runs in
an unwatched lab container, timed inside it by busybox `time` (wall time, and the CPU time user + sys,
which the other load on a shared machine disturbs less), in three modes, alternately in blocks:
  off      no probe loaded
  other    the syscalls probe loaded, watching another container (every syscall on the machine still
           fires raw_syscalls; the pid namespace check drops it before anything is stored)
  self     for reference: the probe watching this very container (every call decoded in Python);
           received + lost is checked against the calls dd made at least, and loss is printed
Prints per mode the median and the minimum (the least disturbed run) of both times, ns per syscall,
and the ratios to `off`.

    sudo .venv/bin/python bench/syscalls_overhead.py [--blocks 3] [--runs 3] [--bytes 1000000]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import threading
from typing import Any

_TIME = re.compile(r"^(real|user|sys)\s+(\d+)m\s*([\d.]+)s", re.M)


def timed_loop(container: Any, nbytes: int) -> tuple[float, float]:
    """(wall, user + sys) seconds dd took inside the container (busybox time: 10 ms resolution)."""
    res = container.exec_run(
        ["time", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={nbytes}"], demux=True
    )
    err = (res.output[1] or b"").decode()
    t = {k: int(m) * 60 + float(s) for k, m, s in _TIME.findall(err)}
    if res.exit_code != 0 or set(t) != {"real", "user", "sys"}:
        raise RuntimeError(f"the loop failed ({res.exit_code}): {err.strip()}")
    return t["real"], t["user"] + t["sys"]


class Drain:
    """Consumes a bus on a thread (as the CLI does), counting calls and loss."""

    def __init__(self, bus: Any) -> None:
        self.sub = bus.subscribe("bench", capacity=1 << 18)
        self.calls = 0
        self.lost = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set() or self.sub.pending():
            for ev in self.sub.get(0.1):
                if ev.kind == "syscall":
                    self.calls += 1
                elif ev.kind == "lost":
                    self.lost += int(ev.args.get("count", 0))

    def close(self, bus: Any) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sub.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3, help="loops per block and mode")
    ap.add_argument("--bytes", type=int, default=1_000_000, help="bytes dd copies (2 syscalls each)")
    a = ap.parse_args()

    from beefine_tui.docker import lab as labmod
    from beefine_tui.docker.client import connect, exit_on_signals
    from beefine_tui.events.bus import Bus
    from beefine_tui.probes.attribution import target_for_container
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.probes.session import ProbeSession

    labels = {"beefine": "1", "beefine.bench": "syscalls"}
    with exit_on_signals(), labmod.running_lab(f"bench{os.getpid() % 100000}", timeout=120) as info:
        client = connect(info.docker_host)
        made = []
        try:
            watched = client.containers.run(
                info.images["small"], ["sleep", "100000"], detach=True, labels=labels, network_mode="none"
            )
            made.append(watched)
            loop = client.containers.run(
                info.images["small"], ["sleep", "100000"], detach=True, labels=labels, network_mode="none"
            )
            made.append(loop)
            targets = {
                "other": target_for_container(client, str(watched.id)),
                "self": target_for_container(client, str(loop.id)),
            }
            times: dict[str, list[tuple[float, float]]] = {"off": [], "other": [], "self": []}
            self_counts: list[tuple[int, int]] = []
            timed_loop(loop, 10_000)  # warm the page cache and the exec path
            for _block in range(a.blocks):
                for mode in ("off", "other", "self"):
                    session = None
                    drain = None
                    bus = Bus()
                    if mode != "off":
                        drain = Drain(bus)
                        session = ProbeSession(
                            ["syscalls"], ProbeOptions(target=targets[mode]), bus, strict=True
                        )
                        session.start()
                    try:
                        for _ in range(a.runs):
                            times[mode].append(timed_loop(loop, a.bytes))
                    finally:
                        if session is not None:
                            session.stop()
                        if drain is not None:
                            drain.close(bus)
                    if mode == "self" and drain is not None:
                        self_counts.append((drain.calls, drain.lost))
        finally:
            for c in made:
                try:
                    c.remove(force=True)
                except Exception as e:
                    print(f"warning: could not remove {c.name}: {e}")
            client.close()

    calls = 2 * a.bytes
    print(
        f"loop: dd bs=1 count={a.bytes} ({calls} syscalls) in an unwatched container; "
        f"{a.blocks} blocks x {a.runs} runs per mode; times from busybox time (10 ms resolution)"
    )
    stats: dict[str, dict[str, float]] = {}
    for m, v in times.items():
        wall, cpu = [w for w, _c in v], [c for _w, c in v]
        st = stats[m] = {
            "wall_med": statistics.median(wall),
            "wall_min": min(wall),
            "cpu_med": statistics.median(cpu),
            "cpu_min": min(cpu),
        }
        print(
            f"  {m:<6} wall median {st['wall_med']:.2f} s min {st['wall_min']:.2f} s | cpu median "
            f"{st['cpu_med']:.2f} s min {st['cpu_min']:.2f} s = {st['cpu_min'] / calls * 1e9:.0f} ns/syscall"
        )
    off = stats["off"]
    for m, what in (
        ("other", "the cost to an unwatched container"),
        ("self", "the watched container itself"),
    ):
        ratios = [
            f"{k.replace('_', ' ')} {stats[m][k] / off[k]:.2f}x"
            for k in ("wall_med", "wall_min", "cpu_med", "cpu_min")
            if off[k]
        ]
        print(f"  {m}/off ({what}): " + ", ".join(ratios))
    for i, (got, lost) in enumerate(self_counts):
        expected = calls * a.runs
        print(
            f"  self block {i}: {got} calls received + {lost} lost = {got + lost} "
            f"(dd alone made {expected}; the rest is time, sh, exec)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
