"""Several hosts over --remote: two agents reached through a real sshd on 127.0.0.1 under two host
aliases (two ssh connections, two agent processes): the merged dashboard snapshot lists the lab
container we made once per host, each with its host label and Docker's own pid count (docker top),
and a probe stream asked of the second host by `HOST/NAME` runs in that host's agent, whose exec
event has the pid Docker reports."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.agent import remote_context as R
from beefine_tui.events.bus import Bus
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.catalog import all_probes
from beefine_tui.probes.inventory import prog_ids_of_pid
from tests.lab_fixtures import SLEEPER_WITH_CHILD, run_sleeper
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_hosts(sshd: Sshd, lab: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[R.RemoteContext]:
    all_probes()
    one = sshd.client_config("bfhost1").read_text()
    cfg = sshd.root / "two_hosts_config"
    cfg.write_text(one + one.replace("Host bfhost1", "Host bfhost2"))
    monkeypatch.setenv("BEEFINE_SSH", f"ssh -F {cfg}")
    monkeypatch.setenv(
        "BEEFINE_AGENT_COMMAND",
        f"env BEEFINE_AGENT_TAG=hosts{os.getpid()} PYTHONPATH={REPO / 'src'} DOCKER_HOST={lab.docker_host} "
        f"{sys.executable} -m beefine_tui agent",
    )
    ctx = R.connect_remotes([f"root@bfhost1:{sshd.port}", f"root@bfhost2:{sshd.port}"])
    try:
        yield ctx
    finally:
        ctx.close()


def test_two_agents_one_dashboard_and_a_stream_on_the_second(
    two_hosts: R.RemoteContext, lab: Any, lab_client: Any, cleanup_containers: Any
) -> None:
    ctx = two_hosts
    h1, h2 = (link.label for link in ctx.links)
    pids = [link.client.hello["pid"] for link in ctx.links if link.client is not None]
    assert len(set(pids)) == 2, "two connections, two agents"
    c = run_sleeper(lab_client, lab, cleanup_containers, SLEEPER_WITH_CHILD, network_mode="none")
    snap = ctx.stats_collector().refresh()
    mine = [(h, r) for h, r in zip(snap.hosts, snap.rows, strict=True) if r.id == c.id]
    assert sorted(h for h, _ in mine) == sorted([h1, h2])
    top = len(lab_client.api.top(c.id)["Processes"])
    assert all(r.pids == top for _, r in mine)

    bus = Bus()
    sub = bus.subscribe("test", 10_000)
    session = ctx.start_probes(["exec"], ProbeOptions(target=ctx.resolve_target(f"{h2}/{c.name}")), bus)
    try:
        assert session.link.label == h2
        second = psutil.Process(pids[1])
        deadline = time.monotonic() + 120
        while not prog_ids_of_pid(second.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert prog_ids_of_pid(second.pid), "the second host's agent must hold the programs"
        assert not prog_ids_of_pid(pids[0]), "the first host's agent was not asked for anything"
        ex = lab_client.api.exec_create(c.id, ["sh", "-c", ": bfhosts; sleep 1"])
        lab_client.api.exec_start(ex["Id"])
        pid = int(lab_client.api.exec_inspect(ex["Id"])["Pid"])
        got: list[Any] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e.kind == "exec" and e.pid == pid for e in got):
            got += sub.get(0.2)
        # sh execs, then execs its last command (sleep) in the same process: both are that pid
        execs = [e for e in got if e.kind == "exec" and e.pid == pid]
        assert {e.container for e in execs} == {c.id}
        assert any("bfhosts" in e.text for e in execs)
    finally:
        session.stop()
