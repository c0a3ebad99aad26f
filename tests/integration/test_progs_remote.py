"""`progs --stats --remote HOST` over a real sshd on 127.0.0.1: the host's agent counts runs for the
interval through its own BPF_ENABLE_STATS fd; a program this test loaded and keeps triggering (an
execve tracepoint, one run per exec) shows runs there, no more than the execs the test made."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

from beefine_tui.probes import inventory as inv
from beefine_tui.probes.user_program import UserBccProgram
from tests.integration.test_inventory import PROGRAM, trigger
from tests.integration.test_remote import _env
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_progs_stats_over_ssh_count_on_the_host(sshd: Sshd, lab: Any) -> None:
    prog = UserBccProgram(PROGRAM, "inv.c")
    prog.start(lambda batch: None)
    done = threading.Event()
    execs = 0

    def keep_execing() -> None:
        nonlocal execs
        deadline = time.monotonic() + 240  # bounded, whatever happens to the command
        while not done.is_set() and time.monotonic() < deadline:
            trigger(1)
            execs += 1

    t = threading.Thread(target=keep_execing, daemon=True)
    try:
        (pid,) = prog.prog_ids
        t.start()
        argv = [sys.executable, "-m", "beefine_tui", "progs", "--stats", "--interval", "1", "--json"]
        r = subprocess.run(
            [*argv, "--remote", f"root@bfremote:{sshd.port}"],
            capture_output=True,
            env=_env(sshd, lab, uuid.uuid4().hex[:12]),
            timeout=240,
        )
        done.set()
        t.join(timeout=30)
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr.decode()
        out = {d["id"]: d for d in json.loads(r.stdout)}
        ours = out[pid]
        assert ours["stats_method"] == inv.StatsGuard.METHOD_FD
        assert ours["runs_per_s"] > 0 and ours["avg_ns"] and ours["avg_ns"] > 0
        # one run per execve: no more runs in the 1 s window than execs made during the whole run
        assert ours["runs_per_s"] * 1.0 <= execs + 1
    finally:
        done.set()
        t.join(timeout=30)
        prog.stop()
