"""Benchmark (not a test): what writing a recording gzip- or zstd-compressed (FILE.gz, FILE.zst) costs
against plain JSON lines, and what it saves: per event, the time of Recorder.write (batches as the
trace pump hands them over) and the bytes on disk; then the time to read it back with read_recording.
Events are the real story fixture's (a `trace --record` of `small -- echo hi` in the lab), repeated to
--events.

    .venv/bin/python bench/record_gzip.py [--events 200000] [--batch 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

from beefine_tui.events.model import Event, RecordHeader
from beefine_tui.events.record import Recorder
from beefine_tui.replay import open_recording

FIXTURE = Path(__file__).parent.parent / "tests/unit/fixtures/story/run_default.jsonl.gz"


def sample(n: int) -> list[Event]:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.jsonl"
        p.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
        base = list(open_recording(p)[1])
    return [base[i % len(base)] for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    events = sample(a.events)
    batches = [events[i : i + a.batch] for i in range(0, len(events), a.batch)]
    print(f"{a.events} events of a real trace, batches of {a.batch}, best of {a.runs} runs")
    for name in ("plain.jsonl", "packed.jsonl.gz", "packed.jsonl.zst"):
        w, r, size = [], [], 0
        for _ in range(a.runs):
            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / name
                t = time.perf_counter()
                rec = Recorder.open(p, RecordHeader(probes=["bench"]))
                for b in batches:
                    rec.write(b)
                rec.close()
                w.append(time.perf_counter() - t)
                size = p.stat().st_size
                t = time.perf_counter()
                n = sum(1 for _ in open_recording(p)[1])
                r.append(time.perf_counter() - t)
                assert n == a.events
        print(
            f"{name:<16} write {min(w) / a.events * 1e6:6.2f} us/event "
            f"(median {statistics.median(w):.2f} s)  read {min(r) / a.events * 1e6:6.2f} us/event  "
            f"size {size / a.events:7.1f} B/event ({size >> 20} MiB)"
        )


if __name__ == "__main__":
    main()
