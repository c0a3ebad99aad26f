"""The agent as root on the real kernel: its exec probe, driven through the protocol on pipes, reports
the entrypoint of a real `docker run` in the lab with the pid Docker gives (docker inspect); after
`stop` no BPF program of the agent's is left (bpftool)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.events.model import Event
from beefine_tui.events.record import encode_event
from beefine_tui.probes.inventory import prog_ids_of_pid

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]


def prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


class Pipe:
    """A local agent process spoken to line by line."""

    def __init__(self, docker_host: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DOCKER_HOST": docker_host}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "beefine_tui", "agent"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.next_id = 0

    def send(self, cmd: str, **args: Any) -> int:
        self.next_id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(P.encode_command(cmd, self.next_id, **args))
        self.proc.stdin.flush()
        return self.next_id

    def read(self) -> P.Message:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the agent ended (rc {self.proc.poll()})"
        return P.decode(line)

    def reply(self, mid: int) -> Any:
        while True:
            m = self.read()
            if isinstance(m, P.Error) and m.id == mid:
                raise AssertionError(f"error: {m.message}")
            if isinstance(m, P.Reply) and m.id == mid:
                return m.result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def test_exec_probe_through_the_protocol_sees_a_docker_run(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    marker = f"bfagent{uuid.uuid4().hex[:10]}"
    agent = Pipe(lab.docker_host)
    try:
        hello = agent.reply(agent.send("hello", protocol=P.PROTOCOL))
        assert hello["root"] and hello["pid"] == agent.proc.pid
        started = agent.reply(agent.send("start", probes=["exec"]))
        sid = started["stream"]
        assert started["states"] == {"exec": "running"}
        held = prog_ids_of_pid(agent.proc.pid)
        assert held, "the agent must hold the exec probe's programs"

        c = lab_client.containers.run(
            lab.images["small"],
            ["sh", "-c", f": {marker}; sleep 30"],
            detach=True,
            labels=cleanup_containers,
            network_mode="none",
        )
        pid = int(lab_client.api.inspect_container(c.id)["State"]["Pid"])
        assert pid > 0
        found: list[Event] = []
        deadline = time.monotonic() + 30
        while not found and time.monotonic() < deadline:
            m = agent.read()
            if isinstance(m, P.Events) and m.stream == sid:
                found = [ev for ev in m.events if ev.kind == "exec" and marker.encode() in encode_event(ev)]
        assert found, "the container's entrypoint exec never came through the protocol"
        assert [ev.pid for ev in found] == [pid], "the exec event's pid is not the one docker inspect gives"
        assert found[0].container == c.id

        result = agent.reply(agent.send("stop", stream=sid))
        assert result["received"]["exec"] >= 1
        assert not prog_ids_of_pid(agent.proc.pid), "the agent still holds BPF programs after stop"
        assert not [i for i in held if prog_exists(i)], "the exec probe's programs were left loaded"
        agent.reply(agent.send("bye"))
        assert agent.proc.wait(30) == 0
    finally:
        agent.close()
