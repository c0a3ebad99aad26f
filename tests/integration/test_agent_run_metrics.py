"""`agent --metrics` counts the runs of each probe's BPF programs: with the exec probe streaming and
execs made here, the exposition's beefine_probe_bpf_runs_total{probe="exec"} is at least the execs we
made and at most what bpftool reads for the stream's programs right after (the kernel's own count);
after `stop` unloads them the counter keeps its value (no reset)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.probes.inventory import prog_ids_of_pid

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
EXECS = 20


def _scrape(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + "{") and 'probe="exec"' in line:
                return float(line.split()[-1])
    return None


def _bpftool_runs(ids: set[int]) -> int:
    import json

    total = 0
    for i in ids:
        r = subprocess.run(["bpftool", "prog", "show", "id", str(i), "-j"], capture_output=True, timeout=30)
        total += int(json.loads(r.stdout).get("run_cnt", 0))
    return total


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exec_probe_run_count_is_the_kernels() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    agent = subprocess.Popen(
        [sys.executable, "-m", "beefine_tui", "agent", "--metrics", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert agent.stdin is not None and agent.stdout is not None
        agent.stdin.write(P.encode_command("hello", 1, protocol=P.PROTOCOL))
        agent.stdin.write(P.encode_command("start", 2, probes=["exec"]))
        agent.stdin.flush()
        stream = None
        while stream is None:
            m = P.decode(agent.stdout.readline())
            assert not isinstance(m, P.Error), m
            if isinstance(m, P.Reply) and m.id == 2:
                stream = m.result["stream"]
        # read what it streams (every exec of the host): a full pipe would stall the agent
        out = agent.stdout
        threading.Thread(target=lambda: [None for _ in iter(out.readline, b"")], daemon=True).start()
        ids = prog_ids_of_pid(agent.pid)
        assert ids, "the agent must hold the exec probe's programs"
        base = _scrape(port, "beefine_probe_bpf_runs_total") or 0.0
        for _ in range(EXECS):
            subprocess.run(["/bin/true"], check=True)
        got = _scrape(port, "beefine_probe_bpf_runs_total")
        kernel = _bpftool_runs(ids)
        assert got is not None, "no run counter for the exec probe"
        assert got - base >= EXECS  # each of our execs ran the probe's programs at least once
        assert got <= kernel  # read before bpftool: never more than the kernel's count
        assert (_scrape(port, "beefine_probe_bpf_run_seconds_total") or 0) > 0

        # stop the stream: its programs go, the counter stays
        agent.stdin.write(P.encode_command("stop", 3, stream=stream))
        agent.stdin.flush()
        deadline = time.monotonic() + 60
        while prog_ids_of_pid(agent.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        after = _scrape(port, "beefine_probe_bpf_runs_total")
        assert after is not None and after >= got
    finally:
        if agent.stdin is not None:
            agent.stdin.close()
        agent.terminate()  # with --metrics it serves on after stdin ends
        agent.wait(30)
    assert agent.returncode == 0
