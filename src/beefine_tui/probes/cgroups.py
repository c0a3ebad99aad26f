"""cgroups probe: cgroup directories created and removed and tasks moved into cgroups, from the
cgroup:cgroup_mkdir, cgroup:cgroup_rmdir and cgroup:cgroup_attach_task tracepoints.

What a learner sees in a `docker run`: runc creates the container's cgroup (on cgroup v1 one directory
per controller hierarchy, e.g. /docker/<id> under memory, pids, cpu...; on v2 one directory such as
/system.slice/docker-<id>.scope) and moves the first `runc init` process in by writing its pid to
cgroup.procs (runc libcontainer/cgroups/fs and fs2: Apply), before nsexec forks, so every later
process inherits it; the limit values from the OCI config's linux.resources are written later (Set,
at the procHooks sync after the container's mounts; runc 1.1 process_linux.go initProcess.start).
Events carry the path relative to the hierarchy root, the
hierarchy id and the controllers mounted on it (from /proc/self/cgroup and /proc/cgroups; 0 is the v2
unified hierarchy).
"""

from __future__ import annotations

import struct
import threading
from typing import Any, ClassVar

import msgspec

from beefine_tui.docker.cgroup_paths import container_id_from_path
from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext, Decoder, record_event
from beefine_tui.probes.flags import cstr

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    # runc libcontainer/cgroups/fs/*.go: Apply writes the pid into cgroup.procs of each controller.
    KindNote(
        "cgroup_mkdir",
        "A cgroup directory was created for the container (on cgroup v1, one per controller hierarchy).",
        source="runc 1.1 libcontainer/cgroups/fs (v1: one directory per hierarchy), fs2 (v2); cgroups(7)",
    ),
    KindNote(
        "cgroup_attach",
        "A process was moved into the container's cgroup (its pid written to cgroup.procs).",
        source="runc 1.1 libcontainer/cgroups/fs Manager.Apply (cgroup.procs); cgroups(7); kernel "
        "tracepoint cgroup:cgroup_attach_task",
    ),
    KindNote(
        "cgroup_rmdir",
        "A cgroup directory of the container was removed (runc delete, after pid 1 exited).",
        source="runc 1.1 delete.go, libcontainer/cgroups/fs Manager.Destroy; cgroups(7)",
    ),
)

SPEC = ProbeSpec(
    name="cgroups",
    group="cgroups",
    engine="bcc",
    description="cgroups created and removed, and processes moved into them, with their paths",
    teaches=(
        "Limits on a container's memory, CPU and pids live in a cgroup: you see runc create the "
        "container's cgroup directories and move its first process into them before the namespaces "
        "exist (the limit values are written later, after the container's mounts)."
    ),
    source="cgroups.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("cgroup_mkdir", "cgroup_attach", "cgroup_rmdir"),
    tracepoints=("cgroup:cgroup_mkdir", "cgroup:cgroup_attach_task", "cgroup:cgroup_rmdir"),
    explains=EXPLAINS,
    story=StorySlot(),
)

K_MKDIR, K_ATTACH, K_RMDIR = 1, 2, 3
KIND_NAMES = {K_MKDIR: "cgroup_mkdir", K_ATTACH: "cgroup_attach", K_RMDIR: "cgroup_rmdir"}
PATH_LEN = 256


class CgroupArgs(Args, frozen=True, kw_only=True, gc=False, tag="cgroup"):
    """A cgroup directory made or removed: its `path` relative to the hierarchy's root, the hierarchy
    id (0: the v2 unified one), its `level` and kernfs `id`, and the `controllers` mounted on that
    hierarchy (read from /proc by the cgroups probe; "" from bpftrace, which does not look)."""

    kinds: ClassVar[tuple[str, ...]] = ("cgroup_mkdir", "cgroup_rmdir")
    path: str
    hierarchy: int
    level: int | None = None
    id: int | None = None
    controllers: str = ""
    truncated: bool = False  # the path was cut and ends with "…"

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> CgroupArgs:
        """Schema 1: bt-cgroups named the id `cgroup_id`, and `root` repeated `hierarchy`."""
        fields = {k: v for k, v in args.items() if k in cls.__struct_fields__}
        fields.setdefault("hierarchy", args.get("root"))
        if "cgroup_id" in args:
            fields["id"] = args["cgroup_id"]
        return msgspec.convert(fields, cls)

    @property
    def where(self) -> str:
        return f"{self.controllers or f'hierarchy {self.hierarchy}'}:{self.path}"

    def names(self) -> dict[str, Any]:
        cid = container_id_from_path(self.path)
        return {"container_id": cid} if cid else {}

    def describe(self, ev: Event) -> str:
        return ("removed " if ev.kind == "cgroup_rmdir" else "made ") + self.where


class CgroupAttachArgs(CgroupArgs, frozen=True, kw_only=True, gc=False, tag="cgroup_attach"):
    """A task moved into a cgroup (a write to its cgroup.procs or tasks): the cgroup as above and the
    task moved, `target_pid` (a pid, or a tid for `tasks`) and `target_comm`."""

    kinds = ("cgroup_attach",)
    target_pid: int
    target_comm: str

    def describe(self, ev: Event) -> str:
        return f"{self.target_comm} ({self.target_pid}) moved into {self.where}"


# struct cg_rec (bpf/cgroups.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; u64 id;
# s32 root, level, target_pid; u32 cut; char target_comm[16]; char path[256]
REC = struct.Struct("<QIIII16sQiiiI16s256s")
assert REC.size == 336


class Hierarchies:
    """Hierarchy id -> what is mounted on it ("memory", "cpu,cpuacct", "name=systemd").

    Read from /proc/self/cgroup (`id:controllers:path`, which also lists named hierarchies that have no
    controller, such as name=systemd), completed by /proc/cgroups (`subsys_name hierarchy num_cgroups
    enabled`). Id 0 is the cgroup v2 unified hierarchy. Re-read on a miss, at most once per unknown id,
    so hierarchies mounted later are found."""

    def __init__(self, self_cgroup: str = "/proc/self/cgroup", proc_cgroups: str = "/proc/cgroups") -> None:
        self.paths = (self_cgroup, proc_cgroups)
        self._map: dict[int, str] = {}
        self._missed: set[int] = set()
        self._lock = threading.Lock()

    @staticmethod
    def parse(text: str) -> dict[int, str]:
        """/proc/cgroups: controllers of each v1 hierarchy (0 = bound to v2 or unused: skipped)."""
        found: dict[int, list[str]] = {}
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < 4 or not parts[1].isdigit():
                continue
            hid = int(parts[1])
            if hid == 0 or parts[3] != "1":
                continue
            found.setdefault(hid, []).append(parts[0])
        return {h: ",".join(sorted(names)) for h, names in found.items()}

    @staticmethod
    def parse_self(text: str) -> dict[int, str]:
        """/proc/<pid>/cgroup: `id:controllers:path` per hierarchy the process is in (all of them)."""
        out: dict[int, str] = {}
        for line in text.splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3 or not parts[0].isdigit():
                continue
            hid = int(parts[0])
            if hid and parts[1]:
                out[hid] = ",".join(sorted(parts[1].split(",")))
        return out

    def reload(self) -> None:
        found: dict[int, str] = {}
        for path, parse in zip(self.paths, (self.parse_self, self.parse), strict=True):
            try:
                with open(path) as f:
                    text = f.read()
            except OSError:
                continue
            for hid, names in parse(text).items():
                found.setdefault(hid, names)
        with self._lock:
            self._map = found

    def name(self, hid: int) -> str:
        if hid == 0:
            return "cgroup2"
        with self._lock:
            hit = self._map.get(hid)
            missed = hid in self._missed
        if hit is not None:
            return hit
        if not missed:
            self.reload()
            with self._lock:
                self._missed.add(hid)
                hit = self._map.get(hid)
        return hit or ""


HIERARCHIES = Hierarchies()


def make_decoder(hierarchies: Hierarchies) -> Decoder:
    def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
        (ts, kind, pid, tid, _p, comm_b, cg_id, root, level, target_pid, cut, tcomm_b, path_b) = (
            REC.unpack_from(raw)
        )
        kname = KIND_NAMES.get(kind)
        if kname is None:
            return None
        cg = {
            "path": cstr(path_b, bool(cut)),
            "hierarchy": root,
            "level": level,
            "id": cg_id,
            "controllers": hierarchies.name(root),
            "truncated": bool(cut),
        }
        args = (
            CgroupAttachArgs(**cg, target_pid=target_pid, target_comm=cstr(tcomm_b, False))
            if kind == K_ATTACH
            else CgroupArgs(**cg)
        )
        return record_event(ctx, SPEC.name, kname, args, ts=ts, pid=pid, tid=tid, comm=comm_b)

    return decode


decode = make_decoder(HIERARCHIES)


PROBE = BccProbe(SPEC, decode, prepare=HIERARCHIES.reload)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
