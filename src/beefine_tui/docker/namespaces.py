"""A process's eight namespaces next to the host's (pid 1), and who else shares each.

Each /proc/<pid>/ns/<kind> is a magic link "kind:[inode]"; two processes are in the same
namespace exactly when the inode (and the nsfs device) is the same (namespaces(7)).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import msgspec

from beefine_tui.docker.cgroup_paths import container_id_from_cgroup

# The eight kinds namespaces(7) lists, in the order the monitor shows them.
NS_KINDS: tuple[str, ...] = ("mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time")

# What each one isolates, for learners (namespaces(7) and the per-kind pages, e.g. pid_namespaces(7)).
NS_MEANING: dict[str, str] = {
    "mnt": "mount table: the container sees its own root (overlay) and mounts",
    "uts": "hostname and NIS domain name: Docker names it after the short id, runc's init sets it",
    "ipc": "System V IPC objects and POSIX message queues",
    "pid": "process ids: the entrypoint is pid 1 inside",
    "net": "network devices, addresses, routes, ports, firewall",
    "user": "uid/gid mappings and capabilities (Docker shares the host's unless userns-remap)",
    # moby#38377 / dockerd --default-cgroupns-mode: "private" by default on cgroup v2, "host" on v1
    "cgroup": "which cgroup paths it sees: its own root on cgroup v2 hosts, the host's on v1",
    "time": "CLOCK_MONOTONIC/BOOTTIME offsets (Docker keeps the host's)",
}


class NamespaceEntry(msgspec.Struct, kw_only=True):
    kind: str
    inode: int | None  # None: not readable (process gone, kernel without this kind)
    host_inode: int | None
    shared_with_host: bool
    meaning: str = ""
    pids: list[int] = msgspec.field(default_factory=list)  # other host pids in it (bounded)
    # how many processes in total are in it, this one included (what `lsns` calls NPROCS); for a
    # namespace shared with the host that is every host process in it, not 0
    pid_count: int = 0
    containers: list[str] = msgspec.field(default_factory=list)  # other container ids in it


def sharers_text(ns: NamespaceEntry) -> str:
    """Who else is in a namespace, in words: from pid_count (the whole count), never from the bounded
    pid list. Empty when the scan was skipped (pid_count 0)."""
    if not ns.pid_count:
        return ""
    k = ns.pid_count - 1
    others = f"{k} other process{'es' if k != 1 else ''}"
    if ns.shared_with_host:
        return others
    who = others if k else "only this container"
    if ns.containers:
        who += f"; containers {', '.join(c[:12] for c in ns.containers)}"
    return who


def ns_inode(pid: int | str, kind: str, proc: str = "/proc") -> int | None:
    """Inode number of /proc/<pid>/ns/<kind> (what `readlink` shows in brackets), or None."""
    try:
        link = os.readlink(f"{proc}/{pid}/ns/{kind}")
    except OSError:
        return None
    # "pid:[4026531836]"
    lb, rb = link.find("["), link.rfind("]")
    if lb < 0 or rb < lb:
        return None
    try:
        return int(link[lb + 1 : rb])
    except ValueError:
        return None


def pidns_key(pid: int, proc: str = "/proc") -> tuple[int, int] | None:
    """(st_dev, st_ino) of the pid namespace, what bpf_get_ns_current_pid_tgid needs."""
    try:
        st = os.stat(f"{proc}/{pid}/ns/pid")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def all_pids(proc: str = "/proc") -> list[int]:
    try:
        return [int(n) for n in os.listdir(proc) if n.isdigit()]
    except OSError:
        return []


def namespace_members(
    kinds: Iterable[str], wanted: dict[str, int], proc: str = "/proc"
) -> dict[str, list[int]]:
    """For each kind, the host pids whose namespace inode equals wanted[kind]. One pass over /proc."""
    out: dict[str, list[int]] = {k: [] for k in kinds}
    for pid in all_pids(proc):
        for k in out:
            want = wanted.get(k)
            if want is not None and ns_inode(pid, k, proc) == want:
                out[k].append(pid)
    return out


def _container_of(pid: int, proc: str) -> str | None:
    try:
        with open(f"{proc}/{pid}/cgroup") as f:
            return container_id_from_cgroup(f.read())
    except OSError:
        return None


def host_reference(proc: str = "/proc") -> str:
    """Whose namespaces count as "the host's": pid 1 when readable, else this process.

    Reading /proc/1/ns/* can be refused (ptrace access mode checks, e.g. pid 1 of a sandbox or
    another user namespace); this tool runs on the host, so its own namespaces are the next best."""
    return "1" if ns_inode(1, "mnt", proc) is not None else "self"


def read_namespaces(
    pid: int,
    proc: str = "/proc",
    host_pid: int | str | None = None,
    with_members: bool = True,
    max_pids: int = 50,
) -> list[NamespaceEntry]:
    """The eight namespaces of `pid` against the host's (pid 1, or this process when pid 1 is not
    readable), and (optionally) which other processes and containers share each."""
    if host_pid is None:
        host_pid = host_reference(proc)
    mine = {k: ns_inode(pid, k, proc) for k in NS_KINDS}
    host = {k: ns_inode(host_pid, k, proc) for k in NS_KINDS}
    members: dict[str, list[int]] = {}
    own_container = _container_of(pid, proc)
    if with_members:
        # every kind, the ones shared with the host too: one pass over /proc reads them all anyway
        wanted = {k: v for k, v in mine.items() if v is not None}
        members = namespace_members(wanted.keys(), wanted, proc)
    entries: list[NamespaceEntry] = []
    cache: dict[int, str | None] = {}
    for k in NS_KINDS:
        inode, hinode = mine[k], host[k]
        shared = inode is not None and inode == hinode
        in_it = members.get(k, [])
        pids = sorted(p for p in in_it if p != pid)
        containers: set[str] = set()
        for p in pids:
            if p not in cache:
                cache[p] = _container_of(p, proc)
            cid = cache[p]
            if cid and cid != own_container:
                containers.add(cid)
        entries.append(
            NamespaceEntry(
                kind=k,
                inode=inode,
                host_inode=hinode,
                shared_with_host=shared,
                meaning=NS_MEANING[k],
                pids=pids[:max_pids],
                # `pid` itself counts even when it was not seen in the scan (it can exit meanwhile)
                pid_count=len(pids) + 1 if with_members and inode is not None else 0,
                containers=sorted(containers),
            )
        )
    return entries
