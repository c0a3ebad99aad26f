"""Find and remove what a dead beefine-tui left: SIGKILL (or an OOM kill, a power cut) runs no cleanup.

What we create carries its owner: a lab's lab.json records the owner's pid and start time, and every
container we create is labelled with the owner's pid, start time and boot id (OWNER_LABELS). An owner
is dead when the boot id differs, or no process has its pid with that start time: "the pid exists" is
not enough (pids are reused; other beefine-tui processes, tests among them, run side by side on one
machine and what they own must never be touched). No Textual here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from beefine_tui.docker import lab
from beefine_tui.docker.client import connect, resolve_docker_host
from beefine_tui.docker.ownership import (
    BOOT_ID_PATH as BOOT_ID_PATH,
)
from beefine_tui.docker.ownership import (
    OWNER_BOOT as OWNER_BOOT,
)
from beefine_tui.docker.ownership import (
    OWNER_PID as OWNER_PID,
)
from beefine_tui.docker.ownership import (
    OWNER_SINCE_BOOT as OWNER_SINCE_BOOT,
)
from beefine_tui.docker.ownership import (
    OWNER_START as OWNER_START,
)
from beefine_tui.docker.ownership import (
    boot_id as boot_id,
)
from beefine_tui.docker.ownership import (
    dead_owner as dead_owner,
)
from beefine_tui.docker.ownership import (
    owner_alive as owner_alive,
)
from beefine_tui.docker.ownership import (
    owner_labels as owner_labels,
)
from beefine_tui.docker.ownership import (
    start_time as start_time,
)


@dataclass
class Reaped:
    labs: list[str]
    containers: list[tuple[str, int]]  # (short id, dead owner's pid)
    failed: list[str]

    def line(self) -> str:
        """One line for the user; "" when nothing was left."""
        parts = []
        if self.labs:
            parts.append(f"lab{'s' if len(self.labs) > 1 else ''} {', '.join(self.labs)}")
        if self.containers:
            owners = sorted({pid for _, pid in self.containers})
            parts.append(
                f"{len(self.containers)} container{'s' if len(self.containers) > 1 else ''} "
                f"({', '.join(c for c, _ in self.containers)}) of pid {', '.join(map(str, owners))}"
            )
        out = ""
        if parts:
            out = "removed what a killed beefine-tui left: " + "; ".join(parts)
        if self.failed:
            out = (out + "; " if out else "") + "could not remove: " + "; ".join(self.failed)
        return out


def reap_labs() -> tuple[list[str], list[str]]:
    """Labs whose owner died and that nobody is starting or stopping: (removed, failed). A detached
    lab (`lab up`, no owner) is meant to outlive its starter: `lab status` reports it, `lab down`
    removes it, never this."""
    removed, failed = [], []
    for name in lab.lab_names():
        if not lab.NAME_RE.match(name) or lab.is_busy(name) or not lab.is_orphan(name):
            continue
        try:
            lab.down(name)
            removed.append(name)
        except Exception as e:  # BeefineError with what stays; never stop the start for it
            failed.append(f"lab {name}: {getattr(e, 'message', e)}")
    return removed, failed


def reap_containers(client: Any) -> tuple[list[tuple[str, int]], list[str]]:
    """Containers labelled beefine=1 whose owner is dead: (removed (short id, pid), failed)."""
    removed: list[tuple[str, int]] = []
    failed: list[str] = []
    try:
        # sparse: the list as the daemon gave it. Without it docker-py inspects each container in
        # turn, and one removed meanwhile (a --rm run ending) fails the whole list with NotFound
        found = client.containers.list(all=True, sparse=True, filters={"label": "beefine=1"})
    except Exception as e:
        return [], [f"listing containers: {e}"]
    for c in found:
        pid = dead_owner(dict(c.attrs.get("Labels") or {}))
        if pid is None:
            continue
        try:
            c.remove(force=True)
            removed.append((c.short_id, pid))
        except Exception as e:
            if "No such container" not in str(e):  # removed meanwhile: fine
                failed.append(f"container {c.short_id}: {e}")
    return removed, failed


def reap(docker_host: str | None = None) -> str:
    """Everything a dead beefine-tui left, on this machine's labs and on the daemon we are about to use
    (`docker_host`, else $DOCKER_HOST / the system daemon when one answers). One line, "" if nothing."""
    labs, failed = reap_labs()
    containers: list[tuple[str, int]] = []
    hosts = {h for h in (resolve_docker_host(docker_host),) if h}
    hosts |= _live_lab_hosts()
    for host in sorted(hosts):
        with contextlib.suppress(Exception):
            client = connect(host, timeout=5)
            try:
                got, bad = reap_containers(client)
            finally:
                client.close()
            containers += got
            failed += bad
    return Reaped(labs, containers, failed).line()


def _live_lab_hosts() -> set[str]:
    """Docker hosts of the labs that run (a detached `lab up` outlives a trace killed inside it)."""
    hosts = set()
    for name in lab.lab_names():
        with contextlib.suppress(Exception):
            info = lab.status(name)
            if info is not None:
                hosts.add(info.docker_host)
    return hosts
