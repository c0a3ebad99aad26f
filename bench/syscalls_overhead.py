"""Benchmark (not a test): what the syscalls probe costs a container it does NOT watch.

A syscall-heavy loop (`dd if=/dev/zero of=/dev/null bs=1`: one read and one write per byte) runs in
an unwatched lab container, timed inside it by busybox `time`, in three modes, alternately in blocks:
  off      no probe loaded
  other    the syscalls probe loaded, watching another container (every syscall on the machine still
           fires raw_syscalls; the pid namespace check drops it before anything is stored)
  self     for reference: the probe watching this very container (every call decoded in Python);
           received + lost is checked against the calls dd made at least, and loss is printed
Prints the median syscalls/s per mode and the ratios.

    sudo .venv/bin/python bench/syscalls_overhead.py [--blocks 3] [--runs 3] [--bytes 1000000]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import threading
from typing import Any

_REAL = re.compile(r"real\s+(\d+)m\s*([\d.]+)s")


def timed_loop(container: Any, nbytes: int) -> float:
    """Seconds dd took inside the container (busybox time: 10 ms resolution)."""
    res = container.exec_run(
        ["time", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={nbytes}"], demux=True
    )
    err = (res.output[1] or b"").decode()
    m = _REAL.search(err)
    if res.exit_code != 0 or m is None:
        raise RuntimeError(f"the loop failed ({res.exit_code}): {err.strip()}")
    return int(m.group(1)) * 60 + float(m.group(2))


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
            times: dict[str, list[float]] = {"off": [], "other": [], "self": []}
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
    med = {m: statistics.median(v) for m, v in times.items()}
    for m, v in times.items():
        rate = calls / med[m] if med[m] else float("inf")
        spread = f"{min(v):.2f}-{max(v):.2f} s"
        print(f"  {m:<6} median {med[m]:.3f} s  ({rate / 1e6:.2f} M syscalls/s)  range {spread}")
    if med["off"]:
        print(f"  other/off: {med['other'] / med['off']:.3f}x the time (the cost to an unwatched container)")
        print(f"  self/off:  {med['self'] / med['off']:.3f}x the time (the watched container itself)")
    for i, (got, lost) in enumerate(self_counts):
        expected = calls * a.runs
        print(
            f"  self block {i}: {got} calls received + {lost} lost = {got + lost} "
            f"(dd alone made {expected}; the rest is time, sh, exec)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
