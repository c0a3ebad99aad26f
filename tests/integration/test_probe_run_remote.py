"""`probe run --pid P --remote HOST` over a real sshd on 127.0.0.1 ends by itself when P exits, as the
local command does: the agent watches the pid (`end_on_exit`) and ends the stream; the exec P made
before exiting came through (its pid is the one Popen gave us, its file the one it ran)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from beefine_tui.events.record import decode_event
from tests.integration.test_remote import _env, _wait
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_probe_run_pid_over_ssh_ends_with_the_process(sshd: Sshd, lab: Any, tmp_path: Path) -> None:
    child = subprocess.Popen(["sh", "-c", "read x; exec /bin/true"], stdin=subprocess.PIPE)
    out = tmp_path / "events.jsonl"
    argv = [sys.executable, "-m", "beefine_tui", "probe", "run", "exec", "--pid", str(child.pid), "--json"]
    argv += ["--remote", f"root@bfremote:{sshd.port}"]
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            argv, stdout=f, stderr=subprocess.PIPE, env=_env(sshd, lab, uuid.uuid4().hex[:12])
        )
    try:
        _wait(lambda: b'"state":"running"' in out.read_bytes(), 120, "the exec probe never said running")
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.close()
        assert child.wait(30) == 0
        assert proc.wait(60) == 0  # by itself: no signal, no --duration
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert f"process {child.pid} exited" in err and "Traceback" not in err
    finally:
        for p in (proc, child):
            if p.poll() is None:
                p.kill()
                p.wait()
    evs = [decode_event(line) for line in out.read_bytes().splitlines() if line.strip()]
    execs = [e for e in evs if e.kind == "exec"]
    assert [(e.pid, e.args.get("filename")) for e in execs] == [(child.pid, "/bin/true")]
