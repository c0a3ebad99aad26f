"""What /proc/self/fdinfo says about this process's BPF fds: program ids, map ids, a map's size."""

from __future__ import annotations

import contextlib
import os

from beefine_tui.errors import ProbeLoadError


def map_max_entries(map_fd: int) -> int:
    """max_entries of a BPF map (for a ring buffer: its size in bytes), from /proc/self/fdinfo."""
    with open(f"/proc/self/fdinfo/{map_fd}") as f:
        for line in f:
            if line.startswith("max_entries:"):
                return int(line.split()[1])
    raise ProbeLoadError(f"cannot read the size of BPF map fd {map_fd}")


def prog_id_of_fd(fd: int) -> int | None:
    """The id of the BPF program behind one of this process's fds (from /proc/self/fdinfo)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("prog_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def fd_ids(kind: str) -> set[int]:
    """prog_id / map_id of every BPF fd this process holds (from /proc/self/fdinfo)."""
    ids: set[int] = set()
    key = f"{kind}_id:"
    for fd in os.listdir("/proc/self/fdinfo"):
        with contextlib.suppress(OSError), open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith(key):
                    ids.add(int(line.split()[1]))
                    break
    return ids
