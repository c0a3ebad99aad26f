"""Drive the real TUI in tmux (send-keys, capture-pane). Every tmux server, sshd and process a test
starts is killed in a finalizer; nothing here touches another helper's objects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# the tmux server passes its environment on: COLUMNS/LINES (set under pytest) would make Textual
# ignore the real pane size
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}


class Tmux:
    """A private tmux server (its own socket), so kill-server only ever kills ours."""

    def __init__(self) -> None:
        self.socket = f"beefine-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str, check: bool = True) -> str:
        cmd = ["tmux", "-L", self.socket, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=15, check=False, env=ENV)
        if check and p.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {p.stderr.strip()}")
        return p.stdout

    def new_session(self, name: str, command: str, width: int = 120, height: int = 40) -> None:
        self.run(
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            str(width),
            "-y",
            str(height),
            "-e",
            "TERM=xterm-256color",
            command,
        )
        self.run("set-option", "-t", name, "remain-on-exit", "on")

    def new_window(self, session: str, command: str) -> None:
        self.run("new-window", "-d", "-t", session, command)

    def send(self, target: str, *keys: str) -> None:
        self.run("send-keys", "-t", target, *keys)

    def type(self, target: str, text: str) -> None:
        self.run("send-keys", "-t", target, "-l", text)

    def capture(self, target: str, history: bool = False) -> str:
        """The pane's screen; with `history`, also what scrolled off it (a message printed as the
        process ends may start above the last screen)."""
        return self.run("capture-pane", "-p", *(("-S", "-") if history else ()), "-t", target, check=False)

    def pane_pid(self, target: str) -> int:
        return int(self.run("display-message", "-p", "-t", target, "#{pane_pid}").strip())

    def wait_for(
        self, target: str, cond: Callable[[str], bool], timeout: float = 60.0, history: bool = False
    ) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture(target, history)
            if cond(screen):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"screen never matched within {timeout:.0f} s; last screen:\n{screen}")

    def kill(self) -> None:
        cmd = ["tmux", "-L", self.socket, "kill-server"]
        subprocess.run(cmd, capture_output=True, timeout=15, check=False, env=ENV)
        # tmux leaves its socket file behind
        sock = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / self.socket
        sock.unlink(missing_ok=True)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/setup.sh installs it)")
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()


def tui_command(*args: str, env: str = "") -> str:
    """Shell command running the real app from this checkout."""
    return f"cd {REPO} && exec env {env} PYTHONPATH={REPO / 'src'} {PYTHON} -m beefine_tui {' '.join(args)}"
