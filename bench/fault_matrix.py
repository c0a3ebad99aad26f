"""Every fault cell (situation x ending) N times: how often each ending left something behind.

    sudo .venv/bin/python bench/fault_matrix.py [-n 20] [--situations tui-exec,trace-pull]
        [--endings SIGTERM,SIGKILL] [--detach]

Runs the same cells as tests/fault/ (the real app under `script` in tmux, checked by the pids it
started), with one shared lab for the situations that need a daemon, and prints a table of
clean/leaked per cell plus the first leak seen in each. `--detach` also prints how long detaching a
full trace's probes takes (BCC's one-by-one cleanup against the parallel detach). A benchmark, not a
test: it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fault.cells import ENDINGS, SITUATIONS, run_cell

NEEDS_LAB = ("tui-image", "trace-pull")
# endings that do not apply: ctrl+q is a TUI key (headless trace has none)
SKIP = {("trace-pull", "ctrl+q")}


def detach_figures() -> None:
    """Seconds to stop a trace's probe sessions, one by one (BCC's cleanup) and in parallel (ours)."""
    from beefine_tui.events.bus import Bus
    from beefine_tui.probes import bcc_runner
    from beefine_tui.probes.base import Target
    from beefine_tui.story.trace import DEFAULT_GROUPS, probes_for, start_sessions

    names, _ = probes_for(list(DEFAULT_GROUPS))
    for threads in (1, bcc_runner.DETACH_THREADS):
        sessions = start_sessions(names, Target(lineage_root=1), Bus())
        count = sum(len(ld.bpf.tracepoint_fds) for s in sessions for r in s.runners for ld in r._loaded)
        saved = bcc_runner.DETACH_THREADS
        bcc_runner.DETACH_THREADS = threads
        try:
            t0 = time.perf_counter()
            for s in sessions:
                s.stop()
            took = time.perf_counter() - t0
        finally:
            bcc_runner.DETACH_THREADS = saved
        print(f"detach {count} tracepoints with {threads:2d} thread(s): {took:.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="runs per cell (default 20)")
    ap.add_argument("--situations", default=",".join(SITUATIONS), help="comma-separated subset")
    ap.add_argument("--endings", default=",".join(ENDINGS), help="comma-separated subset")
    ap.add_argument("--detach", action="store_true", help="also time detaching a trace's probes")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("fault_matrix: needs root (real BPF, real dockerd)", file=sys.stderr)
        return 2
    situations = [s for s in args.situations.split(",") if s]
    endings = [e for e in args.endings.split(",") if e]
    unknown = [x for x in situations if x not in SITUATIONS] + [x for x in endings if x not in ENDINGS]
    if unknown or args.n < 1:
        print(f"fault_matrix: unknown {unknown} or -n < 1", file=sys.stderr)
        return 2
    if args.detach:
        detach_figures()
    from beefine_tui.docker import lab as labmod

    shared = None
    name = f"fm{os.getpid() % 100000}"
    if any(s in NEEDS_LAB for s in situations):
        shared = labmod.up(name, seed=True, timeout=180)
    rows: list[tuple[str, str, int, int, float, str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="beefine-fault-") as tmp:
            for situation in situations:
                for ending in endings:
                    if (situation, ending) in SKIP:
                        continue
                    clean = leaked = 0
                    first = ""
                    t0 = time.monotonic()
                    for _ in range(args.n):
                        lab = shared if situation in NEEDS_LAB else None
                        try:
                            out = run_cell(situation, ending, Path(tmp), lab)
                            leaks = out.leaks
                        except AssertionError as e:  # the situation never came about (no ending ran)
                            leaks = [f"setup: {str(e).splitlines()[0]}"]
                        if leaks:
                            leaked += 1
                            first = first or "; ".join(leaks)[:100]
                        else:
                            clean += 1
                    per_run = (time.monotonic() - t0) / args.n
                    rows.append((situation, ending, clean, leaked, per_run, first))
                    line = f"{situation:14} {ending:8} clean {clean:3} leaked {leaked:3} {per_run:5.1f} s/run"
                    print(line, file=sys.stderr, flush=True)
    finally:
        if shared is not None:
            labmod.down(name)
    print(f"\n{'situation':14} {'ending':8} {'clean':>5} {'leaked':>6} {'s/run':>6}  first leak")
    for situation, ending, clean, leaked, per_run, first in rows:
        print(f"{situation:14} {ending:8} {clean:5} {leaked:6} {per_run:6.1f}  {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
