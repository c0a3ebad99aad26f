"""files probe: opens (path, decoded flags, result) and the bytes read and written through them.

Reads and writes are folded per open fd in the kernel and reported as one `read`/`write` event with
the byte count and the number of syscalls since the last report: every 1 MiB, or at the first
read/write after a second has passed, at close, and (from user space, about every 2 s) for processes
that exited with the fd still open. With a path prefix (ProbeOptions.path_prefix, e.g. Docker's data
root) only opens of paths under it, and I/O through those fds, are seen, which keeps layer unpacking
visible without drowning in the rest of the system. pread64/readv/preadv/preadv2 count as reads,
pwrite64/writev/pwritev/pwritev2 as writes. Not covered: sendfile/copy_file_range/splice, io_uring,
mmap, fds duplicated with dup*, opens with relative paths when a prefix is set.

The calls that shape a tree, as a tar unpacking a layer makes them, are reported once each at exit with
their result: mkdir, symlink, link, mknod (an overlayfs whiteout, a char device 0:0, is flagged), unlink,
rmdir (also unlinkat with AT_REMOVEDIR), rename, setxattr (an opaque directory's
trusted.overlay.opaque="y" is flagged), chmod, chown. For link and rename either name may match the
prefix; a symlink matches by the link's own name (its target is only content). Each syscall pair is
optional: one this kernel lacks (arm64 has no mkdir/rename..., fchmodat2 is 6.6+) is left out, not fatal.

The prefix is compared with the path as the process passed it, in its own root. dockerd 20.10
unpacks layers in a re-exec of itself chrooted into the layer directory (`docker-untar`, registered
in moby pkg/chrootarchive/init_unix.go; its untar() chroots before extracting to "/"), so those
opens read "/bin/busybox", not ".../overlay2/<id>/diff/bin/busybox", and a data-root prefix does not
match them: follow dockerd's lineage without a prefix to see them. When user space can still read
it, a chrooted process's root is added to the event as `root`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import struct
from typing import Any

from beefine_tui.errors import UsageError
from beefine_tui.events.model import Args, Event, now_ns
from beefine_tui.probes.base import KindNote, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe, tracefs_root
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import (
    O_ACCMODE,
    TRUNCATED_MARK,
    FlagTable,
    decode_bits,
    errno_name,
    mode_octal,
    open_flags,
)

_REQUIRED = (
    "syscalls:sys_enter_openat",
    "syscalls:sys_exit_openat",
    "syscalls:sys_enter_openat2",
    "syscalls:sys_exit_openat2",
    "syscalls:sys_enter_read",
    "syscalls:sys_exit_read",
    "syscalls:sys_enter_write",
    "syscalls:sys_exit_write",
    "syscalls:sys_enter_close",
)
# op number (bpf/files.bpf.c OP_*) -> (kind, syscall)
OPS: dict[int, tuple[str, str]] = {
    1: ("mkdir", "mkdirat"),
    2: ("mkdir", "mkdir"),
    3: ("symlink", "symlinkat"),
    4: ("symlink", "symlink"),
    5: ("link", "linkat"),
    6: ("link", "link"),
    7: ("mknod", "mknodat"),
    8: ("mknod", "mknod"),
    9: ("unlink", "unlinkat"),  # "rmdir" with AT_REMOVEDIR
    10: ("unlink", "unlink"),
    11: ("rmdir", "rmdir"),
    12: ("rename", "renameat2"),
    13: ("rename", "renameat"),
    14: ("rename", "rename"),
    15: ("setxattr", "setxattr"),
    16: ("setxattr", "lsetxattr"),
    17: ("setxattr", "fsetxattr"),
    18: ("chmod", "fchmodat"),
    19: ("chmod", "fchmodat2"),
    20: ("chmod", "chmod"),
    21: ("chown", "fchownat"),
    22: ("chown", "chown"),
    23: ("chown", "lchown"),
}
READ_SYSCALLS = ("pread64", "readv", "preadv", "preadv2")
WRITE_SYSCALLS = ("pwrite64", "writev", "pwritev", "pwritev2")
# each of these is compiled in only when the kernel has its enter and exit tracepoints (HAVE_<NAME>)
OPTIONAL_SYSCALLS = (*READ_SYSCALLS, *WRITE_SYSCALLS, *dict.fromkeys(sc for _k, sc in OPS.values()))
_OPTIONAL = tuple(f"syscalls:sys_{d}_{n}" for n in OPTIONAL_SYSCALLS for d in ("enter", "exit"))
PATH_KINDS = tuple(dict.fromkeys(k for k, _sc in OPS.values()))

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    KindNote(
        "open",
        "open(): a file opened (for writing when creating files of a layer or of the bundle).",
        source="open(2) (O_* flags)",
    ),
    KindNote(
        "read",
        "read(): bytes read from a file (folded per file descriptor; pread, readv and preadv count too): "
        "for example dockerd reading a downloaded layer back to unpack it.",
        source="read(2), pread(2), readv(2)",
    ),
    KindNote(
        "write",
        "write(): bytes written to a file (folded per file descriptor; pwrite, writev and pwritev "
        "count too).",
        source="write(2), pwrite(2), writev(2)",
    ),
    # man 2 mkdir/symlink/link/unlink/rmdir/rename/chmod/chown; moby pkg/archive/archive.go
    # createTarFile (one call per tar entry type, then Lchown, Chmod, times).
    KindNote(
        "mkdir",
        "mkdir(): a directory created; unpacking a layer makes one for each directory of its tar.",
        source="mkdir(2); moby 20.10 pkg/archive/archive.go createTarFile",
    ),
    # The lab's Dockerfile runs `busybox --install -s` (symlinks); Docker Hub's busybox image stores
    # its commands as hard links (issue 12; not checkable offline here: no Docker Hub access).
    KindNote(
        "symlink",
        "symlink(): a symbolic link created: a tiny file whose content is a path. This project's lab "
        "images make their commands symlinks to /bin/busybox; Docker Hub's busybox uses hard links "
        "(link()) instead. runc also makes /dev/fd, /dev/std* and /dev/ptmx as symlinks.",
        source="symlink(2); moby 20.10 pkg/archive/archive.go createTarFile; runc 1.1 "
        "libcontainer/rootfs_linux.go setupDevSymlinks",
    ),
    KindNote(
        "link",
        "link(): a second name for an existing file (a hard link): both names share the same data. A "
        "tar stores the second name only as a reference to the first.",
        source="link(2); moby 20.10 pkg/archive/archive.go createTarFile (tar.TypeLink)",
    ),
    # moby pkg/archive/archive_linux.go overlayWhiteoutConverter; overlayfs.rst "whiteouts"; runc 1.1
    # rootfs_linux.go createDevices (default devices: null 1:3, zero 1:5, full 1:7, random 1:8,
    # urandom 1:9, tty 5:0); runc create's mknod of exec.fifo.
    KindNote(
        "mknod",
        "mknod(): a special file. runc:[2:INIT] makes the container's devices in its tmpfs /dev (null, "
        "zero, full, random, urandom, tty, with their major:minor); runc create makes exec.fifo; "
        "containerd makes the fifos for the container's stdout/stderr. While a layer is unpacked, a "
        "character device 0:0 is a whiteout: this layer deletes that name (a file or a directory) from "
        "the layers below.",
        source="mknod(2); runc 1.1 libcontainer/rootfs_linux.go createDevices; moby 20.10 "
        "pkg/archive/archive_linux.go overlayWhiteoutConverter; kernel overlayfs.rst (whiteouts)",
    ),
    KindNote(
        "unlink",
        "unlink(): a name removed from its directory; unpacking removes what a tar entry replaces.",
        source="unlink(2); moby 20.10 pkg/archive/archive.go createTarFile",
    ),
    KindNote(
        "rmdir",
        "rmdir(): an empty directory removed (unlinkat with AT_REMOVEDIR does the same).",
        source="rmdir(2), unlinkat(2) AT_REMOVEDIR",
    ),
    # man 2 rename (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT).
    KindNote(
        "rename",
        "rename(): a file moved to a new name in one atomic step. RENAME_NOREPLACE refuses to overwrite "
        "an existing name, RENAME_EXCHANGE swaps two names, RENAME_WHITEOUT leaves an overlayfs whiteout "
        "where the file was.",
        source="rename(2) (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT)",
    ),
    # man 7 xattr; overlayfs.rst "opaque directories"; moby overlayWhiteoutConverter (.wh..wh..opq).
    KindNote(
        "setxattr",
        "setxattr(): an extended attribute (name=value metadata) set on a file. trusted.overlay.opaque="
        '"y" makes a directory opaque: overlayfs then shows only this layer\'s content of it and hides '
        "everything the lower layers had there.",
        source="setxattr(2); xattr(7); kernel overlayfs.rst (opaque directories); moby 20.10 "
        "pkg/archive/archive_linux.go overlayWhiteoutConverter",
    ),
    KindNote(
        "chmod",
        "chmod(): permission bits set; unpacking gives each file the mode its tar header records.",
        source="chmod(2); moby 20.10 pkg/archive/archive.go createTarFile",
    ),
    KindNote(
        "chown",
        "chown(): owner and group set; unpacking gives each file the owner its tar header records "
        "(-1 leaves one of them unchanged).",
        source="chown(2); moby 20.10 pkg/archive/archive.go createTarFile (Lchown)",
    ),
)

SPEC = ProbeSpec(
    name="files",
    group="files",
    engine="bcc",
    description=(
        "file opens with flags and result, bytes read/written per open file, and the directories, links, "
        "device nodes (overlay whiteouts), removals, renames and xattrs a tree is built with"
    ),
    teaches=(
        "Pulling an image is mostly file work: following dockerd you see each layer's tar unpacked into "
        "its own directory, file by file, link by link, with deletions stored as overlayfs whiteouts."
    ),
    source="files.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("open", "read", "write", *PATH_KINDS),
    tracepoints=_REQUIRED + _OPTIONAL,
    explains=EXPLAINS,
    story=StorySlot(),
)

OPEN_KIND, READ_KIND, WRITE_KIND, PATH_KIND = 1, 2, 3, 4
MAX_PREFIX = 200
HOUSEKEEP_EVERY = 4  # runner housekeeping rounds (~0.5 s each) between scans of the fd table

# beefine_hdr: u64 ts; u32 kind, pid, tid, pad; char comm[16]
# open_rec: hdr; s64 ret; u64 flags; u32 mode; s32 dfd; u32 at2 (OPEN_* bits), plen; char path[256]
OPEN_REC = struct.Struct("<QIIII16sqQIiII256s")
# the same without the strings, which the decoder cuts at their NUL itself (cheaper than copying 256
# bytes and splitting)
_OPEN_FIXED = struct.Struct("<QIIII16xqQIiII")
_COMM_OFF = 24
_OPEN_PATH_OFF = OPEN_REC.size - 256
# io_rec: hdr; s32 fd; u32 count; u64 bytes; u32 closed, cut; char path[256]
IO_REC = struct.Struct("<QIIII16siIQII256s")
_KIND = struct.Struct("<I")
_PID = struct.Struct("<I")
AT_FDCWD = -100
# path_rec: hdr; s64 ret; u32 op, flags, mode, dev; s32 dfd, dfd2; u32 uid, gid, vsize; u16 plen, plen2;
# char xname[64], xvalue[32], path[256]; then path2, sent only up to its NUL (plen2 bytes)
PATH_LEN = 256
OPEN_AT2, OPEN_PATH_CUT = 1, 2  # open_rec.at2 bits
PLEN_CUT = 0x8000  # path_rec.plen/plen2: the path was cut at PATH_LEN - 1 bytes
XNAME_CUT = 0x4000  # path_rec.plen: setxattr's name was cut at XNAME_LEN - 1 bytes
XNAME_LEN = 64
XVALUE_LEN = 32
PATH_REC = struct.Struct("<QIIII16sqIIIIiiIIIHH64s32s256s")
_PATH_FIXED = struct.Struct("<QIIII16xqIIIIiiIIIHH")
_XNAME_OFF = _PATH_FIXED.size
_XVALUE_OFF = _XNAME_OFF + XNAME_LEN
_PATH1_OFF = _XVALUE_OFF + XVALUE_LEN
_PATH2_OFF = PATH_REC.size

# include/uapi/linux/fcntl.h (the AT_* bits each call accepts; AT_EACCESS shares 0x200 with AT_REMOVEDIR)
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = 0x100, 0x200, 0x400, 0x1000
_AT_LINK: FlagTable = ((AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"), (AT_EMPTY_PATH, "AT_EMPTY_PATH"))
_AT_UNLINK: FlagTable = ((AT_REMOVEDIR, "AT_REMOVEDIR"),)
_AT_NOFOLLOW: FlagTable = ((AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"), (AT_EMPTY_PATH, "AT_EMPTY_PATH"))
# include/uapi/linux/fs.h
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
_RENAME: FlagTable = (
    (RENAME_NOREPLACE, "RENAME_NOREPLACE"),
    (RENAME_EXCHANGE, "RENAME_EXCHANGE"),
    (RENAME_WHITEOUT, "RENAME_WHITEOUT"),
)
# include/uapi/linux/xattr.h
_XATTR: FlagTable = ((1, "XATTR_CREATE"), (2, "XATTR_REPLACE"))
# include/uapi/linux/stat.h (mknod's type 0 means a regular file)
FILE_TYPES = {
    stat.S_IFSOCK: "S_IFSOCK",
    stat.S_IFLNK: "S_IFLNK",
    stat.S_IFREG: "S_IFREG",
    stat.S_IFBLK: "S_IFBLK",
    stat.S_IFDIR: "S_IFDIR",
    stat.S_IFCHR: "S_IFCHR",
    stat.S_IFIFO: "S_IFIFO",
}
# overlayfs marks a directory opaque (hides the lower layers' content) with this xattr set to "y";
# "user." when mounted with userxattr (Documentation/filesystems/overlayfs.rst)
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


# flag and errno names repeat: decode each value once
_open_flags = functools.lru_cache(maxsize=1024)(open_flags)
_mode = functools.lru_cache(maxsize=256)(mode_octal)
_errno = functools.lru_cache(maxsize=256)(errno_name)


@functools.lru_cache(maxsize=64)
def _bits(value: int, table: FlagTable) -> str:
    return decode_bits(value, table)


def file_type(mode: int) -> str:
    """mknod's S_IF* type ("S_IFCHR"); 0 is a regular file."""
    t = stat.S_IFMT(mode)
    return FILE_TYPES.get(t or stat.S_IFREG, hex(t))


def xattr_value(raw: bytes, size: int) -> str | None:
    """The value as text when it came whole and is short printable ASCII ("y"), else None."""
    if size <= 0 or size > XVALUE_LEN:
        return None
    v = raw[:size]
    return v.decode("ascii") if all(0x20 <= b < 0x7F for b in v) else None


def _cut(raw: bytes, start: int, plen: int, ctx: DecodeContext) -> str:
    """A path field; one the kernel side found longer than its buffer ends with "…" (SCHEMA.md)."""
    s = ctx.cstr(raw[start : start + PATH_LEN])
    return s + TRUNCATED_MARK if plen & PLEN_CUT else s


def _result(ret: int) -> str:
    return "ok" if ret >= 0 else _errno(ret)


class FileArgs(Args, frozen=True, kw_only=True, gc=False):
    """What every files event has: the path as the process gave it (relative to `dfd` when that is
    not the working directory, and to `root` for a chrooted process such as dockerd's docker-untar)."""

    path: str
    truncated: bool = False  # a string did not fit its buffer and ends with "…"
    dfd: int | None = None
    root: str = ""


class OpenArgs(FileArgs, frozen=True, kw_only=True, gc=False, tag="open"):
    kinds = ("open",)
    flags: int
    mode: int = 0
    ret: int = 0  # the fd, or -errno
    at2: bool = False  # openat2

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flags": _open_flags(self.flags), "mode": _mode(self.mode)}
        if self.ret < 0:
            out["error"] = _errno(self.ret)
        if self.at2:
            out["syscall"] = "openat2"
        return out

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> OpenArgs:
        """Schema 1 kept the number in `flags_raw`; without it, the names are turned back into bits."""
        flags = args.get("flags_raw")
        if not isinstance(flags, int):
            flags = 0
            for name in str(args.get("flags", "")).split("|"):
                flags |= int(name, 16) if name.startswith("0x") else getattr(os, name, 0)
        return cls(
            path=str(args.get("path", "")),
            flags=flags,
            mode=int(str(args.get("mode", "0")), 8),
            ret=int(args.get("ret", 0)),
            truncated=bool(args.get("truncated")),
            dfd=args.get("dfd"),
            at2=args.get("syscall") == "openat2",
            root=str(args.get("root", "")),
        )

    @property
    def writes(self) -> bool:
        return self.flags & O_ACCMODE in (os.O_WRONLY, os.O_RDWR)

    @property
    def creates(self) -> bool:
        return bool(self.flags & os.O_CREAT)

    def describe(self, ev: Event) -> str:
        res = f"fd {self.ret}" if self.ret >= 0 else _errno(self.ret)
        return f"open {self.path} {_open_flags(self.flags)} -> {res}"


class IoArgs(FileArgs, frozen=True, kw_only=True, gc=False, tag="io"):
    """read/write: bytes and calls on one fd since its last report (folded in the kernel)."""

    kinds = ("read", "write")
    fd: int
    bytes: int
    count: int
    closed: bool = False
    exited: bool = False  # reported for a process that ended without closing the fd

    def describe(self, ev: Event) -> str:
        verb = "wrote" if ev.kind == "write" else "read"
        calls = f"{self.count} call{'s' if self.count != 1 else ''}"
        return f"{verb} {self.bytes} bytes in {calls}: {self.path}" + (
            " (process exited)" if self.exited else ""
        )


class PathOpArgs(FileArgs, frozen=True, kw_only=True, gc=False):
    """A syscall that makes, links, removes or changes a name: `syscall` says which one it was."""

    syscall: str = ""
    ret: int = 0

    def _res(self) -> str:
        return _result(self.ret)


class MkdirArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="mkdir"):
    kinds = ("mkdir",)
    mode: int

    def names(self) -> dict[str, Any]:
        return {**super().names(), "mode": _mode(self.mode)}

    def describe(self, ev: Event) -> str:
        return f"mkdir {self.path} {_mode(self.mode)} -> {self._res()}"


class SymlinkArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="symlink"):
    kinds = ("symlink",)
    target: str  # the link's content

    def describe(self, ev: Event) -> str:
        return f"symlink {self.path} pointing to {self.target} -> {self._res()}"


class LinkArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="link"):
    kinds = ("link",)
    target: str  # the existing file the new name points at
    target_dfd: int | None = None
    flags: int = 0

    def names(self) -> dict[str, Any]:
        return {**super().names(), "flags": _bits(self.flags, _AT_LINK)}

    def describe(self, ev: Event) -> str:
        return f"link {self.path} to the same file as {self.target} -> {self._res()}"


class MknodArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="mknod"):
    kinds = ("mknod",)
    mode: int  # file type and permission bits, as mknod(2) takes them
    dev: int = 0

    @property
    def whiteout(self) -> bool:
        """A character device 0:0: overlayfs's mark that this layer deletes the name."""
        return stat.S_IFMT(self.mode) == stat.S_IFCHR and self.dev == 0

    def names(self) -> dict[str, Any]:
        major, minor = os.major(self.dev), os.minor(self.dev)
        return {
            **super().names(),
            "type": file_type(self.mode),
            "mode": _mode(self.mode & 0o7777),
            "dev": f"{major}:{minor}",
            "dev_major": major,
            "dev_minor": minor,
            "whiteout": self.whiteout,
        }

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> MknodArgs:
        """Schema 1 split the mode into a type name and octal permissions, and dev into numbers."""
        ftype = {v: k for k, v in FILE_TYPES.items()}.get(str(args.get("type")), 0)
        return cls(
            path=str(args.get("path", "")),
            syscall=str(args.get("syscall", "mknod")),
            ret=int(args.get("ret", 0)),
            mode=ftype | int(str(args.get("mode", "0")), 8),
            dev=os.makedev(int(args.get("dev_major", 0)), int(args.get("dev_minor", 0))),
            truncated=bool(args.get("truncated")),
        )

    def describe(self, ev: Event) -> str:
        ftype = file_type(self.mode)
        what = " (whiteout: overlayfs deletion marker)" if self.whiteout else ""
        devs = f" {os.major(self.dev)}:{os.minor(self.dev)}" if ftype in ("S_IFCHR", "S_IFBLK") else ""
        return f"mknod {self.path} {ftype}{devs} {_mode(self.mode & 0o7777)}{what} -> {self._res()}"


class UnlinkArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="unlink"):
    """unlink and rmdir (unlinkat with AT_REMOVEDIR is reported as rmdir)."""

    kinds = ("unlink", "rmdir")
    flags: int = 0

    def names(self) -> dict[str, Any]:
        return (
            {**super().names(), "flags": _bits(self.flags, _AT_UNLINK)}
            if self.syscall == "unlinkat"
            else super().names()
        )

    def describe(self, ev: Event) -> str:
        return f"{ev.kind} {self.path} -> {self._res()}"


class RenameArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="rename"):
    kinds = ("rename",)
    new_path: str
    new_dfd: int | None = None
    flags: int = 0

    def names(self) -> dict[str, Any]:
        return {**super().names(), "flags": _bits(self.flags, _RENAME)}

    def describe(self, ev: Event) -> str:
        fl = f" {_bits(self.flags, _RENAME)}" if self.flags else ""
        return f"rename {self.path} to {self.new_path}{fl} -> {self._res()}"


class SetxattrArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="setxattr"):
    """`path` is "" for fsetxattr on an fd opened before tracing (then `fd` says which)."""

    kinds = ("setxattr",)
    name: str
    size: int
    value: str | None = None  # only when short and printable ("y")
    fd: int | None = None
    flags: int = 0

    @property
    def opaque(self) -> bool:
        """overlayfs's opaque-directory mark: the lower layers' content of it is hidden."""
        return self.name in OPAQUE_XATTRS and self.value == "y"

    def names(self) -> dict[str, Any]:
        out = {**super().names(), "flags": _bits(self.flags, _XATTR)}
        if self.opaque:
            out["opaque"] = True
        return out

    def describe(self, ev: Event) -> str:
        where = self.path or f"fd {self.fd}"
        shown = f"={self.value!r}" if self.value is not None else f" ({self.size} bytes)"
        opaque = " (opaque directory)" if self.opaque else ""
        return f"setxattr {where} {self.name}{shown}{opaque} -> {self._res()}"


class ChmodArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="chmod"):
    kinds = ("chmod",)
    mode: int
    flags: int = 0

    def names(self) -> dict[str, Any]:
        out = {**super().names(), "mode": _mode(self.mode)}
        if self.syscall == "fchmodat2":
            out["flags"] = _bits(self.flags, _AT_NOFOLLOW)
        return out

    def describe(self, ev: Event) -> str:
        return f"chmod {self.path} {_mode(self.mode)} -> {self._res()}"


class ChownArgs(PathOpArgs, frozen=True, kw_only=True, gc=False, tag="chown"):
    """uid/gid -1: left unchanged."""

    kinds = ("chown",)
    uid: int
    gid: int
    flags: int = 0

    def names(self) -> dict[str, Any]:
        if self.syscall != "fchownat":
            return super().names()
        return {**super().names(), "flags": _bits(self.flags, _AT_NOFOLLOW)}

    def describe(self, ev: Event) -> str:
        return f"chown {self.path} {self.uid}:{self.gid} -> {self._res()}"


def _decode_path(raw: bytes, ctx: DecodeContext, root: str) -> tuple[int, int, int, str, PathOpArgs] | None:
    """(ts, pid, tid, kind, args) of a path record; None for an op this version does not know."""
    (ts, _k, pid, tid, _p, ret, op, flags, mode, dev, dfd, dfd2, uid, gid, vsize, plen, plen2) = (
        _PATH_FIXED.unpack_from(raw)
    )
    names = OPS.get(op)
    if names is None:
        return None
    kind, syscall = names
    path = _cut(raw, _PATH1_OFF, plen, ctx)
    common: dict[str, Any] = {
        "path": path,
        "syscall": syscall,
        "ret": ret,
        "truncated": bool((plen | plen2) & PLEN_CUT or plen & XNAME_CUT),
        "root": root,
    }
    if dfd != AT_FDCWD and syscall != "fsetxattr" and not path.startswith("/"):
        common["dfd"] = dfd
    args: PathOpArgs
    if kind == "mkdir":
        args = MkdirArgs(mode=mode, **common)
    elif kind == "symlink":
        args = SymlinkArgs(target=_cut(raw, _PATH2_OFF, plen2, ctx), **common)
    elif kind == "link":
        target = _cut(raw, _PATH2_OFF, plen2, ctx)
        tdfd = dfd2 if dfd2 != AT_FDCWD and not target.startswith("/") else None
        args = LinkArgs(target=target, target_dfd=tdfd, flags=flags, **common)
    elif kind == "mknod":
        args = MknodArgs(mode=mode, dev=dev, **common)
    elif kind in ("unlink", "rmdir"):
        if syscall == "unlinkat" and flags & AT_REMOVEDIR:
            kind = "rmdir"
        args = UnlinkArgs(flags=flags if syscall == "unlinkat" else 0, **common)
    elif kind == "rename":
        new = _cut(raw, _PATH2_OFF, plen2, ctx)
        ndfd = dfd2 if dfd2 != AT_FDCWD and not new.startswith("/") else None
        args = RenameArgs(new_path=new, new_dfd=ndfd, flags=flags, **common)
    elif kind == "setxattr":
        name = ctx.cstr(raw[_XNAME_OFF : _XNAME_OFF + XNAME_LEN])
        if plen & XNAME_CUT:
            name += TRUNCATED_MARK
        value = xattr_value(raw[_XVALUE_OFF : _XVALUE_OFF + XVALUE_LEN], vsize)
        fd = dfd if syscall == "fsetxattr" else None
        args = SetxattrArgs(name=name, size=vsize, value=value, fd=fd, flags=flags, **common)
    elif kind == "chmod":
        args = ChmodArgs(mode=mode, flags=flags if syscall == "fchmodat2" else 0, **common)
    else:  # chown; -1 leaves the id unchanged
        u = -1 if uid == 0xFFFFFFFF else uid
        g = -1 if gid == 0xFFFFFFFF else gid
        args = ChownArgs(uid=u, gid=g, flags=flags if syscall == "fchownat" else 0, **common)
    return ts, pid, tid, kind, args


def _decode_open(raw: bytes, ctx: DecodeContext) -> Event:
    """An open record: what a files flood is made of, so one unpack and no helper frames on the hit
    path (~15% of decode's time, bench/probe_throughput.py)."""
    ts, _k, pid, tid, _p, ret, flags, mode, dfd, at2, _pad = _OPEN_FIXED.unpack_from(raw)
    procs = ctx.procs
    info = procs.cached(pid) or procs.info(pid)
    # a chrooted process (dockerd's docker-untar unpacking a layer): its paths are relative to this
    root = info.root if info.root != "/" and info.container is None else ""
    end = raw.find(b"\0", _OPEN_PATH_OFF)
    path = raw[_OPEN_PATH_OFF : end if end >= 0 else None].decode(errors="replace")
    cut = at2 & OPEN_PATH_CUT
    if cut:
        path += TRUNCATED_MARK
    args = OpenArgs(
        path=path,
        flags=flags,
        mode=mode,
        ret=ret,
        truncated=bool(cut),
        dfd=dfd if dfd != AT_FDCWD and not path.startswith("/") else None,
        at2=bool(at2 & OPEN_AT2),
        root=root,
    )
    comm_b = raw[_COMM_OFF : _COMM_OFF + 16]
    comm = ctx.cached_str(comm_b) or ctx.cstr(comm_b)
    return Event(ts=ts, probe="files", kind="open", pid=pid, tid=tid, comm=comm, args=args)


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    kind = raw[8]  # low byte of the little-endian u32 `kind`: kinds are < 256
    if kind == OPEN_KIND:
        return _decode_open(raw, ctx)
    pid = _PID.unpack_from(raw, 12)[0]
    info = ctx.info(pid)
    # a chrooted process (dockerd's docker-untar unpacking a layer): its paths are relative to this
    root = info.root if info.root != "/" and info.container is None else ""
    args: Args
    if kind in (READ_KIND, WRITE_KIND):
        ts, _k, pid, tid, _p, _comm, fd, count, nbytes, closed, cut, path_b = IO_REC.unpack_from(raw)
        path = ctx.cstr(path_b)
        if cut:
            path += TRUNCATED_MARK
        args = IoArgs(
            path=path, fd=fd, bytes=nbytes, count=count, closed=bool(closed), truncated=bool(cut), root=root
        )
        kname = "write" if kind == WRITE_KIND else "read"
    elif kind == PATH_KIND:
        decoded = _decode_path(raw, ctx, root)
        if decoded is None:
            return None
        ts, pid, tid, kname, args = decoded
    else:
        return None
    comm = ctx.cstr(raw[_COMM_OFF : _COMM_OFF + 16])
    return Event(ts=ts, probe="files", kind=kname, pid=pid, tid=tid, comm=comm, args=args)


def prefix_cflags(prefix: str | None) -> list[str]:
    """-DPATH_PREFIX_LEN and an unrolled byte comparison macro for the kernel-side prefix filter."""
    if not prefix:
        return []
    raw = prefix.encode()
    if len(raw) > MAX_PREFIX:
        raise UsageError(f"path prefix is {len(raw)} bytes long; at most {MAX_PREFIX} are supported")
    if b"\0" in raw:
        raise UsageError("path prefix contains a NUL byte")
    # compare as unsigned: `char` is signed on BPF, and UTF-8 bytes are >= 0x80
    cmp = "&&".join(f"(unsigned char)p[{i}]=={b}" for i, b in enumerate(raw))
    return [f"-DPATH_PREFIX_LEN={len(raw)}", f"-DPATH_PREFIX_MATCH(p)=({cmp})"]


class _Housekeeper:
    """Reports and forgets fds of processes that exited without closing them (the kernel table has no
    exit hook for them)."""

    def __init__(self) -> None:
        self.rounds = 0

    def __call__(self, bpf: Any, ctx: DecodeContext) -> list[Event]:
        self.rounds += 1
        if self.rounds % HOUSEKEEP_EVERY:
            return []
        table = bpf[b"fds"]
        out: list[Event] = []
        now = 0
        for k, v in list(table.items()):
            if os.path.exists(f"/proc/{k.tgid}"):
                continue
            if not now:
                now = now_ns()
            raw_path = v.path if isinstance(v.path, bytes) else bytes(v.path)  # ctypes gives bytes to the NUL
            path = raw_path.split(b"\0", 1)[0].decode(errors="replace")
            cut = bool(v.cut)
            if cut:
                path += TRUNCATED_MARK
            for kind, nbytes, count in (("read", v.rbytes, v.rcount), ("write", v.wbytes, v.wcount)):
                if count:
                    args = IoArgs(
                        path=path, fd=k.fd, bytes=nbytes, count=count, closed=True, exited=True, truncated=cut
                    )
                    out.append(Event(ts=now, probe="files", kind=kind, pid=k.tgid, args=args))
            with contextlib.suppress(KeyError):
                del table[k]
        return out


def optional_cflags() -> list[str]:
    """-DHAVE_<SYSCALL> for each optional syscall whose enter and exit tracepoints this kernel has: a
    TRACEPOINT_PROBE on a missing one would not compile, so it is left out instead."""
    root = tracefs_root()
    if root is None:
        return []
    sc = root / "events" / "syscalls"
    return [
        f"-DHAVE_{name.upper()}=1"
        for name in OPTIONAL_SYSCALLS
        if (sc / f"sys_enter_{name}").is_dir() and (sc / f"sys_exit_{name}").is_dir()
    ]


def _cflags(options: ProbeOptions) -> list[str]:
    flags = prefix_cflags(options.path_prefix) + optional_cflags()
    if "read" in options.skip_kinds:
        # no program on read(2) and its kin: among the busiest syscalls of any host
        skipped = {f"-DHAVE_{n.upper()}=1" for n in READ_SYSCALLS}
        flags = [f for f in flags if f not in skipped] + ["-DBEEFINE_NO_READ=1"]
    return flags


PROBE = BccProbe(SPEC, decode, cflags=_cflags, required=_REQUIRED, periodic=_Housekeeper)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
