"""Every way the app can end leaves nothing behind (issue 16): each cell runs the real beefine-tui
under `script` in tmux, ends it, and checks by the pids it started: processes, BPF programs, XDP,
containers with our owner labels, the lab's directory, bridge, mounts and daemons, the terminal's
restore sequences and exit status; after SIGKILL, that the next start removes what was left and
says so. The cells are chosen so each code path runs once (bench/fault_matrix.py runs them all, N
times); a cell that needs a daemon shares one lab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fault.cells import run_cell

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

# (situation, ending): the UI's own keys, each signal, a real hangup, and SIGKILL once per kind of
# leftover (containers: trace-pull; a lab: tui-lab-start; kernel-freed: tui-xdp). SIGHUP
# and SIGTERM take one path in the app, so each situation gets one of them; the full matrix is
# bench/fault_matrix.py
NO_DAEMON_CELLS = [
    ("tui-exec", "ctrl+q"),
    ("tui-exec", "ctrl+c"),
    ("tui-exec", "SIGINT"),
    ("tui-exec", "SIGHUP"),
    ("tui-xdp", "SIGTERM"),
    ("tui-xdp", "SIGKILL"),
    ("tui-lab-start", "SIGTERM"),
    ("tui-lab-start", "ctrl+c"),
    ("tui-lab-start", "SIGKILL"),
    ("tui-lab-run", "hangup"),
]
LAB_CELLS = [
    ("tui-image", "SIGTERM"),
    ("trace-pull", "SIGTERM"),
    ("trace-pull", "ctrl+c"),
    ("trace-pull", "SIGKILL"),
]


@pytest.mark.parametrize(("situation", "ending"), NO_DAEMON_CELLS)
def test_ending_leaves_nothing(situation: str, ending: str, workdir: Path) -> None:
    out = run_cell(situation, ending, workdir)
    assert out.clean, f"{situation} ended by {ending} left: {out.leaks} ({out.notes})"


@pytest.mark.parametrize(("situation", "ending"), LAB_CELLS)
def test_ending_with_a_daemon_leaves_nothing(
    situation: str, ending: str, workdir: Path, fault_lab: Any
) -> None:
    out = run_cell(situation, ending, workdir, fault_lab)
    assert out.clean, f"{situation} ended by {ending} left: {out.leaks} ({out.notes})"
