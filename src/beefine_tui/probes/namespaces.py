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

import signal
import struct
from typing import Any, ClassVar

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext, record_event
from beefine_tui.probes.flags import (
    CLONE_INTO_CGROUP,
    CLONE_THREAD,
    CSIGNAL,
    NAMESPACE_FLAGS,
    NAMESPACE_MASK,
    TRUNCATED_MARK,
    bits_from_names,
    clone3_flags,
    clone_flags,
    errno_name,
    namespace_names,
    setns_nstype,
    signal_name,
    unshare_flags,
)

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    # runc nsexec.c: clone_parent() uses CLONE_PARENT so runc (not [0:PARENT]) is the parent of both.
    KindNote(
        "clone",
        "clone(): a new process. runc's stages clone with CLONE_PARENT so runc itself, not the stage "
        "that called clone, is the kernel parent of runc:[1:CHILD] and runc:[2:INIT] and can wait for "
        "them; once runc create exits, [2:INIT] is adopted by the shim, a child subreaper.",
        source="clone(2) CLONE_PARENT; runc 1.1 libcontainer/nsenter/nsexec.c clone_parent; prctl(2) "
        "PR_SET_CHILD_SUBREAPER",
    ),
    KindNote(
        "clone3",
        "clone3(): the newer clone, taking a struct: flags, the exit signal, a pidfd, a cgroup to start "
        "the child in, a stack. glibc makes threads with it; runc's nsexec still uses clone().",
        source="clone(2) (clone3); include/uapi/linux/sched.h struct clone_args",
    ),
    # runc nsexec.c (STAGE_CHILD: unshare(config.cloneflags & ~CLONE_NEWCGROUP) then cgroupns later);
    # unshare(2), mount_namespaces(7), pid_namespaces(7).
    KindNote(
        "unshare",
        "unshare(): the caller moves into new namespaces. CLONE_NEWNS starts as a copy of the current "
        "mount table, CLONE_NEWUTS as a copy of the hostname; CLONE_NEWIPC and CLONE_NEWNET start empty "
        "(only a loopback, down); CLONE_NEWPID applies to the caller's later children, the first of "
        "which becomes pid 1; CLONE_NEWCGROUP makes the current cgroup the namespace's root.",
        source="unshare(2); mount_namespaces(7); pid_namespaces(7); uts_namespaces(7); runc 1.1 "
        "libcontainer/nsenter/nsexec.c (STAGE_CHILD unshare, cgroupns last)",
    ),
    KindNote(
        "setns",
        "setns(): join an existing namespace (by an fd from /proc/<pid>/ns/...), as `docker exec` does.",
        source="setns(2); namespaces(7)",
    ),
    KindNote(
        "sethostname",
        "sethostname(): set the name in this UTS namespace only.",
        source="sethostname(2); uts_namespaces(7)",
    ),
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
    explains=EXPLAINS,
    story=StorySlot(),
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


def _failed(ret: int) -> str:
    return f" -> {errno_name(ret)}" if ret < 0 else ""


def _ns_changed(before: dict[str, int] | None, after: dict[str, int] | None) -> list[str] | None:
    if before is None or after is None:
        return None
    return [n for n in after if before.get(n) != after[n]]


def _ns_text(before: dict[str, int] | None, after: dict[str, int] | None) -> str:
    """ ": new net ns 4026532254, ..." from the inodes bt-namespaces reads before and after."""
    changed = _ns_changed(before, after)
    if changed is None or after is None:
        return ""
    if not changed:
        return ": no namespace changed"
    return ": " + ", ".join(f"new {n} ns {after[n]}" for n in changed)


class CloneArgs(Args, frozen=True, kw_only=True, gc=False, tag="clone"):
    """clone(2): its `flags` (the low byte is the child's exit signal) and `ret`, the child's pid as
    the caller sees it (in the caller's pid namespace), or -errno."""

    kinds: ClassVar[tuple[str, ...]] = ("clone",)
    flags: int
    ret: int = 0

    @property
    def new_namespaces(self) -> int:
        """The CLONE_NEW* bits: namespaces this call makes."""
        return self.flags & ~CSIGNAL & NAMESPACE_MASK

    def flag_names(self) -> str:
        return clone_flags(self.flags)

    def names(self) -> dict[str, Any]:
        out = {"flags": self.flag_names(), "namespaces": namespace_names(self.new_namespaces)}
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        text = "thread" if self.flags & CLONE_THREAD else "process"
        ns = namespace_names(self.new_namespaces)
        if ns:
            text += f" in new {_short_ns(ns)} namespace(s)"
        if self.ret > 0:
            text += f" -> child {self.ret}"
        return text + _failed(self.ret)


class Clone3Args(CloneArgs, frozen=True, kw_only=True, gc=False, tag="clone3"):
    """clone3(2): `flags` of struct clone_args (no signal in them), and when the probe read the
    struct: `exit_signal` (0: none), its `size` and the `cgroup_fd` of CLONE_INTO_CGROUP."""

    kinds: ClassVar[tuple[str, ...]] = ("clone3",)
    exit_signal: int | None = None
    size: int | None = None
    cgroup_fd: int | None = None

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> Clone3Args:
        """Schema 1 named the exit signal."""
        sig = args.get("exit_signal")
        return cls(
            flags=int(args["flags_raw"]),
            ret=int(args.get("ret", 0)),
            exit_signal=signal.Signals[sig].value if isinstance(sig, str) else sig,
            size=args.get("size"),
            cgroup_fd=args.get("cgroup_fd"),
        )

    @property
    def new_namespaces(self) -> int:
        return self.flags & NAMESPACE_MASK

    def flag_names(self) -> str:
        return clone3_flags(self.flags)

    def names(self) -> dict[str, Any]:
        out = super().names()
        if self.exit_signal:
            out["exit_signal"] = signal_name(self.exit_signal)
        return out


class UnshareArgs(Args, frozen=True, kw_only=True, gc=False, tag="unshare"):
    """unshare(2): `flags` and `ret`; bt-namespaces adds the caller's namespace inodes before and
    after the call (name -> inode, as in /proc/<pid>/ns/)."""

    kinds: ClassVar[tuple[str, ...]] = ("unshare",)
    flags: int
    ret: int = 0
    ns_before: dict[str, int] | None = None
    ns_after: dict[str, int] | None = None

    @property
    def new_namespaces(self) -> int:
        return self.flags & NAMESPACE_MASK

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flags": unshare_flags(self.flags),
            "namespaces": namespace_names(self.new_namespaces),
        }
        changed = _ns_changed(self.ns_before, self.ns_after)
        if changed is not None:
            out["ns_changed"] = changed
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        ns = namespace_names(self.new_namespaces)
        text = _short_ns(ns) if ns else unshare_flags(self.flags)
        return text + (_failed(self.ret) or _ns_text(self.ns_before, self.ns_after))


class SetnsArgs(Args, frozen=True, kw_only=True, gc=False, tag="setns"):
    """setns(2): the namespace `fd` (or pidfd) joined and `nstype` (0: any type); bt-namespaces adds
    the namespace inodes before and after, as for unshare."""

    kinds: ClassVar[tuple[str, ...]] = ("setns",)
    fd: int
    nstype: int
    ret: int = 0
    ns_before: dict[str, int] | None = None
    ns_after: dict[str, int] | None = None

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> SetnsArgs:
        """Schema 1 bt-namespaces kept only the nstype's names ("any" for 0)."""
        nstype = args.get("nstype_raw")
        if nstype is None:
            name = str(args.get("nstype", "any"))
            nstype = 0 if name == "any" else bits_from_names(name, NAMESPACE_FLAGS)
        return cls(
            fd=int(args["fd"]),
            nstype=int(nstype),
            ret=int(args.get("ret", 0)),
            ns_before=args.get("ns_before"),
            ns_after=args.get("ns_after"),
        )

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nstype": setns_nstype(self.nstype)}
        changed = _ns_changed(self.ns_before, self.ns_after)
        if changed is not None:
            out["ns_changed"] = changed
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        text = f"fd {self.fd} ({setns_nstype(self.nstype)})"
        return text + (_failed(self.ret) or _ns_text(self.ns_before, self.ns_after))


class SethostnameArgs(Args, frozen=True, kw_only=True, gc=False, tag="sethostname"):
    """sethostname(2): the `name` (cut names end with "…", `truncated`), the `len` passed when the
    probe read it, and for bt-namespaces the inode of the UTS namespace it was set in."""

    kinds: ClassVar[tuple[str, ...]] = ("sethostname",)
    name: str
    len: int | None = None
    truncated: bool = False
    uts_ns: int | None = None
    ret: int = 0

    def describe(self, ev: Event) -> str:
        where = f" in uts ns {self.uts_ns}" if self.uts_ns else ""
        return f"{self.name!r}{where}" + _failed(self.ret)


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (ts, kind, pid, tid, _p, comm_b, ret, flags, exit_signal, cgroup, fd, length, args_size, _p2, name_b) = (
        REC.unpack_from(raw)
    )
    kname = KIND_NAMES.get(kind)
    if kname is None:
        return None
    args: Args
    if kind == K_CLONE:
        args = CloneArgs(flags=flags, ret=ret)
    elif kind == K_CLONE3:
        args = Clone3Args(
            flags=flags,
            ret=ret,
            exit_signal=exit_signal,
            size=args_size,
            cgroup_fd=cgroup if flags & CLONE_INTO_CGROUP else None,
        )
    elif kind == K_UNSHARE:
        args = UnshareArgs(flags=flags, ret=ret)
    elif kind == K_SETNS:
        args = SetnsArgs(fd=fd, nstype=flags, ret=ret)
    else:  # K_SETHOSTNAME
        n = max(0, min(length, HOSTNAME_MAX))
        name = name_b[:n].decode("utf-8", "replace")
        # only the first 64 bytes were copied (the kernel refuses the call)
        cut = length > HOSTNAME_MAX
        args = SethostnameArgs(
            name=name + TRUNCATED_MARK if cut else name, len=length, truncated=cut, ret=ret
        )
    return record_event(ctx, SPEC.name, kname, args, ts=ts, pid=pid, tid=tid, comm=comm_b)


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
