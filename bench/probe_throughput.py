"""Benchmark (not a test): a syscall flood through the whole probe path.

BPF program (files probe, openat of a missing path under a private prefix, filtered to the flooding
process) -> ring buffer -> decode into Events -> bus -> a consumer thread encoding JSON lines to
/dev/null. Prints events/s decoded, loss, and the CPU time of the consumer side (the poll/decode
thread and the JSON writer thread), then where the time goes per event.

It runs twice, side by side: first a bare reader of the same ring (records counted, nothing decoded:
the ceiling a Python consumer of this ring has here), then the whole path. The flooder is the C one
when a compiler is there (bench/flood.py); it counts its own opens, so each run also says whether
received + lost adds up to exactly what was offered, and a first run of it with no probe attached
says how many opens/s this machine can offer at all.

    sudo .venv/bin/python bench/probe_throughput.py [--seconds 5] [--ring-pages 1024] [--perf]
                                                    [--flood auto|c|python] [--no-bare] [--rate N]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter

from flood import flood_program


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


def flood_for(child: subprocess.Popen[bytes], seconds: float) -> tuple[int | None, float]:
    """Let a waiting flooder go for `seconds`, then stop it. Returns the opens it says it made (the C
    flood prints them on SIGTERM; None from the Python one) and the seconds it ran."""
    assert child.stdin is not None
    child.stdin.write(b"go\n")
    child.stdin.flush()
    t0 = time.monotonic()
    time.sleep(seconds)
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=10)
    elapsed = time.monotonic() - t0
    return (int(out) if out.strip().isdigit() else None), elapsed


def reap(child: subprocess.Popen[bytes]) -> None:
    """Kill a flooder that is still running (the run failed half way)."""
    if child.poll() is None:
        child.kill()
        child.wait()


def flood_alone(flood: list[str], seconds: float) -> float:
    """Opens/s the C flooder makes with nothing attached: the most any probe run here can be offered."""
    with tempfile.TemporaryDirectory(prefix="beefine-bench-") as prefix:
        argv = [*flood, os.path.join(prefix, "missing"), "500000000"]
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            made, elapsed = flood_for(child, seconds)
        finally:
            reap(child)
    return made / elapsed if made is not None else 0.0


def measure(args: argparse.Namespace, flood: list[str], bare: bool) -> float:
    """One flood of args.seconds through the files probe; bare: records are counted where they are
    read, not decoded (no Event, no bus, no JSON). Prints the run's figures, returns its records per
    CPU-second of our threads (0 when they used none)."""
    from beefine_tui.events.bus import Bus
    from beefine_tui.events.model import LOST
    from beefine_tui.events.record import encode_events
    from beefine_tui.probes import bcc_runner, files
    from beefine_tui.probes.base import ProbeOptions, Target
    from beefine_tui.probes.bcc_runner import BccRunner

    prefix = tempfile.mkdtemp(prefix="beefine-bench-")
    missing = os.path.join(prefix, "missing")
    argv = [*flood, missing, str(args.count)] + ([str(args.rate)] if args.rate else [])
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    bus = Bus()
    sub = bus.subscribe("bench", capacity=1 << 17)
    stop = threading.Event()
    counts: Counter[str] = Counter()
    writer_tid: list[int] = []
    bare_records = [0]

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

    def count_only(_decode: object, _attributor: object) -> object:
        def read(raw: bytes, ctx: object) -> None:
            bare_records[0] += 1

        return read

    original_attributed = bcc_runner.attributed
    if bare:
        bcc_runner.attributed = count_only  # type: ignore[assignment]
    runner = files.make_runner(
        ProbeOptions(
            target=Target(pids=frozenset({child.pid})), path_prefix=prefix, ring_pages=args.ring_pages
        )
    )
    wt = threading.Thread(target=writer, name="bench-writer")
    offered_by_child: int | None = None
    try:
        runner.start(bus.publish)
        assert isinstance(runner, BccRunner)
        poll_thread = runner._thread
        assert poll_thread is not None and poll_thread.native_id is not None
        wt.start()
        time.sleep(0.2)
        cpu0 = {"poll+decode": thread_cpu(poll_thread.native_id), "json writer": thread_cpu(writer_tid[0])}
        wait0 = run_delay(poll_thread.native_id)
        offered_by_child, elapsed = flood_for(child, args.seconds)
        cpu1 = {"poll+decode": thread_cpu(poll_thread.native_id), "json writer": thread_cpu(writer_tid[0])}
        waited = run_delay(poll_thread.native_id) - wait0
    finally:
        reap(child)
        runner.stop()
        bcc_runner.attributed = original_attributed
        stop.set()
        if wt.is_alive():
            wt.join(30)
        os.rmdir(prefix)

    received = bare_records[0] if bare else counts["open"]
    lost = counts["lost_kernel"] + counts["lost_perf"] + counts["lost_bus"]
    what = "bare reader (records counted, not decoded)" if bare else "whole path (decode, bus, JSON)"
    print(f"== {what}")
    print(f"buffer: {'perf' if args.perf else 'ring'} ({args.ring_pages} pages), {elapsed:.1f} s of flood")
    print(f"offered (received + lost): {(received + lost) / elapsed:,.0f} events/s")
    print(f"{'read' if bare else 'decoded and written'}: {received / elapsed:,.0f} events/s")
    print(f"lost: {lost:,} ({dict((k, v) for k, v in counts.items() if k.startswith('lost'))})")
    if offered_by_child is not None:
        verdict = (
            "exact"
            if received + lost == offered_by_child
            else f"NOT exact: off by {received + lost - offered_by_child:+,}"
        )
        print(
            f"the flooder made {offered_by_child:,} opens; received + lost = {received + lost:,}: {verdict}"
        )
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
    return received / total_cpu if total_cpu > 0 else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--ring-pages", type=int, default=1024)
    ap.add_argument("--count", type=int, default=500_000_000, help="opens the flooder attempts at most")
    ap.add_argument("--perf", action="store_true", help="force the perf buffer fallback")
    ap.add_argument("--flood", choices=("auto", "c", "python"), default="auto", help="auto: C when it builds")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare reader's run")
    ap.add_argument("--rate", type=int, default=0, help="opens/s the C flood offers at most (0: all it can)")
    args = ap.parse_args()
    if args.perf:
        os.environ["BEEFINE_FORCE_PERF"] = "1"

    from beefine_tui.privileges import require_bpf

    require_bpf()
    with tempfile.TemporaryDirectory(prefix="beefine-flood-") as build:
        flood, kind = flood_program(args.flood, build)
        if args.rate and kind != "c":
            raise SystemExit("--rate needs the C flood")
        print(f"flooder: {kind}" + ("" if kind == "c" else " (it cannot tell how many opens it made)"))
        if kind == "c" and not args.rate:
            print(f"the flooder alone, no probe attached: {flood_alone(flood, args.seconds):,.0f} opens/s")
        bare = None if args.no_bare else measure(args, flood, bare=True)
        full = measure(args, flood, bare=False)
    if bare:
        print(
            f"whole path vs bare reader, per CPU-second of our threads: {full:,.0f} / "
            f"{bare:,.0f} = {full / bare:.2f}"
        )
    print("per event, Python parts alone (us of CPU):")
    for k, v in micro().items():
        print(f"  {k:<16} {v:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
