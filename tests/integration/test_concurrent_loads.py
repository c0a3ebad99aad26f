"""Two loaders compiling at the same moment in one process (a user program and a built-in probe, as
when two TUI views start together): BCC's clang is not thread-safe and aborted the process before
every BPF() went through one lock. Run in a child so an abort fails this test instead of pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CHILD = textwrap.dedent(
    """
    import threading
    from beefine_tui.probes import exec as exec_probe
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.probes.user_program import UserBccProgram
    from beefine_tui.templates import template_text

    for _ in range(3):
        runners = [UserBccProgram(template_text("bcc", "concurrent")), exec_probe.make_runner(ProbeOptions())]
        barrier = threading.Barrier(len(runners))
        errors = []

        def start(r):
            barrier.wait()
            try:
                r.start(lambda batch: None)
            except BaseException as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=start, args=(r,)) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in runners:
            r.stop()
        assert not errors, errors
    print("ok")
    """
)


def test_concurrent_compiles_do_not_abort() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=220, check=False
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip().endswith("ok")
