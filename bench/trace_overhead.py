"""Benchmark (not a test): what attaching the story's probes costs a `docker run`, and where it goes.

`docker run --rm <lab small image> true`, untraced and traced, in blocks that alternate within each
round: untraced, then each probe group alone, then every group together (each following the lab's
dockerd lineage, the story engine consuming the events as `beefine-tui trace` does); `--blocks`
such alternations make one round, so that a round's traced and untraced runs are interleaved and a
drift of the machine's speed falls on both. Per mode it prints the median wall time, its ratio to
untraced, the spread of the per-round medians, and:
- in-kernel cost: run count and run time of every BPF program over the block (BPF_ENABLE_STATS
  held by probes/inventory.StatsGuard), per probe and the costliest tracepoints, per docker run;
- the consumer's CPU: this process's CPU time (ring buffer reading, decoding, attribution, bus,
  story engine) per docker run, over and above an untraced block's, and the part of it spent on the
  runners' poll threads (waking, draining, decoding, attributing);
- events kept and lost (kernel, bus): loss is printed, never hidden;
- each round's ratio (the median of its traced runs to the median of its untraced runs) with a 95%
  interval (bootstrap over the round's runs: how far noise alone moves it); with `--blocks 1`, also
  to the mean of the untraced medians of this round and the next (a closing untraced block follows
  the last round).
Each run is timed with a blocking wait: subprocess's wait(timeout=...) polls in steps of up to
50 ms, which is what made earlier runs here fall only at 360, 410, 460... ms.
Probes are attached once per block; a program cache keeps the compiled objects, so only the first
round compiles (bench/attach_time.py times that).
`--drain 0,0.025` runs every traced mode once per value of output_poll.DRAIN_EVERY_S (0: drain on
every wakeup, as before it existed), side by side in the same rounds.

    sudo .venv/bin/python bench/trace_overhead.py [--rounds 3] [--blocks 4] [--runs 5]
        [--modes all,process] [--drain 0,0.025]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

RUN_TIMEOUT_S = 60.0


def docker_run(host: str, image: str) -> float:
    """Seconds from spawning `docker run` to reaping it. Waited for with a blocking waitpid and a
    watchdog that kills it after RUN_TIMEOUT_S: subprocess's wait(timeout=...) polls with sleeps that
    grow to 50 ms, which rounded every run up to the next 50 ms step (360, 410, 460 ms...) and made
    one round's median jump by 50 ms against the next."""
    env = dict(os.environ, DOCKER_HOST=host)
    t = time.perf_counter()
    proc = subprocess.Popen(
        ["docker", "run", "--rm", "--label", "beefine=1", "--label", "beefine.bench=trace", image, "true"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    watchdog = threading.Timer(RUN_TIMEOUT_S, proc.kill)
    watchdog.start()
    try:
        rc = proc.wait()
    finally:
        watchdog.cancel()
    took = time.perf_counter() - t
    if rc != 0:
        raise subprocess.CalledProcessError(rc, proc.args)
    return took


def our_tracepoints() -> dict[int, str]:
    """prog id -> tracepoint it is attached to by this process (bpftool perf list)."""
    out = subprocess.run(["bpftool", "perf", "list", "-j"], capture_output=True, text=True, check=True)
    return {
        int(e["prog_id"]): str(e.get("tracepoint", "?"))
        for e in json.loads(out.stdout or "[]")
        if e.get("pid") == os.getpid()
    }


def thread_cpu_s(names: set[str]) -> float:
    """CPU time (user + system) of this process's threads with these names, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for t in threading.enumerate():
        if t.name not in names or t.native_id is None:
            continue
        try:
            with open(f"/proc/self/task/{t.native_id}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # ended meanwhile
        fields = raw[raw.rindex(b")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


POLL_THREADS = {"beefine-bcc-poll"}


def run_stats(ids: set[int]) -> dict[int, tuple[int, int]]:
    """prog id -> (run_cnt, run_time_ns) now (bpftool leaves zeros out)."""
    from beefine_tui.probes.inventory import list_programs

    return {p.id: (p.run_cnt or 0, p.run_time_ns or 0) for p in list_programs() if p.id in ids}


@dataclass
class Mode:
    name: str
    probes: list[str]
    drain: float | None = None  # output_poll.DRAIN_EVERY_S for this mode (None: as shipped)
    walls: list[list[float]] = field(default_factory=list)  # per block
    round_of: list[int] = field(default_factory=list)  # each block's round
    cpu_s: float = 0.0  # this process's CPU during the blocks
    poll_s: float = 0.0  # ...of which on the runners' poll threads
    block_cpu: list[float] = field(default_factory=list)  # CPU per docker run, per block (spread)
    runs: int = 0
    kept: int = 0
    lost: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bpf_cnt: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # per probe
    bpf_ns: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tp_ns: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # per probe:tracepoint
    tp_cnt: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    attach_s: list[float] = field(default_factory=list)


def by_round(mode: Mode) -> list[list[float]]:
    """The mode's run times pooled per round, in round order."""
    rounds: dict[int, list[float]] = defaultdict(list)
    for r, ws in zip(mode.round_of, mode.walls, strict=True):
        rounds[r].extend(ws)
    return [rounds[r] for r in sorted(rounds)]


def ratio_interval(traced: list[float], untraced: list[float], n: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of median(traced) / median(untraced): the spread noise alone gives a
    round's ratio with this many runs."""
    rng = random.Random(0)
    ratios = sorted(
        statistics.median(rng.choices(traced, k=len(traced)))
        / statistics.median(rng.choices(untraced, k=len(untraced)))
        for _ in range(n)
    )
    return ratios[int(n * 0.025)], ratios[int(n * 0.975) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=4, help="blocks per mode per round, interleaved")
    ap.add_argument("--runs", type=int, default=5, help="docker runs per block")
    ap.add_argument("--modes", default="", help="comma-separated groups and/or 'all' (default: each, all)")
    ap.add_argument("--top", type=int, default=8, help="costliest tracepoints listed per mode")
    ap.add_argument("--drain", default="", help="comma-separated DRAIN_EVERY_S values, each a variant")
    a = ap.parse_args()

    from beefine_tui.docker import lab as labmod
    from beefine_tui.docker.client import connect, exit_on_signals
    from beefine_tui.docker.runner import find_daemon
    from beefine_tui.events.bus import Bus, Subscription
    from beefine_tui.probes import output_poll, program_cache
    from beefine_tui.probes.bcc_runner import BccRunner
    from beefine_tui.probes.inventory import stats_on
    from beefine_tui.story.engine import StoryEngine
    from beefine_tui.story.trace import DEFAULT_GROUPS, daemon_target, probes_for, start_sessions

    wanted = [m for m in a.modes.split(",") if m] or [*DEFAULT_GROUPS, "all"]
    drains: list[float | None] = [float(d) for d in a.drain.split(",") if d] or [None]
    modes: list[Mode] = []
    for m in wanted:
        names, notes = probes_for(list(DEFAULT_GROUPS) if m == "all" else [m])
        for note in notes:
            print(f"note ({m}):", note)
        for d in drains:
            modes.append(Mode(m if d is None else f"{m}@{d:g}", names, d))
    plain = Mode("untraced", [])
    cache = program_cache.ProgramCache()
    program_cache.install(cache)
    with (
        exit_on_signals(),
        labmod.running_lab(f"bench{os.getpid() % 100000}", timeout=120) as info,
        stats_on(),
    ):
        image = info.images["small"]
        client = connect(info.docker_host)
        data_root = str(client.info()["DockerRootDir"])
        client.close()
        daemon = find_daemon(info.docker_host, data_root)
        assert daemon.dockerd_pid is not None
        target = daemon_target(daemon)
        for _ in range(3):  # warm up the daemon and the page cache
            docker_run(info.docker_host, image)

        def block(mode: Mode) -> None:
            if not mode.probes:
                c0 = time.process_time()
                mode.walls.append([docker_run(info.docker_host, image) for _ in range(a.runs)])
                mode.cpu_s += time.process_time() - c0
                mode.block_cpu.append((time.process_time() - c0) / a.runs)
                mode.runs += a.runs
                return
            shipped = output_poll.DRAIN_EVERY_S
            if mode.drain is not None:
                output_poll.DRAIN_EVERY_S = mode.drain
            bus = Bus()
            sub = bus.subscribe("bench")
            engine = StoryEngine()
            stop = threading.Event()
            lost: dict[str, int] = defaultdict(int)

            def pump(stop: threading.Event, sub: Subscription, engine: StoryEngine) -> None:
                while not stop.is_set():
                    batch = sub.get(0.05)
                    for ev in batch:
                        if ev.kind == "lost":
                            lost[str(ev.args.get("source", "?"))] += int(ev.args.get("count", 0))
                    engine.feed(batch)

            t0 = time.perf_counter()
            sessions = start_sessions(mode.probes, target, bus)
            mode.attach_s.append(time.perf_counter() - t0)
            by_probe: dict[str, set[int]] = {}
            for s in sessions:
                for r in s.runners:
                    if isinstance(r, BccRunner):
                        by_probe.update(r.prog_ids_by_probe())
            ids = set().union(*by_probe.values()) if by_probe else set()
            tps = our_tracepoints()
            th = threading.Thread(target=pump, args=(stop, sub, engine), daemon=True)
            th.start()
            before = run_stats(ids)
            p0 = thread_cpu_s(POLL_THREADS)
            c0 = time.process_time()
            try:
                mode.walls.append([docker_run(info.docker_host, image) for _ in range(a.runs)])
            finally:
                mode.cpu_s += time.process_time() - c0
                mode.block_cpu.append((time.process_time() - c0) / a.runs)
                mode.poll_s += thread_cpu_s(POLL_THREADS) - p0
                after = run_stats(ids)
                for s in sessions:
                    s.stop()
                if cache.anchors is not None:
                    # the app closes them in the background a few seconds later: here, before the
                    # next block, so their unregister does not run during its docker runs
                    cache.anchors.drop()
                stop.set()
                th.join(2)
                sub.close()
                output_poll.DRAIN_EVERY_S = shipped
            mode.runs += a.runs
            mode.kept += engine.event_count
            for k, v in lost.items():
                mode.lost[k] += v
            for probe, pids in by_probe.items():
                for pid in pids:
                    cnt = after.get(pid, (0, 0))[0] - before.get(pid, (0, 0))[0]
                    ns = after.get(pid, (0, 0))[1] - before.get(pid, (0, 0))[1]
                    mode.bpf_cnt[probe] += cnt
                    mode.bpf_ns[probe] += ns
                    tp = f"{probe}:{tps.get(pid, '?')}"
                    mode.tp_ns[tp] += ns
                    mode.tp_cnt[tp] += cnt

        for r in range(a.rounds):
            for b in range(a.blocks):
                for mode in [plain, *modes]:
                    block(mode)
                    mode.round_of.append(r)
                    med = statistics.median(mode.walls[-1]) * 1000
                    at = f"round {r + 1}/{a.rounds} block {b + 1}/{a.blocks}"
                    print(f"{at} {mode.name:10} median {med:6.0f} ms", flush=True)
        # one more untraced block, so that every round's traced blocks have an untraced one before
        # and after them: a ratio to their mean cancels a drift of the machine's speed across a round
        block(plain)
        plain.round_of.append(a.rounds)
        print(f"closing     {plain.name:10} median {statistics.median(plain.walls[-1]) * 1000:6.0f} ms")
        program_cache.install(None)
        cache.close()

    base = statistics.median([w for ws in plain.walls for w in ws])
    base_cpu = plain.cpu_s / max(plain.runs, 1)
    print()
    print(
        f"docker run --rm {image} true: {a.rounds} rounds x {a.blocks} blocks x {a.runs} runs per mode, "
        "blocks alternating"
    )
    print(
        f"{'mode':10} {'median':>7} {'ratio':>6} {'round medians':>22} {'attach':>7} "
        f"{'kernel/run':>10} {'runs/run':>9} {'cpu/run':>8} {'poll/run':>8} "
        f"{'events/run':>10}  lost  (cpu/run per block)"
    )
    for mode in [plain, *modes]:
        allw = [w for ws in mode.walls for w in ws]
        med = statistics.median(allw)
        rmeds = sorted(statistics.median(ws) * 1000 for ws in by_round(mode))
        n = max(mode.runs, 1)
        kernel_ms = sum(mode.bpf_ns.values()) / n / 1e6
        runs_per = sum(mode.bpf_cnt.values()) / n
        cpu_ms = (mode.cpu_s / n - base_cpu) * 1000 if mode.probes else mode.cpu_s / n * 1000
        poll_ms = mode.poll_s / n * 1000
        sub = base_cpu if mode.probes else 0.0
        cpu_spread = "/".join(f"{(c - sub) * 1000:.0f}" for c in sorted(mode.block_cpu))
        attach = statistics.median(mode.attach_s) if mode.attach_s else 0.0
        lost = ", ".join(f"{k} {v}" for k, v in sorted(mode.lost.items())) or "0"
        print(
            f"{mode.name:10} {med * 1000:5.0f}ms {med / base:6.3f} "
            f"{'/'.join(f'{x:.0f}' for x in rmeds):>22} {attach:6.2f}s "
            f"{kernel_ms:8.2f}ms {runs_per:9.0f} {cpu_ms:6.1f}ms {poll_ms:6.1f}ms "
            f"{mode.kept / n:10.0f}  {lost}  ({cpu_spread})"
        )
    base_mean = statistics.fmean(w for ws in plain.walls for w in ws)
    print("per-run wall times, runs per 10 ms bin:")
    for mode in [plain, *modes]:
        bins: dict[int, int] = defaultdict(int)
        for w in (w for ws in mode.walls for w in ws):
            bins[int(w * 100)] += 1  # 10 ms bins
        spread = "  ".join(f"{b * 10}-{b * 10 + 9}: {n}" for b, n in sorted(bins.items()))
        mean = statistics.fmean(w for ws in mode.walls for w in ws)
        print(f"  {mode.name:10} mean {mean * 1000:4.0f} ms, ratio {mean / base_mean:5.3f} | {spread}")
    # with one block per round, a drift of the machine's speed within the round falls on the blocks
    # run later: the mean of the untraced blocks before and after a round's traced ones cancels it;
    # with several blocks, the round's own ratio is already interleaved
    bracket = a.blocks == 1
    print("per-round ratios, in round order: the median of a round's traced runs to that of its untraced")
    print(
        "runs [95% bootstrap interval]"
        + (" | to the mean of the untraced medians of this round" if bracket else "")
    )
    if bracket:
        print("and the next (a closing untraced block after the last round):")
    plain_rounds = by_round(plain)
    plain_meds = [statistics.median(ws) for ws in plain_rounds]
    for mode in modes:
        rounds = by_round(mode)
        meds = [statistics.median(ws) for ws in rounds]
        own = [m / plain_meds[r] for r, m in enumerate(meds)]
        lows_highs = [ratio_interval(ws, plain_rounds[r]) for r, ws in enumerate(rounds)]
        line = (
            f"  {mode.name:10} "
            + " ".join(f"{x:.3f} [{lo:.3f}..{hi:.3f}]" for x, (lo, hi) in zip(own, lows_highs, strict=True))
            + f" (worst {max(own):.3f})"
        )
        if bracket:
            aba = [m / statistics.fmean(plain_meds[r : r + 2]) for r, m in enumerate(meds)]
            line += f" | {' '.join(f'{x:.3f}' for x in aba)} (worst {max(aba):.3f})"
        print(line)
    print("  (ratio: to untraced; round medians in ms, sorted; attach: median, first round compiles;")
    print("   kernel/run: BPF run time per docker run; cpu/run: our process's CPU beyond an untraced block;")
    print("   poll/run: the part of cpu/run on the runners' poll threads)")
    for mode in modes:
        if mode.name.partition("@")[0] != "all" and len(modes) > 1:
            continue
        n = max(mode.runs, 1)
        print(f"\nin-kernel cost per docker run, mode {mode.name}, per probe:")
        for probe, ns in sorted(mode.bpf_ns.items(), key=lambda kv: -kv[1]):
            cnt = mode.bpf_cnt[probe]
            avg = ns / cnt if cnt else 0
            print(f"  {probe:12} {ns / n / 1e6:7.3f} ms  {cnt / n:8.0f} runs  {avg:6.0f} ns/run")
        print(f"costliest tracepoints (top {a.top}):")
        for tp, ns in sorted(mode.tp_ns.items(), key=lambda kv: -kv[1])[: a.top]:
            cnt = mode.tp_cnt[tp]
            print(
                f"  {tp:40} {ns / n / 1e6:7.3f} ms  {cnt / n:8.0f} runs  {ns / cnt if cnt else 0:6.0f} ns/run"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
