"""The bpftrace runner against the real bpftrace: attach, events, errors, stop, nothing left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.model import Event
from beefine_tui.probes.bpftrace_runner import BpftraceRunner, run_user_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers kill(0): look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


def _progs_of(pid: int) -> set[int]:
    """Ids of the BPF programs process `pid` holds open (fdinfo of its bpf-prog fds)."""
    ids: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return ids
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def _loaded_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=30)
    return {p["id"] for p in json.loads(out.stdout or "[]")}


def _wait_for(pred: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_user_script_printf_and_map_then_clean_stop() -> None:
    got: list[Event] = []
    me = os.getpid()
    # count our own getppid calls: a map printed at exit, and a printf per call
    script = (
        f"tracepoint:syscalls:sys_enter_getppid /pid == {me}/ {{ @calls = count(); "
        'printf("getppid from %d\\n", pid); }\n'
    )
    r = run_user_script(script, got.extend, name="mine")
    pid = r.pid
    assert pid is not None
    ours = _progs_of(pid)
    assert ours, "bpftrace should hold our programs while running"
    assert ours <= _loaded_prog_ids()
    for _ in range(3):
        os.getppid()
    assert _wait_for(lambda: sum(e.kind == "printf" for e in got) >= 3)
    r.stop()
    r.stop()  # idempotent
    lines = [e.args["line"] for e in got if e.kind == "printf"]
    assert lines == [f"getppid from {me}"] * 3
    maps = [e for e in got if e.kind == "map"]
    # seen once in a full run (not again in 25 alone or beside a detach storm): say how it ended
    ending = [(e.kind, e.args) for e in got if e.kind not in ("printf", "map")]
    assert len(maps) == 1, f"no final map; killed={r.killed}, other events: {ending}"
    assert maps[0].args["name"] == "@calls" and maps[0].args["values"] == 3
    assert _gone(pid)
    assert _wait_for(lambda: not (ours & _loaded_prog_ids())), "our programs must be unloaded"


def test_broken_script_raises_with_line_and_leaves_nothing() -> None:
    got: list[Event] = []
    with pytest.raises(ProbeLoadError) as ei:
        run_user_script('BEGIN {\n  printf("x" }\n', got.extend, name="broken")
    assert ei.value.line == 2
    assert "syntax error" in ei.value.message
    assert "RLIMIT_MEMLOCK" not in ei.value.log


def test_semantic_error_unknown_tracepoint() -> None:
    with pytest.raises(ProbeLoadError) as ei:
        run_user_script("tracepoint:syscalls:sys_enter_no_such_call { exit(); }\n", lambda b: None)
    assert "tracepoint not found" in ei.value.message
    assert ei.value.line == 1


def test_script_that_exits_in_begin_is_not_an_error() -> None:
    got: list[Event] = []
    r = run_user_script('BEGIN { printf("only this\\n"); exit(); }', got.extend, name="quick")
    r.stop()
    assert [e.args.get("line") for e in got if e.kind == "printf"] == ["only this"]
    assert [e.args["state"] for e in got if e.kind == "status"] == ["exited"]


def test_bpftrace_killed_from_outside_becomes_a_failed_status() -> None:
    got: list[Event] = []
    r = BpftraceRunner("victim", "tracepoint:syscalls:sys_enter_getppid /pid == 1/ { }\n")
    r.start(got.extend)
    pid = r.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert _wait_for(lambda: any(e.kind == "status" for e in got))
    (st,) = [e for e in got if e.kind == "status"]
    assert st.args["state"] == "failed" and "-9" in st.args["error"]
    r.stop()
    assert _gone(pid)


def test_stop_from_the_sink_thread_and_script_that_exits_by_itself() -> None:
    got: list[Event] = []
    r = BpftraceRunner("short", 'interval:ms:100 { printf("tick\\n"); exit(); }\n')
    r.start(got.extend)
    assert _wait_for(lambda: any(e.kind == "status" for e in got))
    assert [e.args["state"] for e in got if e.kind == "status"] == ["exited"]
    assert [e.args.get("line") for e in got if e.kind == "printf"] == ["tick"]
    r.stop()


OWNER = """
import sys, threading, time
from beefine_tui.probes.bpftrace_runner import BpftraceRunner
r = BpftraceRunner("orphan-check", "tracepoint:syscalls:sys_enter_getppid /pid == 1/ { }\\n")
t = threading.Thread(target=r.start, args=(lambda b: None,))
t.start(); t.join()  # started from a thread that then ends: bpftrace must live on
time.sleep(0.5)
print(r.pid, flush=True)
time.sleep(120)
"""


def test_bpftrace_ends_when_its_owner_is_sigkilled() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        bt_pid = int(owner.stdout.readline())
        assert not _gone(bt_pid), "the starting thread ended, bpftrace must still run"
        ours = _progs_of(bt_pid)
        assert ours
        owner.kill()
        owner.wait(timeout=10)
        assert _wait_for(lambda: _gone(bt_pid)), "PR_SET_PDEATHSIG: bpftrace follows its owner"
        assert _wait_for(lambda: not (ours & _loaded_prog_ids()))
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


@pytest.mark.parametrize("pages", ["1", "4096"])
def test_flood_received_plus_lost_equals_generated(monkeypatch: pytest.MonkeyPatch, pages: str) -> None:
    """No silent loss: with a tiny perf buffer (bpftrace reports lost_events) and with a big one
    (a backlog bpftrace drops at exit, found through the script's @__beefine_emitted count).
    Measured here: exact in most runs; when the machine was busy, bpftrace sometimes ended without
    its final map and the run says "incomplete" instead."""
    monkeypatch.setenv("BPFTRACE_PERF_RB_PAGES", pages)
    me = os.getpid()
    got: list[Event] = []
    script = (
        f"tracepoint:syscalls:sys_enter_getppid /pid == {me}/ "
        '{ @__beefine_emitted = count(); printf("g\\n"); }\n'
    )
    r = BpftraceRunner("flood", script)
    r.start(got.extend)
    generated = 50_000
    for _ in range(generated):
        os.getppid()
    r.stop()
    received = sum(1 for e in got if e.kind == "printf")
    lost = sum(e.args["count"] for e in got if e.kind == "lost")
    assert all(e.args["source"] == "perf" for e in got if e.kind == "lost")
    detail = (
        f"status={[e.args for e in got if e.kind == 'status']} killed={r.killed} "
        f"emitted_seen={r._decoder.emitted_seen} lines={r._decoder.lines_received} "
        f"rc={r._proc.returncode if r._proc else None} stderr={r.stderr_text[-300:]!r} err={r.error}"
    )
    incomplete = [e for e in got if e.kind == "status" and e.args["state"] == "incomplete"]
    # exact accounting, or (when bpftrace could not finish its report, e.g. on a starved machine)
    # an explicit "incomplete" status: never a silent shortfall
    assert received + lost == generated or (incomplete and received + lost < generated), detail
    assert not [e for e in got if e.kind == "map"], "the bookkeeping map is not shown as an event"
