"""Benchmark (not a test): what the Compare recordings view waits for in its worker (read two trace
recordings, rebuild both stories, render the difference: screens/compare_view.run_compare), per pair
of shipped recordings, as the median of a few runs. Prints seconds, events read and lines shown.

    .venv/bin/python bench/compare_load.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from beefine_tui.screens.compare_view import run_compare
from beefine_tui.story.diff import load_trace

ROOT = Path(__file__).resolve().parent.parent
STORY = ROOT / "tests/unit/fixtures/story"
PAIRS = [
    (STORY / "run_default.jsonl.gz", STORY / "run_no_new_privs.jsonl.gz"),
    (STORY / "run_netlink.jsonl.gz", STORY / "run_network_none.jsonl.gz"),
    (STORY / "run_default.jsonl.gz", ROOT / "examples/small.jsonl.gz"),
    (ROOT / "examples/small.jsonl.gz", ROOT / "examples/layered.jsonl.gz"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    run_compare(*PAIRS[0])  # the probe modules' first import is not the view's cost
    for a, b in PAIRS:
        times = []
        lines = 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            lines = len(run_compare(a, b).lines)
            times.append(time.perf_counter() - t0)
        events = load_trace(a).events + load_trace(b).events
        print(
            f"{a.name} vs {b.name}: {statistics.median(times):.3f} s median of {args.runs} "
            f"(min {min(times):.3f}), {events} events read, {lines} lines shown"
        )


if __name__ == "__main__":
    main()
