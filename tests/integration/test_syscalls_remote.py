"""`syscalls CONTAINER --remote HOST` over a real sshd on 127.0.0.1: a lab container blocked on a FIFO
makes a known loop of syscalls once released; the summary the host's agent streamed (and this side
summed) equals the local command's summary of the same run, both tracing at once, and counts the
loop as the script makes it (five failing stats, exit_group(3), as Docker reports the exit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.test_remote import _env, _find_agent, _gone, _wait
from tests.integration.test_syscalls import ENDING, _blocked_container
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _syscalls(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "beefine_tui", "syscalls", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _run_both(
    far: subprocess.Popen[str],
    here: subprocess.Popen[str],
    pid: int,
    attached: Callable[[], None] = lambda: None,
) -> list[tuple[str, str]]:
    """Once both commands say they trace (both attached before the container's loop runs), call
    `attached`, let the container go and return each one's (stdout, stderr); none outlives this."""
    procs = [far, here]
    try:
        for p in procs:
            assert p.stderr is not None
            line = p.stderr.readline()
            assert "tracing the syscalls" in line, line + p.stderr.read()
        attached()
        with open(f"/proc/{pid}/root/go", "w") as f:
            f.write("go\n")
        return [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_remote_summary_equals_the_local_one(
    sshd: Sshd, lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c, pid = _blocked_container(lab, lab_client, cleanup_containers, ENDING)
    tag = uuid.uuid4().hex[:12]
    far = _syscalls(
        _env(sshd, lab, tag), c.name, "--summary", "--json", "--remote", f"root@bfremote:{sshd.port}"
    )
    here = _syscalls({**os.environ, "DOCKER_HOST": lab.docker_host}, c.name, "--summary", "--json")
    agent_of: list[Any] = []
    outs = _run_both(far, here, pid, lambda: agent_of.append(_find_agent(tag)))
    agent = agent_of[0]
    assert c.wait(timeout=30)["StatusCode"] == 3  # Docker's own account of the end
    (far_out, far_err), (here_out, here_err) = outs
    assert far.returncode == 0 and here.returncode == 0, (far_err, here_err)
    assert "container" in far_err and "ended" in far_err and "Traceback" not in far_err
    remote, local = json.loads(far_out), json.loads(here_out)
    assert remote["container"] == local["container"] == c.id
    assert remote["lost"] == local["lost"] == {}
    assert remote["table"] == local["table"]

    def counts(doc: dict[str, Any]) -> dict[str, tuple[int, int, Any]]:
        return {r["syscall"]: (r["calls"], r["errors"], r["errnos"]) for r in doc["syscalls"]}

    assert counts(remote) == counts(local)
    rows = {r["syscall"]: r for r in remote["syscalls"]}
    stat = next(r for n, r in rows.items() if "stat" in n and r["errors"])
    assert stat["errnos"] == {"ENOENT": 5} and stat["errors"] == 5
    assert rows["exit_group"]["calls"] >= 1
    # the agent ended with the connection: its programs with it
    _wait(lambda: _gone(agent.pid), 60, "the agent still runs after the command ended")


def test_remote_flight_dump_equals_the_local_one(
    sshd: Sshd, lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    """--flight over SSH: the host's agent keeps the last 8 calls in its kernel and dumps them when
    the container's pid 1 exits; the same dump as the local command's of the same run, ending with
    the failing test and exit_group(3) (Docker's exit code)."""
    from beefine_tui.events.model import EventReader
    from beefine_tui.probes.syscalls import FlightDumpArgs
    from tests.integration.test_syscalls import FAILING_END

    c, pid = _blocked_container(lab, lab_client, cleanup_containers, FAILING_END)
    args = ("--flight", "--json", "--flight-slots", "8")
    far = _syscalls(
        _env(sshd, lab, uuid.uuid4().hex[:12]), c.name, *args, "--remote", f"root@bfremote:{sshd.port}"
    )
    here = _syscalls({**os.environ, "DOCKER_HOST": lab.docker_host}, c.name, *args)
    outs = _run_both(far, here, pid)
    assert c.wait(timeout=30)["StatusCode"] == 3
    assert far.returncode == 0 and here.returncode == 0, (outs[0][1], outs[1][1])
    reader = EventReader()
    dumps = [[reader.decode(x) for x in out.splitlines() if x.strip()] for out, _err in outs]
    (far_note, *far_calls), (here_note, *here_calls) = dumps
    assert isinstance(far_note.args, FlightDumpArgs) and isinstance(here_note.args, FlightDumpArgs)
    assert far_note.args.reason == "the container's pid 1 exited"
    assert (far_note.args.made, far_note.args.kept) == (here_note.args.made, here_note.args.kept)
    assert far_note.args.kept == len(far_calls) == 8

    def calls(evs: list[Any]) -> list[tuple[Any, ...]]:  # durations: each probe times its own
        return [(e.pid, e.args.syscall, e.args.args, e.args.ret) for e in evs]

    assert calls(far_calls) == calls(here_calls)
    mine = [e for e in far_calls if e.pid == pid]
    assert mine[-1].text.startswith("exit_group(3") and mine[-2].args.get("error") == "ENOENT"
