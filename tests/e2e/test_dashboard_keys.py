"""The real TUI in tmux on the lab daemon: on the dashboard, x suspends the app for a shell in the
selected container (we type in it, exit, and the dashboard is back), and l streams its logs."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import Tmux, tui_command


def test_shell_and_logs_from_the_dashboard(
    tmux: Tmux,
    lab: Any,
    lab_client: Any,
    cleanup_containers: dict[str, str],
) -> None:
    name = f"bfe2e-{uuid.uuid4().hex[:6]}"
    marker = uuid.uuid4().hex[:10]
    c = lab_client.containers.run(
        lab.images["small"],
        ["sh", "-c", f"echo {marker}-log; sleep 600"],
        detach=True,
        name=name,
        labels=cleanup_containers,
    )
    tmux.new_session("tui", tui_command("--docker-host", lab.docker_host, "--open", "dashboard"))
    tmux.wait_for("tui", lambda s: name in s, timeout=90)
    tmux.send("tui", "x")
    screen = tmux.wait_for("tui", lambda s: "#" in s and name not in s, timeout=30)  # the shell's prompt
    tmux.type("tui", f"echo in-$(hostname)-{marker}")
    tmux.send("tui", "Enter")
    tmux.wait_for("tui", lambda s: f"in-{c.id[:12]}-{marker}" in s, timeout=30)
    tmux.type("tui", "exit")
    tmux.send("tui", "Enter")
    screen = tmux.wait_for("tui", lambda s: name in s and "CPU %" in s, timeout=30)  # back in the TUI
    assert "Dashboard" in screen
    tmux.send("tui", "l")
    tmux.wait_for("tui", lambda s: f"{marker}-log" in s and "logs of" in s, timeout=30)
    tmux.send("tui", "Escape")
    tmux.wait_for("tui", lambda s: "logs of" not in s, timeout=30)
    tmux.send("tui", "C-q")
