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

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext, record_event
from beefine_tui.probes.flags import (
    CAPABILITIES,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_OPS,
    PR_CAPBSET_DROP,
    PR_CAPBSET_READ,
    PR_SET_NAME,
    PR_SET_SECCOMP,
    PRCTL_OPTIONS,
    SECCOMP_FILTER_FLAGS,
    SECCOMP_MODES,
    SECCOMP_OPS,
    bits_from_names,
    cap_list,
    cap_name,
    cstr,
    enum_from_name,
    errno_name,
    prctl_arg2,
    prctl_option,
    seccomp_flags,
    seccomp_op,
)

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    # seccomp(2); runc 1.1 libcontainer/seccomp/patchbpf/enosys_linux.go sysSeccompSetFilter (prctl
    # when no filter flags, the seccomp syscall otherwise).
    KindNote(
        "seccomp",
        "seccomp(): calls that fail (EFAULT, EINVAL) and SECCOMP_GET_* queries are libseccomp probing "
        "which features this kernel supports, when runc starts. runc 1.1 loads a filter that needs no "
        "flags, Docker's included, with prctl(PR_SET_SECCOMP) instead; seccomp(SET_MODE_FILTER) "
        "succeeding means filter flags (such as a notify listener) were asked for.",
        source="seccomp(2); runc 1.1 libcontainer/seccomp/patchbpf/enosys_linux.go sysSeccompSetFilter; "
        "libseccomp src/system.c (feature probes)",
    ),
    # prctl(2) (PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_CAP_AMBIENT,
    # PR_SET_CHILD_SUBREAPER); runc 1.1 standard_init_linux.go, libcontainer/capabilities.
    KindNote(
        "prctl",
        "prctl(): PR_SET_NO_NEW_PRIVS (only when configured) forbids gaining privileges through exec; "
        "PR_SET_SECCOMP installs a syscall filter (how runc 1.1 loads Docker's profile); PR_CAPBSET_DROP "
        "removes one capability from the bounding set; PR_SET_KEEPCAPS keeps capabilities across the "
        "change of uid; PR_CAP_AMBIENT sets the ambient set; PR_SET_CHILD_SUBREAPER makes the shim (and "
        "runc) adopt orphaned descendants.",
        source="prctl(2); runc 1.1 libcontainer/standard_init_linux.go Init, libcontainer/capabilities; "
        "containerd 1.6 sys/subreaper",
    ),
    # capset(2), capabilities(7); runc libcontainer/capabilities (ApplyCaps); moby oci/caps/defaults.go.
    KindNote(
        "capset",
        "capset(): set the effective, permitted and inheritable capability sets; runc keeps only those "
        "config.json lists (the bounding set is trimmed separately, with prctl PR_CAPBSET_DROP).",
        source="capset(2); capabilities(7); runc 1.1 libcontainer/capabilities ApplyCaps; moby 20.10 "
        "oci/caps/defaults.go",
    ),
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
    explains=EXPLAINS,
    story=StorySlot(),
)

K_SECCOMP, K_PRCTL, K_CAPSET = 1, 2, 3
KIND_NAMES = {K_SECCOMP: "seccomp", K_PRCTL: "prctl", K_CAPSET: "capset"}
SECCOMP_SET_MODE_FILTER = 1
LINUX_CAPABILITY_VERSIONS = {0x19980330: 1, 0x20071026: 2, 0x20080522: 3}
# PR_CAP_AMBIENT ops whose arg3 names a capability (IS_SET, RAISE, LOWER; CLEAR_ALL names none)
AMBIENT_CAP_OPS = (1, 2, 3)

# struct sec_rec (bpf/security.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; s64 ret;
# u64 a0, a1, a2; u32 filter_len, cap_version; s32 cap_pid; u32 cap_n; u32 caps[6]; char name[16]
REC = struct.Struct("<QIIII16sqQQQIIiI6I16s")
assert REC.size == 128


def _failed(ret: int) -> str:
    return f" -> {errno_name(ret)}" if ret < 0 else ""


class SeccompArgs(Args, frozen=True, kw_only=True, gc=False, tag="seccomp"):
    """seccomp(2): `op` (SECCOMP_SET_MODE_FILTER loads a program), its `flags`, and for a filter the
    number of BPF instructions when the probe could read them (None: not read, or a NULL probe)."""

    kinds = ("seccomp",)
    op: int
    flags: int = 0
    filter_len: int | None = None
    ret: int = 0

    @property
    def loads_filter(self) -> bool:
        """A filter really loaded (libseccomp's probing of the kernel fails or only asks)."""
        return self.op == SECCOMP_SET_MODE_FILTER and self.ret >= 0

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> SeccompArgs:
        """Schema 1 kept op and flags as names (flags_raw only in later recordings)."""
        flags = args.get("flags_raw")
        if flags is None:
            flags = bits_from_names(str(args.get("flags", "0")), SECCOMP_FILTER_FLAGS)
        return cls(
            op=enum_from_name(args["op"], SECCOMP_OPS, "SECCOMP_"),
            flags=int(flags),
            filter_len=args.get("filter_len"),
            ret=int(args.get("ret", 0)),
        )

    def names(self) -> dict[str, Any]:
        return {"op": seccomp_op(self.op), "flags": seccomp_flags(self.flags), **super().names()}

    def describe(self, ev: Event) -> str:
        text = seccomp_op(self.op)
        if self.filter_len:
            text += f" ({self.filter_len} BPF instructions)"
        if self.flags:
            text += f" {seccomp_flags(self.flags)}"
        return text + _failed(self.ret)


class PrctlArgs(Args, frozen=True, kw_only=True, gc=False, tag="prctl"):
    """prctl(2): `option` and `arg2` as passed; `arg3` for the PR_CAP_AMBIENT ops that name a
    capability; PR_SET_NAME's `name` and PR_SET_SECCOMP's `filter_len` when the probe read them."""

    kinds = ("prctl",)
    option: int
    arg2: int = 0
    arg3: int | None = None
    name: str | None = None
    truncated: bool = False  # the name asked for was longer than the 15 bytes the kernel keeps
    filter_len: int | None = None
    ret: int = 0

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> PrctlArgs:
        """Schema 1 named the option, arg2 (a capability, seccomp mode or ambient op) and `cap`."""
        option = enum_from_name(args["option"], PRCTL_OPTIONS, "PR_")
        arg2 = args.get("arg2", 0)
        if isinstance(arg2, str):
            arg2 = _arg2_from_name(option, arg2)
        cap = args.get("cap")
        return cls(
            option=option,
            arg2=int(arg2),
            arg3=CAPABILITIES.index(cap) if cap in CAPABILITIES else None,
            name=args.get("name"),
            truncated=bool(args.get("truncated")),
            filter_len=args.get("filter_len"),
            ret=int(args.get("ret", 0)),
        )

    @property
    def cap(self) -> int | None:
        """The capability a PR_CAP_AMBIENT raise/lower/is-set names."""
        if self.option == PR_CAP_AMBIENT and self.arg2 in AMBIENT_CAP_OPS:
            return self.arg3
        return None

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {"option": prctl_option(self.option)}
        if self.option != PR_SET_NAME:  # a pointer there: the name is what matters
            out["arg2"] = prctl_arg2(self.option, self.arg2)
        if self.cap is not None:
            out["cap"] = cap_name(self.cap)
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        text = prctl_option(self.option)
        if self.option == PR_SET_NAME and self.name is not None:
            text += f" {self.name!r}"
        else:
            text += f" {prctl_arg2(self.option, self.arg2)}"
            if self.option == PR_SET_SECCOMP and self.filter_len:
                text += f" ({self.filter_len} BPF instructions)"
        if self.cap is not None:
            text += f" {cap_name(self.cap)}"
        return text + _failed(self.ret)


def _arg2_from_name(option: int, name: str) -> int:
    if option in (PR_CAPBSET_READ, PR_CAPBSET_DROP):
        return CAPABILITIES.index(name) if name in CAPABILITIES else int(name.removeprefix("CAP_"))
    if option == PR_SET_SECCOMP:
        return enum_from_name(name, SECCOMP_MODES, "SECCOMP_MODE_")
    if option == PR_CAP_AMBIENT:
        return enum_from_name(name, PR_CAP_AMBIENT_OPS, "PR_CAP_AMBIENT_")
    return int(name)


class CapsetArgs(Args, frozen=True, kw_only=True, gc=False, tag="capset"):
    """capset(2): the three sets as u64 masks (bit n = capability n), the header's `pid` and its
    `version` magic (_LINUX_CAPABILITY_VERSION_*) when the probe read them; `unreadable`: it could not."""

    kinds = ("capset",)
    effective: int
    permitted: int
    inheritable: int
    pid: int | None = None
    version: int | None = None
    unreadable: bool = False
    ret: int = 0

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> CapsetArgs:
        """Schema 1 named the sets (the *_raw masks only in later recordings) and the version."""

        def mask(key: str) -> int:
            raw = args.get(f"{key}_raw")
            if raw is not None:
                return int(raw)
            return sum(1 << CAPABILITIES.index(c) for c in args.get(key) or [] if c in CAPABILITIES)

        version = args.get("version")
        if isinstance(version, str):
            version = int(version, 16)  # a version the kernel does not know, written as hex
        elif version is not None:
            version = {v: k for k, v in LINUX_CAPABILITY_VERSIONS.items()}.get(version, version)
        return cls(
            effective=mask("effective"),
            permitted=mask("permitted"),
            inheritable=mask("inheritable"),
            pid=args.get("pid"),
            version=version,
            unreadable=bool(args.get("unreadable")),
            ret=int(args.get("ret", 0)),
        )

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "effective": cap_list(self.effective),
            "permitted": cap_list(self.permitted),
            "inheritable": cap_list(self.inheritable),
        }
        if self.version is not None:
            out["version"] = LINUX_CAPABILITY_VERSIONS.get(self.version, hex(self.version))
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        eff, perm = len(cap_list(self.effective)), len(cap_list(self.permitted))
        return f"effective={eff} caps permitted={perm} caps" + _failed(self.ret)


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
    args: Args
    if kind == K_SECCOMP:
        # 0: no readable filter (runc's NULL probes)
        has_len = a0 == SECCOMP_SET_MODE_FILTER and filter_len
        args = SeccompArgs(op=a0, flags=a1, filter_len=filter_len if has_len else None, ret=ret)
    elif kind == K_PRCTL:
        set_name = a0 == PR_SET_NAME
        args = PrctlArgs(
            option=a0,
            arg2=a1,
            arg3=a2 if a0 == PR_CAP_AMBIENT and a1 in AMBIENT_CAP_OPS else None,
            # cap_version, for PR_SET_NAME: the name asked for was longer than the kernel keeps
            name=cstr(name_b, bool(cap_version)) if set_name else None,
            truncated=set_name and bool(cap_version),
            filter_len=filter_len if a0 == PR_SET_SECCOMP and filter_len else None,
            ret=ret,
        )
    else:  # K_CAPSET
        eff, perm, inh = cap_sets(tuple(caps), cap_n)
        args = CapsetArgs(
            effective=eff,
            permitted=perm,
            inheritable=inh,
            pid=cap_pid,
            version=cap_version,
            unreadable=cap_n == 0,
            ret=ret,
        )
    return record_event(ctx, SPEC.name, kname, args, ts=ts, pid=pid, tid=tid, comm=comm_b)


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
