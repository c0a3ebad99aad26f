"""Benchmark (not a test): a syscall flood through the whole probe path.

BPF program (files probe, openat of a missing path under a private prefix, filtered to the flooding
process) -> ring buffer -> decode into Events -> bus -> a consumer thread encoding JSON lines to
/dev/null. Prints events/s decoded, loss, and the CPU time of the consumer side (the poll/decode
thread and the JSON writer thread), then where the time goes per event.

    sudo .venv/bin/python bench/probe_throughput.py [--seconds 5] [--ring-pages 1024] [--perf]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

from flood import FLOOD


def thread_cpu(tid: int) -> float:
    """CPU seconds (user+sys) of one thread of this process."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_delay(tid: int) -> float:
    """Seconds this thread spent runnable but waiting for a CPU (schedstat)."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def micro(n: int = 200_000) -> dict[str, float]:
    """Per-event cost of the Python parts alone, on a synthetic record (microseconds)."""
    from beefine_tui.events.record import encode_events
    from beefine_tui.probes import files
    from beefine_tui.probes.attribution import Attributor
    from beefine_tui.probes.decode_context import DecodeContext, attributed

    ctx = DecodeContext()
    raw = files.OPEN_REC.pack(
        1,
        files.OPEN_KIND,
        os.getpid(),
        os.getpid(),
        0,
        b"python",
        -2,
        0,
        0,
        -100,
        0,
        0,
        b"/tmp/x/missing".ljust(256, b"\0"),
    )
    out: dict[str, float] = {}
    t0 = time.thread_time()
    for _ in range(n):
        files.OPEN_REC.unpack_from(raw)
    out["struct unpack"] = (time.thread_time() - t0) / n * 1e6
    # what the runner runs per record: the decoder, then the one attribution rule (parent, container)
    decode = attributed(files.decode, Attributor(procs=ctx.procs))
    t0 = time.thread_time()
    for _ in range(n):
        decode(raw, ctx)
    out["decode + attribute -> Event"] = (time.thread_time() - t0) / n * 1e6
    t0 = time.thread_time()
    kept = [decode(raw, ctx) for _ in range(n)]
    out["decode, kept alive"] = (time.thread_time() - t0) / n * 1e6  # + allocation growth and GC
    ev = kept[0]
    assert ev is not None
    del kept
    batch = [ev] * 4096
    t0 = time.thread_time()
    for _ in range(n // len(batch)):
        encode_events(batch)
    out["JSON encode (batch)"] = (time.thread_time() - t0) / (n // len(batch) * len(batch)) * 1e6
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--ring-pages", type=int, default=1024)
    ap.add_argument("--count", type=int, default=50_000_000, help="opens the flooder attempts at most")
    ap.add_argument("--perf", action="store_true", help="force the perf buffer fallback")
    args = ap.parse_args()
    if args.perf:
        os.environ["BEEFINE_FORCE_PERF"] = "1"

    from beefine_tui.events.bus import Bus
    from beefine_tui.events.model import LOST
    from beefine_tui.events.record import encode_events
    from beefine_tui.privileges import require_bpf
    from beefine_tui.probes import files
    from beefine_tui.probes.base import ProbeOptions, Target
    from beefine_tui.probes.bcc_runner import BccRunner

    require_bpf()
    prefix = tempfile.mkdtemp(prefix="beefine-bench-")
    missing = os.path.join(prefix, "missing")
    child = subprocess.Popen([sys.executable, "-c", FLOOD, missing, str(args.count)], stdin=subprocess.PIPE)
    bus = Bus()
    sub = bus.subscribe("bench", capacity=1 << 17)
    stop = threading.Event()
    counts: Counter[str] = Counter()
    writer_tid: list[int] = []

    def writer() -> None:
        writer_tid.append(threading.get_native_id())
        with open(os.devnull, "wb") as out:
            while not stop.is_set() or sub.pending():
                evs = sub.get(0.05, max_events=4096)
                opens = 0
                for ev in evs:
                    if ev.kind == "open":
                        opens += 1
                    elif ev.kind == LOST:
                        counts["lost_" + str(ev.args["source"])] += int(ev.args["count"])
                counts["open"] += opens
                out.write(encode_events(evs))  # what `probe run --json` and recordings write

    runner = files.make_runner(
        ProbeOptions(
            target=Target(pids=frozenset({child.pid})), path_prefix=prefix, ring_pages=args.ring_pages
        )
    )
    wt = threading.Thread(target=writer, name="bench-writer")
    try:
        runner.start(bus.publish)
        assert isinstance(runner, BccRunner)
        poll_thread = runner._thread
        assert poll_thread is not None and poll_thread.native_id is not None
        wt.start()
        time.sleep(0.2)
        cpu0 = {"poll+decode": thread_cpu(poll_thread.native_id), "json writer": thread_cpu(writer_tid[0])}
        wait0 = run_delay(poll_thread.native_id)
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.flush()
        t0 = time.monotonic()
        time.sleep(args.seconds)
        child.kill()
        child.wait()
        elapsed = time.monotonic() - t0
        cpu1 = {"poll+decode": thread_cpu(poll_thread.native_id), "json writer": thread_cpu(writer_tid[0])}
        waited = run_delay(poll_thread.native_id) - wait0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        runner.stop()
        stop.set()
        if wt.is_alive():
            wt.join(30)
        os.rmdir(prefix)

    received = counts["open"]
    lost = counts["lost_kernel"] + counts["lost_perf"] + counts["lost_bus"]
    print(f"buffer: {'perf' if args.perf else 'ring'} ({args.ring_pages} pages), {elapsed:.1f} s of flood")
    print(f"offered (received + lost): {(received + lost) / elapsed:,.0f} events/s")
    print(f"decoded and written:       {received / elapsed:,.0f} events/s")
    print(f"lost: {lost:,} ({dict((k, v) for k, v in counts.items() if k.startswith('lost'))})")
    total_cpu = 0.0
    for name in cpu0:
        used = cpu1[name] - cpu0[name]
        total_cpu += used
        print(f"CPU {name:<12} {used / elapsed * 100:5.1f}% of one core")
    if total_cpu > 0:
        # what one dedicated core would sustain: robust to other load on a shared machine, where the
        # flooder and our threads wait for a CPU and the events/s above measure the scheduler
        print(f"consumer capacity: {received / total_cpu:,.0f} events per CPU-second of our threads")
    print(f"poll thread waited for a CPU {waited / elapsed * 100:.0f}% of the time")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("per event, Python parts alone (us of CPU):")
    for k, v in micro().items():
        print(f"  {k:<16} {v:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
