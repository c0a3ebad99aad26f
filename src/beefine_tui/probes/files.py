"""files probe: opens (path, decoded flags, result) and the bytes read and written through them.

Reads and writes are folded per open fd in the kernel and reported as one `read`/`write` event with
the byte count and the number of syscalls since the last report: every 1 MiB, or at the first
read/write after a second has passed, at close, and (from user space, about every 2 s) for processes
that exited with the fd still open. With a path prefix (ProbeOptions.path_prefix, e.g. Docker's data
root) only opens of paths under it, and I/O through those fds, are seen, which keeps layer unpacking
visible without drowning in the rest of the system. Not covered: readv/writev/pread/pwrite,
sendfile/copy_file_range, fds duplicated with dup*, opens with relative paths when a prefix is set.

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
import struct
from typing import Any

from beefine_tui.errors import UsageError
from beefine_tui.events.model import Event
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec, Runner
from beefine_tui.probes.bcc_runner import (
    BccProgram,
    BccRunner,
    DecodeContext,
    RingBuffer,
    base_cflags,
    bcc_availability,
    program_text,
    render_program,
)
from beefine_tui.probes.flags import errno_name, mode_octal, open_flags

SPEC = ProbeSpec(
    name="files",
    group="files",
    engine="bcc",
    description="file opens (openat/openat2) with flags and result, and bytes read/written per open file",
    teaches=(
        "Pulling an image is mostly file work: with the prefix set to Docker's data root you see each "
        "layer's files being created and written under overlay2/, then the container's rootfs opened."
    ),
    source="files.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("open", "read", "write"),
    tracepoints=(
        "syscalls:sys_enter_openat",
        "syscalls:sys_exit_openat",
        "syscalls:sys_enter_openat2",
        "syscalls:sys_exit_openat2",
        "syscalls:sys_enter_read",
        "syscalls:sys_exit_read",
        "syscalls:sys_enter_write",
        "syscalls:sys_exit_write",
        "syscalls:sys_enter_close",
    ),
)

OPEN_KIND, READ_KIND, WRITE_KIND = 1, 2, 3
MAX_PREFIX = 200
HOUSEKEEP_EVERY = 4  # runner housekeeping rounds (~0.5 s each) between scans of the fd table

# beefine_hdr: u64 ts; u32 kind, pid, tid, pad; char comm[16]
# open_rec: hdr; s64 ret; u64 flags; u32 mode; s32 dfd; u32 at2, pad; char path[256]
OPEN_REC = struct.Struct("<QIIII16sqQIiII256s")
# the same without the strings, which the decoder cuts at their NUL itself (cheaper than copying 256
# bytes and splitting)
_OPEN_FIXED = struct.Struct("<QIIII16xqQIiII")
_COMM_OFF = 24
_OPEN_PATH_OFF = OPEN_REC.size - 256
# io_rec: hdr; s32 fd; u32 count; u64 bytes; u32 closed, pad; char path[256]
IO_REC = struct.Struct("<QIIII16siIQII256s")
_KIND = struct.Struct("<I")
AT_FDCWD = -100


# flag and errno names repeat: decode each value once
_open_flags = functools.lru_cache(maxsize=1024)(open_flags)
_mode = functools.lru_cache(maxsize=256)(mode_octal)
_errno = functools.lru_cache(maxsize=256)(errno_name)


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    kind = raw[8]  # low byte of the little-endian u32 `kind`: kinds are < 256
    if kind == OPEN_KIND:
        ts, _k, pid, tid, _p, ret, flags, mode, dfd, at2, _pad = _OPEN_FIXED.unpack_from(raw)
        end = raw.find(b"\0", _OPEN_PATH_OFF)
        path = raw[_OPEN_PATH_OFF : end if end >= 0 else None].decode(errors="replace")
        fl = _open_flags(flags)
        args: dict[str, Any] = {
            "path": path,
            "flags": fl,
            "flags_raw": flags,
            "mode": _mode(mode),
            "ret": ret,
        }
        if ret < 0:
            err = args["error"] = _errno(ret)
            text = f"open {path} {fl} -> {err}"
        else:
            text = f"open {path} {fl} -> fd {ret}"
        if dfd != AT_FDCWD and not path.startswith("/"):
            args["dfd"] = dfd
        if at2:
            args["syscall"] = "openat2"
        kname = "open"
    elif kind in (READ_KIND, WRITE_KIND):
        ts, _k, pid, tid, _p, _comm, fd, count, nbytes, closed, _pad, path_b = IO_REC.unpack_from(raw)
        path = ctx.cstr(path_b)
        args = {"path": path, "fd": fd, "bytes": nbytes, "count": count}
        if closed:
            args["closed"] = True
        kname = "write" if kind == WRITE_KIND else "read"
        verb = "wrote" if kind == WRITE_KIND else "read"
        text = f"{verb} {nbytes} bytes in {count} call{'s' if count != 1 else ''}: {path}"
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
        ppid=info.ppid,
        comm=comm,
        container=info.container,
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
                from beefine_tui.events.model import now_ns

                now = now_ns()
            raw_path = v.path if isinstance(v.path, bytes) else bytes(v.path)  # ctypes gives bytes to the NUL
            path = raw_path.split(b"\0", 1)[0].decode(errors="replace")
            for kind, nbytes, count in (("read", v.rbytes, v.rcount), ("write", v.wbytes, v.wcount)):
                if count:
                    args = {"path": path, "fd": k.fd, "bytes": nbytes, "count": count, "closed": True}
                    verb = "wrote" if kind == "write" else "read"
                    text = f"{verb} {nbytes} bytes in {count} calls: {path} (process exited)"
                    out.append(Event(ts=now, probe="files", kind=kind, pid=k.tgid, args=args, text=text))
            with contextlib.suppress(KeyError):
                del table[k]
        return out


def available() -> Availability:
    return bcc_availability(SPEC.tracepoints)


def program(options: ProbeOptions) -> BccProgram:
    return BccProgram(
        probe=SPEC.name,
        text=program_text(SPEC.source),
        cflags=tuple(base_cflags(options) + prefix_cflags(options.path_prefix)),
        buffers=(RingBuffer("events", decode),),
        periodic=_Housekeeper(),
    )


def render(options: ProbeOptions) -> str:
    return render_program(program(options))


def make_runner(options: ProbeOptions) -> Runner:
    return BccRunner([program(options)], options)
