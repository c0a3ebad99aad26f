"""--remote over a real sshd on 127.0.0.1 (tests/ssh_fixtures.py): `probe run exec --container` and
`stats` made by the agent on the far side match Docker's own account (exec_inspect, top); the client
process holds no BPF program, the agent does (bpftool/fdinfo); SIGKILL of the ssh client leaves
nothing of the agent's: its process ends and its programs are unloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.events.record import decode_event, encode_event
from beefine_tui.probes.inventory import prog_ids_of_pid
from tests.integration.probe_harness import loaded_prog_ids
from tests.lab_fixtures import SLEEPER_WITH_CHILD, run_sleeper
from tests.ssh_fixtures import Sshd, agent_command, tagged_agents

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def _prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _find_agent(tag: str, timeout: float = 60) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = tagged_agents(tag)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("the agent never started on the far side")


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(what)


def _env(sshd: Sshd, lab: Any, tag: str) -> dict[str, str]:
    cfg = sshd.client_config("bfremote")
    agent = agent_command(lab, tag)
    return {
        **os.environ,
        "BEEFINE_SSH": f"ssh -F {cfg}",
        "BEEFINE_AGENT_COMMAND": agent,
        "PYTHONPATH": str(REPO / "src"),
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",  # nothing here may be asked: only the host
    }


def test_stats_over_ssh_match_docker(sshd: Sshd, lab: Any, lab_client: Any, cleanup_containers: Any) -> None:
    c = run_sleeper(lab_client, lab, cleanup_containers, SLEEPER_WITH_CHILD, network_mode="none")
    env = _env(sshd, lab, uuid.uuid4().hex[:12])
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "stats", "--json", "--remote", f"root@bfremote:{sshd.port}"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode()
    snap = json.loads(r.stdout)
    rows = {row["id"]: row for row in snap["rows"]}
    assert c.id in rows
    top = lab_client.api.top(c.id)["Processes"]
    assert rows[c.id]["pids"] == len(top)


def test_probe_run_over_ssh_and_cutting_it(
    sshd: Sshd, lab: Any, lab_client: Any, cleanup_containers: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:12]
    marker = f"bfremote{tag}"
    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "300"], detach=True, labels=cleanup_containers, network_mode="none"
    )
    out = tmp_path / "events.jsonl"
    argv = [sys.executable, "-m", "beefine_tui", "probe", "run", "exec", "--container", c.name, "--json"]
    argv += ["--remote", f"root@bfremote:{sshd.port}"]
    with open(out, "wb") as f:
        client = subprocess.Popen(argv, stdout=f, stderr=subprocess.PIPE, env=_env(sshd, lab, tag))
    try:
        agent = _find_agent(tag)
        _wait(lambda: b'"state":"running"' in out.read_bytes(), 120, "the exec probe never said running")
        held = prog_ids_of_pid(agent.pid)
        assert held, "the agent must hold the exec probe's programs"
        local = [client.pid, *(p.pid for p in psutil.Process(client.pid).children(recursive=True))]
        assert agent.pid not in local, "the agent must run on the far side of ssh, not under the client"
        assert all(not prog_ids_of_pid(pid) for pid in local), "the client side must load no BPF"

        ex = lab_client.api.exec_create(c.id, ["sh", "-c", f": {marker}; sleep 1"])
        lab_client.api.exec_start(ex["Id"])
        pid = int(lab_client.api.exec_inspect(ex["Id"])["Pid"])

        def matching() -> list[Any]:
            evs = [decode_event(line) for line in out.read_bytes().splitlines() if line.strip()]
            return [e for e in evs if e.kind == "exec" and marker.encode() in encode_event(e)]

        _wait(lambda: bool(matching()), 60, "the exec in the container never came through ssh")
        assert [e.pid for e in matching()] == [pid]
        assert matching()[0].container == c.id

        # cut the connection: the ssh client dies without a goodbye
        ssh = [p for p in psutil.Process(client.pid).children(recursive=True) if p.name() == "ssh"]
        assert ssh, "no ssh client under the beefine-tui client"
        for p in ssh:
            p.kill()
        assert client.wait(60) == 75
        assert client.stderr is not None
        said = client.stderr.read().decode()
        assert "connection to bfremote" in said and "Traceback" not in said
        _wait(lambda: _gone(agent.pid), 60, "the agent still runs after its ssh connection was cut")
        assert not [i for i in held if _prog_exists(i)], "programs of the agent were left loaded"
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)


def test_inspect_over_ssh_matches_docker_inspect(
    sshd: Sshd, lab: Any, lab_client: Any, cleanup_containers: Any
) -> None:
    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "300"], detach=True, labels=cleanup_containers, network_mode="none"
    )
    env = _env(sshd, lab, uuid.uuid4().hex[:12])
    argv = [sys.executable, "-m", "beefine_tui", "inspect", c.name, "--json", "--no-sharers"]
    r = subprocess.run(
        [*argv, "--remote", f"root@bfremote:{sshd.port}"], capture_output=True, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr.decode()
    rep = json.loads(r.stdout)
    state = lab_client.api.inspect_container(c.id)["State"]
    assert rep["id"] == c.id and rep["pid"] == state["Pid"] and rep["status"] == "running"
    pidns = os.stat(f"/proc/{state['Pid']}/ns/pid")
    assert rep["pidns"] == [pidns.st_dev, pidns.st_ino]
    # a container the host does not have: a clear refusal from the far side, exit 2, no traceback
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "beefine_tui",
            "inspect",
            "no-such-container-here",
            "--remote",
            f"root@bfremote:{sshd.port}",
        ],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and b"no-such-container-here" in r.stderr and b"Traceback" not in r.stderr


def test_progs_and_probe_list_over_ssh_match_the_host(sshd: Sshd, lab: Any) -> None:
    from bcc import BPF

    env = _env(sshd, lab, uuid.uuid4().hex[:12])
    remote = ["--remote", f"root@bfremote:{sshd.port}"]
    # a program of our own, loaded throughout: a fresh machine may have none loaded at all
    own = BPF(text=b"int beefine_remote_t(void *ctx) { return 0; }")
    try:
        own.load_func(b"beefine_remote_t", BPF.SOCKET_FILTER)
        before = loaded_prog_ids()
        r = subprocess.run(
            [sys.executable, "-m", "beefine_tui", "progs", "--json", *remote],
            capture_output=True,
            env=env,
            timeout=120,
        )
        after = loaded_prog_ids()
    finally:
        own.cleanup()
    assert r.returncode == 0, r.stderr.decode()
    listed = {int(p["id"]): p for p in json.loads(r.stdout)}
    # other work loads and unloads programs meanwhile: those loaded throughout must all be there
    assert before & after and before & after <= set(listed)
    assert any(p["name"].startswith("beefine_remote") for p in listed.values()), listed
    assert all(p["type"] for p in listed.values())

    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "probe", "list", "--json", *remote],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode()
    local = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "probe", "list", "--json"], capture_output=True, timeout=120
    )
    far = [json.loads(line) for line in r.stdout.splitlines()]
    here = [json.loads(line) for line in local.stdout.splitlines()]
    assert [(p["name"], p["available"]) for p in far] == [(p["name"], p["available"]) for p in here]
