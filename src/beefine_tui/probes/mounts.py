"""mounts probe: mount(2) with source, target, type, decoded flags and its data string; umount2(2);
pivot_root(2); and the new mount API (fsopen, fsconfig, fsmount, move_mount, open_tree).

What a learner sees in a `docker run` (checked against a traced run on this machine): dockerd mounts
the container's root filesystem as overlay, whose data string lists the image layers as lowerdir (the
short l/ links, top layer first), the container's writable layer as upperdir, and a workdir (moby
daemon/graphdriver/overlay2/overlay.go). Then runc's init process, in its new mount namespace, marks
every mount as a slave (MS_REC|MS_SLAVE: host mounts still propagate in, nothing propagates out),
bind-mounts the rootfs onto itself (runc libcontainer/rootfs_linux.go prepareRoot), mounts /proc,
/dev (tmpfs), /dev/pts, /sys and the cgroup directories read-only (mountToRootfs; runc 1.1 mounts
through /proc/self/fd/N, so those targets look like that), and switches root with pivot_root(".", ".")
followed by umount2(".", MNT_DETACH) of the old root (pivotRoot, an idea from LXC).
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

import msgspec

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe, tracefs_root
from beefine_tui.probes.decode_context import DecodeContext, record_event
from beefine_tui.probes.flags import (
    FSCONFIG_CMDS,
    FSMOUNT_FLAGS,
    FSOPEN_FLAGS,
    MOUNT_ATTR_FLAGS,
    MOUNT_FLAGS,
    MOVE_MOUNT_FLAGS,
    OPEN_TREE_FLAGS,
    UMOUNT_FLAGS,
    FlagTable,
    bits_from_names,
    cstr,
    enum_from_name,
    errno_name,
    fsconfig_cmd,
    fsmount_flags,
    fsopen_flags,
    mount_attr_flags,
    mount_flags,
    move_mount_flags,
    open_tree_flags,
    umount_flags,
)

_REQUIRED = (
    "syscalls:sys_enter_mount",
    "syscalls:sys_exit_mount",
    "syscalls:sys_enter_umount",
    "syscalls:sys_exit_umount",
    "syscalls:sys_enter_pivot_root",
    "syscalls:sys_exit_pivot_root",
)
# the new mount API (Linux 5.2+): used when the kernel has these tracepoints
NEW_API = ("fsopen", "fsconfig", "fsmount", "move_mount", "open_tree")
_OPTIONAL = tuple(f"syscalls:sys_{d}_{n}" for n in NEW_API for d in ("enter", "exit"))

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    # runc libcontainer/rootfs_linux.go mountToRootfs and the MS_* flags in mount(2).
    KindNote(
        "mount",
        "mount(): attach a filesystem. runc mounts through /proc/self/fd/N (a handle on the target opened "
        "safely inside the rootfs) so a symlink in the image cannot redirect it onto the host.",
        source="mount(2); runc 1.1 libcontainer/rootfs_linux.go mountToRootfs (mounts through "
        "/proc/self/fd), utils.WithProcfd",
    ),
    KindNote(
        "umount",
        "umount(): detach a filesystem; MNT_DETACH makes it lazy (gone once nothing uses it).",
        source="umount(2) (MNT_DETACH)",
    ),
    KindNote(
        "pivot_root",
        "pivot_root(): change the root mount of this mount namespace (see the phase).",
        source="pivot_root(2); runc 1.1 libcontainer/rootfs_linux.go pivotRoot",
    ),
    KindNote(
        "fsopen",
        'fsopen(): the new mount API\'s first step, a filesystem context of one type ("overlay", '
        '"proc") that fsconfig() then fills in.',
        source="fsopen(2); kernel Documentation/filesystems/mount_api.rst",
    ),
    KindNote(
        "fsconfig",
        "fsconfig(): one parameter of a filesystem context (a key such as lowerdir and its value), or the "
        "command to create the superblock.",
        source="fsconfig(2); kernel Documentation/filesystems/mount_api.rst",
    ),
    KindNote(
        "fsmount",
        "fsmount(): a configured filesystem context becomes a mount, detached: an fd, not yet in the tree.",
        source="fsmount(2); kernel Documentation/filesystems/mount_api.rst",
    ),
    KindNote(
        "move_mount",
        "move_mount(): a detached mount is attached to a place in the tree (or a mount is moved).",
        source="move_mount(2); kernel Documentation/filesystems/mount_api.rst",
    ),
    KindNote(
        "open_tree",
        "open_tree(): an fd for an existing mount; with OPEN_TREE_CLONE a detached copy of it, which "
        "move_mount() attaches elsewhere: a bind mount in the new API.",
        source="open_tree(2) (OPEN_TREE_CLONE); kernel Documentation/filesystems/mount_api.rst",
    ),
)

SPEC = ProbeSpec(
    name="mounts",
    group="mounts",
    engine="bcc",
    description="mount, umount, pivot_root and the new mount API, with flags and mount data decoded",
    teaches=(
        "How a container gets its own filesystem: dockerd mounts the image layers as one overlay, then "
        "runc's init mounts /proc, /sys and /dev inside a new mount namespace and pivot_roots into it."
    ),
    source="mounts.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("mount", "umount", "pivot_root", *NEW_API),
    tracepoints=_REQUIRED + _OPTIONAL,
    explains=EXPLAINS,
    story=StorySlot(),
)

K_MOUNT, K_UMOUNT, K_PIVOT_ROOT, K_FSOPEN, K_FSCONFIG, K_FSMOUNT, K_MOVE_MOUNT, K_OPEN_TREE = range(1, 9)
KIND_NAMES = {
    K_MOUNT: "mount",
    K_UMOUNT: "umount",
    K_PIVOT_ROOT: "pivot_root",
    K_FSOPEN: "fsopen",
    K_FSCONFIG: "fsconfig",
    K_FSMOUNT: "fsmount",
    K_MOVE_MOUNT: "move_mount",
    K_OPEN_TREE: "open_tree",
}
DATA_LEN = 4096
STR_LEN = 256
T_S1, T_S2, T_DATA, T_FSTYPE = 1, 2, 4, 8  # mount_rec.trunc bits: that string was cut
AT_FDCWD = -100

# struct mount_rec (bpf/mounts.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; s64 ret;
# u64 flags, arg; s32 fd1, fd2; u32 data_len, trunc; char fstype[32], s1[256], s2[256]; char data[]
REC = struct.Struct("<QIIII16sqQQiiII32s256s256s")
assert REC.size == 624


def parse_overlay(data: str) -> dict[str, Any]:
    """overlay's options: lowerdir is a ':'-separated list, top layer first (kernel
    Documentation/filesystems/overlayfs.rst); upperdir and workdir are single directories."""
    out: dict[str, Any] = {}
    for opt in data.split(","):
        key, sep, val = opt.partition("=")
        if not sep:
            continue
        if key == "lowerdir":
            out["lowerdir"] = [p for p in val.split(":") if p]
        elif key in ("upperdir", "workdir"):
            out[key] = val
    return out


def _dfd(fd: int) -> str | int:
    return "AT_FDCWD" if fd == AT_FDCWD else fd


def _failed(ret: int) -> str:
    return f" -> {errno_name(ret)}" if ret < 0 else ""


class _FromV1:
    """Reads a schema-1 line of these kinds: flag fields it may have kept as names only (without
    their *_raw, listed in `v1_flags`), and "AT_FDCWD" for a dfd."""

    __slots__ = ()
    v1_flags: ClassVar[dict[str, FlagTable]] = {}

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> Any:
        struct_cls: Any = cls
        fields = {k: v for k, v in args.items() if k in struct_cls.__struct_fields__}
        for key, table in cls.v1_flags.items():
            raw = args.get(f"{key}_raw")
            fields[key] = int(raw) if raw is not None else bits_from_names(str(args.get(key, "0")), table)
        for key, value in fields.items():
            if key.endswith("dfd") and value == "AT_FDCWD":
                fields[key] = AT_FDCWD
        return msgspec.convert(fields, struct_cls)


class MountArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="mount"):
    """mount(2): `source`, `target`, `fstype`, `flags` (MS_*) and the `data` string (the options of
    the filesystem: overlay's lowerdir/upperdir/workdir)."""

    kinds: ClassVar[tuple[str, ...]] = ("mount",)
    v1_flags: ClassVar[dict[str, FlagTable]] = {"flags": MOUNT_FLAGS}
    source: str
    target: str
    fstype: str = ""
    flags: int = 0
    data: str = ""
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    @property
    def overlay(self) -> dict[str, Any] | None:
        return parse_overlay(self.data) if self.fstype == "overlay" and self.data else None

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flags": mount_flags(self.flags)}
        if (ov := self.overlay) is not None:
            out["overlay"] = ov
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        text = f"{self.source or '-'} on {self.target} type {self.fstype or '-'} ({mount_flags(self.flags)})"
        ov = self.overlay
        if ov is not None and "lowerdir" in ov:
            text += f" {len(ov['lowerdir'])} lower layer(s)"
        elif self.data:
            text += f" {self.data[:80]}"
        return text + _failed(self.ret)


class UmountArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="umount"):
    """umount2(2): `target` and `flags` (MNT_DETACH...)."""

    kinds: ClassVar[tuple[str, ...]] = ("umount",)
    v1_flags: ClassVar[dict[str, FlagTable]] = {"flags": UMOUNT_FLAGS}
    target: str
    flags: int = 0
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    def names(self) -> dict[str, Any]:
        return {"flags": umount_flags(self.flags), **super().names()}

    def describe(self, ev: Event) -> str:
        text = self.target + (f" ({umount_flags(self.flags)})" if self.flags else "")
        return text + _failed(self.ret)


class PivotRootArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="pivot_root"):
    """pivot_root(2): `new_root` becomes /, the old root is put at `put_old` (runc: both ".")."""

    kinds: ClassVar[tuple[str, ...]] = ("pivot_root",)
    new_root: str
    put_old: str
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    def describe(self, ev: Event) -> str:
        return f"new_root={self.new_root} put_old={self.put_old}" + _failed(self.ret)


class FsopenArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="fsopen"):
    """fsopen(2): a filesystem context for `fsname`; `ret` is its fd."""

    kinds: ClassVar[tuple[str, ...]] = ("fsopen",)
    v1_flags: ClassVar[dict[str, FlagTable]] = {"flags": FSOPEN_FLAGS}
    fsname: str
    flags: int = 0
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    def names(self) -> dict[str, Any]:
        return {"flags": fsopen_flags(self.flags), **super().names()}

    def describe(self, ev: Event) -> str:
        return self.fsname + _failed(self.ret)


class FsconfigArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="fsconfig"):
    """fsconfig(2): command `cmd` (FSCONFIG_*) on context `fd`, with its `key`, string `value` and
    `aux` (an fd or a length, by command)."""

    kinds: ClassVar[tuple[str, ...]] = ("fsconfig",)
    fd: int
    cmd: int
    key: str = ""
    value: str = ""
    aux: int = 0
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> Any:
        """Schema 1 named the command."""
        cmd = enum_from_name(args.get("cmd", 0), FSCONFIG_CMDS, "FSCONFIG_")
        return super().from_v1({**args, "cmd": cmd})

    def names(self) -> dict[str, Any]:
        return {"cmd": fsconfig_cmd(self.cmd), **super().names()}

    def describe(self, ev: Event) -> str:
        text = fsconfig_cmd(self.cmd) + (f" {self.key}" if self.key else "")
        return text + (f"={self.value}" if self.value else "") + _failed(self.ret)


class FsmountArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="fsmount"):
    """fsmount(2): a mount made from context `fs_fd`, with `flags` and mount `attr_flags`."""

    kinds: ClassVar[tuple[str, ...]] = ("fsmount",)
    v1_flags: ClassVar[dict[str, FlagTable]] = {"flags": FSMOUNT_FLAGS, "attr_flags": MOUNT_ATTR_FLAGS}
    fs_fd: int
    flags: int = 0
    attr_flags: int = 0
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    def names(self) -> dict[str, Any]:
        out = {"flags": fsmount_flags(self.flags), "attr_flags": mount_attr_flags(self.attr_flags)}
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        return f"fd {self.fs_fd} ({mount_attr_flags(self.attr_flags)})" + _failed(self.ret)


class MoveMountArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="move_mount"):
    """move_mount(2): from `from_dfd`/`from_path` to `to_dfd`/`to_path` (-100: AT_FDCWD)."""

    kinds: ClassVar[tuple[str, ...]] = ("move_mount",)
    v1_flags: ClassVar[dict[str, FlagTable]] = {"flags": MOVE_MOUNT_FLAGS}
    from_dfd: int
    from_path: str
    to_dfd: int
    to_path: str
    flags: int = 0
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from_dfd": _dfd(self.from_dfd),
            "to_dfd": _dfd(self.to_dfd),
            "flags": move_mount_flags(self.flags),
        }
        return {**out, **super().names()}

    def describe(self, ev: Event) -> str:
        text = f"{self.from_path or f'fd {self.from_dfd}'} -> {self.to_path or f'fd {self.to_dfd}'}"
        return text + _failed(self.ret)


class OpenTreeArgs(Args, _FromV1, frozen=True, kw_only=True, gc=False, tag="open_tree"):
    """open_tree(2): `path` at `dfd` (-100: AT_FDCWD); with OPEN_TREE_CLONE, a detached copy."""

    kinds: ClassVar[tuple[str, ...]] = ("open_tree",)
    v1_flags: ClassVar[dict[str, FlagTable]] = {"flags": OPEN_TREE_FLAGS}
    dfd: int
    path: str
    flags: int = 0
    ret: int = 0
    truncated: bool = False  # a string was cut and ends with "…"

    def names(self) -> dict[str, Any]:
        return {"dfd": _dfd(self.dfd), "flags": open_tree_flags(self.flags), **super().names()}

    def describe(self, ev: Event) -> str:
        return f"{self.path} ({open_tree_flags(self.flags)})" + _failed(self.ret)


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (ts, kind, pid, tid, _pad, comm_b, ret, flags, arg, fd1, fd2, data_len, trunc, fstype_b, s1_b, s2_b) = (
        REC.unpack_from(raw)
    )
    name = KIND_NAMES.get(kind)
    if name is None:
        return None
    s1 = cstr(s1_b, bool(trunc & T_S1))
    s2 = cstr(s2_b, bool(trunc & T_S2))
    cut = bool(trunc)  # a string below was cut and ends with "…"
    args: Args
    if kind == K_MOUNT:
        data = cstr(raw[REC.size : REC.size + data_len], bool(trunc & T_DATA)) if data_len else ""
        fstype = cstr(fstype_b, bool(trunc & T_FSTYPE))
        args = MountArgs(source=s1, target=s2, fstype=fstype, flags=flags, data=data, ret=ret, truncated=cut)
    elif kind == K_UMOUNT:
        args = UmountArgs(target=s1, flags=flags, ret=ret, truncated=cut)
    elif kind == K_PIVOT_ROOT:
        args = PivotRootArgs(new_root=s1, put_old=s2, ret=ret, truncated=cut)
    elif kind == K_FSOPEN:
        args = FsopenArgs(fsname=s1, flags=flags, ret=ret, truncated=cut)
    elif kind == K_FSCONFIG:
        args = FsconfigArgs(fd=fd1, cmd=arg, key=s1, value=s2, aux=fd2, ret=ret, truncated=cut)
    elif kind == K_FSMOUNT:
        args = FsmountArgs(fs_fd=fd1, flags=flags, attr_flags=arg, ret=ret, truncated=cut)
    elif kind == K_MOVE_MOUNT:
        args = MoveMountArgs(
            from_dfd=fd1, from_path=s1, to_dfd=fd2, to_path=s2, flags=flags, ret=ret, truncated=cut
        )
    else:  # K_OPEN_TREE
        args = OpenTreeArgs(dfd=fd1, path=s1, flags=flags, ret=ret, truncated=cut)
    return record_event(ctx, SPEC.name, name, args, ts=ts, pid=pid, tid=tid, comm=comm_b)


def has_new_mount_api() -> bool:
    root = tracefs_root()
    return root is not None and (root / "events" / "syscalls" / "sys_enter_fsopen").is_dir()


def _cflags(options: ProbeOptions) -> list[str]:
    cflags = [f"-DDATA_LEN={DATA_LEN}"]
    if has_new_mount_api():
        cflags.append("-DHAVE_NEW_MOUNT_API=1")
    return cflags


PROBE = BccProbe(SPEC, decode, cflags=_cflags, required=_REQUIRED)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
