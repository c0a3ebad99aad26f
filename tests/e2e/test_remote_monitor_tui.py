"""The Container monitor in the real app over `--remote`, in tmux, as user nobody (who cannot read the
container's /proc here), through a real sshd on 127.0.0.1 to root's agent on the lab's dockerd: the
palette lists the lab container we made, Enter opens its monitor, and the namespace table shows the
pid and net namespace inodes /proc/PID/ns has on the host; ctrl+q leaves no agent."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from tests.e2e import test_remote_tui as remote_tui
from tests.e2e.conftest import Tmux
from tests.e2e.test_remote_tui import _command, _find_agent, _gone, _wait
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

client_dir = remote_tui.client_dir  # the fixture: nobody's copy of the sshd's key and config


def test_remote_container_monitor_as_nobody(
    tmux: Tmux, sshd: Sshd, client_dir: Any, lab: Any, lab_client: Any, cleanup_containers: Any
) -> None:
    tag = uuid.uuid4().hex[:12]
    c = lab_client.containers.run(
        lab.images["small"],
        ["sleep", "300"],
        name=f"bfm{tag[:5]}",
        detach=True,
        labels=cleanup_containers,
        network_mode="none",
    )
    pid = int(lab_client.api.inspect_container(c.id)["State"]["Pid"])
    inodes = {
        kind: os.readlink(f"/proc/{pid}/ns/{kind}").split("[")[1].rstrip("]") for kind in ("pid", "net")
    }
    tmux.new_session("mon", _command(client_dir, sshd, lab, tag))
    tmux.wait_for("mon", lambda s: "remote bfremote" in s, timeout=120)
    agent = _find_agent(tag)
    tmux.send("mon", ":")
    tmux.wait_for("mon", lambda s: "Open Dashboard" in s or "Search" in s, timeout=30)
    tmux.type("mon", f"Container: {c.name}")
    tmux.wait_for("mon", lambda s: f"Container: {c.name}" in s.replace("\u2502", " "), timeout=60)
    tmux.send("mon", "Enter")
    # the namespace table's inodes, and the status line's pid: the host's, read by its agent
    tmux.wait_for("mon", lambda s: all(i in s for i in inodes.values()) and f"pid {pid}" in s, timeout=120)
    tmux.send("mon", "C-q")
    _wait(lambda: _gone(agent.pid), 60, "the agent outlived the app")
