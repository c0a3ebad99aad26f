"""A probe's "running" status carries the time its tracepoints were attached, so it is never later
than the events it caught while the runner compiled its next program (seconds, with clang)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence

import pytest

from beefine_tui.events.model import Event
from beefine_tui.probes import exec as exec_probe
from beefine_tui.probes import files as files_probe
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.bcc_runner import BccRunner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_running_status_is_stamped_at_attach() -> None:
    marker = f"beefine-stamp-{uuid.uuid4().hex[:10]}"
    opts = ProbeOptions(target=Target(lineage_root=os.getpid()))
    # exec is loaded (and attached) first, files is compiled after it: our execs meanwhile are caught
    runner = BccRunner([exec_probe.program(opts), files_probe.program(opts)], opts)
    got: list[Event] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sink(batch: Sequence[Event]) -> None:
        with lock:
            got.extend(batch)

    def keep_execing() -> None:
        while not stop.is_set():
            subprocess.run(["/bin/true", marker])
            time.sleep(0.02)

    execer = threading.Thread(target=keep_execing, daemon=True)
    execer.start()
    try:
        runner.start(sink)
        started_ns = time.monotonic_ns()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with lock:
                if sum(1 for e in got if e.kind == "exec" and e.ts > started_ns) >= 2:
                    break
            time.sleep(0.05)
    finally:
        stop.set()
        execer.join(10)
        runner.stop()
    with lock:
        events = list(got)
    running = {e.probe: e for e in events if e.kind == "status" and e.args.get("state") == "running"}
    assert set(running) == {"exec", "files"}
    mine = [e for e in events if e.kind == "exec" and marker in " ".join(e.args.get("argv") or [])]
    assert mine, "our execs were traced"
    early = [e for e in mine if e.ts < running["files"].ts]
    assert early, "an exec happened while files was still loading: the case this test is about"
    assert all(running["exec"].ts <= e.ts for e in mine), (running["exec"].ts, [e.ts for e in early])
    assert running["exec"].ts < running["files"].ts
