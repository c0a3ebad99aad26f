"""Dashboard figures against `docker stats --no-stream` for a container that burns CPU and holds memory.
(Named *_live so it does not clash with tests/unit/test_stats.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from beefine_tui.cli import main
from beefine_tui.docker.stats import StatsCollector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "kB": 1000, "MB": 10**6, "GB": 10**9}


def to_bytes(s: str) -> float:
    m = re.match(r"([\d.]+)\s*([A-Za-z]+)", s.strip())
    assert m, s
    return float(m.group(1)) * _UNITS[m.group(2)]


def docker_cli() -> str:
    for p in ("/usr/bin/docker", "/usr/local/bin/docker"):
        if shutil.which(p):
            return p
    pytest.skip("no docker CLI to compare with")


def docker_stats(host: str, cid: str) -> dict[str, str]:
    out = subprocess.run(
        [docker_cli(), "-H", host, "stats", "--no-stream", "--format", "{{json .}}", cid],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    row: dict[str, str] = json.loads(out.stdout.strip().splitlines()[0])
    return row


def docker_cpu_percent(sample: dict[str, Any]) -> float | None:
    """docker/cli stats_helpers.go calculateCPUPercentUnix on one stats sample (cpu vs precpu)."""
    cpu, pre = sample["cpu_stats"], sample["precpu_stats"]
    if not pre.get("system_cpu_usage"):
        return None
    cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    sys_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    ncpu = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or [])
    return cpu_delta / sys_delta * ncpu * 100.0 if sys_delta > 0 else None


def test_cpu_and_memory_agree_with_docker_stats(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    # 40 MiB in tmpfs (shmem, never "inactive file") and a busy loop capped at half a CPU
    script = "dd if=/dev/zero of=/dev/shm/hold bs=1M count=40 2>/dev/null; while :; do :; done"
    c = lab_client.containers.run(
        lab.images["small"],
        ["sh", "-c", script],
        detach=True,
        labels=cleanup_containers,
        nano_cpus=500_000_000,
        mem_limit="128m",
        shm_size="64m",
    )
    col = StatsCollector(lab_client)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the memory is held
        snap = col.refresh()
        row = next((r for r in snap.rows if r.id == c.id), None)
        if row and row.mem_bytes and row.mem_bytes > 40 << 20:
            break
        time.sleep(0.5)

    # CPU over the same windows: the daemon's stats stream (what `docker stats` reads) sends a sample about
    # every second, each with the previous one as precpu; we refresh as each arrives, so both figures
    # cover the same second, shifted by the few ms it takes us to read. Compared as the mean over 8
    # consecutive windows: a window's shift moves CPU time between it and the next (a quota-capped
    # loop runs in 50 ms bursts), and over consecutive windows those moves cancel, leaving only the ends'
    # (a median of single seconds was 5.4% off once on a loaded machine, the error all at the edges).
    ours_cpu: list[float] = []
    theirs_cpu: list[float] = []
    stream = lab_client.api.stats(c.id, stream=True, decode=True)
    try:
        for sample in stream:
            row = next(r for r in col.refresh().rows if r.id == c.id)
            theirs = docker_cpu_percent(sample)
            if row.cpu_percent is None or theirs is None:
                ours_cpu.clear()  # only consecutive windows
                theirs_cpu.clear()
                continue
            ours_cpu.append(row.cpu_percent)
            theirs_cpu.append(theirs)
            if len(ours_cpu) >= 9:
                break
    finally:
        stream.close()
    # the first pair may straddle the stream's start; the rest are consecutive seconds
    oc, tc = statistics.fmean(ours_cpu[1:]), statistics.fmean(theirs_cpu[1:])
    assert abs(oc - tc) <= 0.05 * tc, (ours_cpu, theirs_cpu)
    assert 5.0 < oc <= 55.0  # it burns, within its half-CPU quota

    # memory, its limit and pids: steady, compared with the CLI itself
    ours_mem: list[float] = []
    theirs_mem: list[float] = []
    for _ in range(2):
        d = docker_stats(lab.docker_host, c.id)
        row = next(r for r in col.refresh().rows if r.id == c.id)
        assert row.mem_bytes is not None
        ours_mem.append(row.mem_bytes)
        theirs_mem.append(to_bytes(d["MemUsage"].split("/")[0]))
        assert to_bytes(d["MemUsage"].split("/")[1]) == row.mem_limit == 128 << 20
        assert int(d["PIDs"]) == row.pids
        cli_cpu = float(d["CPUPerc"].rstrip("%"))
        assert 0 < cli_cpu <= 55.0 and row.cpu_percent is not None and row.cpu_percent > 0
    om, tm = statistics.median(ours_mem), statistics.median(theirs_mem)
    assert abs(om - tm) <= 0.05 * tm, (ours_mem, theirs_mem)
    assert 40 << 20 < om < 128 << 20


def test_stats_cli_json_and_bad_watch(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "600"], detach=True, labels=cleanup_containers
    )
    assert main(["stats", "--json", "--docker-host", lab.docker_host]) == 0
    snap = json.loads(capsys.readouterr().out)
    assert snap["daemon"]["storage_driver"] == "overlay2"
    row = next(r for r in snap["rows"] if r["id"] == c.id)
    assert row["pids"] == 1 and row["source"] == "cgroup"
    assert main(["stats", "--watch", "0", "--docker-host", lab.docker_host]) == 2
    assert "out of range" in capsys.readouterr().err


class SocketProxy:
    """A unix-socket forwarder in front of the lab's Docker socket, to make the daemon 'go away' and come
    back for our client only (the shared lab keeps running for everyone else)."""

    def __init__(self, path: str, target: str) -> None:
        self.path, self.target = path, target
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.target)
            self._socks += [conn, up]
            for a, b in ((conn, up), (up, conn)):
                t = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                t.start()
                self._threads.append(t)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                r, _, _ = select.select([a], [], [], 0.1)
                if r:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(timeout=5)
        self._socks, self._threads = [], []
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def test_daemon_goes_away_and_comes_back(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], tmp_path: Path
) -> None:
    from beefine_tui.docker.client import connect
    from beefine_tui.docker.inspect import MonitorSampler
    from beefine_tui.errors import DockerUnavailableError

    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "600"], detach=True, labels=cleanup_containers
    )
    path = str(tmp_path / "d.sock")
    proxy = SocketProxy(path, lab.docker_host.removeprefix("unix://"))
    proxy.start()
    client = connect(f"unix://{path}", timeout=5)
    try:
        col = StatsCollector(client)
        sampler = MonitorSampler(client, c.id)
        assert any(r.id == c.id for r in col.refresh().rows)
        assert sampler.sample().status == "running"
        proxy.stop()
        down = col.refresh()
        assert down.error.startswith("the Docker daemon does not answer") and down.rows == []
        with pytest.raises(DockerUnavailableError):
            sampler.sample()
        proxy.start()
        back = col.refresh()
        assert back.error == "" and any(r.id == c.id for r in back.rows)
        s = sampler.sample()
        assert s.status == "running" and s.usage is not None and s.usage.pids == 1
    finally:
        client.close()
        proxy.stop()
