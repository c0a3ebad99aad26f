"""namespaces probe: clone(2) and clone3(2) with their flags (clone3's are read from the caller's
struct clone_args), unshare(2), setns(2) and sethostname(2) with the new name.

What a learner sees in a `docker run`: runc's bootstrap process runc:[1:CHILD] calls unshare(2) with
the CLONE_NEW* flags of every namespace in the OCI config's linux.namespaces that has no path (mount,
uts, ipc, pid, net...; runc libcontainer/nsenter/nsexec.c, where the user namespace is unshared
first and mapped by the parent before the rest), then forks runc:[2:INIT], which becomes pid 1 of
the new pid namespace; setns(2) joins namespaces that are given as paths; runc's init sets the
container's hostname with sethostname(2) (libcontainer/standard_init_linux.go).

A clone's `ret` is the child's pid as the caller sees it: inside a container that is the pid in the
container's pid namespace (runc's init cloning its threads shows "child 2, 3..."); the event's own
`pid` is always the host's. The fork probe gives the host pid of every child.
"""

from __future__ import annotations

import struct
from typing import Any

from beefine_tui.events.model import Event, FreeArgs
from beefine_tui.probes.base import ProbeSpec
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import (
    CLONE_INTO_CGROUP,
    CLONE_THREAD,
    TRUNCATED_MARK,
    clone3_flags,
    clone_flags,
    namespace_names,
    ret_args,
    setns_nstype,
    signal_name,
    unshare_flags,
)

SPEC = ProbeSpec(
    name="namespaces",
    group="namespaces",
    engine="bcc",
    description="clone/clone3 flags, unshare, setns and sethostname: where namespaces are made and joined",
    teaches=(
        "Namespaces are what makes a container look like its own machine: you see runc unshare the "
        "mount, UTS, IPC, pid and network namespaces, join others with setns, and set the hostname."
    ),
    source="namespaces.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("clone", "clone3", "unshare", "setns", "sethostname"),
    tracepoints=tuple(
        f"syscalls:sys_{d}_{n}"
        for n in ("clone", "clone3", "unshare", "setns", "sethostname")
        for d in ("enter", "exit")
    ),
)

K_CLONE, K_CLONE3, K_UNSHARE, K_SETNS, K_SETHOSTNAME = range(1, 6)
HOSTNAME_MAX = 64  # __NEW_UTS_LEN: all of a hostname bpf/namespaces.bpf.c copies
KIND_NAMES = {
    K_CLONE: "clone",
    K_CLONE3: "clone3",
    K_UNSHARE: "unshare",
    K_SETNS: "setns",
    K_SETHOSTNAME: "sethostname",
}

# struct ns_rec (bpf/namespaces.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; s64 ret;
# u64 flags, exit_signal, cgroup; s32 fd, len; u32 args_size, pad; char name[72]
REC = struct.Struct("<QIIII16sqQQQiiII72s")
assert REC.size == 160


def _short_ns(names: list[str]) -> str:
    return ",".join(n.removeprefix("CLONE_NEW").lower() for n in names)


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (ts, kind, pid, tid, _p, comm_b, ret, flags, exit_signal, cgroup, fd, length, args_size, _p2, name_b) = (
        REC.unpack_from(raw)
    )
    kname = KIND_NAMES.get(kind)
    if kname is None:
        return None
    args: dict[str, Any]
    if kind in (K_CLONE, K_CLONE3, K_UNSHARE):
        decoder = {K_CLONE: clone_flags, K_CLONE3: clone3_flags, K_UNSHARE: unshare_flags}[kind]
        # in clone(2) the low byte is the exit signal, never a namespace bit
        ns = namespace_names(flags & ~0xFF if kind == K_CLONE else flags)
        args = {"flags": decoder(flags), "flags_raw": flags, "namespaces": ns}
        if kind == K_CLONE3:
            args["exit_signal"] = signal_name(exit_signal) if exit_signal else None
            args["size"] = args_size
            if flags & CLONE_INTO_CGROUP:
                args["cgroup_fd"] = cgroup
        args.update(ret_args(ret))
        if kind == K_UNSHARE:
            text = "unshare " + (_short_ns(ns) if ns else args["flags"])
        else:
            what = "thread" if flags & CLONE_THREAD else "process"
            text = f"{kname} {what}"
            if ns:
                text += f" in new {_short_ns(ns)} namespace(s)"
            if ret > 0:
                text += f" -> child {ret}"
    elif kind == K_SETNS:
        args = {"fd": fd, "nstype": setns_nstype(flags), "nstype_raw": flags, **ret_args(ret)}
        text = f"setns fd {fd} ({args['nstype']})"
    else:  # K_SETHOSTNAME
        n = max(0, min(length, HOSTNAME_MAX))
        name = name_b[:n].decode("utf-8", "replace")
        args = {"name": name, "len": length, **ret_args(ret)}
        if length > HOSTNAME_MAX:  # only the first 64 bytes were copied (the kernel refuses the call)
            args["name"] = name + TRUNCATED_MARK
            args["truncated"] = True
        text = f"sethostname {name!r}"
    if "error" in args:
        text += f" -> {args['error']}"
    return Event(
        ts=ts,
        probe=SPEC.name,
        kind=kname,
        pid=pid,
        tid=tid,
        comm=comm_b.split(b"\0", 1)[0].decode("utf-8", "replace"),
        args=FreeArgs(fields=args, line=text),
    )


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
