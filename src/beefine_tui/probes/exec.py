"""exec probe: every execve/execveat with its argv and result, and every process exit with its status.

Exit status: the sched:sched_process_exit tracepoint carries no exit code, so the program remembers
the code passed to exit_group(2)/exit(2) (syscalls:sys_enter_exit_group / sys_enter_exit) per tgid,
and the first fatal signal delivered with the default action (signal:signal_deliver, sa_handler ==
SIG_DFL) for processes that die of a signal. A signal that takes the kernel's group-exit fast path
(TERM, HUP, INT, USR1, PIPE, ALRM... with no handler) is delivered as SIGKILL; the signal actually sent
is taken from signal:signal_generate, remembered per target in the sender's context. `status` says it
in words ("exited 0", "killed by SIGTERM"). Whether a core was dumped is not visible from tracepoints
alone. It reports the exit when the last thread goes
(`group_dead` in the tracepoint where the kernel has it, else when the thread-group leader exits).
Processes that neither called exit nor got a fatal signal in view (e.g. they were already dying when
tracing started) exit with code and signal null.
"""

from __future__ import annotations

import struct
from typing import Any

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe, tracepoint_has_field
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import TRUNCATED_MARK, errno_name, exit_status_text, signal_name

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    KindNote(
        "exec",
        "execve(): the process replaces its program. For runc this is how the shim starts it, how runc "
        "re-executes itself as `runc init`, and finally how the container's entrypoint is started.",
        source="execve(2); runc 1.1 libcontainer/process_linux.go (runc init), standard_init_linux.go Init "
        "(system.Exec of the entrypoint); containerd 1.6 runtime/v2/runc (shim starts runc)",
    ),
    KindNote(
        "exit",
        "The process ended; its exit code is what its parent (and Docker) sees.",
        source="exit(2), wait(2); kernel tracepoint sched:sched_process_exit",
    ),
)

SPEC = ProbeSpec(
    name="exec",
    group="process",
    engine="bcc",
    description="program executions (execve with argv and result) and process exits with their status",
    teaches=(
        "How a container comes to life: dockerd, containerd, the shim and runc exec one another, and "
        "finally runc's init process execs the image's entrypoint, all visible as exec events."
    ),
    source="exec.bpf.c",
    columns=("ts", "pid", "ppid", "comm", "kind", "text"),
    kinds=("exec", "exit"),
    tracepoints=(
        "syscalls:sys_enter_execve",
        "syscalls:sys_exit_execve",
        "syscalls:sys_enter_execveat",
        "syscalls:sys_exit_execveat",
        "syscalls:sys_enter_exit_group",
        "syscalls:sys_enter_exit",
        "signal:signal_generate",
        "signal:signal_deliver",
        "sched:sched_process_exit",
        "sched:sched_process_fork",
    ),
    explains=EXPLAINS,
    story=StorySlot(slot=0),
)


class ExecArgs(Args, frozen=True, kw_only=True, gc=False, tag="exec"):
    """execve/execveat, reported at its end: `ret` 0, or -errno when the exec failed."""

    kinds = ("exec",)
    filename: str
    argv: list[str] = []
    ret: int = 0
    truncated: bool = False  # argv, an argument or the filename did not fit (marked with …)
    at: bool = False  # execveat (runc execs its own copy by fd this way)

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> ExecArgs:
        """Schema 1 named execveat in `syscall` and kept `error` beside `ret`."""
        argv = [str(a) for a in args.get("argv") or []]
        return cls(
            filename=str(args.get("filename", "")),
            argv=argv,
            ret=int(args.get("ret", 0)),
            truncated=bool(args.get("truncated")),
            at=args.get("syscall") == "execveat",
        )

    def describe(self, ev: Event) -> str:
        shown = " ".join(self.argv) if self.argv else self.filename
        if self.argv and self.argv[0] != self.filename:
            shown = f"{self.filename}: {shown}"  # runc runs /proc/self/exe as "runc init"
        return shown + (f" -> {errno_name(self.ret)}" if self.ret < 0 else "")


class ExitArgs(Args, frozen=True, kw_only=True, gc=False, tag="exit"):
    """A process's end: the code it passed to exit, or the signal that killed it (None: not seen)."""

    kinds = ("exit",)
    code: int | None = None
    signal: int | None = None
    duration_ns: int | None = None  # since its exec (or fork) when seen

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": exit_status_text(self.code, self.signal)}
        if self.signal is not None and self.code is None:
            out["signal_name"] = signal_name(self.signal)
        return out

    def describe(self, ev: Event) -> str:
        text = exit_status_text(self.code, self.signal)
        return text + (f" after {self.duration_ns / 1e6:.1f} ms" if self.duration_ns is not None else "")


EXEC_KIND = 1
EXIT_KIND = 2
MAX_ARGS = 20
ARG_LEN = 128
# exec_rec.truncated bits (bpf/exec.bpf.c)
TRUNC_ARGV, TRUNC_ARG, TRUNC_FILENAME = 1, 2, 4

# struct beefine_hdr (bpf/common.h): u64 ts; u32 kind, pid, tid, pad; char comm[16]. In exec records the
# spare `pad` word carries the parent tgid recorded at fork (0: unknown, then read from /proc)
HDR = struct.Struct("<QIIII16s")
# struct exec_rec: hdr; s64 ret; u32 argc, args_size, truncated, at; char filename[256]; char args[]
EXEC_HEAD = struct.Struct("<QIIII16sqIIII256s")
# struct exit_rec: hdr; s32 code, signal; u32 has_code, has_signal; u64 exec_ts
EXIT_REC = struct.Struct("<QIIII16siiIIQ")
_KIND = struct.Struct("<I")


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode(errors="replace")


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    kind = _KIND.unpack_from(raw, 8)[0]
    if kind == EXEC_KIND:
        return _decode_exec(raw, ctx)
    if kind == EXIT_KIND:
        return _decode_exit(raw, ctx)
    return None


def _decode_exec(raw: bytes, ctx: DecodeContext) -> Event:
    ts, _k, pid, tid, kppid, comm_b, ret, argc, args_size, truncated, at, fname_b = EXEC_HEAD.unpack_from(raw)
    comm = _cstr(comm_b)
    filename = _cstr(fname_b)
    if truncated & TRUNC_FILENAME:
        filename += TRUNCATED_MARK
    blob = raw[EXEC_HEAD.size : EXEC_HEAD.size + args_size]
    parts = blob.split(b"\0")[:argc]
    argv = [p.decode(errors="replace") for p in parts]
    if truncated & TRUNC_ARG:
        # an argument longer than its 128-byte slot was cut (the ones that fill it are the candidates)
        argv = [a + TRUNCATED_MARK if len(a.encode()) >= ARG_LEN - 1 else a for a in argv]
    if truncated & TRUNC_ARGV:
        argv.append(TRUNCATED_MARK)
    return Event(
        ts=ts,
        probe="exec",
        kind="exec",
        pid=pid,
        tid=tid,
        ppid=kppid,  # the kernel's (0: not known there); the runner's Attributor fills the rest
        comm=comm,
        args=ExecArgs(filename=filename, argv=argv, ret=ret, truncated=bool(truncated), at=bool(at)),
    )


def _decode_exit(raw: bytes, ctx: DecodeContext) -> Event:
    ts, _k, pid, tid, kppid, comm_b, code, sig, has_code, has_signal, exec_ts = EXIT_REC.unpack_from(raw)
    comm = _cstr(comm_b)
    duration = ts - exec_ts if exec_ts and exec_ts <= ts else None
    return Event(
        ts=ts,
        probe="exec",
        kind="exit",
        pid=pid,
        tid=tid,
        ppid=kppid,
        comm=comm,
        args=ExitArgs(
            code=code if has_code else None, signal=sig if has_signal else None, duration_ns=duration
        ),
    )


def _cflags(options: ProbeOptions) -> list[str]:
    cflags = [f"-DMAX_ARGS={MAX_ARGS}"]
    if tracepoint_has_field("sched/sched_process_exit", "group_dead"):
        cflags.append("-DHAVE_GROUP_DEAD=1")
    return cflags


PROBE = BccProbe(SPEC, decode, cflags=_cflags)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
