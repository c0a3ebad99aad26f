"""The agent's Container monitor commands (containers, sample, netinfo, limits, pause, unpause) on
pipes, against a stand-in Docker (tests/monitor_fakes.py) whose running container's init is a real
`sleep` child: each reply decodes into the struct the local monitor gets, and what it says of the
process matches /proc; bad arguments and an unknown container are `bad_args`, Docker's refusal is
`failed`, and a connection keeps a bounded number of samplers."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.agent import server
from beefine_tui.agent.server import Agent
from beefine_tui.appcontext import AppContext
from beefine_tui.docker.inspect import ContainerBrief, Sample
from beefine_tui.docker.limits import LimitChange
from beefine_tui.docker.netinfo import NetInfo
from tests.monitor_fakes import CID, NAME, STOPPED_ID, FakeDocker


class MonitorHarness:
    def __init__(self, docker: FakeDocker) -> None:
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        ctx = AppContext(docker_host="fake://monitor", bpf_allowed=False)
        ctx._client = docker  # type: ignore[assignment]
        self.agent = Agent(os.fdopen(r_in, "rb"), os.fdopen(w_out, "wb"), ctx=ctx)
        self.out = os.fdopen(r_out, "rb")
        self.inp = os.fdopen(w_in, "wb")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.next_id = 0
        assert self.result("hello", protocol=P.PROTOCOL)["protocol"] == P.PROTOCOL

    def _run(self) -> None:
        self.agent.run()
        self.agent._out._f.close()

    def ask(self, cmd: str, **args: Any) -> P.Reply | P.Error:
        self.next_id += 1
        self.inp.write(P.encode_command(cmd, self.next_id, **args))
        self.inp.flush()
        line = self.out.readline()
        assert line, "the agent closed its stdout"
        msg = P.decode(line)
        assert isinstance(msg, P.Reply | P.Error) and msg.id == self.next_id, msg
        return msg

    def result(self, cmd: str, **args: Any) -> Any:
        msg = self.ask(cmd, **args)
        assert isinstance(msg, P.Reply), msg
        return msg.result

    def close(self) -> None:
        self.inp.close()
        self.thread.join(20)
        assert not self.thread.is_alive()


@pytest.fixture
def init() -> Iterator[subprocess.Popen[bytes]]:
    """The fake container's init: a real process, so /proc has something to say of it."""
    p = subprocess.Popen(["sleep", "300"])
    yield p
    p.kill()
    p.wait()


@pytest.fixture
def docker(init: subprocess.Popen[bytes]) -> FakeDocker:
    return FakeDocker(init.pid)


@pytest.fixture
def h(docker: FakeDocker) -> Iterator[MonitorHarness]:
    har = MonitorHarness(docker)
    yield har
    har.close()


def test_hello_names_the_monitor_commands(h: MonitorHarness) -> None:
    caps = h.result("hello", protocol=P.PROTOCOL)["capabilities"]
    assert set(P.MONITOR_COMMANDS) <= set(caps)
    assert set(P.MONITOR_COMMANDS) <= set(P.MORE_COMMANDS)


def test_containers_lists_running_and_stopped(h: MonitorHarness) -> None:
    rows = msgspec.convert(h.result("containers"), list[ContainerBrief])
    assert {(r.id, r.name, r.state) for r in rows} == {
        (CID, NAME, "running"),
        (STOPPED_ID, "fakeold", "exited"),
    }


def test_sample_is_the_monitor_sample_of_the_containers_process(
    h: MonitorHarness, init: subprocess.Popen[bytes]
) -> None:
    s = msgspec.convert(h.result("sample", container=NAME), Sample)
    assert (s.status, s.pid) == ("running", init.pid)
    mine = [p for p in s.processes if p.pid == init.pid]
    assert mine and mine[0].cmdline == ["sleep", "300"]
    with open(f"/proc/{init.pid}/stat") as f:
        assert mine[0].ppid == int(f.read().rsplit(")", 1)[1].split()[1])
    assert s.usage is not None and s.limits is not None  # read from its cgroup
    later = msgspec.convert(h.result("sample", container=NAME), Sample)
    assert later.ts > s.ts


def test_a_stopped_container_samples_as_stopped_and_an_unknown_one_is_refused(h: MonitorHarness) -> None:
    s = msgspec.convert(h.result("sample", container=STOPPED_ID), Sample)
    assert (s.status, s.pid, s.processes) == ("exited", 0, [])
    err = h.ask("sample", container="nosuch")
    assert isinstance(err, P.Error) and err.code == P.BAD_ARGS and "nosuch" in err.message
    assert "nosuch" not in h.agent._samplers, "a container not found keeps no sampler"
    err = h.ask("sample")
    assert isinstance(err, P.Error) and err.code == P.BAD_ARGS and "`container`" in err.message


def test_samplers_are_bounded_per_connection(h: MonitorHarness) -> None:
    refs = [CID[: 4 + i] for i in range(server.MAX_SAMPLERS + 3)]
    for ref in refs:
        h.result("sample", container=ref)
    assert list(h.agent._samplers) == refs[-server.MAX_SAMPLERS :]


def test_netinfo_finds_the_process_itself(h: MonitorHarness, init: subprocess.Popen[bytes]) -> None:
    net = msgspec.convert(h.result("netinfo", container=NAME), NetInfo)
    # the fake's init is in this host's network namespace: its interfaces are /proc/PID/net/dev's
    with open(f"/proc/{init.pid}/net/dev") as f:
        names = {line.split(":", 1)[0].strip() for line in f.readlines()[2:]}
    assert {i.name for i in net.interfaces} == names
    err = h.ask("netinfo", container=STOPPED_ID, pid=1)
    assert isinstance(err, P.Error) and err.code == P.BAD_ARGS and "not running" in err.message


def test_limits_pause_unpause_go_to_docker(h: MonitorHarness, docker: FakeDocker) -> None:
    change = msgspec.convert(h.result("limits", container=NAME, memory=64 << 20, cpus=0.5), LimitChange)
    assert change.request == {"Memory": 64 << 20, "MemorySwap": 128 << 20, "NanoCpus": 500_000_000}
    assert change.text().startswith(f"update {NAME}: Memory=67108864")
    assert docker.api.calls[-1] == ("update", change.request)
    assert msgspec.convert(h.result("pause", container=NAME), LimitChange).action == "pause"
    assert docker.api.paused
    assert msgspec.convert(h.result("sample", container=NAME), Sample).status == "paused"
    assert msgspec.convert(h.result("unpause", container=NAME), LimitChange).action == "unpause"
    assert not docker.api.paused


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        ({"container": NAME, "memory": 1 << 20}, P.FAILED, "Minimum memory"),
        ({"container": NAME}, P.BAD_ARGS, "no limit given"),
        ({"container": NAME, "cpus": -1}, P.BAD_ARGS, "`cpus`"),
        ({"container": NAME, "cpus": "lots"}, P.BAD_ARGS, "`cpus`"),
        ({"container": NAME, "memory": "64m"}, P.BAD_ARGS, "`memory`"),
        ({"container": "nosuch", "pids": 5}, P.BAD_ARGS, "nosuch"),
        ({"memory": 64 << 20}, P.BAD_ARGS, "`container`"),
    ],
)
def test_bad_limits_are_refused_and_nothing_changes(
    h: MonitorHarness, docker: FakeDocker, args: dict[str, Any], code: str, says: str
) -> None:
    err = h.ask("limits", **args)
    assert isinstance(err, P.Error) and err.code == code and says in err.message, err
    assert not docker.api.calls
