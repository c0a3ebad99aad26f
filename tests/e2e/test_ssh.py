"""The TUI through a real SSH session to 127.0.0.1 (our own sshd: own port, host key, authorized key,
all in a temp dir). The app runs with the embedded lab (no system Docker here) and XDP attached to
our own veth; then the connection is cut (the ssh client is SIGKILLed) and we check the app cleaned
up: its process is gone, none of its BPF programs remain, no XDP on our veth, its lab dockerd is gone.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import PYTHON, REPO, Tmux
from tests.e2e.test_tmux_keys import NO_DOCKER, keyboard_contract
from tests.integration.probe_harness import progs_still_loaded
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture
def veth() -> Iterator[str]:
    name = f"bfe{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        subprocess.run(["ip", "link", "set", name + "p", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def _find_app(tag: str, timeout: float = 60) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if (
                    "beefine_tui" in " ".join(p.info["cmdline"] or [])
                    and p.environ().get("BEEFINE_E2E") == tag
                ):
                    return p
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        time.sleep(0.2)
    raise AssertionError("the app did not start over SSH")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _has_xdp(ifname: str) -> bool:
    out = subprocess.run(["ip", "-d", "link", "show", ifname], capture_output=True, text=True).stdout
    return "xdp" in out.split("\n", 1)[0] or "prog/xdp" in out


def test_ssh_session_cut_cleans_up(tmux: Tmux, sshd: Sshd, veth: str) -> None:
    from beefine_tui.docker import lab
    from beefine_tui.probes.inventory import prog_ids_of_pid

    tag = uuid.uuid4().hex[:12]
    app_lab_existed = lab.status("app") is not None
    remote = (
        f"cd {REPO} && exec env BEEFINE_E2E={tag} PYTHONPATH={REPO / 'src'} {PYTHON} -m beefine_tui "
        f"--open trace-exec --open network:{veth}"
    )
    tmux.new_session("ssh", sshd.ssh_command(remote))
    app = _find_app(tag)
    screen = tmux.wait_for("ssh", lambda s: "XDP on" in s and "running" in s, timeout=150)
    assert "Load eBPF" in screen
    assert _has_xdp(veth), "XDP should be attached to our veth while the app runs"
    held = prog_ids_of_pid(app.pid)
    assert held, "the app must hold BPF programs (exec probe, XDP)"
    lab_name = "app" if not app_lab_existed and lab.status("app") is not None else f"app-{app.pid}"
    info = lab.status(lab_name)
    if not Path("/var/run/docker.sock").exists():
        assert info is not None, "with no system daemon the app must have started its own lab"
    dockerd = info.dockerd_pid if info is not None else None

    # cut the connection: the ssh client dies without a goodbye
    client = [
        p for p in psutil.process_iter(["cmdline"]) if f"-p {sshd.port}" in " ".join(p.info["cmdline"] or [])
    ]
    assert client, "no ssh client found"
    for p in client:
        p.kill()

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not _gone(app.pid):
        time.sleep(0.25)
    assert _gone(app.pid), "the app is still running after its SSH session was cut"
    still = progs_still_loaded(held)  # freed after the process is gone: RCU, slower when busy
    assert not still, f"BPF programs of the app left behind: {still}"
    assert not _has_xdp(veth), "XDP left attached to our veth"
    if dockerd is not None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and psutil.pid_exists(dockerd) and not _gone(dockerd):
            time.sleep(0.25)
        assert _gone(dockerd), "the app's lab dockerd is still running"
        assert lab.status(lab_name) is None


def test_keyboard_contract_over_ssh(tmux: Tmux, sshd: Sshd) -> None:
    """The same keys through a real SSH session (a pty at the far end, escape sequences over the wire):
    : / Enter Esc q behave as they do locally, and q, y ends the app."""
    tag = uuid.uuid4().hex[:12]
    remote = (
        f"cd {REPO} && exec env BEEFINE_E2E={tag} PYTHONPATH={REPO / 'src'} {PYTHON} -m beefine_tui "
        f"{NO_DOCKER}"
    )
    tmux.new_session("tui", sshd.ssh_command(remote))
    app = _find_app(tag)
    tmux.wait_for("tui", lambda s: "Load eBPF" in s and "Docker unix:///nonexistent/" in s, timeout=90)
    keyboard_contract(tmux, app.pid)
