"""The dashboard's container actions on the real lab daemon, each checked with the docker CLI (inspect,
logs) rather than with our own client: stop, restart, remove, streamed logs, and the shell command run
under a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import threading
import time
import uuid
from typing import Any

import pytest

from beefine_tui.docker import actions
from beefine_tui.errors import NotFoundError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def docker(host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cli = shutil.which("docker")
    if cli is None:
        pytest.skip("no docker CLI to compare with")
    return subprocess.run([cli, "-H", host, *args], capture_output=True, text=True, timeout=60, check=check)


def state(host: str, cid: str) -> dict[str, Any]:
    out = docker(host, "inspect", cid).stdout
    st: dict[str, Any] = json.loads(out)[0]["State"]
    return st


def run_sleeper(lab: Any, lab_client: Any, labels: dict[str, str], script: str = "sleep 300") -> Any:
    return lab_client.containers.run(lab.images["small"], ["sh", "-c", script], detach=True, labels=labels)


def test_stop_restart_remove(lab: Any, lab_client: Any, cleanup_containers: dict[str, str]) -> None:
    c = run_sleeper(lab, lab_client, cleanup_containers, "trap 'exit 0' TERM; while :; do sleep 1; done")
    host = lab.docker_host
    first = state(host, c.id)
    assert first["Running"]
    assert actions.restart(lab_client, c.id, timeout=5) == f"restarted {c.id[:12]}"
    again = state(host, c.id)
    assert again["Running"] and again["Pid"] != first["Pid"] and again["StartedAt"] != first["StartedAt"]
    assert actions.stop(lab_client, c.id, timeout=5) == f"stopped {c.id[:12]}"
    stopped = state(host, c.id)
    assert not stopped["Running"] and stopped["Status"] == "exited"
    assert actions.remove(lab_client, c.id) == f"removed {c.id[:12]}"
    assert docker(host, "inspect", c.id, check=False).returncode != 0
    with pytest.raises(NotFoundError):
        actions.stop(lab_client, c.id)


def test_logs_follow_what_docker_logs_says(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    marker = uuid.uuid4().hex[:8]
    script = (
        f"for i in 1 2 3; do echo {marker}-$i; done; echo {marker}-err >&2; "
        f"sleep 2; echo {marker}-late; sleep 300"
    )
    c = run_sleeper(lab, lab_client, cleanup_containers, script)
    stream = actions.LogStream(lab_client, c.id, tail=100)
    got: list[str] = []
    done = threading.Event()

    def read() -> None:
        for line in stream.lines():
            got.append(line)
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and f"{marker}-late" not in got:
        time.sleep(0.1)
    stream.close()
    assert done.wait(10), "close() ends a following stream"
    theirs = docker(lab.docker_host, "logs", c.id)
    want = [x for x in (theirs.stdout + theirs.stderr).splitlines() if x.startswith(marker)]
    assert sorted(got) == sorted(want) and len(got) == 5, (got, want)


def test_shell_command_opens_a_shell_in_the_container(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c = run_sleeper(lab, lab_client, cleanup_containers)
    argv = actions.shell_command(lab.docker_host, c.id)
    assert argv[-4:] == ["exec", "-it", c.id, "sh"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: what the TUI runs once suspended, on a terminal
        os.execv(argv[0], argv)
    out = b""
    try:
        os.write(fd, b"hostname; exit 7\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert c.id[:12] in out.decode(errors="replace")  # the container's hostname is its short id
    assert os.waitstatus_to_exitcode(status) == 7
