"""bt-namespaces: clone, clone3, unshare, setns and sethostname from bpftrace/namespaces.bt, with
the caller's namespace inodes before and after each unshare/setns (read through BTF).

Its events carry the namespaces probe's structs, so a kind has one shape whichever engine made it."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bpftrace_protocol import event_from_record, split_record, to_int
from beefine_tui.probes.bpftrace_runner import (
    DEFAULT_STRLEN,
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    cut_string,
    render_builtin,
)
from beefine_tui.probes.namespaces import (
    EXPLAINS,
    Clone3Args,
    CloneArgs,
    SethostnameArgs,
    SetnsArgs,
    UnshareArgs,
)

SPEC = ProbeSpec(
    name="bt-namespaces",
    group="namespaces",
    engine="bpftrace",
    description="clone/clone3/unshare/setns/sethostname with namespace inodes before and after (bpftrace)",
    teaches=(
        "How runc makes a container's namespaces: which process unshares which CLONE_NEW* flags, "
        "and the namespace inodes that change (the same numbers as in /proc/<pid>/ns/)."
    ),
    source="namespaces.bt",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("clone", "clone3", "unshare", "setns", "sethostname"),
    tracepoints=(
        "syscalls:sys_enter_clone",
        "syscalls:sys_exit_clone",
        "syscalls:sys_enter_clone3",
        "syscalls:sys_exit_clone3",
        "syscalls:sys_enter_unshare",
        "syscalls:sys_exit_unshare",
        "syscalls:sys_enter_setns",
        "syscalls:sys_exit_setns",
        "syscalls:sys_enter_sethostname",
        "syscalls:sys_exit_sethostname",
        "sched:sched_process_fork",
        "sched:sched_process_exit",
    ),
    explains=EXPLAINS,
    story=StorySlot(rank=1),
)

# order of the inodes the script prints (comma separated) for unshare/setns
NS_NAMES = ("pid_for_children", "mnt", "net", "uts", "ipc", "cgroup", "user")


def _inodes(csv: str) -> dict[str, int]:
    values = [int(x) for x in csv.split(",")]
    return dict(zip(NS_NAMES, values, strict=True))


def decode(line: str) -> Event | None:
    rec = split_record(line)
    if rec is None:
        return None
    f = rec.fields
    args: Args
    if rec.kind in ("clone", "clone3") and len(f) == 2:
        cls = CloneArgs if rec.kind == "clone" else Clone3Args
        args = cls(flags=to_int(f[0]), ret=to_int(f[1]))
    elif rec.kind == "unshare" and len(f) == 4:
        args = UnshareArgs(
            flags=to_int(f[0]), ret=to_int(f[1]), ns_before=_inodes(f[2]), ns_after=_inodes(f[3])
        )
    elif rec.kind == "setns" and len(f) == 5:
        args = SetnsArgs(
            fd=to_int(f[0]),
            nstype=to_int(f[1]),
            ret=to_int(f[2]),
            ns_before=_inodes(f[3]),
            ns_after=_inodes(f[4]),
        )
    elif rec.kind == "sethostname" and len(f) >= 3:
        rec = split_record(line, 3) or rec
        mark: dict[str, Any] = {}
        # str() holds 63 bytes here: a 64-byte hostname (the kernel's most) comes cut
        name = cut_string(rec.fields[2], mark, DEFAULT_STRLEN)
        args = SethostnameArgs(
            name=name,
            truncated=bool(mark.get("truncated")),
            uts_ns=to_int(rec.fields[1]),
            ret=to_int(rec.fields[0]),
        )
    else:
        return None
    return event_from_record(SPEC.name, rec, rec.kind, args)


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
