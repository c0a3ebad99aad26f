"""The keyboard contract on the real app in tmux, as root with real BPF: `:` jumps to Trace exec, `/`
filters it, Enter on a row shows the whole event of a command we ran, Esc goes back step by step, `q`
closes the view (its BPF programs are detached: bpftool says so; unloaded at exit) and at the top asks
before quitting."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import psutil
import pytest

from tests.e2e.conftest import Tmux, tui_command
from tests.e2e.test_tmux import _alive, _prog_exists

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

NO_DOCKER = "--docker-host unix:///nonexistent/beefine-e2e-keys.sock"  # this test is about keys and exec


def test_keyboard_contract_in_tmux(tmux: Tmux) -> None:
    tmux.new_session("tui", tui_command(NO_DOCKER))
    # the header names the daemon in use
    tmux.wait_for("tui", lambda s: "Load eBPF" in s and "Docker unix:///nonexistent/" in s, timeout=60)
    keyboard_contract(tmux, tmux.pane_pid("tui"))


def keyboard_contract(tmux: Tmux, app_pid: int) -> None:
    """The contract on an app already showing its sidebar in tmux session "tui" (local, or at the far
    end of an SSH connection: test_ssh.py), ending with q, y quitting it."""
    from beefine_tui.probes.inventory import prog_ids_of_pid

    token = f"beefine-keys-{uuid.uuid4().hex[:10]}"
    # ":" jumps to a screen by name
    tmux.type("tui", ":")
    tmux.wait_for("tui", lambda s: "Search for commands" in s or "Open " in s, timeout=20)
    tmux.type("tui", "Trace exec")
    time.sleep(0.5)  # the palette searches as you type
    tmux.send("tui", "Enter")
    tmux.wait_for("tui", lambda s: "Trace exec  running" in s, timeout=90)
    ours = set(prog_ids_of_pid(app_pid))
    assert ours, "the running exec probe must hold BPF programs"

    # "/" filters the live log; Enter keeps the filter and gives the log the keys again
    tmux.send("tui", "/")
    tmux.wait_for("tui", lambda s: "Close filter" in s, timeout=20)
    tmux.type("tui", token)
    tmux.send("tui", "Enter")
    tmux.new_window("tui", f"/bin/echo {token}")
    tmux.wait_for("tui", lambda s: any(token in line and "echo" in line for line in s.splitlines()))

    # Enter on a row drills into the whole event: our own argv is in its JSON
    tmux.send("tui", "Enter")
    screen = tmux.wait_for("tui", lambda s: "Copy JSON" in s and '"argv"' in s, timeout=20)
    assert token in screen and '"pid"' in screen

    # Esc closes the event, then clears the filter, then goes to the sidebar, where q asks to quit
    tmux.send("tui", "Escape")
    tmux.wait_for("tui", lambda s: "Copy JSON" not in s, timeout=20)
    tmux.send("tui", "Escape")
    time.sleep(0.5)
    tmux.send("tui", "Escape")
    time.sleep(0.5)
    tmux.type("tui", "q")
    tmux.wait_for("tui", lambda s: "Quit Beefine?" in s, timeout=20)
    tmux.type("tui", "n")
    screen = tmux.wait_for("tui", lambda s: "Quit Beefine?" not in s, timeout=20)
    assert "Trace exec  running" in screen and _alive(app_pid)

    # back into the view (focus follows the tab), and q closes it: its BPF programs are unloaded
    tmux.send("tui", "C-PgDn")
    time.sleep(0.5)
    tmux.send("tui", "C-PgDn")
    time.sleep(0.5)
    tmux.type("tui", "q")
    tmux.wait_for("tui", lambda s: "Trace exec  running" not in s, timeout=30)
    # detached at once; the compiled programs stay loaded, idle, for the next view (the app's program
    # cache) and go at exit, checked below
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and ours & _attached(app_pid):
        time.sleep(0.5)
    still = ours & _attached(app_pid)
    assert not still, f"closing the tab with q left BPF programs attached: {still}"
    assert _alive(app_pid)

    # nothing open: q asks, y quits
    tmux.type("tui", "q")
    tmux.wait_for("tui", lambda s: "Quit Beefine?" in s, timeout=20)
    tmux.type("tui", "y")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and psutil.pid_exists(app_pid) and _alive(app_pid):
        time.sleep(0.2)
    assert not _alive(app_pid), "the app did not exit after q, y"
    left = [i for i in ours if _prog_exists(i)]
    assert not left, f"BPF programs left loaded after the app exited: {left}"


def _attached(pid: int) -> set[int]:
    """Programs `pid` has attached to tracepoints, as the kernel lists them."""
    out = subprocess.run(["bpftool", "perf", "list", "-j"], capture_output=True, text=True, timeout=10)
    return {int(e["prog_id"]) for e in json.loads(out.stdout or "[]") if e.get("pid") == pid}
