"""bt-security: seccomp, prctl and capset, each at exit with its result (bpftrace/security.bt)."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes import flags
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec
from beefine_tui.probes.bpftrace_runner import (
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    event_from_record,
    render_builtin,
    ret_args,
    split_record,
    to_int,
)

SPEC = ProbeSpec(
    name="bt-security",
    group="security",
    engine="bpftrace",
    description="seccomp filters, prctl options and capability sets being set (bpftrace)",
    teaches=(
        "The last steps before a container's entrypoint runs: installing the seccomp filter, dropping "
        "capabilities from the bounding set and setting the remaining ones; PR_SET_NO_NEW_PRIVS only "
        "when configured (--security-opt no-new-privileges), which moves seccomp after the drop."
    ),
    source="security.bt",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("seccomp", "prctl", "capset"),
    tracepoints=(
        "syscalls:sys_enter_seccomp",
        "syscalls:sys_exit_seccomp",
        "syscalls:sys_enter_prctl",
        "syscalls:sys_exit_prctl",
        "syscalls:sys_enter_capset",
        "syscalls:sys_exit_capset",
        "sched:sched_process_fork",
        "sched:sched_process_exit",
    ),
)


def _mask(lo: str, hi: str) -> int:
    return (to_int(hi) << 32) | to_int(lo)


def decode(line: str) -> Event | None:
    rec = split_record(line)
    if rec is None:
        return None
    f = rec.fields
    args: dict[str, Any]
    if rec.kind == "seccomp" and len(f) == 3:
        op, fl, ret = to_int(f[0]), to_int(f[1]), to_int(f[2])
        opname = flags.seccomp_op(op)
        args = {"op": opname, "flags": flags.seccomp_flags(fl), "flags_raw": fl, **ret_args(ret)}
        return event_from_record(
            SPEC.name, rec, "seccomp", args, f"seccomp({opname}, {args['flags']}) = {ret}"
        )
    if rec.kind == "prctl" and len(f) == 3:
        option, arg2, ret = to_int(f[0]), to_int(f[1]), to_int(f[2])
        optname = flags.prctl_option(option)
        a2 = flags.prctl_arg2(option, arg2)
        args = {"option": optname, "arg2": a2, **ret_args(ret)}
        return event_from_record(SPEC.name, rec, "prctl", args, f"prctl({optname}, {a2}) = {ret}")
    if rec.kind == "capset" and len(f) == 7:
        eff, perm, inh = _mask(f[0], f[1]), _mask(f[2], f[3]), _mask(f[4], f[5])
        ret = to_int(f[6])
        args = {
            "effective": flags.cap_list(eff),
            "permitted": flags.cap_list(perm),
            "inheritable": flags.cap_list(inh),
            "effective_raw": eff,
            "permitted_raw": perm,
            "inheritable_raw": inh,
            **ret_args(ret),
        }
        text = f"capset: {len(args['effective'])} effective, {len(args['permitted'])} permitted = {ret}"
        return event_from_record(SPEC.name, rec, "capset", args, text)
    return None


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
