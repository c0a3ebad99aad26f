"""The Container monitor over --remote, through a real sshd on 127.0.0.1 to a real agent on the lab's
Docker: for a lab container of our own, the monitor's report shows the namespaces /proc/PID/ns has
and the cgroup limits `docker inspect` has; a sample names its init; the network the agent reads is
its /proc/PID/net/dev's; the live exec probe runs in the agent (its fds hold the programs, this
process's none) and a `docker exec` in the container shows in the view's events with the pid Docker
reports; a memory and cpus limit changed in the view (through the confirmation) is what `docker
inspect` shows afterwards and what the next sample reads from the cgroup; pause is seen by Docker.
At the end the container is removed and no agent process is left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, DataTable, Input, Static

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.remote_monitor import RemoteMonitorSource
from beefine_tui.app import BeefineApp
from beefine_tui.probes.catalog import all_probes
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.screens.confirm import Confirm
from beefine_tui.screens.container_monitor import ContainerMonitorView
from beefine_tui.widgets.event_log import EventLog
from tests.integration.test_xdp import xdp_of
from tests.lab_fixtures import SLEEPER_WITH_CHILD, run_sleeper
from tests.ssh_fixtures import Sshd, agent_command, tagged_agents
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


async def _until(cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    await eventually(cond, what, timeout)


def _through_sshd(sshd: Sshd, lab: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> str:
    """--remote goes through the test's sshd to an agent on the lab's Docker, tagged so the test
    finds it; nothing in this process may ask a Docker of its own. Returns the tag."""
    all_probes()
    tag = f"{name}{os.getpid()}"
    monkeypatch.setenv("BEEFINE_SSH", f"ssh -F {sshd.client_config('bfmonitor')}")
    monkeypatch.setenv("BEEFINE_AGENT_COMMAND", agent_command(lab, tag))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return tag


async def test_remote_monitor_matches_the_host_and_changes_its_limits(
    sshd: Sshd, lab: Any, lab_client: Any, cleanup_containers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = _through_sshd(sshd, lab, monkeypatch, "monitor")
    c = run_sleeper(
        lab_client,
        lab,
        cleanup_containers,
        SLEEPER_WITH_CHILD,
        network_mode="none",
        mem_limit="48m",
        pids_limit=77,
    )
    ctx = R.connect_remotes([f"root@bfmonitor:{sshd.port}"])
    label = ctx.links[0].label
    key = f"{label}/{c.id}"
    try:
        app = BeefineApp(ctx)
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.shell.open_container(key)
            assert isinstance(view, ContainerMonitorView)
            await _until(lambda: view.report is not None, "no report came from the host")
            assert isinstance(view.source, RemoteMonitorSource)
            attrs = lab_client.api.inspect_container(c.id)
            pid = int(attrs["State"]["Pid"])
            rep = view.report
            assert rep is not None and rep.id == c.id and rep.pid == pid
            # namespaces: the table's inodes are the host's /proc/PID/ns links
            ns = view.query_one("#ns", DataTable)
            shown = {str(ns.get_row_at(i)[0]): str(ns.get_row_at(i)[1]) for i in range(ns.row_count)}
            assert {"pid", "net", "mnt", "uts", "ipc"} <= set(shown)
            for kind, inode in shown.items():
                assert os.readlink(f"/proc/{pid}/ns/{kind}") == f"{kind}:[{inode}]"
            # cgroup limits as Docker set them
            assert rep.cgroup is not None
            hc = attrs["HostConfig"]
            assert rep.cgroup.limits.memory_bytes == hc["Memory"] == 48 << 20
            assert rep.cgroup.limits.pids_max == hc["PidsLimit"] == 77
            head = str(view.query_one("#cg-head", Static).render())
            assert "memory 48" in head and "pids 77" in head, head
            await _until(lambda: view.samples >= 1, "no sample came")
            assert view.last is not None and view.last.pid == pid
            assert pid in {p.pid for p in view.last.processes}
            # live exec events: the probes run in the host's agent, none in this (client) process
            await _until(lambda: view.session is not None, "the live probes never started", timeout=120)
            agent = tagged_agents(tag)[0]
            await _until(lambda: bool(prog_ids_of_pid(agent.pid)), "the agent holds no probe")
            assert not prog_ids_of_pid(os.getpid()), "the client loaded BPF"
            marker = f"bfmon{os.getpid()}"
            log = view.query_one(EventLog)
            seen: list[int] = []
            for _ in range(20):  # the stream attaches in the agent after the view has its session
                ex = lab_client.api.exec_create(c.id, ["sh", "-c", f": {marker}"])
                lab_client.api.exec_start(ex["Id"])
                seen.append(int(lab_client.api.exec_inspect(ex["Id"])["Pid"]))
                with contextlib.suppress(AssertionError):
                    await _until(lambda: any(marker in ln for ln in log.lines()), "", timeout=3)
                    break
            line = next(ln for ln in log.lines() if marker in ln)
            assert any(f" {p} " in f" {line} " for p in seen), (line, seen)
            # the network as the agent reads it: only lo here (network none)
            net = await asyncio.to_thread(view.source.network, key, 0, [], False)
            with open(f"/proc/{pid}/net/dev") as f:
                names = {line.split(":", 1)[0].strip() for line in f.readlines()[2:]}
            assert {i.name for i in net.interfaces} == names == {"lo"}

            # a limit changed in the view, confirmed: Docker has it, and the next sample reads it
            view.query_one("#in-mem", Input).value = "96m"
            view.query_one("#in-cpus", Input).value = "0.5"
            view.query_one("#apply", Button).press()
            await _until(
                lambda: isinstance(app.screen, Confirm) and bool(app.screen.query("#yes")), "confirm"
            )
            app.screen.query_one("#yes", Button).press()
            await _until(
                lambda: lab_client.api.inspect_container(c.id)["HostConfig"]["Memory"] == 96 << 20,
                "docker inspect never showed the new memory limit",
            )
            assert lab_client.api.inspect_container(c.id)["HostConfig"]["NanoCpus"] == 500_000_000
            with open(f"/proc/{pid}/cgroup") as f:
                mem_path = next(ln.split(":", 2)[2] for ln in f.read().splitlines() if ":memory:" in ln)
            limit_file = Path("/sys/fs/cgroup/memory") / mem_path.lstrip("/") / "memory.limit_in_bytes"
            if limit_file.exists():  # cgroup v1 (this machine): the kernel's own figure
                assert int(limit_file.read_text()) == 96 << 20
            await _until(
                lambda: (
                    view.last is not None
                    and view.last.limits is not None
                    and view.last.limits.memory_bytes == 96 << 20
                ),
                "the samples never read the new limit",
            )
            # pause and unpause through the host's agent
            src = view.source
            await asyncio.to_thread(src.pause, key)
            assert lab_client.api.inspect_container(c.id)["State"]["Status"] == "paused"
            await asyncio.to_thread(src.unpause, key)
            assert lab_client.api.inspect_container(c.id)["State"]["Status"] == "running"
            agents = tagged_agents(tag)
            assert len(agents) == 1
            await pilot.pause()
    finally:
        ctx.close()
    c.remove(force=True)
    assert not lab_client.containers.list(all=True, filters={"id": c.id})
    deadline = time.monotonic() + 30
    while tagged_agents(tag) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not tagged_agents(tag), "an agent process outlived the connection"


async def test_remote_monitor_attaches_xdp_on_the_containers_veth(
    sshd: Sshd, lab: Any, lab_client: Any, cleanup_containers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XDP on the host end of a remote container's veth: the host's agent attaches it there (`ip link`
    shows our program on that interface, held by the agent, none by this process), packets the
    container sends are counted, and leaving the view detaches it on the host."""
    tag = _through_sshd(sshd, lab, monkeypatch, "monxdp")
    c = run_sleeper(lab_client, lab, cleanup_containers)
    ctx = R.connect_remotes([f"root@bfmonitor:{sshd.port}"])
    key = f"{ctx.links[0].label}/{c.id}"
    peer = ""
    try:
        app = BeefineApp(ctx)
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.shell.open_container(key)
            assert isinstance(view, ContainerMonitorView)
            await _until(
                lambda: view.report is not None and view.report.network is not None,
                "no report with a network",
            )
            assert view.report is not None and view.report.network is not None
            peer = next(i.host_peer for i in view.report.network.interfaces if i.host_peer)
            view.watch_xdp()
            await _until(
                lambda: xdp_of(peer) is not None, "XDP never attached on the host's veth", timeout=120
            )
            xdp = xdp_of(peer)
            assert xdp is not None and "beefine_xdp" in json.dumps(xdp)
            prog = xdp.get("prog")
            prog_id = int(prog["id"]) if isinstance(prog, dict) else 0
            agent = tagged_agents(tag)[0]
            assert prog_id and prog_id in prog_ids_of_pid(agent.pid), "the host's agent must hold it"
            assert not prog_ids_of_pid(os.getpid()), "the client loaded BPF"
            counts = view.query_one("#xdp-counts", Static)
            for _ in range(20):  # pings from the container reach the host end of its veth
                c.exec_run(
                    [
                        "ping",
                        "-c",
                        "3",
                        "-W",
                        "1",
                        lab_client.api.inspect_container(c.id)["NetworkSettings"]["Gateway"],
                    ]
                )
                with contextlib.suppress(AssertionError):
                    await _until(lambda: "packets" in str(counts.render()), "", timeout=3)
                    break
            assert "packets" in str(counts.render()), str(counts.render())
            await app.shell.close_active_tab()
            await _until(lambda: xdp_of(peer) is None, "leaving the view did not detach XDP on the host")
            await pilot.pause()
    finally:
        ctx.close()
    c.remove(force=True)
    deadline = time.monotonic() + 30
    while tagged_agents(tag) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not tagged_agents(tag), "an agent process outlived the connection"
    assert not peer or xdp_of(peer) is None
