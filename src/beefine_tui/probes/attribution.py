"""Who to trace (a Target), and who did it: the one rule that gives every event its parent pid and container.

Attribution (`Attributor.attribute`) is applied by the runners (BCC, bpftrace, users' programs) to every
decoded event, never by a decoder, so the same process is attributed the same way whichever engine saw it:
- parent pid: what the kernel put in the record if anything, else the lineage table (parents learnt from
  fork events, so a child that already exited still has one), else /proc/<pid>/stat;
- container: the target's (a probe limited to one container only sees that container), else the
  process's own cgroup (/proc/<pid>/cgroup), else, for a process already gone from /proc, its parent's.

A container is found through the Docker SDK: its init process (State.Pid) gives the pid namespace
(st_dev, st_ino of /proc/<pid>/ns/pid), which the BPF programs filter on in the kernel with
bpf_get_ns_current_pid_tgid; also its mount namespace and, on cgroup v2, its cgroup id (the inode of
its cgroup directory, which is what bpf_get_current_cgroup_id returns).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from beefine_tui.docker.cgroup_paths import container_id_for_pid
from beefine_tui.errors import DockerUnavailableError, NotFoundError
from beefine_tui.events.model import LOST, STATUS, Event
from beefine_tui.probes.base import Target

CGROUP2_ROOT = Path("/sys/fs/cgroup")
PROC_CACHE_SIZE = 4096  # processes remembered per runner (oldest forgotten first)


def _ns(pid: int, kind: str) -> os.stat_result:
    return os.stat(f"/proc/{pid}/ns/{kind}")


def _pid_exists(pid: int) -> bool:
    return pid > 0 and os.path.isdir(f"/proc/{pid}")


def cgroup_v2_id(pid: int) -> int | None:
    """Inode of the process's cgroup v2 directory, on a pure v2 host (None on v1/hybrid)."""
    try:
        if (CGROUP2_ROOT / "cgroup.controllers").exists() is False:
            return None
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                hier, _ctl, path = line.rstrip("\n").split(":", 2)
                if hier == "0":
                    return os.stat(CGROUP2_ROOT / path.lstrip("/")).st_ino
    except (OSError, ValueError):
        return None
    return None


def target_for_pid(pid: int) -> Target:
    """Exactly this process (its threads included)."""
    if not _pid_exists(pid):
        raise NotFoundError(f"no process with pid {pid}", "check the pid with `ps -p PID`")
    return Target(pids=frozenset({pid}))


def target_lineage(pid: int) -> Target:
    """This process and every process it (or its descendants) forks, including ones already running."""
    if not _pid_exists(pid):
        raise NotFoundError(f"no process with pid {pid}", "check the pid with `ps -p PID`")
    return Target(lineage_root=pid)


def descendants(root: int) -> set[int]:
    """Pids of the current descendants of `root` (a /proc scan; racy by nature, good for seeding)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
            ppid = int(raw[raw.rindex(b")") + 2 :].split(maxsplit=2)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def target_for_container(client: Any, id_or_name: str) -> Target:
    """The container's pid namespace (and mount ns, cgroup v2 id), from a running container."""
    import docker.errors

    try:
        c = client.containers.get(id_or_name)
    except docker.errors.NotFound:
        raise NotFoundError(
            f"no container {id_or_name!r}",
            "see the running ones with `docker ps` against the same daemon (the lab's: docker -H "
            "$DOCKER_HOST ps), or in the app's Dashboard",
        ) from None
    except docker.errors.DockerException as e:
        raise DockerUnavailableError(f"cannot ask Docker about container {id_or_name!r}: {e}") from None
    state = c.attrs.get("State", {}) or {}
    pid = int(state.get("Pid") or 0)
    if not state.get("Running") or pid <= 0:
        raise NotFoundError(
            f"container {c.name} ({c.id[:12]}) is not running (status {state.get('Status', '?')})",
            "start it first (`docker start`), or trace its creation with `beefine-tui trace`",
        )
    try:
        pidns = _ns(pid, "pid")
        mntns = _ns(pid, "mnt")
    except FileNotFoundError:
        raise NotFoundError(f"container {c.name} exited while we looked at it") from None
    except PermissionError:
        raise NotFoundError(
            f"cannot read the namespaces of container {c.name}'s process {pid}",
            "run as root: sudo beefine-tui ...",
        ) from None
    return Target(
        pidns=(pidns.st_dev, pidns.st_ino),
        mntns=mntns.st_ino,
        cgroup_id=cgroup_v2_id(pid),
        container_id=c.id,
        container_name=c.name,
    )


# --------------------------------------------------------------------------------------------------
# attributing events


@dataclass
class ProcInfo:
    ppid: int
    comm: str
    container: str | None
    root: str = "/"  # the process's root directory (chroot), from /proc/<pid>/root
    gone: bool = False  # /proc had no such process when we looked (it already exited)


class ProcTable:
    """A bounded per-pid cache of a process's parent, comm, container and root, read from /proc once
    and kept after the process exits (until forgotten or evicted), plus the lineage learnt from fork
    events: a child's parent is known without /proc, which may be gone by the time anyone asks.

    Read on a runner's poll thread for every event, so the hit path takes no lock: a dict lookup is
    atomic in CPython; inserts and evictions (oldest first) take the lock."""

    def __init__(self, cache_size: int = PROC_CACHE_SIZE) -> None:
        self._cache: dict[int, ProcInfo] = {}
        self._cache_size = cache_size
        # a known process's info, else None, without a Python frame (`cached(pid) or info(pid)`)
        self.cached = self._cache.get
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cache)

    def __contains__(self, pid: int) -> bool:
        return pid in self._cache

    def info(self, pid: int) -> ProcInfo:
        hit = self._cache.get(pid)
        if hit is not None:
            return hit
        info = read_proc(pid)
        self._remember(pid, info)
        return info

    def _remember(self, pid: int, info: ProcInfo) -> None:
        with self._lock:
            self._cache.pop(pid, None)
            self._cache[pid] = info
            while len(self._cache) > self._cache_size:
                del self._cache[next(iter(self._cache))]

    def note_fork(self, parent: int, child: int, comm: str) -> None:
        """A fork seen in the kernel: the child starts in its parent's container, with its comm."""
        self._remember(child, ProcInfo(parent, comm, self.info(parent).container))

    def note_exec(self, pid: int, comm: str) -> None:
        hit = self._cache.get(pid)
        if hit is not None:
            hit.comm = comm

    def forget(self, pid: int) -> None:
        with self._lock:
            self._cache.pop(pid, None)


def read_proc(pid: int) -> ProcInfo:
    """What /proc says about `pid` now; `gone` when it has no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses
        lpar, rpar = raw.index(b"("), raw.rindex(b")")
        comm = raw[lpar + 1 : rpar].decode(errors="replace")
        ppid = int(raw[rpar + 2 :].split(maxsplit=2)[1])
    except (OSError, ValueError, IndexError):
        return ProcInfo(0, "", None, gone=True)
    root = "/"
    with contextlib.suppress(OSError):
        root = os.readlink(f"/proc/{pid}/root")
    return ProcInfo(ppid, comm, container_id_for_pid(pid), root)


_NOT_ATTRIBUTED = frozenset({LOST, STATUS})  # about a probe, not a process
_LINEAGE_PROBES = frozenset({"fork", "exec"})  # their events keep the process table current


class Attributor:
    """Applies the module's one rule (see the docstring at the top) to events; one per runner.

    It also keeps the lineage table current from the events themselves: a process fork names the
    child's parent, a successful exec renames the process, an exit forgets it (after attributing the
    exit event). Runs for every event on a runner's poll thread: the hit path is a dict lookup."""

    def __init__(self, target: Target | None = None, procs: ProcTable | None = None) -> None:
        self.target = target or Target()
        self.procs = procs if procs is not None else ProcTable()
        self._target_container = self.target.container_id
        self._cache = self.procs._cache  # read without a lock, as ProcTable.info does

    def attribute(self, ev: Event) -> Event:
        """`ev` with its parent pid and container set by the rule (the same object if already right)."""
        pid = ev.pid
        if pid <= 0 or ev.kind in _NOT_ATTRIBUTED:
            return ev
        lineage = ev.probe in _LINEAGE_PROBES
        if lineage and ev.kind == "exec" and ev.args.get("ret") == 0:
            self.procs.note_exec(pid, ev.comm)
        info = self._cache.get(pid) or self.procs.info(pid)
        ppid = ev.ppid or info.ppid
        container = self._target_container
        if container is None:
            container = info.container
            if container is None and info.gone and ppid:
                container = self.procs.info(ppid).container
        if lineage:
            self._follow_lineage(ev)
        if ppid == ev.ppid and container == ev.container:
            return ev
        return msgspec.structs.replace(ev, ppid=ppid, container=container)

    def _follow_lineage(self, ev: Event) -> None:
        if ev.probe == "fork" and ev.kind == "fork" and not ev.args.get("thread"):
            child = ev.args.get("child_pid")
            if isinstance(child, int):
                self.procs.note_fork(ev.pid, child, str(ev.args.get("child_comm") or ev.comm))
        elif ev.probe == "exec" and ev.kind == "exit":
            self.procs.forget(ev.pid)
