"""Who to trace: a container, a pid, or a pid and everything it forks, as a probes.base.Target.

A container is found through the Docker SDK: its init process (State.Pid) gives the pid namespace
(st_dev, st_ino of /proc/<pid>/ns/pid), which the BPF programs filter on in the kernel with
bpf_get_ns_current_pid_tgid; also its mount namespace and, on cgroup v2, its cgroup id (the inode of
its cgroup directory, which is what bpf_get_current_cgroup_id returns).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from beefine_tui.errors import DockerUnavailableError, NotFoundError
from beefine_tui.probes.base import Target

CGROUP2_ROOT = Path("/sys/fs/cgroup")


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
