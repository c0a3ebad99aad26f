"""`beefine-tui --remote` in tmux, as user nobody, against a real sshd on 127.0.0.1 whose root runs
the agent over the lab's dockerd: the Dashboard lists the lab container we made, Trace exec shows the
exec we make in it (the pid Docker reports), the agent's pid holds the programs and nothing on the
client side does (fdinfo, bpftool). SIGKILL of the ssh client: the header says so and retries, the
agent ends and its programs are unloaded, a new agent comes; ctrl+q leaves nothing. A newer agent is
a clear message."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.probes.inventory import prog_ids_of_pid
from tests.e2e.conftest import REPO, Tmux, tui_command
from tests.ssh_fixtures import Sshd, agent_command, tagged_agents

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def client_dir(sshd: Sshd) -> Iterator[Path]:
    """The ssh key and config where user nobody can read them (the test's tmp dir is root's)."""
    d = Path(tempfile.mkdtemp(prefix="beefine-remote-"))
    try:
        key = d / "key"
        shutil.copy(sshd.key, key)
        (d / "ssh_config").write_text(
            sshd.client_config("bfremote").read_text().replace(str(sshd.key), str(key))
        )
        for p in (d, key, d / "ssh_config"):
            os.chown(p, NOBODY.pw_uid, NOBODY.pw_gid)
        os.chmod(key, 0o600)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _command(client_dir: Path, sshd: Sshd, lab: Any, tag: str, *args: str, agent: str = "") -> str:
    agent = agent or agent_command(lab, tag)
    env = " ".join(
        shlex.quote(f"{k}={v}")
        for k, v in {
            "BEEFINE_SSH": f"ssh -F {client_dir / 'ssh_config'}",
            "BEEFINE_AGENT_COMMAND": agent,
            "HOME": str(client_dir),
            "DOCKER_HOST": "unix:///nonexistent/docker.sock",  # nothing may be asked here
        }.items()
    )
    inner = tui_command("--remote", f"root@bfremote:{sshd.port}", *args, env=env)
    return (
        f"setpriv --reuid={NOBODY.pw_uid} --regid={NOBODY.pw_gid} --clear-groups sh -c {shlex.quote(inner)}"
    )


def _find_agent(tag: str, timeout: float = 90) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = tagged_agents(tag)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("the agent never started on the far side")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(what)


def _prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


def _client_side(app_pid: int) -> list[int]:
    try:
        return [app_pid, *(p.pid for p in psutil.Process(app_pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def test_tui_over_remote_as_nobody(
    tmux: Tmux, sshd: Sshd, client_dir: Path, lab: Any, lab_client: Any, cleanup_containers: Any
) -> None:
    tag = uuid.uuid4().hex[:12]
    marker = f"bfrtui{tag}"
    c = lab_client.containers.run(
        lab.images["small"],
        ["sleep", "300"],
        name=f"bfr{tag[:5]}",  # short: a narrow NAME column cuts long names
        detach=True,
        labels=cleanup_containers,
        network_mode="none",
    )
    opens = ("--open", "dashboard", "--open", "trace-exec")
    tmux.new_session("tui", _command(client_dir, sshd, lab, tag, *opens))
    screen = tmux.wait_for("tui", lambda s: "Trace exec  running" in s, timeout=120)
    assert "remote bfremote" in screen
    app_pid = tmux.pane_pid("tui")
    family = [psutil.Process(app_pid), *psutil.Process(app_pid).children(True)]
    app = next(p for p in family if "beefine_tui" in " ".join(p.cmdline()))
    assert app.uids().effective == NOBODY.pw_uid
    tmux.send("tui", "C-PageUp")  # the Dashboard's tab: the lab's container, from the agent's stats
    tmux.wait_for("tui", lambda s: c.name in s, timeout=60)
    tmux.send("tui", "C-PageDown")
    tmux.wait_for("tui", lambda s: "Trace exec  running" in s, timeout=30)
    agent = _find_agent(tag)
    held = prog_ids_of_pid(agent.pid)
    assert held, "the agent must hold the exec probe's programs"
    assert agent.pid not in _client_side(app.pid)
    assert all(not prog_ids_of_pid(pid) for pid in _client_side(app.pid)), "the client side loaded BPF"
    listed = subprocess.run(["bpftool", "prog", "list", "-j"], capture_output=True, text=True, timeout=30)
    assert all(str(i) in listed.stdout for i in held)

    tmux.send("tui", "/")
    tmux.wait_for("tui", lambda s: "Close filter" in s, timeout=20)
    tmux.type("tui", marker)
    tmux.send("tui", "Enter")
    ex = lab_client.api.exec_create(c.id, ["sh", "-c", f": {marker}; sleep 1"])
    lab_client.api.exec_start(ex["Id"])
    pid = int(lab_client.api.exec_inspect(ex["Id"])["Pid"])
    screen = tmux.wait_for("tui", lambda s: any(marker in ln and " exec " in ln for ln in s.splitlines()))
    line = next(ln for ln in screen.splitlines() if marker in ln and " exec " in ln)
    assert f" {pid} " in line

    # cut the connection: the ssh client dies without a goodbye
    ssh = [p for p in psutil.Process(app.pid).children(recursive=True) if p.name() == "ssh"]
    assert ssh, "no ssh client under the app"
    for p in ssh:
        p.kill()
    tmux.wait_for("tui", lambda s: "connection lost" in s or "reconnected" in s, timeout=60)
    _wait(lambda: _gone(agent.pid), 60, "the agent still runs after its connection was cut")
    _wait(lambda: not [i for i in held if _prog_exists(i)], 30, "the agent's programs were left loaded")
    tmux.wait_for("tui", lambda s: "reconnected 1x" in s, timeout=90)
    second = _find_agent(tag)
    assert second.pid != agent.pid
    tmux.wait_for("tui", lambda s: "Trace exec  running" in s, timeout=120)
    _wait(lambda: bool(prog_ids_of_pid(second.pid)), 60, "the stream did not resume on the new agent")
    held2 = prog_ids_of_pid(second.pid)

    tmux.send("tui", "C-q")
    _wait(lambda: _gone(app.pid), 60, "the app did not exit after ctrl+q")
    _wait(lambda: _gone(second.pid), 60, "the agent outlived the app")
    assert not [i for i in held2 if _prog_exists(i)], "programs of the second agent were left loaded"


def test_a_newer_agent_is_a_clear_message(tmux: Tmux, sshd: Sshd, client_dir: Path, lab: Any) -> None:
    newer = f"env PYTHONPATH={REPO / 'src'} {sys.executable} -c " + shlex.quote(
        "from beefine_tui.agent import protocol as P; P.PROTOCOL = P.MIN_PROTOCOL = 99; "
        "from beefine_tui.cli import main; raise SystemExit(main(['agent']))"
    )
    tmux.new_session("tui", _command(client_dir, sshd, lab, "x", agent=newer))
    # the message wraps past 120 columns and its first line can scroll off the last screen (seen once
    # in the full suite): read the pane's history too
    screen = tmux.wait_for("tui", lambda s: "no protocol version in common" in s, timeout=90, history=True)
    assert "bfremote" in screen and "same beefine-tui version" in screen and "Traceback" not in screen
