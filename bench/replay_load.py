"""Benchmark (not a test): a 1,000,000-event recording in the replay screen's engine and in `export`.

Prints the seconds to open it (ReplayIndex.load: read, check every line, index, compress) and to jump
to its end (the cursor's seek plus the log window the screen then draws), the peak RSS of the process
that did it (aim: under 2 s and 300 MB), then the events/s of `beefine-tui export --csv` on the same
file. Each figure comes from a fresh child process, so one measurement's memory is not another's.
Events are the real story fixture's (a `trace --record` of `small -- echo hi` in the lab) without its
docker events, so it reads as a long probe run, repeated with increasing times.

    .venv/bin/python bench/replay_load.py [--events 1000000] [--name rec.jsonl.zst] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

FIXTURE = Path(__file__).parent.parent / "tests/unit/fixtures/story/run_default.jsonl.gz"
BATCH = 1000


def build(path: Path, n: int) -> None:
    from beefine_tui.events.model import RecordHeader
    from beefine_tui.events.record import Recorder
    from beefine_tui.replay import open_recording

    # a long probe run (a trace is thousands of events): the fixture without the trace runner's own
    # docker events, so the index is not a story's (the story engine keeps at most 200k events anyway)
    base = [ev for ev in open_recording(FIXTURE)[1] if ev.probe != "docker"]
    span = base[-1].ts - base[0].ts + 1
    rec = Recorder.open(path, RecordHeader(probes=["bench"], command=["bench/replay_load.py"]))
    batch = []
    for i in range(n):
        ev = base[i % len(base)]
        # each repetition later than the last, as one long recording would be
        batch.append(msgspec.structs.replace(ev, ts=ev.ts + (i // len(base)) * span))
        if len(batch) == BATCH:
            rec.write(batch)
            batch = []
    rec.write(batch)
    rec.close()


def vm_hwm_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry the forking parent's over)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_open(path: str) -> None:
    from beefine_tui.replay import ReplayCursor, ReplayIndex

    t = time.perf_counter()
    index = ReplayIndex.load(path)
    opened = time.perf_counter() - t
    cursor = ReplayCursor(index)
    t = time.perf_counter()
    cursor.seek(index.count)  # the `>` key
    _, window = index.window(0, cursor.position, 5000)  # what the screen's log then shows
    jumped = time.perf_counter() - t
    t = time.perf_counter()
    cursor.seek(index.count // 2)
    index.window(index.count, cursor.position, 5000)  # back to the middle: a new window
    back = time.perf_counter() - t
    assert len(window) == min(5000, index.count)
    print(f"{index.count} {opened:.3f} {jumped:.4f} {back:.4f} {vm_hwm_mb():.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--name", default="rec.jsonl.zst", help="the file's name: .zst, .gz or plain")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child-open", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_open:
        child_open(a.child_open)
        return
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / a.name
        t = time.perf_counter()
        build(path, a.events)
        print(
            f"built {a.events} events in {time.perf_counter() - t:.1f} s: {path.name}, "
            f"{path.stat().st_size / 2**20:.1f} MiB ({path.stat().st_size / a.events:.1f} B/event)"
        )
        opens, jumps, backs, rss = [], [], [], []
        for _ in range(a.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--child-open", str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert int(out[0]) == a.events
            opens.append(float(out[1]))
            jumps.append(float(out[2]))
            backs.append(float(out[3]))
            rss.append(float(out[4]))
        print(
            f"replay engine: open {statistics.median(opens):.2f} s (min {min(opens):.2f}), "
            f"jump to the end {statistics.median(jumps) * 1e3:.1f} ms, back to the middle "
            f"{statistics.median(backs) * 1e3:.1f} ms, peak RSS {max(rss):.0f} MB "
            f"(aim: open + jump < 2 s, RSS < 300 MB; median of {a.runs} runs)"
        )
        rates = []
        for _ in range(a.runs):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "beefine_tui", "export", str(path), "--csv"],
                stdout=subprocess.DEVNULL,
                check=True,
            )
            rates.append(a.events / (time.perf_counter() - t))
        rate = statistics.median(rates)
        print(f"export --csv: {rate:,.0f} events/s (median of {a.runs}, the process's start included)")


if __name__ == "__main__":
    main()
