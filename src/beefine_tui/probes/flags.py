"""Numbers the kernel hands us, turned into the names a learner can look up.

Pure Python, no BPF. Every table comes from the kernel's uapi headers (cited per table; cross-checked
by tests/unit/test_flags.py against /usr/src/linux-headers-*/include/uapi and Python's os/socket
constants where those exist). Rules (events/SCHEMA.md): flags are names joined by "|", bits without a
name are shown as hex ("CLONE_NEWNS|0x4"), a value of 0 is "0"; callers keep the number as flags_raw.
"""

from __future__ import annotations

import errno as _errno
import functools
import signal as _signal
import socket
import struct
from collections.abc import Sequence
from typing import Any

FlagTable = Sequence[tuple[int, str]]

# The decoders below are pure functions of small ints that repeat a lot (the same flags, the same
# errors): a bounded cache keeps the per-event cost to a dict lookup.
_cached = functools.lru_cache(maxsize=4096)


def decode_bits(value: int, table: FlagTable, zero: str = "0") -> str:
    """Names of the bits set in `value`; each table entry may be a mask of several bits and matches
    only when all of them are set (multi-bit entries must come first). Leftover bits are hex."""
    if value == 0:
        return zero
    names: list[str] = []
    rest = value
    for mask, name in table:
        if mask and rest & mask == mask:
            names.append(name)
            rest &= ~mask
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def bits_from_names(text: str, table: FlagTable) -> int:
    """decode_bits read back ("MS_BIND|MS_REC", "CLONE_NEWNS|0x4", "0"): schema-1 recordings kept
    only the names of some flags. Raises ValueError for a name the table does not have."""
    by_name = {name: mask for mask, name in table}
    value = 0
    for part in (p.strip() for p in text.split("|")):
        if not part or part == "0":
            continue
        if part in by_name:
            value |= by_name[part]
        else:
            value |= int(part, 16) if part.lower().startswith("0x") else int(part)
    return value


def enum_from_name(name: str | int, table: dict[int, str], unknown: str = "") -> int:
    """_enum read back: the number for "PR_SET_NAME", or for an unknown one written "PR_99"."""
    if isinstance(name, int):
        return name
    for value, known in table.items():
        if known == name:
            return value
    return int(name.removeprefix(unknown) if unknown else name)


def _enum(value: int, table: dict[int, str], unknown: str = "") -> str:
    name = table.get(value)
    if name is not None:
        return name
    return f"{unknown}{value}" if unknown else str(value)


# --------------------------------------------------------------------------------------------- errno


@_cached
def errno_name(ret: int) -> str:
    """ "ENOENT" for -2 or 2 (Python's errno.errorcode mirrors the kernel's asm-generic/errno*.h)."""
    n = -ret if ret < 0 else ret
    return _errno.errorcode.get(n, f"errno{n}")


def ret_args(ret: int) -> dict[str, Any]:
    """The `ret` / `error` pair every syscall event carries (SCHEMA.md)."""
    if ret < 0:
        return {"ret": ret, "error": errno_name(ret)}
    return {"ret": ret}


@_cached
def signal_name(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}" if sig else "0"


def exit_status_text(code: int | None, sig: int | None) -> str:
    """A process's end in words, as a shell would put it: "exited 0", "killed by SIGTERM"."""
    if code is not None:
        return f"exited {code}"
    if sig:
        return f"killed by {signal_name(sig)}"
    return "exit status unknown"


# -------------------------------------------------------------------------------------- clone flags
# include/uapi/linux/sched.h. The low byte of clone(2)'s flags (CSIGNAL) is the exit signal, so
# CLONE_NEWTIME (0x80) only means a time namespace in unshare(2), setns(2) and clone3's flags field.
CSIGNAL = 0x000000FF
CLONE_NEWTIME = 0x00000080
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_DETACHED = 0x00400000
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000
CLONE_CLEAR_SIGHAND = 0x100000000
CLONE_INTO_CGROUP = 0x200000000

CLONE_FLAGS: FlagTable = (
    (CLONE_VM, "CLONE_VM"),
    (CLONE_FS, "CLONE_FS"),
    (CLONE_FILES, "CLONE_FILES"),
    (CLONE_SIGHAND, "CLONE_SIGHAND"),
    (CLONE_PIDFD, "CLONE_PIDFD"),
    (CLONE_PTRACE, "CLONE_PTRACE"),
    (CLONE_VFORK, "CLONE_VFORK"),
    (CLONE_PARENT, "CLONE_PARENT"),
    (CLONE_THREAD, "CLONE_THREAD"),
    (CLONE_NEWNS, "CLONE_NEWNS"),
    (CLONE_SYSVSEM, "CLONE_SYSVSEM"),
    (CLONE_SETTLS, "CLONE_SETTLS"),
    (CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"),
    (CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"),
    (CLONE_DETACHED, "CLONE_DETACHED"),
    (CLONE_UNTRACED, "CLONE_UNTRACED"),
    (CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"),
    (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    (CLONE_NEWUTS, "CLONE_NEWUTS"),
    (CLONE_NEWIPC, "CLONE_NEWIPC"),
    (CLONE_NEWUSER, "CLONE_NEWUSER"),
    (CLONE_NEWPID, "CLONE_NEWPID"),
    (CLONE_NEWNET, "CLONE_NEWNET"),
    (CLONE_IO, "CLONE_IO"),
    (CLONE_CLEAR_SIGHAND, "CLONE_CLEAR_SIGHAND"),
    (CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"),
)
_CLONE3_FLAGS: FlagTable = ((CLONE_NEWTIME, "CLONE_NEWTIME"), *CLONE_FLAGS)

# The namespace bits, in the order /proc/<pid>/ns lists them, with their short names.
NAMESPACE_FLAGS: FlagTable = (
    (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    (CLONE_NEWIPC, "CLONE_NEWIPC"),
    (CLONE_NEWNS, "CLONE_NEWNS"),
    (CLONE_NEWNET, "CLONE_NEWNET"),
    (CLONE_NEWPID, "CLONE_NEWPID"),
    (CLONE_NEWTIME, "CLONE_NEWTIME"),
    (CLONE_NEWUSER, "CLONE_NEWUSER"),
    (CLONE_NEWUTS, "CLONE_NEWUTS"),
)
NAMESPACE_MASK = sum(m for m, _ in NAMESPACE_FLAGS)


@_cached
def clone_flags(value: int) -> str:
    """Flags of clone(2): the low byte is the exit signal ("...|SIGCHLD"), not CLONE_NEWTIME."""
    value &= 0xFFFFFFFFFFFFFFFF
    sig = value & CSIGNAL
    s = decode_bits(value & ~CSIGNAL, CLONE_FLAGS, zero="")
    if sig:
        s = f"{s}|{signal_name(sig)}" if s else signal_name(sig)
    return s or "0"


@_cached
def clone3_flags(value: int) -> str:
    """Flags of clone3(2) (struct clone_args.flags; exit_signal is a separate field there)."""
    return decode_bits(value & 0xFFFFFFFFFFFFFFFF, _CLONE3_FLAGS)


@_cached
def unshare_flags(value: int) -> str:
    """Flags of unshare(2): namespace bits (CLONE_NEWTIME is 0x80 here) plus FS/FILES/SYSVSEM..."""
    return decode_bits(value & 0xFFFFFFFF, _CLONE3_FLAGS)


@_cached
def setns_nstype(value: int) -> str:
    """nstype of setns(2): 0 means "any namespace type"; with a pidfd it may be several CLONE_NEW*."""
    if value == 0:
        return "any"
    return decode_bits(value & 0xFFFFFFFF, NAMESPACE_FLAGS)


def namespace_names(value: int) -> list[str]:
    """The CLONE_NEW* bits of any clone/unshare/setns value, as a list."""
    return [name for mask, name in NAMESPACE_FLAGS if value & mask]


# -------------------------------------------------------------------------------------- mount flags
# include/uapi/linux/mount.h
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768  # also MS_VERBOSE, its old name
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_KERNMOUNT = 1 << 22
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MS_SUBMOUNT = 1 << 26
MS_NOREMOTELOCK = 1 << 27
MS_NOSEC = 1 << 28
MS_BORN = 1 << 29
MS_ACTIVE = 1 << 30
MS_NOUSER = 1 << 31
MS_MGC_VAL = 0xC0ED0000
MS_MGC_MSK = 0xFFFF0000

MOUNT_FLAGS: FlagTable = (
    (MS_RDONLY, "MS_RDONLY"),
    (MS_NOSUID, "MS_NOSUID"),
    (MS_NODEV, "MS_NODEV"),
    (MS_NOEXEC, "MS_NOEXEC"),
    (MS_SYNCHRONOUS, "MS_SYNCHRONOUS"),
    (MS_REMOUNT, "MS_REMOUNT"),
    (MS_MANDLOCK, "MS_MANDLOCK"),
    (MS_DIRSYNC, "MS_DIRSYNC"),
    (MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"),
    (MS_NOATIME, "MS_NOATIME"),
    (MS_NODIRATIME, "MS_NODIRATIME"),
    (MS_BIND, "MS_BIND"),
    (MS_MOVE, "MS_MOVE"),
    (MS_REC, "MS_REC"),
    (MS_SILENT, "MS_SILENT"),
    (MS_POSIXACL, "MS_POSIXACL"),
    (MS_UNBINDABLE, "MS_UNBINDABLE"),
    (MS_PRIVATE, "MS_PRIVATE"),
    (MS_SLAVE, "MS_SLAVE"),
    (MS_SHARED, "MS_SHARED"),
    (MS_RELATIME, "MS_RELATIME"),
    (MS_KERNMOUNT, "MS_KERNMOUNT"),
    (MS_I_VERSION, "MS_I_VERSION"),
    (MS_STRICTATIME, "MS_STRICTATIME"),
    (MS_LAZYTIME, "MS_LAZYTIME"),
    (MS_SUBMOUNT, "MS_SUBMOUNT"),
    (MS_NOREMOTELOCK, "MS_NOREMOTELOCK"),
    (MS_NOSEC, "MS_NOSEC"),
    (MS_BORN, "MS_BORN"),
    (MS_ACTIVE, "MS_ACTIVE"),
    (MS_NOUSER, "MS_NOUSER"),
)
PROPAGATION_MASK = MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED


@_cached
def mount_flags(value: int) -> str:
    """Flags of mount(2). Like the kernel (fs/namespace.c path_mount), an old-style magic number
    0xC0ED in the top 16 bits is dropped before the flags are read; it is shown as MS_MGC_VAL."""
    value &= 0xFFFFFFFFFFFFFFFF
    prefix = ""
    if value & MS_MGC_MSK == MS_MGC_VAL:
        value &= ~MS_MGC_MSK
        prefix = "MS_MGC_VAL"
    s = decode_bits(value, MOUNT_FLAGS, zero="")
    if prefix:
        s = f"{prefix}|{s}" if s else prefix
    return s or "0"


# umount2(2): include/linux/fs.h (MNT_FORCE, MNT_DETACH, MNT_EXPIRE) and UMOUNT_NOFOLLOW.
UMOUNT_FLAGS: FlagTable = (
    (1, "MNT_FORCE"),
    (2, "MNT_DETACH"),
    (4, "MNT_EXPIRE"),
    (8, "UMOUNT_NOFOLLOW"),
)


@_cached
def umount_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, UMOUNT_FLAGS)


# --------------------------------------------------------------------------- the new mount API
# include/uapi/linux/mount.h: fsopen/fsmount/move_mount/open_tree flags, enum fsconfig_command.
FSCONFIG_CMDS: dict[int, str] = {
    0: "FSCONFIG_SET_FLAG",
    1: "FSCONFIG_SET_STRING",
    2: "FSCONFIG_SET_BINARY",
    3: "FSCONFIG_SET_PATH",
    4: "FSCONFIG_SET_PATH_EMPTY",
    5: "FSCONFIG_SET_FD",
    6: "FSCONFIG_CMD_CREATE",
    7: "FSCONFIG_CMD_RECONFIGURE",
    8: "FSCONFIG_CMD_CREATE_EXCL",
}
FSCONFIG_SET_STRING = 1
FSCONFIG_SET_PATH = 3
FSCONFIG_SET_PATH_EMPTY = 4


@_cached
def fsconfig_cmd(value: int) -> str:
    return _enum(value, FSCONFIG_CMDS, "FSCONFIG_")


FSOPEN_FLAGS: FlagTable = ((0x1, "FSOPEN_CLOEXEC"),)
FSMOUNT_FLAGS: FlagTable = ((0x1, "FSMOUNT_CLOEXEC"),)
MOUNT_ATTR_FLAGS: FlagTable = (
    (0x00000001, "MOUNT_ATTR_RDONLY"),
    (0x00000002, "MOUNT_ATTR_NOSUID"),
    (0x00000004, "MOUNT_ATTR_NODEV"),
    (0x00000008, "MOUNT_ATTR_NOEXEC"),
    (0x00000010, "MOUNT_ATTR_NOATIME"),
    (0x00000020, "MOUNT_ATTR_STRICTATIME"),
    (0x00000080, "MOUNT_ATTR_NODIRATIME"),
    (0x00100000, "MOUNT_ATTR_IDMAP"),
    (0x00200000, "MOUNT_ATTR_NOSYMFOLLOW"),
)
MOVE_MOUNT_FLAGS: FlagTable = (
    (0x00000001, "MOVE_MOUNT_F_SYMLINKS"),
    (0x00000002, "MOVE_MOUNT_F_AUTOMOUNTS"),
    (0x00000004, "MOVE_MOUNT_F_EMPTY_PATH"),
    (0x00000010, "MOVE_MOUNT_T_SYMLINKS"),
    (0x00000020, "MOVE_MOUNT_T_AUTOMOUNTS"),
    (0x00000040, "MOVE_MOUNT_T_EMPTY_PATH"),
    (0x00000100, "MOVE_MOUNT_SET_GROUP"),
    (0x00000200, "MOVE_MOUNT_BENEATH"),
)
# open_tree(2): OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC (= O_CLOEXEC) and the AT_* lookup flags
# (include/uapi/linux/fcntl.h).
OPEN_TREE_FLAGS: FlagTable = (
    (0x1, "OPEN_TREE_CLONE"),
    (0o2000000, "OPEN_TREE_CLOEXEC"),
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x8000, "AT_RECURSIVE"),
)


@_cached
def fsopen_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, FSOPEN_FLAGS)


@_cached
def fsmount_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, FSMOUNT_FLAGS)


@_cached
def mount_attr_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, MOUNT_ATTR_FLAGS)


@_cached
def move_mount_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, MOVE_MOUNT_FLAGS)


@_cached
def open_tree_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, OPEN_TREE_FLAGS)


# --------------------------------------------------------------------------------------- open flags
# include/uapi/asm-generic/fcntl.h (x86-64 uses the generic values). O_SYNC is __O_SYNC|O_DSYNC and
# O_TMPFILE is __O_TMPFILE|O_DIRECTORY, so those composites are matched first.
O_ACCMODE = 0o3
OPEN_ACCMODES: dict[int, str] = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}
OPEN_FLAGS: FlagTable = (
    (0o4000000 | 0o10000, "O_SYNC"),
    (0o20000000 | 0o200000, "O_TMPFILE"),
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o20000, "FASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "__O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "__O_TMPFILE"),
)


@_cached
def open_flags(value: int) -> str:
    """ "O_WRONLY|O_CREAT|O_TRUNC": the access mode always comes first (O_RDONLY is 0)."""
    value &= 0xFFFFFFFF
    acc = OPEN_ACCMODES[value & O_ACCMODE]
    rest = decode_bits(value & ~O_ACCMODE, OPEN_FLAGS, zero="")
    return f"{acc}|{rest}" if rest else acc


def mode_octal(mode: int) -> str:
    return f"0{mode & 0o7777:o}" if mode else "0"


# ---------------------------------------------------------------------------------------- prctl
# include/uapi/linux/prctl.h (options above 64 from newer kernels' copy of the same file).
PRCTL_OPTIONS: dict[int, str] = {
    1: "PR_SET_PDEATHSIG",
    2: "PR_GET_PDEATHSIG",
    3: "PR_GET_DUMPABLE",
    4: "PR_SET_DUMPABLE",
    5: "PR_GET_UNALIGN",
    6: "PR_SET_UNALIGN",
    7: "PR_GET_KEEPCAPS",
    8: "PR_SET_KEEPCAPS",
    9: "PR_GET_FPEMU",
    10: "PR_SET_FPEMU",
    11: "PR_GET_FPEXC",
    12: "PR_SET_FPEXC",
    13: "PR_GET_TIMING",
    14: "PR_SET_TIMING",
    15: "PR_SET_NAME",
    16: "PR_GET_NAME",
    19: "PR_GET_ENDIAN",
    20: "PR_SET_ENDIAN",
    21: "PR_GET_SECCOMP",
    22: "PR_SET_SECCOMP",
    23: "PR_CAPBSET_READ",
    24: "PR_CAPBSET_DROP",
    25: "PR_GET_TSC",
    26: "PR_SET_TSC",
    27: "PR_GET_SECUREBITS",
    28: "PR_SET_SECUREBITS",
    29: "PR_SET_TIMERSLACK",
    30: "PR_GET_TIMERSLACK",
    31: "PR_TASK_PERF_EVENTS_DISABLE",
    32: "PR_TASK_PERF_EVENTS_ENABLE",
    33: "PR_MCE_KILL",
    34: "PR_MCE_KILL_GET",
    35: "PR_SET_MM",
    36: "PR_SET_CHILD_SUBREAPER",
    37: "PR_GET_CHILD_SUBREAPER",
    38: "PR_SET_NO_NEW_PRIVS",
    39: "PR_GET_NO_NEW_PRIVS",
    40: "PR_GET_TID_ADDRESS",
    41: "PR_SET_THP_DISABLE",
    42: "PR_GET_THP_DISABLE",
    43: "PR_MPX_ENABLE_MANAGEMENT",
    44: "PR_MPX_DISABLE_MANAGEMENT",
    45: "PR_SET_FP_MODE",
    46: "PR_GET_FP_MODE",
    47: "PR_CAP_AMBIENT",
    50: "PR_SVE_SET_VL",
    51: "PR_SVE_GET_VL",
    52: "PR_GET_SPECULATION_CTRL",
    53: "PR_SET_SPECULATION_CTRL",
    54: "PR_PAC_RESET_KEYS",
    55: "PR_SET_TAGGED_ADDR_CTRL",
    56: "PR_GET_TAGGED_ADDR_CTRL",
    57: "PR_SET_IO_FLUSHER",
    58: "PR_GET_IO_FLUSHER",
    59: "PR_SET_SYSCALL_USER_DISPATCH",
    60: "PR_PAC_SET_ENABLED_KEYS",
    61: "PR_PAC_GET_ENABLED_KEYS",
    62: "PR_SCHED_CORE",
    63: "PR_SME_SET_VL",
    64: "PR_SME_GET_VL",
    65: "PR_SET_MDWE",
    66: "PR_GET_MDWE",
    67: "PR_SET_MEMORY_MERGE",
    68: "PR_GET_MEMORY_MERGE",
    0x59616D61: "PR_SET_PTRACER",
    0x53564D41: "PR_SET_VMA",
}
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_OPS: dict[int, str] = {
    1: "PR_CAP_AMBIENT_IS_SET",
    2: "PR_CAP_AMBIENT_RAISE",
    3: "PR_CAP_AMBIENT_LOWER",
    4: "PR_CAP_AMBIENT_CLEAR_ALL",
}
SECCOMP_MODES: dict[int, str] = {
    0: "SECCOMP_MODE_DISABLED",
    1: "SECCOMP_MODE_STRICT",
    2: "SECCOMP_MODE_FILTER",
}


@_cached
def prctl_option(value: int) -> str:
    return _enum(value & 0xFFFFFFFF, PRCTL_OPTIONS, "PR_")


def prctl_arg2(option: int, arg2: int) -> str | int:
    """arg2 named where it names something: a capability, a seccomp mode, an ambient op."""
    if option in (PR_CAPBSET_READ, PR_CAPBSET_DROP):
        return cap_name(arg2)
    if option == PR_SET_SECCOMP:
        return _enum(arg2, SECCOMP_MODES, "SECCOMP_MODE_")
    if option == PR_CAP_AMBIENT:
        return _enum(arg2, PR_CAP_AMBIENT_OPS, "PR_CAP_AMBIENT_")
    return arg2


# -------------------------------------------------------------------------------------- seccomp(2)
# include/uapi/linux/seccomp.h
SECCOMP_OPS: dict[int, str] = {
    0: "SECCOMP_SET_MODE_STRICT",
    1: "SECCOMP_SET_MODE_FILTER",
    2: "SECCOMP_GET_ACTION_AVAIL",
    3: "SECCOMP_GET_NOTIF_SIZES",
}
SECCOMP_FILTER_FLAGS: FlagTable = (
    (1 << 0, "SECCOMP_FILTER_FLAG_TSYNC"),
    (1 << 1, "SECCOMP_FILTER_FLAG_LOG"),
    (1 << 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
    (1 << 3, "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
    (1 << 4, "SECCOMP_FILTER_FLAG_TSYNC_ESRCH"),
    (1 << 5, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
)


@_cached
def seccomp_op(value: int) -> str:
    return _enum(value & 0xFFFFFFFF, SECCOMP_OPS, "SECCOMP_")


@_cached
def seccomp_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, SECCOMP_FILTER_FLAGS)


# ----------------------------------------------------------------------------------- capabilities
# include/uapi/linux/capability.h: 41 capabilities, CAP_LAST_CAP = CAP_CHECKPOINT_RESTORE (40).
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
ALL_CAPS = (1 << len(CAPABILITIES)) - 1


def cap_name(n: int) -> str:
    return CAPABILITIES[n] if 0 <= n < len(CAPABILITIES) else f"CAP_{n}"


def cap_list(mask: int) -> list[str]:
    """A capability set (u64, bit n = capability n) as names; bits past CAP_LAST_CAP as hex."""
    mask &= 0xFFFFFFFFFFFFFFFF
    names = [CAPABILITIES[i] for i in range(len(CAPABILITIES)) if mask >> i & 1]
    rest = mask & ~ALL_CAPS
    if rest:
        names.append(hex(rest))
    return names


# ------------------------------------------------------------------------------------------ sockets
# include/linux/socket.h (AF_*), include/linux/net.h (SOCK_* types), SOCK_NONBLOCK = O_NONBLOCK and
# SOCK_CLOEXEC = O_CLOEXEC on x86-64.
ADDRESS_FAMILIES: dict[int, str] = {
    0: "AF_UNSPEC",
    1: "AF_UNIX",
    2: "AF_INET",
    3: "AF_AX25",
    4: "AF_IPX",
    5: "AF_APPLETALK",
    6: "AF_NETROM",
    7: "AF_BRIDGE",
    8: "AF_ATMPVC",
    9: "AF_X25",
    10: "AF_INET6",
    11: "AF_ROSE",
    12: "AF_DECnet",
    13: "AF_NETBEUI",
    14: "AF_SECURITY",
    15: "AF_KEY",
    16: "AF_NETLINK",
    17: "AF_PACKET",
    18: "AF_ASH",
    19: "AF_ECONET",
    20: "AF_ATMSVC",
    21: "AF_RDS",
    22: "AF_SNA",
    23: "AF_IRDA",
    24: "AF_PPPOX",
    25: "AF_WANPIPE",
    26: "AF_LLC",
    27: "AF_IB",
    28: "AF_MPLS",
    29: "AF_CAN",
    30: "AF_TIPC",
    31: "AF_BLUETOOTH",
    32: "AF_IUCV",
    33: "AF_RXRPC",
    34: "AF_ISDN",
    35: "AF_PHONET",
    36: "AF_IEEE802154",
    37: "AF_CAIF",
    38: "AF_ALG",
    39: "AF_NFC",
    40: "AF_VSOCK",
    41: "AF_KCM",
    42: "AF_QIPCRTR",
    43: "AF_SMC",
    44: "AF_XDP",
    45: "AF_MCTP",
}
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
SOCKET_TYPES: dict[int, str] = {
    1: "SOCK_STREAM",
    2: "SOCK_DGRAM",
    3: "SOCK_RAW",
    4: "SOCK_RDM",
    5: "SOCK_SEQPACKET",
    6: "SOCK_DCCP",
    10: "SOCK_PACKET",
}
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000
SOCK_FLAGS: FlagTable = ((SOCK_NONBLOCK, "SOCK_NONBLOCK"), (SOCK_CLOEXEC, "SOCK_CLOEXEC"))
# include/uapi/linux/in.h: the protocols a learner meets.
IP_PROTOCOLS: dict[int, str] = {
    0: "IPPROTO_IP",
    1: "IPPROTO_ICMP",
    2: "IPPROTO_IGMP",
    4: "IPPROTO_IPIP",
    6: "IPPROTO_TCP",
    17: "IPPROTO_UDP",
    41: "IPPROTO_IPV6",
    47: "IPPROTO_GRE",
    58: "IPPROTO_ICMPV6",
    132: "IPPROTO_SCTP",
    136: "IPPROTO_UDPLITE",
    255: "IPPROTO_RAW",
    262: "IPPROTO_MPTCP",
}


@_cached
def address_family(value: int) -> str:
    return _enum(value & 0xFFFF, ADDRESS_FAMILIES, "AF_")


@_cached
def socket_type(value: int) -> str:
    """ "SOCK_STREAM|SOCK_CLOEXEC": the type in the low 4 bits, then the creation flags."""
    value &= 0xFFFFFFFF
    base = _enum(value & SOCK_TYPE_MASK, SOCKET_TYPES, "SOCK_")
    rest = decode_bits(value & ~SOCK_TYPE_MASK, SOCK_FLAGS, zero="")
    return f"{base}|{rest}" if rest else base


@_cached
def sock_flags(value: int) -> str:
    """Flags of accept4(2) (SOCK_NONBLOCK|SOCK_CLOEXEC)."""
    return decode_bits(value & 0xFFFFFFFF, SOCK_FLAGS)


@_cached
def ip_protocol(value: int) -> str:
    return _enum(value, IP_PROTOCOLS, "IPPROTO_")


EPOLL_FLAGS: FlagTable = ((0o2000000, "EPOLL_CLOEXEC"),)


@_cached
def epoll_flags(value: int) -> str:
    return decode_bits(value & 0xFFFFFFFF, EPOLL_FLAGS)


def decode_sockaddr(raw: bytes, addrlen: int | None = None) -> dict[str, Any]:
    """A struct sockaddr copied from user memory, as {family, addr?, port?, path?}.

    Layouts (include/uapi/linux/in.h, in6.h, un.h; sa_family is host-endian u16, ports and addresses
    network order): sockaddr_in = family, port, 4-byte address; sockaddr_in6 = family, port, flowinfo,
    16-byte address, scope_id; sockaddr_un = family, up to 108 path bytes. An AF_UNIX path starting
    with a NUL byte is an abstract name (shown as "@name", its length given by addrlen).
    """
    if addrlen is not None and 0 <= addrlen < len(raw):
        raw = raw[:addrlen]
    if len(raw) < 2:
        return {"family": "AF_UNSPEC"} if not raw else {"family": "?"}
    fam = struct.unpack_from("=H", raw)[0]
    out: dict[str, Any] = {"family": address_family(fam)}
    if fam == AF_INET and len(raw) >= 8:
        out["port"] = struct.unpack_from("!H", raw, 2)[0]
        out["addr"] = socket.inet_ntop(socket.AF_INET, raw[4:8])
    elif fam == AF_INET6 and len(raw) >= 24:
        out["port"] = struct.unpack_from("!H", raw, 2)[0]
        out["addr"] = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        if len(raw) >= 28:
            scope = struct.unpack_from("=I", raw, 24)[0]
            if scope:
                out["scope_id"] = scope
    elif fam == AF_UNIX:
        path = raw[2:110]
        if path[:1] == b"\0" and (addrlen is not None and addrlen > 2):
            out["path"] = "@" + path[1:].decode("utf-8", "replace")
        elif path[:1] == b"\0":
            # abstract name without a known length: up to the next NUL
            out["path"] = "@" + path[1:].split(b"\0", 1)[0].decode("utf-8", "replace")
        else:
            out["path"] = path.split(b"\0", 1)[0].decode("utf-8", "replace")
    return out


def format_sockaddr(sa: dict[str, Any]) -> str:
    """ "127.0.0.1:8080", "[::1]:443", "/run/x.sock", or the family name."""
    if "path" in sa:
        return str(sa["path"]) or "(unnamed)"
    if "addr" in sa:
        addr = sa["addr"]
        return f"[{addr}]:{sa.get('port', 0)}" if ":" in addr else f"{addr}:{sa.get('port', 0)}"
    return str(sa.get("family", "?"))


# ------------------------------------------------------------------------------------------ tcp
# include/net/tcp_states.h (TCP_BOUND_INACTIVE since Linux 6.7).
TCP_STATES: dict[int, str] = {
    1: "TCP_ESTABLISHED",
    2: "TCP_SYN_SENT",
    3: "TCP_SYN_RECV",
    4: "TCP_FIN_WAIT1",
    5: "TCP_FIN_WAIT2",
    6: "TCP_TIME_WAIT",
    7: "TCP_CLOSE",
    8: "TCP_CLOSE_WAIT",
    9: "TCP_LAST_ACK",
    10: "TCP_LISTEN",
    11: "TCP_CLOSING",
    12: "TCP_NEW_SYN_RECV",
    13: "TCP_BOUND_INACTIVE",
}


@_cached
def tcp_state(value: int) -> str:
    return _enum(value, TCP_STATES, "TCP_STATE_")


# ----------------------------------------------------------------------------------------- strings


# What ends a string a probe had to cut (events/SCHEMA.md); the event also says `truncated: true`.
TRUNCATED_MARK = "…"


def cstr(raw: bytes, truncated: bool | None = None) -> str:
    """A NUL-terminated string from a fixed buffer, decoded UTF-8 with replacement. When the buffer
    has no NUL (or `truncated` says so) the string was cut and ends with "…" (SCHEMA.md)."""
    end = raw.find(b"\0")
    cut = end < 0 if truncated is None else truncated
    s = (raw if end < 0 else raw[:end]).decode("utf-8", "replace")
    return s + "…" if cut else s
