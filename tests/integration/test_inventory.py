"""The BPF program inventory for real (root): a program we load is listed with its id, its
tracepoint and as ours, and is gone after stop; `progs --json` agrees with bpftool; run counting
through a BPF_ENABLE_STATS fd, which ends when the fd is closed and when its holder is SIGKILLed,
with kernel.bpf_stats_enabled untouched; XDP detach on a veth pair made for the test."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from beefine_tui import cli
from beefine_tui.probes import inventory as inv
from beefine_tui.probes.user_program import UserBccProgram

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PROGRAM = """// name: g-inv
BPF_ARRAY(hits, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_execve) { hits.increment(0); return 0; }
"""


def bpftool_progs() -> dict[int, dict[str, object]]:
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True, capture_output=True).stdout
    return {int(p["id"]): p for p in json.loads(out or b"[]")}


@pytest.fixture
def loaded() -> Iterator[UserBccProgram]:
    prog = UserBccProgram(PROGRAM, "inv.c")
    prog.start(lambda batch: None)
    try:
        yield prog
    finally:
        prog.stop()


def test_our_program_is_listed_then_gone(loaded: UserBccProgram) -> None:
    (pid,) = loaded.prog_ids
    rows = {r.prog.id: r for r in inv.inventory()}
    row = rows[pid]
    assert row.prog.type == "tracepoint"
    assert "tracepoint:syscalls:sys_enter_execve" in [a.point for a in row.attach]
    assert os.getpid() in row.owners
    assert row.ours
    assert inv.owner_of(pid, [loaded]) is loaded
    loaded.stop()
    assert pid not in {p.id for p in inv.list_programs()}
    assert pid not in {a.prog_id for a in inv.list_perf()}


def test_progs_json_matches_bpftool(loaded: UserBccProgram, capsys: pytest.CaptureFixture[str]) -> None:
    before = bpftool_progs()
    assert cli.main(["progs", "--json"]) == 0
    after = bpftool_progs()
    out = {d["id"]: d for d in json.loads(capsys.readouterr().out)}
    # other programs come and go on this machine: compare with what bpftool saw around our call
    stable = before.keys() & after.keys()
    assert stable <= out.keys()
    for i in stable:
        assert (out[i]["type"], out[i]["name"], out[i]["tag"]) == (
            after[i]["type"],
            after[i]["name"],
            after[i]["tag"],
        )
    # anything else was loaded after `before` (ids only grow) and is gone or seen by `after`
    extra = out.keys() - stable
    assert all(i > max(before) or i in before for i in extra)
    (pid,) = loaded.prog_ids
    mine = out[pid]
    assert mine["ours"] is True and mine["type"] == "tracepoint"
    assert mine["attach"] == ["tracepoint:syscalls:sys_enter_execve"]


def run_cnt(prog_id: int) -> int:
    """The kernel's run count for one program, as bpftool reports it (left out while it is 0)."""
    out = subprocess.run(
        ["bpftool", "prog", "show", "id", str(prog_id), "-j"], check=True, capture_output=True, timeout=10
    ).stdout
    return int(json.loads(out).get("run_cnt", 0))


def trigger(n: int = 3) -> None:
    """n execve calls: each runs the loaded program (sys_enter_execve) at least once."""
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True, timeout=10)


def someone_else_counts() -> bool:
    """Counting is on through someone other than the test (the sysctl, or another stats fd)."""
    return bool(inv.stats_enabled()) or bool(inv.stats_holders())


def wait_until_nobody_counts(timeout_s: float = 60.0) -> None:
    """Another test or a bpftop on this shared machine may count runs for a while: wait, or skip."""
    deadline = time.monotonic() + timeout_s
    while someone_else_counts():
        if time.monotonic() > deadline:
            pytest.skip("run counting stays on by someone else (sysctl or a BPF_ENABLE_STATS fd)")
        time.sleep(0.5)


def assert_counting_is_off(prog_id: int) -> None:
    """A triggered program's run count does not move while nobody counts."""
    for _ in range(5):
        wait_until_nobody_counts()
        before = run_cnt(prog_id)
        trigger()
        after = run_cnt(prog_id)
        if someone_else_counts():
            continue  # someone turned it on during the window: that says nothing, measure again
        assert after == before, f"run_cnt moved from {before} to {after} with nobody counting"
        return
    pytest.skip("someone else kept turning run counting on")


def test_run_stats_through_our_fd_then_off(loaded: UserBccProgram) -> None:
    (pid,) = loaded.prog_ids
    wait_until_nobody_counts()
    prev = inv.stats_enabled()
    monitor = inv.Monitor()
    with inv.stats_on() as guard:
        assert guard.method == inv.StatsGuard.METHOD_FD  # Linux 6.18 knows BPF_ENABLE_STATS
        assert inv.stats_holders() == [os.getpid()]
        assert inv.stats_enabled() == prev  # the sysctl does not show fd holders, and we leave it
        monitor.refresh()
        before = run_cnt(pid)
        trigger()
        assert run_cnt(pid) >= before + 3
        _rows, rates = monitor.refresh()
        assert rates[pid].runs_per_s > 0  # the monitor knows counting is on without the sysctl
    assert inv.stats_holders([os.getpid()]) == [] and not inv.stats_held()
    assert inv.stats_enabled() == prev
    assert_counting_is_off(pid)


HOLD_STATS = textwrap.dedent(
    """
    import sys
    from beefine_tui.probes import inventory as inv
    guard = inv.StatsGuard().start()
    print(guard.method, flush=True)
    sys.stdin.read()  # hold the fd until killed
    """
)


def test_a_sigkilled_holder_leaves_counting_off(loaded: UserBccProgram) -> None:
    (pid,) = loaded.prog_ids
    wait_until_nobody_counts()
    prev = inv.stats_enabled()
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_STATS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "the child did not say it holds the stats fd"
        line = child.stdout.readline().strip()
        assert child.stderr is not None
        assert line == inv.StatsGuard.METHOD_FD, (
            line,
            child.stderr.read() if child.poll() is not None else "",
        )
        assert inv.stats_holders([child.pid]) == [child.pid]
        before = run_cnt(pid)
        trigger()
        assert run_cnt(pid) >= before + 3, "counting is on while the child holds the fd"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        for f in (child.stdin, child.stdout, child.stderr):
            if f is not None:
                f.close()
    assert inv.stats_enabled() == prev  # nothing to restore: the sysctl was never written
    assert_counting_is_off(pid)


def test_progs_stats_counts_through_an_fd(loaded: UserBccProgram, capsys: pytest.CaptureFixture[str]) -> None:
    (pid,) = loaded.prog_ids
    prev = inv.stats_enabled()
    done = threading.Event()

    def keep_execing() -> None:
        for _ in range(1000):  # bounded: the window is half a second
            if done.is_set():
                return
            trigger(1)

    t = threading.Thread(target=keep_execing, daemon=True)
    t.start()
    try:
        assert cli.main(["progs", "--stats", "--interval", "0.5", "--json"]) == 0
    finally:
        done.set()
        t.join(timeout=30)
    out = {d["id"]: d for d in json.loads(capsys.readouterr().out)}
    assert out[pid]["stats_method"] == inv.StatsGuard.METHOD_FD
    assert out[pid]["runs_per_s"] > 0
    assert inv.stats_enabled() == prev
    assert inv.stats_holders([os.getpid()]) == []


XDP = """
int xdp_pass_g(struct xdp_md *ctx) { return XDP_PASS; }
"""


def test_detach_xdp_from_a_veth() -> None:
    from bcc import BPF

    name = f"bftg{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    b = None
    try:
        b = BPF(text=XDP.encode())
        fn = b.load_func(b"xdp_pass_g", BPF.XDP)
        b.attach_xdp(name.encode(), fn, 1 << 1)  # XDP_FLAGS_SKB_MODE: generic, netlink-attached
        on_dev = [a for a in inv.list_net() if a.ifname == name]
        assert len(on_dev) == 1 and on_dev[0].mode == "generic"
        xdp_id = on_dev[0].prog_id
        row = {r.prog.id: r for r in inv.inventory()}[xdp_id]
        assert row.prog.type == "xdp" and row.ours
        res = inv.detach_xdp(name)
        assert res.detached == ["xdpgeneric"]
        assert [a for a in inv.list_net() if a.ifname == name] == []
    finally:
        if b is not None:
            with contextlib.suppress(Exception):
                b.remove_xdp(name.encode(), 1 << 1)
            b.cleanup()
        subprocess.run(["ip", "link", "del", name], check=False)
    assert name not in os.listdir("/sys/class/net")


def test_detach_xdp_unknown_interface() -> None:
    with pytest.raises(inv.NotFoundError, match="no network interface"):
        inv.detach_xdp("bftg-nope0")
