"""`beefine-tui probe run` as a user runs it: streams, stops cleanly on SIGINT/SIGTERM/SIGHUP with a
summary and exit 0, leaves no BPF program behind; records; refuses bad input without attaching."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from beefine_tui.replay import open_recording

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CLI = [sys.executable, "-m", "beefine_tui"]


def prog_ids_of(pid: int) -> set[int]:
    ids: set[int] = set()
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for p in fdinfo.iterdir():
        try:
            for line in p.read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


class Lines:
    """Reads a pipe on a thread so the test can wait for a line with a timeout."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._t.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line with {text!r} in {self.lines[-5:]}")
                self._cond.wait(left)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_run_streams_and_stops_cleanly_on(sig: signal.Signals) -> None:
    marker = f"beefine-cli-{uuid.uuid4().hex[:10]}"
    proc = subprocess.Popen(
        [*CLI, "probe", "run", "exec", "fork", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = Lines(proc.stdout)
        err = Lines(proc.stderr)
        out.wait_for('"state":"running"', timeout=60)
        out.wait_for('"probe":"fork","kind":"status"', timeout=10)
        ids = prog_ids_of(proc.pid)
        assert ids, "the CLI holds no BPF programs while running"
        subprocess.run(["/bin/true", marker], check=True)
        line = out.wait_for(marker)
        ev = json.loads(line)
        assert ev["kind"] == "exec" and ev["args"]["argv"] == ["/bin/true", marker]
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        err.wait_for("lost(kernel)", timeout=5)
        summary = err.wait_for("exec ", timeout=5).split()
        assert int(summary[1]) >= 1  # received
        assert not any(prog_exists(i) for i in ids), "BPF programs left after the CLI stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_duration_and_record() -> None:
    with tempfile.TemporaryDirectory(prefix="beefine-cli-") as d:
        rec = os.path.join(d, "r.jsonl")
        r = subprocess.run(
            [*CLI, "probe", "run", "exec", "--duration", "1", "--record", rec],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert r.returncode == 0, r.stderr
        assert "received" in r.stderr
        header, events = open_recording(rec)
        assert header.probes == ["exec"]
        evs = list(events)
        assert [e.args["state"] for e in evs if e.kind == "status"] == ["running", "note", "stopped"]


def test_not_root_is_refused_before_anything() -> None:
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *CLI, "probe", "run", "exec"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )
    assert r.returncode == 77, r.stderr
    assert "needs root" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_unavailable_probe_attaches_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from beefine_tui.cli import main
    from beefine_tui.probes import exec as exec_probe
    from beefine_tui.probes.base import Availability
    from beefine_tui.probes.fdinfo import fd_ids

    before = fd_ids("prog")
    monkeypatch.setattr(exec_probe, "available", lambda: Availability(False, "no execve here (test)"))
    assert main(["probe", "run", "fork", "exec", "--duration", "1"]) == 1
    assert "probe exec cannot run here: no execve here (test)" in capsys.readouterr().err
    assert fd_ids("prog") == before


def test_missing_pid_and_no_daemon_are_refused(tmp_path: Path) -> None:
    argv = [*CLI, "probe", "run", "exec", "--pid", "4199999"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no process with pid 4199999" in r.stderr
    sock = tmp_path / "nothing.sock"
    r = subprocess.run(
        [*CLI, "probe", "run", "exec", "--container", "x", "--docker-host", f"unix://{sock}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 69 and "no Docker socket" in r.stderr and "Traceback" not in r.stderr


def test_run_pid_stops_when_the_process_exits() -> None:
    target = subprocess.Popen(["/bin/sleep", "60"])
    proc = subprocess.Popen(
        [*CLI, "probe", "run", "exec", "--pid", str(target.pid), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = Lines(proc.stdout)
        out.wait_for('"state":"running"', timeout=60)
        target.kill()
        target.wait()
        assert proc.wait(timeout=30) == 0  # by itself: no signal, no duration
        line = out.wait_for('"kind":"exit"', timeout=5)
        ev = json.loads(line)
        assert ev["pid"] == target.pid and ev["args"]["signal"] == 9
    finally:
        for p in (target, proc):
            if p.poll() is None:
                p.kill()
                p.wait()
