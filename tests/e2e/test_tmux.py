"""The real TUI in tmux, as root: open Trace exec, run a uniquely named command in another window,
find it on the captured screen; then quit and check the app left nothing behind."""

from __future__ import annotations

import subprocess
import time
import uuid

import psutil
import pytest

from tests.e2e.conftest import Tmux, tui_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NO_DOCKER = "--docker-host unix:///nonexistent/beefine-e2e.sock"  # skip the lab: this test is about exec


def test_trace_exec_in_tmux_shows_our_command(tmux: Tmux) -> None:
    token = f"beefine-e2e-{uuid.uuid4().hex[:10]}"
    tmux.new_session("tui", tui_command(NO_DOCKER, "--open", "trace-exec"))
    screen = tmux.wait_for("tui", lambda s: "Trace exec  running" in s, timeout=90)
    assert "Load eBPF" in screen and "Docker" in screen  # the sidebar is drawn
    app_pid = tmux.pane_pid("tui")
    # filter the live log to our token first: other work on this machine execs a lot
    tmux.send("tui", "/")
    tmux.wait_for("tui", lambda s: "Close filter" in s, timeout=20)  # the filter bar has focus
    tmux.type("tui", token)
    tmux.wait_for("tui", lambda s: token in s, timeout=20)
    tmux.send("tui", "Enter")
    tmux.new_window("tui", f"/bin/echo {token}")
    screen = tmux.wait_for("tui", lambda s: any(token in line and "echo" in line for line in s.splitlines()))
    line = next(line for line in screen.splitlines() if token in line and "echo" in line and "exec" in line)
    assert f"/bin/echo {token}" in line or f"echo {token}" in line
    # what this app holds: BPF programs (from /proc fdinfo) to check they go away
    from beefine_tui.probes.inventory import prog_ids_of_pid

    ours = prog_ids_of_pid(app_pid)
    assert ours, "the running exec probe must hold BPF programs"
    tmux.send("tui", "C-q")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and psutil.pid_exists(app_pid) and _alive(app_pid):
        time.sleep(0.2)
    assert not _alive(app_pid), "the app did not exit after ctrl+q"
    still = [i for i in ours if _prog_exists(i)]
    assert not still, f"BPF programs left after exit: {still}"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _prog_exists(prog_id: int) -> bool:
    p = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=10)
    return p.returncode == 0
