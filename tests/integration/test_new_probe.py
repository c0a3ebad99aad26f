"""The templates written by `beefine-tui new-probe` load as they are (root, real BCC and bpftrace):
each emits the exec of a uniquely named command, with the expected columns, and leaves no program."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from beefine_tui import cli
from beefine_tui.events.model import Event
from beefine_tui.probes import inventory as inv
from beefine_tui.probes.user_program import UserBccProgram, UserBpftraceProgram, load_user_program

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def unique_cmd() -> Iterator[Path]:
    """A copy of /bin/true at a short path (bpftrace's str() keeps 64 bytes) no one else execs."""
    d = Path(tempfile.mkdtemp(prefix="bftg", dir="/tmp"))
    p = d / f"t{uuid.uuid4().hex[:10]}"
    shutil.copy("/bin/true", p)
    p.chmod(0o755)
    try:
        yield p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _wait(events: list[Event], pred: Callable[[Event], bool], timeout: float = 30.0) -> Event:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in list(events):
            if pred(ev):
                return ev
        time.sleep(0.05)
    raise AssertionError(f"no matching event among {len(events)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_bcc_template_loads_as_written(tmp_path: Path, unique_cmd: Path) -> None:
    assert cli.main(["new-probe", "gtplc", "--bcc", "--dir", str(tmp_path)]) == 0
    prog = load_user_program(str(tmp_path / "gtplc.c"))
    assert isinstance(prog, UserBccProgram)
    cmd = unique_cmd
    got: list[Event] = []
    prog.start(got.extend)
    ids = prog.prog_ids
    try:
        assert prog.warnings == []
        assert prog.columns == ("ts", "pid", "tid", "comm", "filename")
        assert ids and set(ids) <= {p.id for p in inv.list_programs()}
        child = subprocess.Popen([str(cmd)])
        assert child.wait(timeout=30) == 0
        ev = _wait(got, lambda e: e.args.get("filename") == str(cmd))
        assert ev.probe == "user:gtplc" and ev.kind == "events"
        assert ev.pid == child.pid and ev.tid == child.pid
        assert ev.ts == ev.args["ts"]  # bpf_ktime_get_ns is the events' clock
        assert not [e for e in got if e.kind == "lost"]
    finally:
        prog.stop()
    assert not set(ids) & {p.id for p in inv.list_programs()}


def test_bpftrace_template_loads_as_written(tmp_path: Path, unique_cmd: Path) -> None:
    assert cli.main(["new-probe", "gtplbt", "--bpftrace", "--dir", str(tmp_path)]) == 0
    prog = load_user_program(str(tmp_path / "gtplbt.bt"))
    assert isinstance(prog, UserBpftraceProgram)
    cmd = unique_cmd
    got: list[Event] = []
    prog.start(got.extend)
    pid = prog.pid
    assert pid is not None
    ids = prog.prog_ids
    try:
        assert prog.columns == ("pid", "tid", "comm", "filename", "line")
        assert ids and set(ids) <= {p.id for p in inv.list_programs()}
        child = subprocess.Popen([str(cmd)])
        assert child.wait(timeout=30) == 0
        ev = _wait(got, lambda e: e.args.get("filename") == str(cmd))
        assert ev.probe == "user:gtplbt" and ev.kind == "printf"
        assert ev.pid == child.pid and ev.args["pid"] == child.pid
    finally:
        prog.stop()
    assert not _pid_alive(pid)
    assert not set(ids) & {p.id for p in inv.list_programs()}
