"""syscalls probe: every syscall the traced tasks make, one line each as strace prints it.

raw_syscalls:sys_enter/sys_exit, filtered in the kernel by the target (a container's pid namespace)
before anything is stored: see bpf/syscalls.bpf.c. Names come from this machine's syscall table
(probes/syscall_table.py: the uapi header of Debian's linux-libc-dev), argument names from tracefs.
Where another probe decodes a call's flags (open, clone, unshare, setns, mount, socket...), the same
decoders from probes/flags.py name them here, so `openat(AT_FDCWD, 0x7ffd..., O_RDONLY|O_CLOEXEC) = 3`
reads like strace's line. A call's path (openat's filename, mount's target, which argument is said by
this kernel's tracefs format) is read from the caller's memory and shown quoted, as strace does; other
pointers (buffers, structs) are shown as addresses.
"""

from __future__ import annotations

import functools
import json
import platform
import struct
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from beefine_tui.errors import UsageError
from beefine_tui.events.model import NOTE, STATUS, Args, Event, StatusArgs, now_ns
from beefine_tui.probes import syscall_table
from beefine_tui.probes.base import KindNote, ProbeOptions, ProbeSpec
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import (
    address_family,
    clone_flags,
    epoll_flags,
    errno_name,
    ip_protocol,
    mode_octal,
    mount_flags,
    open_flags,
    prctl_option,
    setns_nstype,
    signal_name,
    sock_flags,
    socket_type,
    umount_flags,
    unshare_flags,
)

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    KindNote(
        "syscall",
        "One system call of the container, named from this kernel's table, with its raw arguments, its "
        "result and how long it took, as strace shows it.",
        source="syscall(2), syscalls(2); kernel tracepoints raw_syscalls:sys_enter/sys_exit; strace(1)",
    ),
)

SPEC = ProbeSpec(
    name="syscalls",
    group="process",
    engine="bcc",
    description="every syscall of a container, strace-like: name, arguments, result or errno, duration",
    teaches=(
        "A program does nothing outside itself but through syscalls: a container's process reads, "
        "writes, sleeps and waits through the same few calls as any other, under its own pid namespace."
    ),
    source="syscalls.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("syscall",),
    tracepoints=("raw_syscalls:sys_enter", "raw_syscalls:sys_exit", "sched:sched_process_exit"),
    explains=EXPLAINS,
)

SC_KIND = 1
SC_NORETURN = 1
SC_PATH = 2  # the record is followed by the path the program read
# sc_rec: beefine_hdr (u64 ts; u32 kind, pid, tid, pad; char comm[16]); u64 nr; u64 args[6]; s64 ret;
# u64 dur_ns; u32 ns_pid, ns_tid, flags, seq
SC_REC = struct.Struct("<QIIII16sQ6QqQIIII")
SC_PATH_LEN = 128  # bytes read of a path, its NUL included (bpf/syscalls.bpf.c)
_COMM_OFF = 24
AT_FDCWD = -100
NORETURN = ("exit", "exit_group")

ArgFormat = Callable[[int], str]


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _fd(v: int) -> str:
    n = _s32(v)
    return "AT_FDCWD" if n == AT_FDCWD else str(n)


def _num(v: int) -> str:
    """Small values as numbers, the rest (pointers, masks) as hex, as strace shows an unknown arg."""
    if v >= 1 << 63:
        v -= 1 << 64
    return str(v) if -4096 < v < 1 << 20 else hex(v & 0xFFFFFFFFFFFFFFFF)


def _octal(v: int) -> str:
    return mode_octal(v & 0o7777)


# arguments named by another probe's decoder (probes/flags.py): {syscall: {arg index: formatter}}
DECODED: dict[str, dict[int, ArgFormat]] = {
    "open": {1: open_flags, 2: _octal},
    "openat": {0: _fd, 2: open_flags, 3: _octal},
    "creat": {1: _octal},
    "mkdir": {1: _octal},
    "mkdirat": {0: _fd, 2: _octal},
    "chmod": {1: _octal},
    "fchmodat": {0: _fd, 2: _octal},
    "clone": {0: clone_flags},
    "unshare": {0: unshare_flags},
    "setns": {0: _fd, 1: setns_nstype},
    "mount": {3: mount_flags},
    "umount2": {1: umount_flags},
    "socket": {0: address_family, 1: socket_type, 2: ip_protocol},
    "accept4": {0: _fd, 3: sock_flags},
    "epoll_create1": {0: epoll_flags},
    "prctl": {0: prctl_option},
    "kill": {1: signal_name},
    "tgkill": {2: signal_name},
    "tkill": {1: signal_name},
    "rt_sigaction": {0: signal_name},
    "exit": {0: lambda v: str(_s32(v))},
    "exit_group": {0: lambda v: str(_s32(v))},
}
# argument names that hold a file descriptor: shown signed, AT_FDCWD by name
_FD_ARGS = frozenset({"fd", "dfd", "olddfd", "newdfd", "epfd", "oldfd", "newfd", "fd_in", "fd_out"})
# pids are C ints: wait4(-1, ...) arrives as 0xffffffff
_PID_ARGS = frozenset({"pid", "upid", "tgid", "tid"})


def _int(v: int) -> str:
    return str(_s32(v))


@functools.lru_cache(maxsize=1024)
def _formatters(name: str) -> tuple[tuple[str | None, ArgFormat], ...]:
    """(arg name, formatter) for each argument the running kernel declares for this call (all six
    when tracefs does not say)."""
    names: tuple[str | None, ...] | None = syscall_table.arg_names(name)
    if names is None:
        names = (None,) * 6
    special = DECODED.get(name, {})
    out: list[tuple[str | None, ArgFormat]] = []
    for i, an in enumerate(names):
        fmt = special.get(i) or (_fd if an in _FD_ARGS else _int if an in _PID_ARGS else _num)
        out.append((an, fmt))
    return tuple(out)


def quote_path(path: str) -> str:
    """A path as strace writes a string: quoted, escaped, and `...` after it when it was cut."""
    cut = len(path.encode(errors="surrogateescape")) >= SC_PATH_LEN - 1
    return json.dumps(path, ensure_ascii=False) + ("..." if cut else "")


def format_call(name: str, raw_args: tuple[int, ...], path: str | None = None) -> tuple[str, dict[str, str]]:
    """("openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC, 0)", {"flags": "O_RDONLY|O_CLOEXEC", ...}):
    the call as strace writes it, and the arguments a decoder named (by argument name)."""
    parts: list[str] = []
    decoded: dict[str, str] = {}
    special = DECODED.get(name, {})
    at = syscall_table.string_arg(name) if path is not None else None
    for i, (an, fmt) in enumerate(_formatters(name)):
        s = quote_path(path) if i == at and path is not None else fmt(raw_args[i])
        parts.append(s)
        if i in special:
            decoded[an or f"arg{i}"] = s
    return f"{name}({', '.join(parts)})", decoded


def format_result(ret: int, noreturn: bool) -> str:
    if noreturn:
        return "?"
    if -4096 < ret < 0:
        return f"-1 {errno_name(ret)}"
    return str(ret) if ret < 1 << 20 else hex(ret)


class SyscallArgs(Args, frozen=True, kw_only=True, gc=False, tag="syscall"):
    """One call as the kernel saw it: its number and six raw argument registers, the raw return (-errno
    on failure) and how long it took. `syscall` is the name this machine's table gave `nr` when it was
    traced: kept because another machine's table (another architecture) would name the number wrongly."""

    kinds = ("syscall",)
    syscall: str
    nr: int
    args: list[int]
    ret: int = 0
    dur_ns: int = 0
    noreturn: bool = False  # exit/exit_group: reported at entry, no result
    ns_pid: int | None = None  # the caller's pid and tid in the traced container's pid namespace
    ns_tid: int | None = None
    flight: bool = False  # from a flight recorder dump: a repeat of a call already seen live, or one before
    path: str | None = None  # the call's path argument read from the caller's memory (see string_arg)

    @property
    def failed(self) -> bool:
        return not self.noreturn and -4096 < self.ret < 0

    def get(self, name: str, default: Any = None) -> Any:
        if name == "error":  # the summary asks every event: no need to name the arguments for that
            return errno_name(self.ret) if self.failed else default
        return super().get(name, default)

    def names(self) -> dict[str, Any]:
        """The errno's name, and the arguments another probe's decoder names ({"flags": "O_RDONLY"})."""
        out: dict[str, Any] = {"error": errno_name(self.ret)} if self.failed else {}
        decoded = format_call(self.syscall, _six(self.args), self.path)[1]
        if decoded:
            out["decoded"] = decoded
        return out

    def describe(self, ev: Event) -> str:
        call = format_call(self.syscall, _six(self.args), self.path)[0]
        res = format_result(self.ret, self.noreturn)
        return f"{call} = {res}" if self.noreturn else f"{call} = {res} <{self.dur_ns / 1e9:.6f}>"


class FlightDumpArgs(StatusArgs, frozen=True, kw_only=True, gc=False, tag="flight_dump"):
    """The note before a flight recorder dump (state "note"): the last `kept` of the `made` calls the
    container made, dumped because of `reason` ("the container's pid 1 exited", "asked")."""

    kept: int
    made: int
    reason: str

    def names(self) -> dict[str, Any]:
        return {"flight_dump": True}  # for generic readers (`args.get("flight_dump")`, the detail pane)


def _six(args: list[int]) -> tuple[int, ...]:
    return (*args, 0, 0, 0, 0, 0, 0)[:6] if len(args) != 6 else tuple(args)


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (ts, kind, pid, tid, _p, _comm, nr, a0, a1, a2, a3, a4, a5, ret, dur, ns_pid, ns_tid, flags, _pad) = (
        SC_REC.unpack_from(raw)
    )
    if kind != SC_KIND:
        return None
    # (an empty path is a path: fstatat(fd, "", ..., AT_EMPTY_PATH))
    path = ctx.cstr(raw[SC_REC.size : SC_REC.size + SC_PATH_LEN]) if flags & SC_PATH else None
    return Event(
        ts=ts,
        probe="syscalls",
        kind="syscall",
        pid=pid,
        tid=tid,
        comm=ctx.cstr(raw[_COMM_OFF : _COMM_OFF + 16]),
        args=SyscallArgs(
            syscall=syscall_table.load().name(nr),
            nr=nr,
            args=[a0, a1, a2, a3, a4, a5],
            ret=ret,
            dur_ns=dur,
            noreturn=bool(flags & SC_NORETURN),
            ns_pid=ns_pid or None,
            ns_tid=ns_tid if ns_pid else None,
            path=path,
        ),
    )


MAX_FLIGHT_SLOTS = 1 << 20


def _cflags(options: ProbeOptions) -> list[str]:
    """The numbers of the calls that never return, from this machine's table (written at entry), and
    the flight recorder's size when a container (a pid namespace) is watched."""
    out: list[str] = []
    if platform.machine() == "x86_64":
        out.append("-DREGS_X86_64=1")  # raw tracepoints, arguments from the register frame
    table = syscall_table.load()
    nrs = [table.number(n) for n in NORETURN]
    if None not in nrs:
        out += [f"-DNR_EXIT={nrs[0]}", f"-DNR_EXIT_GROUP={nrs[1]}"]
    cases = path_cases(table)
    if cases:
        out.append(f"-DSC_PATH_CASES={cases}")
    slots = options.flight_slots
    if slots < 0 or slots > MAX_FLIGHT_SLOTS:
        raise UsageError(f"the flight recorder keeps 0 to {MAX_FLIGHT_SLOTS} syscalls, not {slots}")
    if slots and options.target.pidns is not None:
        out.append(f"-DFLIGHT_SLOTS={slots}")
    return out


def path_cases(table: syscall_table.SyscallTable) -> str:
    """The C switch cases of bpf/syscalls.bpf.c's sc_path_arg: each number whose call takes a path,
    answered with 1 + the path's argument index. "" when tracefs does not say (no path is read)."""
    by_arg: dict[int, list[int]] = {}
    for nr, name in sorted(table.names.items()):
        at = syscall_table.string_arg(name)
        if at is not None:
            by_arg.setdefault(at, []).append(nr)
    return " ".join(
        "".join(f"case {nr}: " for nr in nrs) + f"return {at + 1};" for at, nrs in sorted(by_arg.items())
    )


def flight_order(head: int, slots: int) -> list[int]:
    """Slot indices of the records kept, oldest first, after `head` records were ever kept."""
    if head <= slots:
        return list(range(head))
    start = head % slots
    return [*range(start, slots), *range(start)]


class FlightRecorder:
    """Dumps the in-kernel ring of the last calls as events: once by itself when the kernel says the
    container's pid 1 exited, and whenever `request()` was called (from any thread). Runs on the
    runner's poll thread as the program's periodic housekeeping, so dumps come in the event stream:
    a note first ("flight recorder: the last N of M syscalls..."), then the calls, oldest first, each
    with args.flight set (SyscallArgs)."""

    def __init__(self) -> None:
        self._asked = threading.Event()
        self.auto_dumped = False
        self.dumps = 0

    def request(self) -> None:
        self._asked.set()

    def __call__(self, bpf: Any, ctx: DecodeContext) -> list[Event]:
        try:
            state = bpf[b"flight_state"]
        except KeyError:  # built without the flight recorder (not a container)
            self._asked.clear()
            return []
        ended = bool(state[state.Key(0)].value)
        why = ""
        if ended and not self.auto_dumped:
            self.auto_dumped = True
            why = "the container's pid 1 exited"
        if self._asked.is_set():
            self._asked.clear()
            why = why or "asked"
        return self.dump(bpf, ctx, why) if why else []

    def dump(self, bpf: Any, ctx: DecodeContext, why: str) -> list[Event]:
        table = bpf[b"flight"]
        head_t = bpf[b"flight_head"]
        head = int(head_t[head_t.Key(0)].value)
        slots = len(table)
        out: list[Event] = []
        for idx in flight_order(head, slots):
            raw = bytes(table[table.Key(idx)])  # ctypes struct -> its bytes, laid out as sc_rec
            ev = decode(raw, ctx)
            if ev is not None and isinstance(ev.args, SyscallArgs):
                out.append(msgspec.structs.replace(ev, args=msgspec.structs.replace(ev.args, flight=True)))
        self.dumps += 1
        kept = len(out)
        note = f"flight recorder: the last {kept} of {head} syscalls of the container ({why})"
        args = FlightDumpArgs(state=NOTE, note=note, kept=kept, made=head, reason=why)
        return [Event(ts=now_ns(), probe="syscalls", kind=STATUS, args=args), *out]


PROBE = BccProbe(SPEC, decode, cflags=_cflags, periodic=FlightRecorder)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
