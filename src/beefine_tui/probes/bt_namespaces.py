"""bt-namespaces: clone, clone3, unshare, setns and sethostname from bpftrace/namespaces.bt, with
the caller's namespace inodes before and after each unshare/setns (read through BTF)."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes import flags
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec
from beefine_tui.probes.bpftrace_runner import (
    DEFAULT_STRLEN,
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    cut_string,
    event_from_record,
    render_builtin,
    ret_args,
    split_record,
    to_int,
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
)

# order of the inodes the script prints (comma separated) for unshare/setns
NS_NAMES = ("pid_for_children", "mnt", "net", "uts", "ipc", "cgroup", "user")


def _inodes(csv: str) -> dict[str, int]:
    values = [int(x) for x in csv.split(",")]
    return dict(zip(NS_NAMES, values, strict=True))


def _changed(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return [n for n in NS_NAMES if before.get(n) != after.get(n)]


def _ns_text(changed: list[str], after: dict[str, int]) -> str:
    if not changed:
        return "no namespace changed"
    return ", ".join(f"new {n} ns {after[n]}" for n in changed)


def decode(line: str) -> Event | None:
    rec = split_record(line)
    if rec is None:
        return None
    f = rec.fields
    args: dict[str, Any]
    if rec.kind in ("clone", "clone3") and len(f) == 2:
        raw, ret = to_int(f[0]), to_int(f[1])
        names = flags.clone_flags(raw) if rec.kind == "clone" else flags.clone3_flags(raw)
        args = {"flags": names, "flags_raw": raw, **ret_args(ret)}
        result = f"error {args['error']}" if ret < 0 else f"child {ret}"
        return event_from_record(SPEC.name, rec, rec.kind, args, f"{rec.kind}({names}) = {result}")
    if rec.kind == "unshare" and len(f) == 4:
        raw, ret = to_int(f[0]), to_int(f[1])
        before, after = _inodes(f[2]), _inodes(f[3])
        changed = _changed(before, after)
        names = flags.unshare_flags(raw)
        args = {
            "flags": names,
            "flags_raw": raw,
            **ret_args(ret),
            "ns_before": before,
            "ns_after": after,
            "ns_changed": changed,
        }
        res = f"error {args['error']}" if ret < 0 else _ns_text(changed, after)
        return event_from_record(SPEC.name, rec, "unshare", args, f"unshare({names}) = {ret}: {res}")
    if rec.kind == "setns" and len(f) == 5:
        fd, nstype, ret = to_int(f[0]), to_int(f[1]), to_int(f[2])
        before, after = _inodes(f[3]), _inodes(f[4])
        changed = _changed(before, after)
        nsname = flags.setns_nstype(nstype)
        args = {
            "fd": fd,
            "nstype": nsname,
            **ret_args(ret),
            "ns_before": before,
            "ns_after": after,
            "ns_changed": changed,
        }
        res = f"error {args['error']}" if ret < 0 else _ns_text(changed, after)
        return event_from_record(SPEC.name, rec, "setns", args, f"setns(fd {fd}, {nsname}) = {ret}: {res}")
    if rec.kind == "sethostname" and len(f) >= 3:
        rec = split_record(line, 3) or rec
        ret, uts, name = to_int(rec.fields[0]), to_int(rec.fields[1]), rec.fields[2]
        args = {"name": name, **ret_args(ret), "uts_ns": uts}
        # str() holds 63 bytes here: a 64-byte hostname (the kernel's most) comes cut
        name = args["name"] = cut_string(name, args, DEFAULT_STRLEN)
        return event_from_record(
            SPEC.name, rec, "sethostname", args, f"sethostname({name!r}) = {ret} in uts ns {uts}"
        )
    return None


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
