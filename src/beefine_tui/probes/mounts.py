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
from typing import Any

from beefine_tui.events.model import Event, FreeArgs
from beefine_tui.probes.base import ProbeOptions, ProbeSpec
from beefine_tui.probes.bcc_probe import BccProbe, tracefs_root
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import (
    cstr,
    fsconfig_cmd,
    fsmount_flags,
    fsopen_flags,
    mount_attr_flags,
    mount_flags,
    move_mount_flags,
    open_tree_flags,
    ret_args,
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


def _result(args: dict[str, Any]) -> str:
    if "error" in args:
        return f" -> {args['error']}"
    return ""


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (ts, kind, pid, tid, _pad, comm_b, ret, flags, arg, fd1, fd2, data_len, trunc, fstype_b, s1_b, s2_b) = (
        REC.unpack_from(raw)
    )
    name = KIND_NAMES.get(kind)
    if name is None:
        return None
    s1 = cstr(s1_b, bool(trunc & T_S1))
    s2 = cstr(s2_b, bool(trunc & T_S2))
    args: dict[str, Any]
    if kind == K_MOUNT:
        fstype = cstr(fstype_b, bool(trunc & T_FSTYPE))
        data = ""
        if data_len:
            data = cstr(raw[REC.size : REC.size + data_len], bool(trunc & T_DATA))
        args = {
            "source": s1,
            "target": s2,
            "fstype": fstype,
            "flags": mount_flags(flags),
            "flags_raw": flags,
            "data": data,
        }
        if fstype == "overlay" and data:
            args["overlay"] = parse_overlay(data)
        args.update(ret_args(ret))
        what = fstype or "-"
        text = f"mount {s1 or '-'} on {s2} type {what} ({args['flags']})"
        if "overlay" in args and "lowerdir" in args["overlay"]:
            text += f" {len(args['overlay']['lowerdir'])} lower layer(s)"
        elif data:
            text += f" {data[:80]}"
    elif kind == K_UMOUNT:
        args = {"target": s1, "flags": umount_flags(flags), "flags_raw": flags, **ret_args(ret)}
        text = f"umount {s1}" + (f" ({args['flags']})" if flags else "")
    elif kind == K_PIVOT_ROOT:
        args = {"new_root": s1, "put_old": s2, **ret_args(ret)}
        text = f"pivot_root new_root={s1} put_old={s2}"
    elif kind == K_FSOPEN:
        args = {"fsname": s1, "flags": fsopen_flags(flags), "flags_raw": flags, **ret_args(ret)}
        text = f"fsopen {s1}"
    elif kind == K_FSCONFIG:
        cmd = fsconfig_cmd(arg)
        args = {"fd": fd1, "cmd": cmd, "key": s1, "value": s2, "aux": fd2, **ret_args(ret)}
        text = f"fsconfig {cmd}" + (f" {s1}" if s1 else "") + (f"={s2}" if s2 else "")
    elif kind == K_FSMOUNT:
        args = {
            "fs_fd": fd1,
            "flags": fsmount_flags(flags),
            "flags_raw": flags,
            "attr_flags": mount_attr_flags(arg),
            "attr_flags_raw": arg,
            **ret_args(ret),
        }
        text = f"fsmount fd {fd1} ({args['attr_flags']})"
    elif kind == K_MOVE_MOUNT:
        args = {
            "from_dfd": _dfd(fd1),
            "from_path": s1,
            "to_dfd": _dfd(fd2),
            "to_path": s2,
            "flags": move_mount_flags(flags),
            "flags_raw": flags,
            **ret_args(ret),
        }
        text = f"move_mount {s1 or f'fd {fd1}'} -> {s2 or f'fd {fd2}'}"
    else:  # K_OPEN_TREE
        args = {
            "dfd": _dfd(fd1),
            "path": s1,
            "flags": open_tree_flags(flags),
            "flags_raw": flags,
            **ret_args(ret),
        }
        text = f"open_tree {s1} ({args['flags']})"
    if trunc:
        args["truncated"] = True  # a string above was cut and ends with "…"
    text += _result(args)
    return Event(
        ts=ts,
        probe=SPEC.name,
        kind=name,
        pid=pid,
        tid=tid,
        comm=cstr(comm_b, False),
        args=FreeArgs(fields=args, line=text),
    )


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
