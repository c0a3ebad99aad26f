"""Benchmark (not a test): what attaching the story's probes costs a `docker run`.

Median wall time of `docker run --rm <lab small image> true`, with and without the trace attached
(every default probe group following the lab's dockerd lineage, the story engine consuming the
events as `beefine-tui trace` does), measured alternately in blocks in one run, and their ratio.
Attaching takes seconds (clang + bpftrace), so the probes are attached once per block, not per run.

    sudo .venv/bin/python bench/trace_overhead.py [--blocks 3] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time


def docker_run(host: str, image: str) -> float:
    env = dict(os.environ, DOCKER_HOST=host)
    t = time.perf_counter()
    subprocess.run(
        ["docker", "run", "--rm", "--label", "beefine=1", "--label", "beefine.bench=trace", image, "true"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        timeout=60,
    )
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--runs", type=int, default=7, help="runs per block and mode")
    a = ap.parse_args()

    from beefine_tui.docker import lab as labmod
    from beefine_tui.docker.client import connect, exit_on_signals
    from beefine_tui.docker.runner import find_daemon
    from beefine_tui.events.bus import Bus, Subscription
    from beefine_tui.probes.base import Target
    from beefine_tui.story.engine import StoryEngine
    from beefine_tui.story.trace import DEFAULT_GROUPS, probes_for, start_sessions

    names, notes = probes_for(DEFAULT_GROUPS)
    for n in notes:
        print("note:", n)
    with exit_on_signals(), labmod.running_lab(f"bench{os.getpid() % 100000}", timeout=120) as info:
        image = info.images["small"]
        client = connect(info.docker_host)
        data_root = str(client.info()["DockerRootDir"])
        client.close()
        daemon = find_daemon(info.docker_host, data_root)
        assert daemon.dockerd_pid is not None
        extra = (
            frozenset({daemon.containerd_pid})
            if daemon.containerd_pid and not daemon.containerd_is_child
            else frozenset()
        )
        target = Target(lineage_root=daemon.dockerd_pid, pids=extra)
        for _ in range(3):  # warm up the daemon and the page cache
            docker_run(info.docker_host, image)
        plain: list[float] = []
        traced: list[float] = []
        events = 0
        for b in range(a.blocks):
            plain += [docker_run(info.docker_host, image) for _ in range(a.runs)]
            bus = Bus()
            sub = bus.subscribe("bench")
            engine = StoryEngine()
            stop = threading.Event()

            def pump(stop: threading.Event, sub: Subscription, engine: StoryEngine) -> None:
                while not stop.is_set():
                    engine.feed(sub.get(0.05))

            t0 = time.perf_counter()
            sessions = start_sessions(names, target, bus)
            attach = time.perf_counter() - t0
            th = threading.Thread(target=pump, args=(stop, sub, engine), daemon=True)
            th.start()
            try:
                traced += [docker_run(info.docker_host, image) for _ in range(a.runs)]
            finally:
                for s in sessions:
                    s.stop()
                stop.set()
                th.join(2)
                sub.close()
            events += engine.event_count
            print(f"block {b + 1}/{a.blocks}: attach {attach:.1f} s, {engine.event_count} events kept")
        mp, mt = statistics.median(plain), statistics.median(traced)
        print(f"docker run --rm {image} true  ({len(plain)} runs each, alternating blocks)")
        print(f"  without trace: median {mp * 1000:.0f} ms")
        print(f"  with trace:    median {mt * 1000:.0f} ms  ({events} events through the story engine)")
        print(f"  ratio: {mt / mp:.3f}  (aim < 1.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
