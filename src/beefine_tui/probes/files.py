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
from beefine_tui.events.model import Event, now_ns
from beefine_tui.probes.base import ProbeOptions, ProbeSpec
from beefine_tui.probes.bcc_probe import BccProbe, tracefs_root
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import (
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


def _decode_path(raw: bytes, ctx: DecodeContext) -> tuple[int, int, int, str, dict[str, Any], str] | None:
    """(ts, pid, tid, kind, args, text) of a path record; None for an op this version does not know."""
    (ts, _k, pid, tid, _p, ret, op, flags, mode, dev, dfd, dfd2, uid, gid, vsize, plen, plen2) = (
        _PATH_FIXED.unpack_from(raw)
    )
    names = OPS.get(op)
    if names is None:
        return None
    kind, syscall = names
    path = _cut(raw, _PATH1_OFF, plen, ctx)
    args: dict[str, Any] = {"path": path, "syscall": syscall, "ret": ret}
    if (plen | plen2) & PLEN_CUT or plen & XNAME_CUT:
        args["truncated"] = True
    if ret < 0:
        args["error"] = _errno(ret)
    res = _result(ret)
    if dfd != AT_FDCWD and syscall != "fsetxattr" and not path.startswith("/"):
        args["dfd"] = dfd
    if kind == "mkdir":
        args["mode"] = _mode(mode)
        text = f"mkdir {path} {args['mode']} -> {res}"
    elif kind in ("symlink", "link"):
        target = _cut(raw, _PATH2_OFF, plen2, ctx)
        args["target"] = target
        if kind == "symlink":
            text = f"symlink {path} pointing to {target} -> {res}"
        else:
            if dfd2 != AT_FDCWD and not target.startswith("/"):
                args["target_dfd"] = dfd2
            args["flags"] = _bits(flags, _AT_LINK)
            args["flags_raw"] = flags
            text = f"link {path} to the same file as {target} -> {res}"
    elif kind == "mknod":
        ftype = file_type(mode)
        major, minor = os.major(dev), os.minor(dev)
        args.update(
            type=ftype, mode=_mode(mode & 0o7777), dev=f"{major}:{minor}", dev_major=major, dev_minor=minor
        )
        whiteout = ftype == "S_IFCHR" and dev == 0
        args["whiteout"] = whiteout
        what = " (whiteout: overlayfs deletion marker)" if whiteout else ""
        devs = f" {major}:{minor}" if ftype in ("S_IFCHR", "S_IFBLK") else ""
        text = f"mknod {path} {ftype}{devs} {args['mode']}{what} -> {res}"
    elif kind in ("unlink", "rmdir"):
        if syscall == "unlinkat":
            args["flags"] = _bits(flags, _AT_UNLINK)
            args["flags_raw"] = flags
            if flags & AT_REMOVEDIR:
                kind = "rmdir"
        text = f"{kind} {path} -> {res}"
    elif kind == "rename":
        new = _cut(raw, _PATH2_OFF, plen2, ctx)
        args["new_path"] = new
        if dfd2 != AT_FDCWD and not new.startswith("/"):
            args["new_dfd"] = dfd2
        args["flags"] = _bits(flags, _RENAME)
        args["flags_raw"] = flags
        fl = f" {args['flags']}" if flags else ""
        text = f"rename {path} to {new}{fl} -> {res}"
    elif kind == "setxattr":
        name = ctx.cstr(raw[_XNAME_OFF : _XNAME_OFF + XNAME_LEN])
        if plen & XNAME_CUT:
            name += TRUNCATED_MARK
        args.update(name=name, size=vsize, flags=_bits(flags, _XATTR), flags_raw=flags)
        value = xattr_value(raw[_XVALUE_OFF : _XVALUE_OFF + XVALUE_LEN], vsize)
        if value is not None:
            args["value"] = value
        if syscall == "fsetxattr":
            args["fd"] = dfd
        opaque = name in OPAQUE_XATTRS and value == "y"
        if opaque:
            args["opaque"] = True
        where = path or f"fd {dfd}"
        shown = f"={value!r}" if value is not None else f" ({vsize} bytes)"
        text = f"setxattr {where} {name}{shown}{' (opaque directory)' if opaque else ''} -> {res}"
    elif kind == "chmod":
        args["mode"] = _mode(mode)
        if syscall == "fchmodat2":
            args["flags"] = _bits(flags, _AT_NOFOLLOW)
            args["flags_raw"] = flags
        text = f"chmod {path} {args['mode']} -> {res}"
    else:  # chown; -1 leaves the id unchanged
        u = -1 if uid == 0xFFFFFFFF else uid
        g = -1 if gid == 0xFFFFFFFF else gid
        args.update(uid=u, gid=g)
        if syscall == "fchownat":
            args["flags"] = _bits(flags, _AT_NOFOLLOW)
            args["flags_raw"] = flags
        text = f"chown {path} {u}:{g} -> {res}"
    return ts, pid, tid, kind, args, text


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    kind = raw[8]  # low byte of the little-endian u32 `kind`: kinds are < 256
    if kind == OPEN_KIND:
        ts, _k, pid, tid, _p, ret, flags, mode, dfd, at2, _pad = _OPEN_FIXED.unpack_from(raw)
        end = raw.find(b"\0", _OPEN_PATH_OFF)
        path = raw[_OPEN_PATH_OFF : end if end >= 0 else None].decode(errors="replace")
        if at2 & OPEN_PATH_CUT:
            path += TRUNCATED_MARK
        fl = _open_flags(flags)
        args: dict[str, Any] = {
            "path": path,
            "flags": fl,
            "flags_raw": flags,
            "mode": _mode(mode),
            "ret": ret,
        }
        if at2 & OPEN_PATH_CUT:
            args["truncated"] = True
        if ret < 0:
            err = args["error"] = _errno(ret)
            text = f"open {path} {fl} -> {err}"
        else:
            text = f"open {path} {fl} -> fd {ret}"
        if dfd != AT_FDCWD and not path.startswith("/"):
            args["dfd"] = dfd
        if at2 & OPEN_AT2:
            args["syscall"] = "openat2"
        kname = "open"
    elif kind in (READ_KIND, WRITE_KIND):
        ts, _k, pid, tid, _p, _comm, fd, count, nbytes, closed, cut, path_b = IO_REC.unpack_from(raw)
        path = ctx.cstr(path_b)
        if cut:
            path += TRUNCATED_MARK
        args = {"path": path, "fd": fd, "bytes": nbytes, "count": count}
        if cut:
            args["truncated"] = True
        if closed:
            args["closed"] = True
        kname = "write" if kind == WRITE_KIND else "read"
        verb = "wrote" if kind == WRITE_KIND else "read"
        text = f"{verb} {nbytes} bytes in {count} call{'s' if count != 1 else ''}: {path}"
    elif kind == PATH_KIND:
        decoded = _decode_path(raw, ctx)
        if decoded is None:
            return None
        ts, pid, tid, kname, args, text = decoded
    else:
        return None
    info = ctx.info(pid)
    if info.root != "/" and info.container is None:
        # a chrooted process (dockerd's docker-untar unpacking a layer): its paths are relative to this
        args["root"] = info.root
    comm = ctx.cstr(raw[_COMM_OFF : _COMM_OFF + 16])
    return Event(
        ts=ts,
        probe="files",
        kind=kname,
        pid=pid,
        tid=tid,
        comm=comm,
        args=args,
        text=text,
    )


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
                    args: dict[str, Any] = {
                        "path": path,
                        "fd": k.fd,
                        "bytes": nbytes,
                        "count": count,
                        "closed": True,
                    }
                    if cut:
                        args["truncated"] = True
                    verb = "wrote" if kind == "write" else "read"
                    text = f"{verb} {nbytes} bytes in {count} calls: {path} (process exited)"
                    out.append(Event(ts=now, probe="files", kind=kind, pid=k.tgid, args=args, text=text))
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
