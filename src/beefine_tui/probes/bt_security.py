"""bt-security: seccomp, prctl and capset, each at exit with its result (bpftrace/security.bt).

Its events carry the security probe's structs, so a kind has one shape whichever engine made it."""

from __future__ import annotations

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bpftrace_protocol import event_from_record, split_record, to_int
from beefine_tui.probes.bpftrace_runner import (
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    render_builtin,
)
from beefine_tui.probes.security import EXPLAINS, CapsetArgs, PrctlArgs, SeccompArgs

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
    explains=EXPLAINS,
    story=StorySlot(rank=1),
)


def _mask(lo: str, hi: str) -> int:
    return (to_int(hi) << 32) | to_int(lo)


def decode(line: str) -> Event | None:
    rec = split_record(line)
    if rec is None:
        return None
    f = rec.fields
    args: Args
    if rec.kind == "seccomp" and len(f) == 3:
        args = SeccompArgs(op=to_int(f[0]), flags=to_int(f[1]), ret=to_int(f[2]))
    elif rec.kind == "prctl" and len(f) == 3:
        args = PrctlArgs(option=to_int(f[0]), arg2=to_int(f[1]), ret=to_int(f[2]))
    elif rec.kind == "capset" and len(f) == 7:
        eff, perm, inh = _mask(f[0], f[1]), _mask(f[2], f[3]), _mask(f[4], f[5])
        args = CapsetArgs(effective=eff, permitted=perm, inheritable=inh, ret=to_int(f[6]))
    else:
        return None
    return event_from_record(SPEC.name, rec, rec.kind, args)


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
