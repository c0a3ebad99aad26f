"""Process listing of one pid namespace on a fake /proc."""

from __future__ import annotations

import os
from pathlib import Path

from beefine_tui.docker.procfs import ProcessLister, parse_passwd, parse_stat

PIDNS = 4026532183


def stat_line(
    pid: int, comm: str, state: str, ppid: int, utime: int, stime: int, start: int, rss: int
) -> str:
    # fields 1..24 of proc(5) stat; only some matter
    f = [str(pid), f"({comm})", state, str(ppid)] + ["0"] * 9 + [str(utime), str(stime)]
    f += ["0", "0", "20", "0", "1", "0", str(start), "1000", str(rss)]
    return " ".join(f) + " 0 0 0\n"


def add(
    proc: Path,
    pid: int,
    nspid: list[int],
    ppid: int,
    comm: str,
    argv: list[str],
    uid: int,
    ino: int,
    ticks: int = 5,
    state: str = "S",
) -> None:
    d = proc / str(pid)
    (d / "ns").mkdir(parents=True)
    os.symlink(f"pid:[{ino}]", d / "ns" / "pid")
    (d / "stat").write_text(stat_line(pid, comm, state, ppid, ticks, 0, 100 + pid, 10))
    (d / "status").write_text(
        f"Name:\t{comm}\nState:\t{state}\nPPid:\t{ppid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
        f"NSpid:\t{chr(9).join(map(str, nspid))}\n"
    )
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + (b"\0" if argv else b""))


def test_parse_stat_comm_with_spaces_and_parens() -> None:
    comm, state, ppid, ticks, threads, start, rss = parse_stat(stat_line(9, "a) b (c", "R", 3, 7, 2, 55, 4))
    assert (comm, state, ppid, ticks, threads, start, rss) == ("a) b (c", "R", 3, 9, 1, 55, 4)


def test_lists_only_the_namespace_with_ns_pids_and_users(tmp_path: Path) -> None:
    proc = tmp_path
    add(proc, 500, [500, 1], 490, "sh", ["sh", "-c", "sleep 1000"], 0, PIDNS)
    add(proc, 510, [510, 7], 500, "sleep", ["sleep", "1000"], 1000, PIDNS, ticks=20, state="R")
    add(proc, 520, [520], 1, "bash", ["bash"], 0, 4026531836)  # host process
    add(proc, 530, [530, 9], 500, "kworker", [], 0, PIDNS)  # no cmdline
    etc = proc / "500" / "root" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    lister = ProcessLister(PIDNS, str(proc), root_pid=500)
    procs = lister.list()
    assert [(p.pid, p.ns_pid, p.ns_ppid) for p in procs] == [(500, 1, 0), (510, 7, 1), (530, 9, 1)]
    by = {p.pid: p for p in procs}
    assert by[510].user == "app" and by[500].user == "root"
    assert by[510].cmdline == ["sleep", "1000"] and by[510].state == "running"
    assert by[530].cmdline == []
    assert all(p.cpu_percent is None for p in procs)  # one sample: no rate yet
    # second sample: CPU % from the tick delta
    (proc / "510" / "stat").write_text(stat_line(510, "sleep", "R", 500, 20 + 100, 0, 610, 10))
    procs2 = {p.pid: p for p in lister.list()}
    assert procs2[510].cpu_percent is not None and procs2[510].cpu_percent > 0
    assert procs2[500].cpu_percent == 0.0


def test_process_that_vanishes_is_skipped(tmp_path: Path) -> None:
    add(tmp_path, 600, [600, 1], 1, "x", ["x"], 0, PIDNS)
    os.remove(tmp_path / "600" / "status")
    assert ProcessLister(PIDNS, str(tmp_path)).list() == []


def test_parse_passwd() -> None:
    assert parse_passwd("root:x:0:0::/:/bin/sh\nbad line\nnobody:x:65534:65534::/:/bin/false\n") == {
        0: "root",
        65534: "nobody",
    }
