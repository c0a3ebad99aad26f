"""RSS of the real app's live views under a flood (a benchmark, not a test: it prints, asserts nothing).

Each view runs in its own child process (so one view's heap does not colour the next): a headless
BeefineApp (App.run_test) opens the view through the shell, as a user would, and a producer thread in
the same process (where a runner lives) decodes real probe records with the probes' own decoders and
the runner's attribution, and publishes them to the view's bus in ~50 ms batches at --rate events/s.
Printed per view: RSS (and its private part, without shared library pages) before the flood, peak and
steady (median of the last third of the samples),
events sent, shown by the log, and lost on the bus (counted, reported as `lost` events).

    .venv/bin/python bench/ui_memory.py                    # every view, 45k ev/s for 30 s each
    .venv/bin/python bench/ui_memory.py --rate 100000 --seconds 20
    .venv/bin/python bench/ui_memory.py --view files --tracemalloc   # where the memory goes
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from beefine_tui.events.model import Event
from beefine_tui.probes.decode_context import Decoder

VIEWS = ("probe-files", "probe-files-paused", "trace-syscalls", "container-syscalls", "split-pane")


def files_records(n: int) -> list[bytes]:
    """Open records as the files probe's C side writes them, paths varying like a real flood's."""
    from beefine_tui.probes import files

    pid = os.getpid()
    out = []
    for i in range(n):
        path = f"/var/lib/docker/overlay2/{i:064x}/merged/usr/lib/x86_64-linux-gnu/lib{i}.so".encode()
        out.append(
            files.OPEN_REC.pack(
                time.monotonic_ns(), files.OPEN_KIND, pid, pid, 0, b"runc:[2:INIT]", -2, 0o2000000, 0, -100,
                0, 0, path.ljust(256, b"\0"),
            )
        )  # fmt: skip
    return out


def syscalls_records(n: int) -> list[bytes]:
    from beefine_tui.probes import syscalls

    pid = os.getpid()
    nrs = (0, 1, 3, 257, 262, 9, 10, 11, 56, 59, 165, 272)
    return [
        syscalls.SC_REC.pack(
            time.monotonic_ns(), syscalls.SC_KIND, pid, pid + i % 7, 0, b"runc:[2:INIT]",
            nrs[i % len(nrs)], i, 0x7F0000000000 + i, 4096, 0, 0, 0, -2 if i % 3 else i, 1500 + i % 900,
            0, 0, 0, 0,
        )
        for i in range(n)
    ]  # fmt: skip


def rss_anon() -> int:
    """Private memory (bytes): RSS less the file-backed pages (libbcc/LLVM, shared with other processes
    and reclaimable), what the app itself costs."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def producer(
    publish: Callable[[list[Event]], None],
    feeds: list[tuple[Decoder, list[bytes]]],
    rate: int,
    seconds: float,
    stop: threading.Event,
    sent: list[int],
) -> None:
    """Decode records with the probes' own decoders + the runner's attribution, publish in 50 ms batches
    (what a runner does); records are re-stamped so the log sees time moving on."""
    from beefine_tui.probes.attribution import Attributor
    from beefine_tui.probes.decode_context import DecodeContext, attributed

    ctx = DecodeContext()
    decoders = [(attributed(dec, Attributor(procs=ctx.procs)), recs) for dec, recs in feeds]
    per_batch = max(1, rate // 20)
    t0 = time.perf_counter()
    n = 0
    while not stop.is_set() and time.perf_counter() - t0 < seconds:
        ts = time.monotonic_ns()
        batch = []
        for i in range(per_batch):
            dec, recs = decoders[i % len(decoders)]
            raw = recs[(n + i) % len(recs)]
            ev = dec(ts.to_bytes(8, "little") + raw[8:], ctx)
            if ev is not None:
                batch.append(ev)
        publish(batch)
        n += per_batch
        sent[0] = n
        ahead = n / rate - (time.perf_counter() - t0)
        if ahead > 0:
            time.sleep(ahead)


async def one_view(args: argparse.Namespace) -> None:
    import psutil

    from beefine_tui.app import BeefineApp
    from beefine_tui.appcontext import AppContext
    from beefine_tui.probes import files, syscalls
    from beefine_tui.screens.probe_view import ProbeView
    from beefine_tui.widgets.event_log import EventLog

    name = args.view
    # without --real-probe no BPF is loaded (probe:files would autostart the real probe, host-wide)
    ctx = AppContext(docker_host=None, docker_error="benchmark", bpf_allowed=args.real_probe)
    app = BeefineApp(ctx)
    proc = psutil.Process()
    async with app.run_test(headless=True, size=(args.width, args.height)) as pilot:
        await pilot.pause(0.3)
        shell = app.shell
        if name == "split-pane":
            shell.open_view("probe:files")  # the split pane sits beside another view (ctrl+t)
            await pilot.pause(0.3)
            await shell.toggle_split()
            view = shell.query_one("#split").children[0]
        else:
            key = {"trace-syscalls": "trace-syscalls", "container-syscalls": "container-syscalls"}
            view = shell.open_view(key.get(name, "probe:files"))
        for _ in range(200):
            await pilot.pause(0.02)
            if view.is_mounted and view.query(EventLog):
                break
        assert isinstance(view, ProbeView), type(view)
        if args.real_probe:
            # every autostarted view (the split pane's neighbour too): "before" must include the
            # loaded probes, and the compile (seconds) must not overlap the flood
            for _ in range(600):
                if all(v.session is not None for v in app.query(ProbeView) if v.autostart):
                    break
                await pilot.pause(0.05)
            await pilot.pause(0.5)
        if view.choose:
            # what Start sets once files and syscalls are picked (no BPF is loaded here: the producer
            # below stands in for the runners)
            view._accept = frozenset({"files", "syscalls"})
            view.probes = ("files", "syscalls")
        log = view.event_log
        log.log_widget.focus()
        if name.endswith("-paused"):
            log.pause()  # a user scrolled back: the view holds still while the flood goes on
        await pilot.pause(0.3)
        feeds: list[tuple[Decoder, list[bytes]]] = []
        if "files" in view.probes:
            feeds.append((files.decode, files_records(4096)))
        if "syscalls" in view.probes:
            feeds.append((syscalls.decode, syscalls_records(4096)))
        base, base_anon, base_blocks = proc.memory_info().rss, rss_anon(), sys.getallocatedblocks()
        if args.tracemalloc:
            tracemalloc.start(1)  # one frame: by line is all it prints, and more slows the flood
        stop = threading.Event()
        sent = [0]
        t = threading.Thread(
            target=producer,
            args=(view.bus.publish, feeds, args.rate, args.seconds, stop, sent),
            daemon=True,
            name="producer",
        )
        samples: list[int] = []
        anon: list[int] = []
        t.start()
        start = time.perf_counter()
        snap0 = None
        try:
            while t.is_alive():
                await asyncio.sleep(0.5)
                samples.append(proc.memory_info().rss)
                anon.append(rss_anon())
                if args.tracemalloc and snap0 is None and time.perf_counter() - start > args.seconds / 3:
                    snap0 = tracemalloc.take_snapshot()
        finally:
            stop.set()
            t.join(timeout=5)
        elapsed = time.perf_counter() - start
        await pilot.pause(1.0)
        samples.append(proc.memory_info().rss)
        anon.append(rss_anon())
        tally = view.bus.tally()
        lost = sum(tl.lost_bus + tl.lost_kernel for tl in tally.values())
        tail = max(1, len(samples) // 3)
        steady, steady_anon = statistics.median(samples[-tail:]), statistics.median(anon[-tail:])
        mib = 2**20
        rss = f"RSS before {base / mib:4.0f} peak {max(samples) / mib:4.0f} steady {steady / mib:4.0f} MiB"
        private = f"private {base_anon / mib:4.0f} {max(anon) / mib:4.0f} {steady_anon / mib:4.0f}"
        flow = f"sent {sent[0]:>9,} ({sent[0] / elapsed:,.0f}/s) shown {log.total:>9,} lost (bus) {lost:>9,}"
        print(f"{name:<19} {rss} ({private}) | {flow} | log holds {len(log._events):,}", flush=True)
        # live Python objects against RSS: growth without more blocks is freed memory the heap kept
        blocks = sys.getallocatedblocks()
        print(f"{'':<19} Python blocks allocated: before {base_blocks:,}, after {blocks:,}", flush=True)
        if args.tracemalloc and snap0 is not None:
            snap1 = tracemalloc.take_snapshot()
            cur, peak = tracemalloc.get_traced_memory()
            print(f"  tracemalloc: traced now {cur / mib:.1f} MiB, peak {peak / mib:.1f} MiB")
            print("  tracemalloc, live at the end, by line (top 15):")
            for st in snap1.statistics("lineno")[:15]:
                print(f"    {st.size / mib:7.2f} MiB {st.count:>9,} blocks  {st.traceback[0]}")
            print("  tracemalloc, growth from a third of the flood to the end (top 10):")
            for diff in snap1.compare_to(snap0, "lineno")[:10]:
                print(
                    f"    {diff.size_diff / mib:+7.2f} MiB {diff.count_diff:>+9,} blocks  {diff.traceback[0]}"
                )
    ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--view", choices=VIEWS, help="run only this view (in this process)")
    ap.add_argument("--rate", type=int, default=45_000, help="events per second offered (default 45000)")
    ap.add_argument("--seconds", type=float, default=30.0, help="flood length per view (default 30)")
    ap.add_argument("--tracemalloc", action="store_true", help="print where the memory is (slower)")
    ap.add_argument("--real-probe", action="store_true", help="let views autostart their real probes (root)")
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=50)
    args = ap.parse_args()
    if args.view:
        asyncio.run(one_view(args))
        return
    print(f"{args.rate:,} events/s offered for {args.seconds:.0f} s per view, {args.width}x{args.height}")
    for view in VIEWS:
        cmd = [
            sys.executable,
            __file__,
            "--view",
            view,
            "--rate",
            str(args.rate),
            "--seconds",
            str(args.seconds),
        ]
        cmd += ["--width", str(args.width), "--height", str(args.height)]
        cmd += ["--tracemalloc"] if args.tracemalloc else []
        cmd += ["--real-probe"] if args.real_probe else []
        subprocess.run(cmd, check=False)


if __name__ == "__main__":
    main()
