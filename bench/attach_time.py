"""Benchmark (not a test): how long the story's probes take to be ready, first and second time.

Each round installs a fresh program cache (as the TUI does for its session), attaches every default
probe group the way a trace does (start_sessions), detaches, and attaches again: the first attach
compiles each BCC program with clang, the second takes the kept objects (probes/program_cache.py).
Prints the median and spread over the rounds, per probe, and the detach times.

    sudo .venv/bin/python bench/attach_time.py [--rounds 5] [--groups process,files,...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict


def spread(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs):7.3f} s  (min {xs[0]:.3f}, max {xs[-1]:.3f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--groups", default="", help="probe groups (default: every default group)")
    a = ap.parse_args()

    from beefine_tui.docker.client import exit_on_signals
    from beefine_tui.events.bus import Bus
    from beefine_tui.probes import program_cache
    from beefine_tui.probes.base import Target
    from beefine_tui.probes.bcc_runner import BccRunner
    from beefine_tui.story.trace import DEFAULT_GROUPS, probes_for, start_sessions

    groups = [g for g in a.groups.split(",") if g] or list(DEFAULT_GROUPS)
    names, notes = probes_for(groups)
    for n in notes:
        print("note:", n)
    # the lineage root only becomes a -D flag: pid 1 stands for a daemon here
    target = Target(lineage_root=1)
    attach: dict[str, list[float]] = defaultdict(list)
    detach: dict[str, list[float]] = defaultdict(list)
    per_probe: dict[tuple[str, str], list[float]] = defaultdict(list)
    with exit_on_signals():
        for r in range(a.rounds):
            cache = program_cache.ProgramCache()
            previous = program_cache.install(cache)
            try:
                for which in ("first", "second"):
                    t0 = time.perf_counter()
                    sessions = start_sessions(names, target, Bus())
                    attach[which].append(time.perf_counter() - t0)
                    reused: list[str] = []
                    for s in sessions:
                        for runner in s.runners:
                            if isinstance(runner, BccRunner):
                                reused += runner.reused
                                for p, sec in runner.compile_seconds.items():
                                    per_probe[(which, p)].append(sec)
                    t1 = time.perf_counter()
                    for s in sessions:
                        s.stop()
                    detach[which].append(time.perf_counter() - t1)
                    print(
                        f"round {r + 1}/{a.rounds} {which:6}: attach {attach[which][-1]:.3f} s, "
                        f"detach {detach[which][-1]:.3f} s, reused {len(reused)}"
                    )
            finally:
                program_cache.install(previous)
                cache.close()
    print(f"probes: {', '.join(names)}  ({a.rounds} rounds)")
    for which in ("first", "second"):
        print(f"  {which:6} attach {spread(attach[which])}   detach {spread(detach[which])}")
    print("  per BCC probe (compile+load+attach first / reuse second), median s:")
    for p in names:
        f, s = per_probe.get(("first", p)), per_probe.get(("second", p))
        if f and s:
            print(f"    {p:12} {statistics.median(f):7.3f}  {statistics.median(s):7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
