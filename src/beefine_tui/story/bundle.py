"""The OCI bundle containerd writes for a container: find its config.json by container id and
summarise what runc will do with it (runtime-spec config.md / config-linux.md field names)."""

from __future__ import annotations

import glob
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# containerd's runtime v2 state dir: <state>/io.containerd.runtime.v2.task/<namespace>/<id>/
# (containerd runtime/v2/manager.go). A system containerd uses /run/containerd; dockerd's managed
# containerd uses <exec-root>/containerd/daemon (moby libcontainerd/supervisor).
DEFAULT_STATE_DIRS = (
    "/run/containerd",
    "/run/docker/containerd/daemon",
    "/var/run/docker/containerd/daemon",
)


def candidate_globs(container_id: str, exec_roots: tuple[str, ...] = ()) -> list[str]:
    dirs = [os.path.join(r, "containerd", "daemon") for r in exec_roots] + list(DEFAULT_STATE_DIRS)
    return [os.path.join(d, "io.containerd.runtime.v2.task", "*", container_id, "config.json") for d in dirs]


def find_config(container_id: str, exec_roots: tuple[str, ...] = ()) -> Path | None:
    for pattern in candidate_globs(container_id, exec_roots):
        hits = glob.glob(pattern)
        if hits:
            return Path(hits[0])
    return None


@dataclass
class BundleSummary:
    path: str = ""
    oci_version: str = ""
    args: list[str] = field(default_factory=list)
    env_count: int = 0
    cwd: str = ""
    user: str = ""
    hostname: str = ""
    root: str = ""
    root_readonly: bool = False
    namespaces: list[str] = field(default_factory=list)  # "pid", "network (path=...)"
    mounts: list[dict[str, str]] = field(default_factory=list)  # destination, type, source, options
    capabilities: list[str] = field(default_factory=list)  # bounding set
    no_new_privileges: bool = False
    seccomp_default_action: str = ""
    seccomp_syscall_rules: int = 0
    cgroups_path: str = ""
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    sysctl: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def root_line(self) -> str:
        """Where the root filesystem is: Docker points root.path at the overlay's merged dir, outside
        the bundle (moby daemon/oci_linux.go; runtime-spec config.md "root")."""
        bundle_dir = os.path.dirname(self.path)
        ro = " (readonly)" if self.root_readonly else ""
        if _outside(self.root, bundle_dir):
            return f"root.path: {self.root}{ro}, outside the bundle {bundle_dir}"
        return f"root.path: {self.root or '?'}{ro}"

    def lines(self) -> list[str]:
        """A short human summary."""
        caps = ", ".join(c.removeprefix("CAP_") for c in self.capabilities)
        out = [
            f"process.args: {' '.join(self.args)}  (cwd {self.cwd or '/'}, user {self.user or '0:0'})",
            self.root_line(),
            f"namespaces: {', '.join(self.namespaces)}",
            f"mounts: {len(self.mounts)}: "
            + ", ".join(f"{m['type']} {m['destination']}" for m in self.mounts),
            f"capabilities ({len(self.capabilities)}): {caps}",
            f"seccomp: default {self.seccomp_default_action or 'none'}, {self.seccomp_syscall_rules} rules;"
            f" noNewPrivileges {str(self.no_new_privileges).lower()}",
            f"cgroupsPath: {self.cgroups_path}",
            f"maskedPaths: {len(self.masked_paths)}, readonlyPaths: {len(self.readonly_paths)}",
        ]
        return out


def _outside(root: str, bundle_dir: str) -> bool:
    return bool(root and bundle_dir) and os.path.isabs(root) and not root.startswith(bundle_dir + "/")


def summarise(config: dict[str, Any], path: str = "") -> BundleSummary:
    """Pure: an OCI runtime config (parsed config.json) -> its summary."""
    proc = config.get("process") or {}
    linux = config.get("linux") or {}
    user = proc.get("user") or {}
    caps = (proc.get("capabilities") or {}).get("bounding") or []
    seccomp = linux.get("seccomp") or {}
    namespaces = []
    for ns in linux.get("namespaces") or []:
        t = str(ns.get("type", "?"))
        namespaces.append(f"{t} (join {ns['path']})" if ns.get("path") else t)
    mounts = [
        {
            "destination": str(m.get("destination", "")),
            "type": str(m.get("type") or ("bind" if {"bind", "rbind"} & set(m.get("options") or []) else "")),
            "source": str(m.get("source", "")),
            "options": ",".join(m.get("options") or []),
        }
        for m in config.get("mounts") or []
    ]
    return BundleSummary(
        path=path,
        oci_version=str(config.get("ociVersion", "")),
        args=[str(a) for a in proc.get("args") or []],
        env_count=len(proc.get("env") or []),
        cwd=str(proc.get("cwd", "")),
        user=f"{user.get('uid', 0)}:{user.get('gid', 0)}",
        hostname=str(config.get("hostname", "")),
        root=str((config.get("root") or {}).get("path", "")),
        root_readonly=bool((config.get("root") or {}).get("readonly", False)),
        namespaces=namespaces,
        mounts=mounts,
        capabilities=[str(c) for c in caps],
        no_new_privileges=bool(proc.get("noNewPrivileges", False)),
        seccomp_default_action=str(seccomp.get("defaultAction", "")),
        seccomp_syscall_rules=len(seccomp.get("syscalls") or []),
        cgroups_path=str(linux.get("cgroupsPath", "")),
        masked_paths=[str(p) for p in linux.get("maskedPaths") or []],
        readonly_paths=[str(p) for p in linux.get("readonlyPaths") or []],
        sysctl={str(k): str(v) for k, v in (linux.get("sysctl") or {}).items()},
    )


def read_summary(path: str | Path) -> BundleSummary | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return summarise(data, str(path))


class BundleWatcher:
    """Catches config.json while it exists: containerd writes it at task create and removes it at
    delete, which for a short-lived container (`true`) is a few tens of milliseconds later.
    Polls every 5 ms in a thread, for at most `timeout` seconds; `stop()` is idempotent."""

    def __init__(self, container_id: str, exec_roots: tuple[str, ...] = (), timeout: float = 30.0) -> None:
        self.container_id = container_id
        self.exec_roots = exec_roots
        self.timeout = timeout
        self.summary: BundleSummary | None = None
        self.found = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bundle-{container_id[:12]}", daemon=True)

    def start(self) -> BundleWatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        patterns = candidate_globs(self.container_id, self.exec_roots)
        while not self._stop.is_set() and time.monotonic() < deadline:
            for pattern in patterns:
                for hit in glob.glob(pattern):
                    s = read_summary(hit)
                    if s is not None:
                        self.summary = s
                        self.found.set()
                        return
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=1.0)
