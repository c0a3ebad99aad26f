"""bt-cgroups: cgroup directories made and removed, tasks attached to cgroups (bpftrace/cgroups.bt).

Its events carry the cgroups probe's structs (without `controllers`, which it does not read)."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bpftrace_protocol import event_from_record, split_record, to_int
from beefine_tui.probes.bpftrace_runner import (
    BUILTIN_STRLEN,
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    cut_string,
    render_builtin,
)
from beefine_tui.probes.cgroups import EXPLAINS, CgroupArgs, CgroupAttachArgs

SPEC = ProbeSpec(
    name="bt-cgroups",
    group="cgroups",
    engine="bpftrace",
    description="cgroup mkdir/rmdir and task attach, per hierarchy (bpftrace)",
    teaches=(
        "How a container gets its resource limits: a cgroup directory is made (one per controller "
        "hierarchy on cgroup v1, one on v2) and the first `runc init` process is moved into it before "
        "nsexec forks, so every process of the container inherits it."
    ),
    source="cgroups.bt",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("cgroup_mkdir", "cgroup_rmdir", "cgroup_attach"),
    tracepoints=(
        "cgroup:cgroup_mkdir",
        "cgroup:cgroup_rmdir",
        "cgroup:cgroup_attach_task",
        "sched:sched_process_fork",
        "sched:sched_process_exit",
    ),
    explains=EXPLAINS,
    story=StorySlot(rank=1),
)


def decode(line: str) -> Event | None:
    head = split_record(line)
    if head is None:
        return None
    if head.kind in ("cgroup_mkdir", "cgroup_rmdir"):
        rec = split_record(line, 4)
        if rec is None:
            return None
        f = rec.fields
        path, cut = _path(f[3])
        args: CgroupArgs = CgroupArgs(
            path=path, hierarchy=to_int(f[0]), level=to_int(f[1]), id=to_int(f[2]), truncated=cut
        )
        return event_from_record(SPEC.name, rec, rec.kind, args)
    if head.kind == "cgroup_attach":
        rec = split_record(line, 6)
        if rec is None:
            return None
        f = rec.fields
        path, cut = _path(f[5])
        args = CgroupAttachArgs(
            path=path,
            hierarchy=to_int(f[0]),
            level=to_int(f[1]),
            id=to_int(f[2]),
            truncated=cut,
            target_pid=to_int(f[3]),
            target_comm=f[4],
        )
        return event_from_record(SPEC.name, rec, "cgroup_attach", args)
    return None


def _path(value: str) -> tuple[str, bool]:
    """The path with "…" when str() may have cut it (cgroup paths are long)."""
    mark: dict[str, Any] = {}
    path = cut_string(value, mark)
    return path, bool(mark.get("truncated"))


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode, strlen=BUILTIN_STRLEN)  # cgroup paths are long
