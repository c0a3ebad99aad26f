"""security probe: seccomp(2) (op, flags, filter length), prctl(2) (option, arg2; PR_SET_NAME with
the name) and capset(2) with the effective, permitted and inheritable sets as capability names.

What a learner sees in a `docker run` (checked against a traced run on this machine): runc first probes
what the kernel's seccomp supports (calls with a NULL filter that fail with EFAULT or EINVAL, and
SECCOMP_GET_ACTION_AVAIL). Its init process then sets no_new_privs only when asked to (docker run
--security-opt no-new-privileges) and loads the seccomp filter before it gives up capabilities,
because without no_new_privs loading a filter needs CAP_SYS_ADMIN (runc libcontainer/
standard_init_linux.go and setns_init_linux.go: InitSeccomp before finalizeNamespace). Here Docker's
default profile (moby profiles/seccomp/default.json, an allow-list) became a 974-instruction filter
loaded with prctl(PR_SET_SECCOMP). finalizeNamespace then drops every capability not kept from the
bounding set (PR_CAPBSET_DROP), brackets the uid change with PR_SET_KEEPCAPS, sets the 14 default
capabilities with capset(2) (moby oci/caps/defaults.go) and lowers the ambient set (PR_CAP_AMBIENT).
"""

from __future__ import annotations

import struct
from typing import Any

from beefine_tui.events.model import Event, FreeArgs
from beefine_tui.probes.base import ProbeSpec
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import (
    PR_CAP_AMBIENT,
    PR_SET_NAME,
    PR_SET_SECCOMP,
    cap_list,
    cap_name,
    cstr,
    prctl_arg2,
    prctl_option,
    ret_args,
    seccomp_flags,
    seccomp_op,
)

SPEC = ProbeSpec(
    name="security",
    group="security",
    engine="bcc",
    description="seccomp filters, prctl options (no_new_privs, capability drops...) and capset",
    teaches=(
        "The last locks runc puts on a container before it runs your program, each seen as the syscall "
        "that sets it: the seccomp filter (prctl PR_SET_SECCOMP from runc 1.1), the capabilities "
        "(PR_CAPBSET_DROP, capset, PR_CAP_AMBIENT) and, only with --security-opt no-new-privileges, "
        "PR_SET_NO_NEW_PRIVS. Without it the filter is loaded before the capabilities are dropped; "
        "with it, last, just before exec."
    ),
    source="security.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("seccomp", "prctl", "capset"),
    tracepoints=tuple(
        f"syscalls:sys_{d}_{n}" for n in ("seccomp", "prctl", "capset") for d in ("enter", "exit")
    ),
)

K_SECCOMP, K_PRCTL, K_CAPSET = 1, 2, 3
KIND_NAMES = {K_SECCOMP: "seccomp", K_PRCTL: "prctl", K_CAPSET: "capset"}
SECCOMP_SET_MODE_FILTER = 1
LINUX_CAPABILITY_VERSIONS = {0x19980330: 1, 0x20071026: 2, 0x20080522: 3}

# struct sec_rec (bpf/security.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; s64 ret;
# u64 a0, a1, a2; u32 filter_len, cap_version; s32 cap_pid; u32 cap_n; u32 caps[6]; char name[16]
REC = struct.Struct("<QIIII16sqQQQIIiI6I16s")
assert REC.size == 128


def cap_sets(caps: tuple[int, ...], n: int) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) as u64 from cap_user_data_t: struct i holds bits 32*i.."""
    eff = perm = inh = 0
    for i in range(min(n, 2)):
        e, p, h = caps[3 * i : 3 * i + 3]
        eff |= e << (32 * i)
        perm |= p << (32 * i)
        inh |= h << (32 * i)
    return eff, perm, inh


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    fields = REC.unpack_from(raw)
    ts, kind, pid, tid, _p, comm_b, ret, a0, a1, a2, filter_len, cap_version, cap_pid, cap_n = fields[:14]
    caps = fields[14:20]
    name_b = fields[20]
    kname = KIND_NAMES.get(kind)
    if kname is None:
        return None
    args: dict[str, Any]
    if kind == K_SECCOMP:
        op = seccomp_op(a0)
        args = {"op": op, "flags": seccomp_flags(a1), "flags_raw": a1}
        if a0 == SECCOMP_SET_MODE_FILTER and filter_len:  # 0: no readable filter (NULL probes)
            args["filter_len"] = filter_len
        text = f"seccomp {op}" + (f" ({filter_len} BPF instructions)" if "filter_len" in args else "")
        if a1:
            text += f" {args['flags']}"
    elif kind == K_PRCTL:
        option = prctl_option(a0)
        arg2 = prctl_arg2(a0, a1)
        args = {"option": option, "arg2": arg2}
        text = f"prctl {option}"
        if a0 == PR_SET_NAME:
            args["name"] = cstr(name_b, bool(cap_version))  # cap_version: the name asked for was longer
            if cap_version:
                args["truncated"] = True
            args["arg2"] = a1  # a pointer: the name is what matters
            text += f" {args['name']!r}"
        else:
            text += f" {arg2}"
            if a0 == PR_SET_SECCOMP and filter_len:
                args["filter_len"] = filter_len
                text += f" ({filter_len} BPF instructions)"
        if a0 == PR_CAP_AMBIENT and a1 in (2, 3, 1):  # RAISE, LOWER, IS_SET name a capability
            args["cap"] = cap_name(a2)
            text += f" {args['cap']}"
    else:  # K_CAPSET
        eff, perm, inh = cap_sets(tuple(caps), cap_n)
        args = {
            "effective": cap_list(eff),
            "permitted": cap_list(perm),
            "inheritable": cap_list(inh),
            "effective_raw": eff,
            "permitted_raw": perm,
            "inheritable_raw": inh,
            "pid": cap_pid,
            "version": LINUX_CAPABILITY_VERSIONS.get(cap_version, hex(cap_version)),
        }
        if cap_n == 0:
            args["unreadable"] = True
        text = f"capset effective={len(args['effective'])} caps permitted={len(args['permitted'])} caps"
    args.update(ret_args(ret))
    if "error" in args:
        text += f" -> {args['error']}"
    return Event(
        ts=ts,
        probe=SPEC.name,
        kind=kname,
        pid=pid,
        tid=tid,
        comm=cstr(comm_b, False),
        args=FreeArgs(fields=args, line=text),
    )


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
