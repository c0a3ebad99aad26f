"""Namespace inodes, host comparison and sharers on a fake /proc made of symlinks."""

from __future__ import annotations

import os
from pathlib import Path

from beefine_tui.docker.namespaces import NS_KINDS, host_reference, ns_inode, read_namespaces

CID = "a" * 64
OTHER = "b" * 64


def fake_proc(tmp_path: Path, procs: dict[int | str, dict[str, int]], cgroups: dict[int, str]) -> str:
    for pid, nss in procs.items():
        d = tmp_path / str(pid) / "ns"
        d.mkdir(parents=True)
        for kind, ino in nss.items():
            os.symlink(f"{kind}:[{ino}]", d / kind)
    for pid, cg in cgroups.items():
        (tmp_path / str(pid) / "cgroup").write_text(cg)
    return str(tmp_path)


def host_ns() -> dict[str, int]:
    return {k: 4026531830 + i for i, k in enumerate(NS_KINDS)}


def test_ns_inode_parses_link(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {7: {"pid": 4026532183}}, {})
    assert ns_inode(7, "pid", proc) == 4026532183
    assert ns_inode(7, "net", proc) is None
    assert ns_inode(8, "pid", proc) is None


def test_new_and_shared_with_sharers(tmp_path: Path) -> None:
    host = host_ns()
    mine = dict(host, mnt=1001, uts=1002, ipc=1003, pid=1004, net=1005)
    # pid 21: another process of the same container; pid 30: a container joined to our net ns
    sibling = dict(mine)
    joined = dict(host, net=1005, mnt=2001, pid=2004)
    proc = fake_proc(
        tmp_path,
        {1: host, 20: mine, 21: sibling, 30: joined, 99: host},
        {20: f"4:memory:/docker/{CID}\n", 21: f"4:memory:/docker/{CID}\n", 30: f"4:memory:/docker/{OTHER}\n"},
    )
    entries = {e.kind: e for e in read_namespaces(20, proc)}
    assert list(entries) == list(NS_KINDS)
    for k in ("mnt", "uts", "ipc", "pid", "net"):
        assert not entries[k].shared_with_host
        assert entries[k].inode == mine[k] and entries[k].host_inode == host[k]
    for k in ("user", "cgroup", "time"):
        assert entries[k].shared_with_host
    assert entries["pid"].pids == [21]
    assert entries["pid"].containers == []
    assert entries["net"].pids == [21, 30]
    assert entries["net"].containers == [OTHER]
    assert entries["net"].pid_count == 3
    # shared with the host: every process in it counts (lsns's NPROCS), not 0
    for k in ("user", "cgroup", "time"):
        assert entries[k].pid_count == 5, k  # pids 1, 20, 21, 30 and 99
        assert entries[k].pids == [1, 21, 30, 99]
    assert entries["pid"].pid_count == 2 and entries["mnt"].pid_count == 2
    unscanned = {e.kind: e for e in read_namespaces(20, proc, with_members=False)}
    assert all(e.pid_count == 0 and e.pids == [] for e in unscanned.values())  # not counted, not guessed


def test_host_reference_falls_back_to_self(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {"self": host_ns()}, {})
    assert host_reference(proc) == "self"
    proc2 = fake_proc(tmp_path / "b", {1: host_ns()}, {})
    assert host_reference(proc2) == "1"


def test_process_gone_gives_none(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {1: host_ns()}, {})
    entries = read_namespaces(12345, proc)
    assert all(e.inode is None and not e.shared_with_host for e in entries)


def test_inspect_text_counts_from_pid_count_not_the_bounded_list() -> None:
    """`inspect` prints how many other processes share each namespace from pid_count: the pid list
    is cut at 50, and a namespace shared with the host has its ~100 processes counted too."""
    import io

    from rich.console import Console

    from beefine_tui.commands.inspect import print_report
    from beefine_tui.docker.inspect import ContainerReport
    from beefine_tui.docker.namespaces import NamespaceEntry

    def entry(kind: str, shared: bool, count: int) -> NamespaceEntry:
        return NamespaceEntry(
            kind=kind,
            inode=1,
            host_inode=1 if shared else 2,
            shared_with_host=shared,
            pids=list(range(2, 2 + min(count - 1, 50))),
            pid_count=count,
        )

    rep = ContainerReport(
        id="c" * 64,
        name="web",
        image="busybox",
        namespaces=[entry("pid", False, 80), entry("net", False, 1), entry("user", True, 112)],
    )
    buf = io.StringIO()
    print_report(rep, Console(file=buf, width=200))
    rows = {ln.split("│")[1].strip(): ln for ln in buf.getvalue().splitlines() if ln.count("│") >= 5}
    assert "79 other processes" in rows["pid"]
    assert "only this container" in rows["net"]
    assert "shared with host" in rows["user"] and "111 other processes" in rows["user"]


def test_container_monitor_and_inspect_count_sharers_alike() -> None:
    """Both views take the count from pid_count: the pid list is bounded (50), the count is not."""
    from beefine_tui.docker.namespaces import NamespaceEntry, sharers_text

    bounded = list(range(1000, 1050))
    new = NamespaceEntry(
        kind="pid", inode=1, host_inode=2, shared_with_host=False, pids=bounded, pid_count=80
    )
    host = NamespaceEntry(
        kind="user", inode=3, host_inode=3, shared_with_host=True, pids=bounded, pid_count=112
    )
    alone = NamespaceEntry(kind="uts", inode=4, host_inode=5, shared_with_host=False, pid_count=1)
    skipped = NamespaceEntry(kind="ipc", inode=6, host_inode=7, shared_with_host=False, pids=[], pid_count=0)
    assert sharers_text(new) == "79 other processes"
    assert sharers_text(host) == "111 other processes"
    assert sharers_text(alone) == "only this container"
    assert sharers_text(skipped) == ""
