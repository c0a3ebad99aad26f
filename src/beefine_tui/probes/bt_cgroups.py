"""bt-cgroups: cgroup directories made and removed, tasks attached to cgroups (bpftrace/cgroups.bt)."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec
from beefine_tui.probes.bpftrace_runner import (
    BUILTIN_STRLEN,
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    cut_string,
    event_from_record,
    render_builtin,
    split_record,
    to_int,
)

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
)


def decode(line: str) -> Event | None:
    head = split_record(line)
    if head is None:
        return None
    if head.kind in ("cgroup_mkdir", "cgroup_rmdir"):
        rec = split_record(line, 4)
        if rec is None:
            return None
        root, level, cgid, path = (
            to_int(rec.fields[0]),
            to_int(rec.fields[1]),
            to_int(rec.fields[2]),
            rec.fields[3],
        )
        # `hierarchy` and `root` are both the hierarchy id the tracepoint calls `root` (SCHEMA.md)
        args: dict[str, Any] = {"hierarchy": root, "root": root, "level": level, "cgroup_id": cgid}
        path = args["path"] = cut_string(path, args)
        verb = "made" if rec.kind == "cgroup_mkdir" else "removed"
        return event_from_record(SPEC.name, rec, rec.kind, args, f"cgroup {path} {verb} (hierarchy {root})")
    if head.kind == "cgroup_attach":
        rec = split_record(line, 6)
        if rec is None:
            return None
        f = rec.fields
        root, level, cgid, tpid = to_int(f[0]), to_int(f[1]), to_int(f[2]), to_int(f[3])
        tcomm, path = f[4], f[5]
        args = {
            "hierarchy": root,
            "target_pid": tpid,
            "target_comm": tcomm,
            "level": level,
            "cgroup_id": cgid,
        }
        path = args["path"] = cut_string(path, args)
        return event_from_record(
            SPEC.name, rec, "cgroup_attach", args, f"{tcomm} ({tpid}) moved to {path} (hierarchy {root})"
        )
    return None


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode, strlen=BUILTIN_STRLEN)  # cgroup paths are long
