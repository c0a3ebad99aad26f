"""Benchmark (not a test): how long the story's probes take to be ready, with and without compiling
them ahead, and how long they take to detach.

Each round installs a fresh program cache (as the TUI does for its session) and measures, from the
moment a view asks for the probes to tracing started (every program attached):
  cold       no precompile: the run compiles each BCC program with clang (the old first run)
  at-once    precompile asked for, and the run started at the same moment (Run pressed as the app
             opened): the run waits for the programs the precompiler is compiling, never compiles one
             twice, and compiles itself what the precompiler has not reached
  ready      precompile asked for and finished first (the app started a while ago): attach only
  second     a second run after any of them (the kept objects again)
  overlap    a run started the moment the last one began to detach on its own thread (as the Image
             monitor now detaches, off the user's path): it waits for the objects coming back
  ready-na   ready, second and overlap again without tracepoint anchors (probes/tracepoint_anchors.py):
             every detach waits for the kernel to unregister each tracepoint, one at a time
Detach is timed for each (stop of every session: one RCU grace period per tracepoint closed); the
Image monitor's user no longer waits for it (the view is free once the container is removed).
The modes alternate in order from round to round (the machine is shared and noisy); medians and
spreads are printed, per mode and per BCC probe.

    sudo .venv/bin/python bench/attach_time.py [--rounds 3] [--groups process,files,...]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import defaultdict
from typing import Any

MODES = ("cold", "at-once", "ready", "ready-na")
NO_ANCHORS = "-na"


def spread(xs: list[float]) -> str:
    if not xs:
        return "-"
    xs = sorted(xs)
    return f"median {statistics.median(xs):7.3f} s  (min {xs[0]:.3f}, max {xs[-1]:.3f}, n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--groups", default="", help="probe groups (default: every default group)")
    a = ap.parse_args()

    from beefine_tui.docker.client import exit_on_signals
    from beefine_tui.events.bus import Bus
    from beefine_tui.probes import program_cache
    from beefine_tui.probes.base import Target
    from beefine_tui.probes.bcc_runner import BccRunner
    from beefine_tui.probes.precompile import Precompiler
    from beefine_tui.story.trace import DEFAULT_GROUPS, probes_for, start_sessions, story_programs

    groups = [g for g in a.groups.split(",") if g] or list(DEFAULT_GROUPS)
    names, notes = probes_for(groups)
    for n in notes:
        print("note:", n)
    # the lineage root only becomes a -D flag: pid 1 stands for a daemon here
    target = Target(lineage_root=1)
    attach: dict[str, list[float]] = defaultdict(list)
    detach: dict[str, list[float]] = defaultdict(list)
    precompile_s: list[float] = []
    per_probe: dict[tuple[str, str], list[float]] = defaultdict(list)

    def run(label: str) -> tuple[float, list[str]]:
        t0 = time.perf_counter()
        sessions: list[Any] = start_sessions(names, target, Bus())
        attach[label].append(time.perf_counter() - t0)
        reused: list[str] = []
        for s in sessions:
            for runner in s.runners:
                if isinstance(runner, BccRunner):
                    reused += runner.reused
                    for p, sec in runner.compile_seconds.items():
                        per_probe[(label, p)].append(sec)
        t1 = time.perf_counter()
        for s in sessions:
            s.stop()
        detach[label].append(time.perf_counter() - t1)
        return attach[label][-1], reused

    def overlap(expect: int, label: str) -> None:
        sessions: list[Any] = start_sessions(names, target, Bus())
        stopper = threading.Thread(target=lambda: [s.stop() for s in sessions])
        t0 = time.perf_counter()
        stopper.start()
        nxt: list[Any] = start_sessions(names, target, Bus())
        attach[label].append(time.perf_counter() - t0)
        stopper.join()
        n = sum(len(r.reused) for s in nxt for r in s.runners if isinstance(r, BccRunner))
        for s in nxt:
            s.stop()
        print(
            f"    {label}: attach {attach[label][-1]:.3f} s while the last run detached, reused {n}/{expect}"
        )

    with exit_on_signals():
        for r in range(a.rounds):
            order = MODES[r % len(MODES) :] + MODES[: r % len(MODES)]
            for mode in order:
                suffix = NO_ANCHORS if mode.endswith(NO_ANCHORS) else ""
                cache = program_cache.ProgramCache()
                if suffix:
                    cache.anchors = None
                previous = program_cache.install(cache)
                pre = Precompiler(cache)
                try:
                    if mode != "cold":
                        t0 = time.perf_counter()
                        pre.request(story_programs(names, target))
                        if mode.startswith("ready"):
                            pre.idle(600)
                            precompile_s.append(time.perf_counter() - t0)
                    first, reused = run(mode)
                    second, reused2 = run("second" + suffix)
                    if mode.startswith("ready"):
                        overlap(len(reused2), "overlap" + suffix)
                    print(
                        f"round {r + 1}/{a.rounds} {mode:8}: attach {first:.3f} s (reused {len(reused)}), "
                        f"detach {detach[mode][-1]:.3f} s; second attach {second:.3f} s "
                        f"(reused {len(reused2)}), detach {detach['second' + suffix][-1]:.3f} s; "
                        f"compiled ahead {pre.progress().compiled}, waited {cache.waited}",
                        flush=True,
                    )
                finally:
                    pre.stop()
                    program_cache.install(previous)
                    cache.close()
    print(f"probes: {', '.join(names)}  ({a.rounds} rounds)")
    print("  from the view asking to tracing started (first run of a session):")
    for mode in (*MODES, "second", "overlap", "second-na", "overlap-na"):
        print(f"    {mode:10} attach {spread(attach[mode])}")
    print(f"  the precompile itself (ready mode, in the background): {spread(precompile_s)}")
    print("  detach (every session stopped):")
    for mode in (*MODES, "second", "second-na"):
        print(f"    {mode:10} detach {spread(detach[mode])}")
    print("  per BCC probe, median s (cold: compile+load+attach; ready: take+attach):")
    for p in names:
        c, rd = per_probe.get(("cold", p)), per_probe.get(("ready", p))
        if c and rd:
            print(f"    {p:12} {statistics.median(c):7.3f}  {statistics.median(rd):7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
