"""The agent's `trace` command on the real kernel and the lab's dockerd, spoken to on pipes: the
stream's events and the final reply's phases tell the story of a real `docker run`, checked against
Docker's own account (its events: the container made, its exit code, its removal) and the kernel's
(the hostname runc set is the container's id, the entrypoint's argv); the container is gone when the
reply comes; however the agent is ended mid-run (bye, SIGTERM, stdin cut) the container is removed
and no BPF program or bpftrace process of the agent is left (bpftool); and with --metrics the
finished trace's phases are in the exposition's beefine_creation_phase_seconds histogram."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.events.model import Event
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.story.phases import PHASES
from tests.integration.probe_harness import prog_exists

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
CREATION = ["rootfs", "bundle", "runtime", "cgroup", "namespaces", "mounts", "pivot_root", "hostname", "exec"]


class Agent:
    """A local agent process spoken to line by line; every message kept in order."""

    def __init__(self, docker_host: str, spool: Path, *extra: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DOCKER_HOST": docker_host}
        env["BEEFINE_TRACE_SPOOL"] = str(spool)  # finished traces' phases: the test's own file
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "beefine_tui", "agent", *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.next_id = 0
        self.seen: list[P.Message] = []

    def send(self, cmd: str, **args: Any) -> int:
        self.next_id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(P.encode_command(cmd, self.next_id, **args))
        self.proc.stdin.flush()
        return self.next_id

    def read(self) -> P.Message | None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            return None
        m = P.decode(line)
        self.seen.append(m)
        return m

    def until(self, done: Any) -> P.Message:
        while True:
            m = self.read()
            assert m is not None, f"the agent ended (rc {self.proc.poll()}) before the expected message"
            if done(m):
                return m

    def reply(self, mid: int) -> Any:
        m = self.until(lambda m: isinstance(m, P.Reply | P.Error) and m.id == mid)
        assert isinstance(m, P.Reply), f"error: {m}"
        return m.result

    def events(self, sid: int) -> list[Event]:
        return [ev for m in self.seen if isinstance(m, P.Events) and m.stream == sid for ev in m.events]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(180)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _held(agent: Agent) -> tuple[set[int], list[psutil.Process]]:
    """BPF programs of the agent and of its bpftrace children, and those children."""
    kids = [p for p in psutil.Process(agent.proc.pid).children(recursive=True) if p.name() == "bpftrace"]
    ids = set(prog_ids_of_pid(agent.proc.pid))
    for k in kids:
        with contextlib.suppress(OSError, psutil.Error):
            ids |= prog_ids_of_pid(k.pid)
    return ids, kids


def _check_nothing_left(ids: set[int], kids: list[psutil.Process]) -> None:
    assert ids, "the agent held no BPF program while tracing"
    assert not [i for i in ids if prog_exists(i)], "programs of the agent's trace were left loaded"
    assert not [k.pid for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE], "bpftrace left"


def _docker_events(lab_client: Any, run: str, since: float) -> list[dict[str, Any]]:
    return list(
        lab_client.events(
            since=int(since) - 1,
            until=int(time.time()) + 1,
            filters={"label": f"beefine.run={run}", "type": "container"},
            decode=True,
        )
    )


def test_trace_over_the_protocol_tells_dockers_story(lab: Any, lab_client: Any, tmp_path: Path) -> None:
    marker = f"bftrace{uuid.uuid4().hex[:8]}"
    since = time.time()
    agent = Agent(lab.docker_host, tmp_path / "spool.jsonl")
    try:
        agent.reply(agent.send("hello", protocol=P.PROTOCOL))
        assert "trace" in agent.seen[-1].result["capabilities"]  # type: ignore[union-attr]
        mid = agent.send("trace", image=lab.images["small"], command=["echo", marker])
        started = agent.until(lambda m: isinstance(m, P.StreamStarted | P.Error))
        assert isinstance(started, P.StreamStarted), started
        assert started.id == mid and started.run and "exec" in started.probes
        ids, kids = _held(agent)
        result = agent.reply(mid)
        sid = started.stream
        # the stream came in order: started, its events, its end, then the final reply
        kinds = [type(m).__name__ for m in agent.seen if getattr(m, "stream", None) == sid]
        assert kinds[0] == "StreamStarted" and kinds[-1] == "End" and "Events" in kinds
        end = next(m for m in agent.seen if isinstance(m, P.End) and m.stream == sid)
        assert end.reason == "finished"
        assert agent.seen.index(end) < len(agent.seen) - 1

        # the container is already gone when the reply comes
        assert not lab_client.containers.list(all=True, filters={"label": f"beefine.run={started.run}"})
        docker = _docker_events(lab_client, started.run, since)
        actions = [e["Action"] for e in docker]
        assert {"create", "start", "die", "destroy"} <= set(actions), actions
        cid = docker[0]["id"]
        die = next(e for e in docker if e["Action"] == "die")
        summary = result["summary"]
        assert summary["container"] == cid
        assert summary["exit_code"] == int(die["Actor"]["Attributes"]["exitCode"]) == 0
        assert result["error"] == "" and result["interrupted"] == ""

        phases = {p["name"]: p for p in result["phases"]}
        assert list(phases) == list(PHASES)
        assert set(CREATION) <= {n for n, p in phases.items() if p["state"] == "done"}
        for p in phases.values():
            if p["state"] == "done":
                assert p["duration_ms"] == pytest.approx(p["end_ms"] - p["start_ms"], abs=0.002)
        starts = [phases[n]["start_ms"] for n in ("rootfs", "namespaces", "pivot_root", "exec")]
        assert starts == sorted(starts)

        # the kernel's account in the stream: runc set the container's short id as hostname, and the
        # entrypoint ran with our argv
        evs = agent.events(sid)
        assert any(e.kind == "sethostname" and e.args.get("name") == cid[:12] for e in evs), "no sethostname"
        assert any(e.kind == "exec" and list(e.args.get("argv") or ()) == ["echo", marker] for e in evs)

        agent.reply(agent.send("bye"))
        assert agent.proc.wait(180) == 0
        _check_nothing_left(ids, kids)
    finally:
        agent.close()


@pytest.mark.parametrize("ending", ["bye", "SIGTERM", "stdin closed"])
def test_ending_the_agent_mid_run_removes_the_container(
    lab: Any, lab_client: Any, ending: str, tmp_path: Path
) -> None:
    agent = Agent(lab.docker_host, tmp_path / "spool.jsonl")
    try:
        agent.reply(agent.send("hello", protocol=P.PROTOCOL))
        image = lab.images["small"]
        mid = agent.send("trace", image=image, command=["sleep", "300"], options={"network": "none"})
        started = agent.until(lambda m: isinstance(m, P.StreamStarted | P.Error))
        assert isinstance(started, P.StreamStarted), started
        ids, kids = _held(agent)
        label = {"label": f"beefine.run={started.run}"}
        deadline = time.monotonic() + 120
        while not lab_client.containers.list(filters={**label, "status": "running"}):
            assert time.monotonic() < deadline, "the traced container never ran"
            time.sleep(0.2)
        if ending == "bye":
            agent.send("bye")
        elif ending == "SIGTERM":
            agent.proc.send_signal(signal.SIGTERM)
        else:
            assert agent.proc.stdin is not None
            agent.proc.stdin.close()
        while agent.read() is not None:  # to the agent's last line
            pass
        assert agent.proc.wait(180) == 0
        assert not lab_client.containers.list(all=True, filters=label), "the traced container was left"
        final = [m for m in agent.seen if isinstance(m, P.Reply) and m.id == mid]
        assert final and final[0].result["interrupted"] == "agent closing"
        ends = [m for m in agent.seen if isinstance(m, P.End) and m.stream == started.stream]
        assert [e.reason for e in ends] == ["agent closing"]
        _check_nothing_left(ids, kids)
    finally:
        agent.close()


def test_a_finished_trace_is_in_the_creation_phase_histogram(
    lab: Any, lab_client: Any, tmp_path: Path
) -> None:
    """The exporter and the agent that traces are two processes, as with `trace --remote` (each
    connection has its own agent) beside `agent --metrics`."""
    from prometheus_client.parser import text_string_to_metric_families

    from beefine_tui.agent.metrics import PHASE_BUCKETS

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = int(sk.getsockname()[1])
    spool = tmp_path / "spool.jsonl"
    exporter = Agent(lab.docker_host, spool, "--metrics", str(port))
    agent = Agent(lab.docker_host, spool)
    try:
        hello = exporter.reply(exporter.send("hello", protocol=P.PROTOCOL))
        agent.reply(agent.send("hello", protocol=P.PROTOCOL))

        def scrape() -> dict[tuple[str, str, str], float]:
            url = f"http://127.0.0.1:{port}/metrics"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=30) as r:
                        text = r.read().decode()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the metrics never answered"
                    time.sleep(0.2)
            out = {}
            for fam in text_string_to_metric_families(text):
                if fam.name == "beefine_creation_phase_seconds":
                    assert fam.type == "histogram"
                    for x in fam.samples:
                        assert x.labels["host"] == hello["host"]
                        out[(x.name, x.labels["phase"], x.labels.get("le", ""))] = x.value
            return out

        assert scrape() == {}, "phases observed before any trace ran"
        mid = agent.send("trace", image=lab.images["small"], command=["true"], options={"network": "none"})
        result = agent.reply(mid)
        done = {p["name"]: p["duration_ms"] / 1000 for p in result["phases"] if p["state"] == "done"}
        assert {"rootfs", "namespaces", "mounts", "exec"} <= set(done), done
        got = scrape()
        observed = {p for _, p, _ in got}
        assert observed == set(done) - {"running", "exit", "teardown"}, (observed, done)
        for phase in observed:
            assert got[("beefine_creation_phase_seconds_count", phase, "")] == 1
            assert got[("beefine_creation_phase_seconds_sum", phase, "")] == pytest.approx(
                done[phase], abs=1e-6
            )
            # the one observation sits in the first bucket whose bound holds it, and in every later one
            for le in PHASE_BUCKETS:
                want = 1 if done[phase] <= le else 0
                assert got[("beefine_creation_phase_seconds_bucket", phase, repr(le))] == want, (phase, le)
        assert scrape() == got, "a trace counted twice"
        assert not lab_client.containers.list(all=True, filters={"label": "beefine.run"})
    finally:
        agent.close()
        exporter.proc.send_signal(signal.SIGTERM)  # with --metrics it serves on after stdin ends
        exporter.close()
    assert exporter.proc.returncode == 0 and agent.proc.returncode == 0
