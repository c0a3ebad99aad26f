"""The BPF program inventory for real (root): a program we load is listed with its id, its
tracepoint and as ours, and is gone after stop; `progs --json` agrees with bpftool; run stats;
XDP detach on a veth pair made for the test."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
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


def test_run_stats_measured_and_sysctl_restored(loaded: UserBccProgram) -> None:
    prev = inv.stats_enabled()
    (pid,) = loaded.prog_ids
    with inv.stats_on():
        first = inv.snapshot()
        for _ in range(3):
            subprocess.run(["/bin/true"], check=True)
        second = inv.snapshot()
    assert inv.stats_enabled() == prev
    rate = inv.rates(first, second)[pid]
    assert rate.runs_per_s > 0
    assert second.by_id()[pid].prog.run_cnt is not None
    assert second.by_id()[pid].prog.run_cnt >= 3  # type: ignore[operator]


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
