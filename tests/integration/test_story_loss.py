"""Loss by phase, for real: the files probe alone, following the lab dockerd's lineage through a
one-page ring, traces a `docker run`; the ring overflows. The story's count of lost events equals
the kernel's own counters (read with bpftool, not through BCC), every loss report says when it
happened within the run, and the phases it overlapped say so in the render and the JSON summary."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from beefine_tui.docker.lab import LabInfo
from beefine_tui.docker.runner import find_daemon
from beefine_tui.events.bus import Bus
from beefine_tui.probes import files
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.bcc_runner import BccRunner
from beefine_tui.story.render import timeline_lines
from beefine_tui.story.trace import STORY_SKIPS, TraceRun, daemon_target

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def map_id(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("map_id:"):
                return int(line.split()[1])
    raise AssertionError(f"fd {fd} is not a BPF map")


def kernel_lost(mid: int) -> int:
    """Sum of the program's `lost` array (bpf/common.h), as bpftool reads it from the kernel."""
    out = subprocess.run(["bpftool", "map", "dump", "id", str(mid), "-j"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    total = 0
    for entry in json.loads(out.stdout):
        value = entry.get("formatted", {}).get("value", entry.get("value"))
        if isinstance(value, list):  # raw bytes as hex strings, little-endian u64
            value = int.from_bytes(bytes(int(b, 16) for b in value), "little")
        total += int(value)
    return total


def test_a_run_through_a_tiny_ring_says_what_it_lost_and_when(lab: LabInfo, lab_client: Any) -> None:
    data_root = str(lab_client.info()["DockerRootDir"])
    daemon = find_daemon(lab.docker_host, data_root)
    assert daemon.dockerd_pid is not None
    bus = Bus()
    opts = ProbeOptions(target=daemon_target(daemon), ring_pages=1, skip_kinds=STORY_SKIPS)
    runner = files.make_runner(opts)
    assert isinstance(runner, BccRunner)
    runner.start(bus.publish)
    try:
        lost_map = map_id(runner._loaded[0].bpf[b"lost"].map_fd)
        tr = TraceRun(
            lab_client, lab.images["small"], bus, command=["true"], pull=False,
            exec_roots=daemon.exec_roots, data_root=data_root,
        )  # fmt: skip
        tr.start_pump()
        t_start = time.monotonic_ns()
        try:
            res = tr.run(timeout=60)
            assert res.exit_code == 0, res.error
            time.sleep(1.5)  # the run is over: let the runner report its last loss (every 0.5 s)
            in_kernel = kernel_lost(lost_map)
            t_end = time.monotonic_ns()
            time.sleep(0.2)  # the pump takes the last batch
            tl = tr.timeline()
        finally:
            tr.stop()
    finally:
        runner.stop()
    assert in_kernel > 0, "a one-page ring did not overflow during a docker run: nothing was checked"
    assert tl.lost == in_kernel  # exact: what the story says is what the kernel counted
    assert sum(x.count for x in tl.losses) == tl.lost
    for x in tl.losses:
        assert x.first_ts is not None and x.last_ts is not None, x
        assert t_start <= x.first_ts <= x.last_ts <= t_end, (t_start, x, t_end)
    placed = {p.name: p.lost for p in tl.phases if p.lost}
    print(f"lost {tl.lost} (kernel's count {in_kernel}) in {len(tl.losses)} reports; by phase {placed}")
    assert placed, "no loss overlapped a phase of a run whose ring overflowed while it ran"
    for name, n in placed.items():
        p = tl.phase(name)
        assert p.start_ns is not None
        overlapping = [
            x for x in tl.losses
            if x.first_ts is not None and x.last_ts is not None
            and x.first_ts <= (p.end_ns or p.start_ns) and x.last_ts >= p.start_ns
        ]  # fmt: skip
        assert n == sum(x.count for x in overlapping)
    assert tl.summary()["lost_by_phase"] == placed
    text = "\n".join(timeline_lines(tl))
    assert f"warning: {tl.lost} events were lost" in text
    assert text.count("while this phase ran") == len(placed)
