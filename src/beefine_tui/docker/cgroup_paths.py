"""Container ids from cgroup paths (/proc/<pid>/cgroup), for cgroup v1 and v2 and the usual runtimes.

Forms recognised (the id is 64 hex digits):
- cgroup v1, cgroupfs driver (Docker's default there):   ``4:memory:/docker/<id>``
- cgroup v2 / systemd driver:   ``0::/system.slice/docker-<id>.scope``
- containerd CRI:   ``.../cri-containerd-<id>.scope`` or ``.../kubepods/.../<id>``
- CRI-O:            ``.../crio-<id>.scope``
- Podman:           ``.../libpod-<id>.scope`` (and ``libpod-conmon-<id>.scope`` for its monitor, not a
  container process, so ignored)
"""

from __future__ import annotations

import re

_HEX64 = r"[0-9a-f]{64}"
# order matters: the most specific prefixes first
_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"(?:^|/)(?:docker|cri-containerd|crio|libpod)-({_HEX64})\.scope(?:/|$)"),
    re.compile(rf"(?:^|/)(?:docker|libpod|crio|containerd)/({_HEX64})(?:/|$)"),
    re.compile(rf"(?:^|/)kubepods[^\n]*/(?:[a-z-]*-)?({_HEX64})(?:\.scope)?(?:/|$)"),
)
_CONMON = re.compile(rf"libpod-conmon-{_HEX64}")


def container_id_from_path(path: str) -> str | None:
    """The container id in one cgroup path, or None."""
    if _CONMON.search(path):
        return None
    for pat in _PATTERNS:
        m = pat.search(path)
        if m:
            return m.group(1)
    return None


def container_id_from_cgroup(text: str) -> str | None:
    """The container id from the text of /proc/<pid>/cgroup (lines ``hierarchy:controllers:path``).

    On a hybrid or v1 host several hierarchies name the same container; the first match wins. Lines
    that do not have three fields are ignored.
    """
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        cid = container_id_from_path(parts[2].strip())
        if cid:
            return cid
    return None


def container_id_for_pid(pid: int) -> str | None:
    """The container id of a running process, or None (host process, or the process is gone)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return container_id_from_cgroup(f.read())
    except OSError:
        return None
