"""`agent --metrics` scraped by a real Prometheus (Debian's, started here on loopback with its own
config and data dir, killed after): its query API returns the CPU series of a lab container that
burned CPU, no more than Docker's own count read afterwards, the exec probe's loss counter, and the
creation-phase histogram's count series of a trace the agent finished."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from beefine_tui.agent import protocol as P

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = "/usr/bin/prometheus"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(port: int, q: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def test_prometheus_scrapes_the_agent(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], tmp_path: Path
) -> None:
    if not Path(PROMETHEUS).exists():
        pytest.fail("prometheus is not installed (scripts/setup.sh installs it)")
    c = lab_client.containers.run(
        lab.images["small"],
        ["sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 300"],
        detach=True,
        labels=cleanup_containers,
        network_mode="none",
    )
    mport, pport = _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DOCKER_HOST": lab.docker_host}
    env["BEEFINE_TRACE_SPOOL"] = str(tmp_path / "spool.jsonl")  # only this test's traces
    agent = subprocess.Popen(
        [sys.executable, "-m", "beefine_tui", "agent", "--metrics", str(mport)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
        f"  - job_name: beefine\n    static_configs:\n      - targets: ['127.0.0.1:{mport}']\n"
    )
    prom = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{pport}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115
    )
    try:
        assert agent.stdin is not None and agent.stdout is not None
        agent.stdin.write(P.encode_command("hello", 1, protocol=P.PROTOCOL))
        agent.stdin.write(P.encode_command("start", 2, probes=["exec"]))
        agent.stdin.flush()
        replies = 0
        while replies < 2:
            m = P.decode(agent.stdout.readline())
            assert not isinstance(m, P.Error), m
            replies += isinstance(m, P.Reply)
        # a traced creation, for the phase histogram: its final reply comes after its stream
        agent.stdin.write(
            P.encode_command(
                "trace", 3, image=lab.images["small"], command=["true"], options={"network": "none"}
            )
        )
        agent.stdin.flush()
        while True:
            m = P.decode(agent.stdout.readline())
            assert not isinstance(m, P.Error), m
            if isinstance(m, P.Reply) and m.id == 3:
                break

        cpu_q = f'beefine_container_cpu_seconds_total{{container_id="{c.id}",job="beefine"}}'
        lost_q = 'beefine_probe_lost_events_total{probe="exec",source="bus"}'
        phase_q = 'beefine_creation_phase_seconds_count{job="beefine"}'
        cpu: list[Any] = []
        lost: list[Any] = []
        phases: list[Any] = []
        deadline = time.monotonic() + 120
        while (
            not cpu or not lost or not phases or float(cpu[0]["value"][1]) <= 0
        ) and time.monotonic() < deadline:
            time.sleep(1)
            with contextlib.suppress(OSError):
                cpu, lost = _query(pport, cpu_q), _query(pport, lost_q)
                phases = _query(pport, phase_q)
        log = (tmp_path / "prometheus.log").read_text()[-2000:]
        assert cpu, f"no CPU series of the container in Prometheus: {log}"
        assert lost, "no loss counter of the exec probe in Prometheus"
        got = float(cpu[0]["value"][1])
        assert cpu[0]["metric"]["container_name"] == c.name and cpu[0]["metric"]["image"]
        docker_ns = lab_client.api.stats(c.id, stream=False)["cpu_stats"]["cpu_usage"]["total_usage"]
        # Compared in whole nanoseconds: an idle container's counter equals Docker's exactly, and
        # seconds as floats differ in the last bit (0.5297155840000001 vs 0.529715584).
        assert 0 < round(got * 1e9) <= docker_ns, (got, docker_ns)
        assert float(lost[0]["value"][1]) >= 0
        # one trace finished: each of its creation phases was observed once
        by_phase = {r["metric"]["phase"]: float(r["value"][1]) for r in phases}
        assert "exec" in by_phase and set(by_phase.values()) == {1.0}, by_phase
    finally:
        _stop(prom)
        with contextlib.suppress(OSError):
            if agent.stdin is not None:
                agent.stdin.close()
        _stop(agent)  # with --metrics it serves on after stdin ends: SIGTERM ends it
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
    assert agent.returncode == 0
