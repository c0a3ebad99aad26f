"""The keyboard contract on the real app in tmux, as root with real BPF: `:` jumps to Trace exec, `/`
filters it, Enter on a row shows the whole event of a command we ran, Esc goes back step by step, `q`
closes the view (its BPF programs go away: bpftool says so) and at the top asks before quitting."""

from __future__ import annotations

import time
import uuid

import psutil
import pytest

from tests.e2e.conftest import Tmux, tui_command
from tests.e2e.test_tmux import _alive, _prog_exists

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

NO_DOCKER = "--docker-host unix:///nonexistent/beefine-e2e-keys.sock"  # this test is about keys and exec


def test_keyboard_contract_in_tmux(tmux: Tmux) -> None:
    from beefine_tui.probes.inventory import prog_ids_of_pid

    token = f"beefine-keys-{uuid.uuid4().hex[:10]}"
    tmux.new_session("tui", tui_command(NO_DOCKER))
    # the header names the daemon in use
    tmux.wait_for("tui", lambda s: "Load eBPF" in s and "Docker unix:///nonexistent/" in s, timeout=60)
    app_pid = tmux.pane_pid("tui")

    # ":" jumps to a screen by name
    tmux.type("tui", ":")
    tmux.wait_for("tui", lambda s: "Search for commands" in s or "Open " in s, timeout=20)
    tmux.type("tui", "Trace exec")
    time.sleep(0.5)  # the palette searches as you type
    tmux.send("tui", "Enter")
    tmux.wait_for("tui", lambda s: "Trace exec  running" in s, timeout=90)
    ours = prog_ids_of_pid(app_pid)
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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_prog_exists(i) for i in ours):
        time.sleep(0.5)
    still = [i for i in ours if _prog_exists(i)]
    assert not still, f"closing the tab with q left BPF programs loaded: {still}"
    assert _alive(app_pid)

    # nothing open: q asks, y quits
    tmux.type("tui", "q")
    tmux.wait_for("tui", lambda s: "Quit Beefine?" in s, timeout=20)
    tmux.type("tui", "y")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and psutil.pid_exists(app_pid) and _alive(app_pid):
        time.sleep(0.2)
    assert not _alive(app_pid), "the app did not exit after q, y"
