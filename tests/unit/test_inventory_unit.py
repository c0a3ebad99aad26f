"""BPF program inventory, without root: bpftool JSON parsing, joining, ours vs others, rates, run
counting through a (faked) BPF_ENABLE_STATS fd, and the sysctl fallback being restored."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from beefine_tui.errors import BeefineError, UsageError
from beefine_tui.probes import inventory as inv
from tests.stats_fakes import is_open

PROGS = [
    {
        "id": 32,
        "type": "tracepoint",
        "name": "sys_enter_execv",
        "tag": "6f898259b71e00f9",
        "loaded_at": 1795630356,
        "uid": 0,
        "bytes_xlated": 608,
        "jited": True,
        "bytes_jited": 417,
        "map_ids": [30],
    },
    {"id": 40, "type": "xdp", "name": "xdp_count", "run_time_ns": 5000, "run_cnt": 10, "map_ids": []},
    {"id": 41, "type": "tracing", "name": "fentry_x", "pids": [{"pid": 77, "comm": "bpftool"}]},
]
PERF = [{"pid": 1234, "fd": 31, "prog_id": 32, "fd_type": "tracepoint", "tracepoint": "sys_enter_execve"}]
LINKS = [
    {"id": 5, "type": "raw_tracepoint", "prog_id": 41, "tp_name": "sched_switch"},
    {"id": 6, "type": "xdp", "prog_id": 40, "ifindex": 1},
    {"id": 7, "type": "mystery", "prog_id": 41},
    {"no": "prog"},
]
NET_OLD = [
    {"xdp": [{"devname": "lo", "ifindex": 1, "mode": "generic", "id": 40}], "tc": [], "flow_dissector": []}
]
NET_MULTI = [
    {
        "xdp": [{"devname": "veth0", "ifindex": 9, "multi_attachments": [{"mode": "driver", "id": 40}]}],
        "tc": [{"devname": "eth0", "ifindex": 2, "kind": "clsact/ingress", "name": "cls", "id": 50}],
    }
]


def test_parse_progs() -> None:
    progs = inv.parse_progs(PROGS)
    assert [p.id for p in progs] == [32, 40, 41]
    p = progs[0]
    assert (p.type, p.name, p.tag, p.jited, p.map_ids) == (
        "tracepoint",
        "sys_enter_execv",
        PROGS[0]["tag"],
        True,
        (30,),
    )
    assert p.run_cnt is None and p.run_time_ns is None
    assert progs[1].run_cnt == 10 and progs[1].run_time_ns == 5000
    assert progs[2].pids == (77,)
    assert inv.parse_progs(None) == []


def test_parse_attachments() -> None:
    perf = inv.parse_perf(PERF, category=lambda name: None)
    assert perf == [inv.Attachment(32, "tracepoint:sys_enter_execve", "perf", pid=1234)]
    perf = inv.parse_perf(PERF, category={"sys_enter_execve": "syscalls"}.get)
    assert perf[0].point == "tracepoint:syscalls:sys_enter_execve"
    links = inv.parse_links(LINKS)
    assert [a.point for a in links] == ["raw_tracepoint:sched_switch", "xdp:lo (link)", "mystery link 7"]
    assert links[1].ifname == "lo" and links[1].link_id == 6
    net = inv.parse_net(NET_OLD)
    assert net == [inv.Attachment(40, "xdp:lo (generic)", "net", ifname="lo", mode="generic")]
    multi = inv.parse_net(NET_MULTI)
    assert [a.point for a in multi] == ["xdp:veth0 (driver)", "tc:eth0 clsact/ingress"]


def test_join_marks_ours_and_others() -> None:
    progs = inv.parse_progs(PROGS)
    atts = [*inv.parse_perf(PERF, lambda n: None), *inv.parse_links(LINKS), *inv.parse_net(NET_OLD)]
    me = os.getpid()
    rows = inv.join_rows(progs, atts, held={40: {me}}, me=me, comm=lambda pid: f"c{pid}")
    by = {r.prog.id: r for r in rows}
    assert by[32].owners == (1234,) and not by[32].ours
    assert by[32].attach_text == "tracepoint:sys_enter_execve"
    assert by[40].ours and by[40].owner_comms == (f"c{me}",)
    assert by[40].attach_text == "xdp:lo (link), xdp:lo (generic)"
    assert by[41].owners == (77,)
    d = by[40].to_json()
    assert d["id"] == 40 and d["ours"] is True and d["attach"] == ["xdp:lo (link)", "xdp:lo (generic)"]


def test_a_child_process_counts_as_ours() -> None:
    assert inv.is_ours(os.getpid())
    assert not inv.is_ours(1)


def _snap(ts: int, cnt: int | None, ns: int | None) -> inv.Snapshot:
    p = inv.ProgInfo(id=1, type="tracepoint", name="x", run_cnt=cnt, run_time_ns=ns)
    return inv.Snapshot(ts, (inv.ProgRow(prog=p),))


def test_rates_between_snapshots() -> None:
    r = inv.rates(_snap(0, 100, 1_000_000), _snap(2_000_000_000, 300, 3_000_000))[1]
    assert r.runs_per_s == 100
    assert r.run_ns_per_s == 1_000_000
    assert r.avg_ns == 10_000
    assert r.cpu_percent == pytest.approx(0.1)
    idle = inv.rates(_snap(0, 5, 50), _snap(10**9, 5, 50))[1]
    assert idle.runs_per_s == 0 and idle.avg_ns is None
    assert inv.rates(_snap(0, None, None), _snap(10**9, None, None)) == {}
    # with counting on, bpftool's missing counts mean "never ran"
    quiet = inv.rates(_snap(0, None, None), _snap(10**9, None, None), stats_on=True)[1]
    assert quiet.runs_per_s == 0 and quiet.avg_ns is None
    assert inv.rates(_snap(5, 1, 1), _snap(5, 2, 2)) == {}


def test_stats_sysctl_is_restored(sysctl: Path, old_kernel: None) -> None:
    f = sysctl
    assert inv.stats_enabled() is False
    with inv.stats_on() as guard:
        assert f.read_text() == "1"
        assert guard.method == inv.StatsGuard.METHOD_SYSCTL
        assert "older than 5.8" in guard.describe()
    assert f.read_text() == "0"
    f.write_text("1\n")
    with inv.stats_on():
        pass
    assert f.read_text().strip() == "1"  # it was on: left on
    prev = inv.disable_stats()
    assert prev is True and f.read_text() == "0"
    inv.restore_stats(prev)
    assert f.read_text() == "1"


def test_stats_fd_is_held_and_the_sysctl_left_alone(sysctl: Path, stats_fds: list[int]) -> None:
    assert not inv.stats_held() and not inv.counting()
    with inv.stats_on() as guard:
        (fd,) = stats_fds
        assert is_open(fd)
        assert guard.method == inv.StatsGuard.METHOD_FD and "however we exit" in guard.describe()
        assert sysctl.read_text() == "0\n"
        assert inv.stats_held() and inv.counting()
    assert not is_open(fd)
    assert not inv.stats_held() and not inv.counting()
    assert sysctl.read_text() == "0\n"


def test_stats_fd_refused_for_permission_is_a_clear_error(
    sysctl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse() -> int:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(inv, "_take_stats_fd", refuse)
    g = inv.StatsGuard()
    with pytest.raises(BeefineError, match="BPF_ENABLE_STATS") as info:
        g.start()
    assert "root" in info.value.hint
    assert not g.on and sysctl.read_text() == "0\n"  # no fallback for a refusal that is not "unknown"
    g.stop()
    assert sysctl.read_text() == "0\n"


def test_stats_missing_sysctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_kernel: None) -> None:
    monkeypatch.setattr(inv, "STATS_SYSCTL", str(tmp_path / "nope"))
    assert inv.stats_enabled() is None
    with pytest.raises(UsageError):
        inv.enable_stats()
    with pytest.raises(UsageError):
        inv.StatsGuard().start()  # neither way is there


def test_owner_of() -> None:
    class R:
        prog_ids = (3, 4)

    class B:
        @property
        def prog_ids(self) -> tuple[int, ...]:
            return (9,)

    r, b = R(), B()
    assert inv.owner_of(4, [b, r]) is r
    assert inv.owner_of(9, [r, b]) is b
    assert inv.owner_of(5, [r, b]) is None


def test_bpftool_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inv, "bpftool_path", lambda: None)
    with pytest.raises(inv.NotFoundError, match="bpftool"):
        inv.list_programs()


def test_stats_guard_restores_once(sysctl: Path, old_kernel: None) -> None:
    f = sysctl
    g = inv.StatsGuard().start()
    assert f.read_text() == "1"
    g.stop()
    assert f.read_text() == "0"
    f.write_text("1")  # someone else turned it on since: a second stop leaves it alone
    g.stop()
    assert f.read_text() == "1"


def test_stats_guard_closes_its_fd_once(sysctl: Path, stats_fds: list[int]) -> None:
    g = inv.StatsGuard().start()
    assert g.start() is g and len(stats_fds) == 1  # a second start takes no second fd
    g.stop()
    assert not is_open(stats_fds[0])
    reused = os.open(os.devnull, os.O_RDONLY)  # may get the same number back
    try:
        g.stop()
        assert is_open(reused)  # the second stop closed nothing
    finally:
        os.close(reused)
    assert not inv.stats_held()


def test_stats_holders_scans_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()
    try:
        assert inv.stats_holders([os.getpid()]) == []
        # a pipe stands in for anon_inode:bpf-stats, which needs root to make
        monkeypatch.setattr(inv, "STATS_FD_LINK", os.readlink(f"/proc/self/fd/{r}"))
        assert inv.stats_holders([os.getpid(), 1 << 30]) == [os.getpid()]
    finally:
        os.close(r)
        os.close(w)


def test_monitor_gives_rates_from_the_second_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    snaps = iter([_snap(0, 1, 10), _snap(10**9, 3, 30)])
    monkeypatch.setattr(inv, "snapshot", lambda: next(snaps))
    monkeypatch.setattr(inv, "stats_enabled", lambda: True)
    m = inv.Monitor()
    rows, r = m.refresh()
    assert [x.prog.id for x in rows] == [1] and r == {}
    rows, r = m.refresh()
    assert r[1].runs_per_s == 2 and r[1].avg_ns == 10


def test_monitor_counts_our_stats_fd_as_on(
    sysctl: Path, stats_fds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a program that has not run: bpftool leaves its counts out, which means 0 only while counting
    snaps = iter([_snap(0, None, None), _snap(10**9, None, None)] * 2)
    monkeypatch.setattr(inv, "snapshot", lambda: next(snaps))
    off = inv.Monitor()
    off.refresh()
    assert off.refresh()[1] == {}  # sysctl 0, no fd: unknown
    with inv.stats_on():
        on = inv.Monitor()
        on.refresh()
        rate = on.refresh()[1][1]
    assert sysctl.read_text() == "0\n"
    assert rate.runs_per_s == 0 and rate.avg_ns is None


def _fake_rows() -> list[inv.ProgRow]:
    progs = inv.parse_progs(PROGS)
    atts = inv.parse_perf(PERF, lambda n: "syscalls")
    return inv.join_rows(progs, atts, held={}, me=os.getpid(), comm=lambda pid: "exec-probe")


def test_progs_json_and_table(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from beefine_tui import cli, privileges

    monkeypatch.setattr(privileges, "can_load_bpf", lambda: True)
    monkeypatch.setattr(inv, "inventory", _fake_rows)
    assert cli.main(["progs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in out] == [32, 40, 41]
    assert out[0]["attach"] == ["tracepoint:syscalls:sys_enter_execve"] and out[0]["pids"] == [1234]
    assert cli.main(["progs"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:3] == ["ID", "TYPE", "NAME"]
    assert "1234/exec-probe" in text and "tracepoint:syscalls:sys_enter_execve" in text


def test_progs_stats_says_how_it_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sysctl: Path, stats_fds: list[int]
) -> None:
    import json

    from beefine_tui import cli, privileges

    monkeypatch.setattr(privileges, "can_load_bpf", lambda: True)
    rows = tuple(_fake_rows())
    monkeypatch.setattr(inv, "snapshot", lambda: inv.Snapshot(0, rows))
    assert cli.main(["progs", "--stats", "--interval", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {d["stats_method"] for d in out} == {"BPF_ENABLE_STATS fd"}
    assert cli.main(["progs", "--stats", "--interval", "0.1"]) == 0
    assert "through BPF_ENABLE_STATS fd" in capsys.readouterr().out
    assert len(stats_fds) == 2 and not any(is_open(fd) for fd in stats_fds)
    assert sysctl.read_text() == "0\n" and not inv.stats_held()


def test_progs_refusals(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from beefine_tui import cli, privileges

    assert cli.main(["progs", "--interval", "0"]) == 2
    assert "--interval" in capsys.readouterr().err
    monkeypatch.setattr(privileges, "can_load_bpf", lambda: False)
    assert cli.main(["progs"]) == 77
    err = capsys.readouterr().err
    assert "needs root" in err and "Traceback" not in err


def test_owner_of_a_session_whose_runners_have_prog_ids_as_methods() -> None:
    # what the programs view's `u` met in the real app: BCC runners expose prog_ids() as a method
    class Runner:
        def __init__(self, ids: set[int]) -> None:
            self._ids = ids

        def prog_ids(self) -> set[int]:
            return self._ids

    class Session:
        def __init__(self, *runners: Runner) -> None:
            self.runners = list(runners)

    class UserProgram:
        prog_ids = (40,)

    s1, s2, mine = Session(Runner({7, 8})), Session(Runner({9}), Runner(set())), UserProgram()
    assert inv.program_ids(s1) == {7, 8} and inv.program_ids(s2) == {9}
    assert inv.owner_of(9, [mine, s1, s2]) is s2
    assert inv.owner_of(40, [s1, mine]) is mine
    assert inv.owner_of(1, [s1, s2, mine]) is None
