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

from beefine_tui.events.model import Event
from beefine_tui.probes.base import ProbeOptions, ProbeSpec
from beefine_tui.probes.bcc_probe import BccProbe, tracepoint_has_field
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import TRUNCATED_MARK, errno_name, exit_status_text, signal_name

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
)

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
    args: dict[str, Any] = {"filename": filename, "argv": argv, "ret": ret}
    if ret < 0:
        args["error"] = errno_name(ret)
    if truncated:
        args["truncated"] = True
    if at:
        args["syscall"] = "execveat"
    shown = " ".join(argv) if argv else filename
    text = f"exec {filename}: {shown}" + (f" -> {args['error']}" if ret < 0 else "")
    return Event(
        ts=ts,
        probe="exec",
        kind="exec",
        pid=pid,
        tid=tid,
        ppid=kppid,  # the kernel's (0: not known there); the runner's Attributor fills the rest
        comm=comm,
        args=args,
        text=text,
    )


def _decode_exit(raw: bytes, ctx: DecodeContext) -> Event:
    ts, _k, pid, tid, kppid, comm_b, code, sig, has_code, has_signal, exec_ts = EXIT_REC.unpack_from(raw)
    comm = _cstr(comm_b)
    duration = ts - exec_ts if exec_ts and exec_ts <= ts else None
    args: dict[str, Any] = {
        "code": code if has_code else None,
        "signal": sig if has_signal else None,
        "duration_ns": duration,
    }
    if has_signal and not has_code:
        args["signal_name"] = signal_name(sig)
    args["status"] = text = exit_status_text(args["code"], args["signal"])
    if duration is not None:
        text += f" after {duration / 1e6:.1f} ms"
    return Event(
        ts=ts,
        probe="exec",
        kind="exit",
        pid=pid,
        tid=tid,
        ppid=kppid,
        comm=comm,
        args=args,
        text=text,
    )


def _cflags(options: ProbeOptions) -> list[str]:
    cflags = [f"-DMAX_ARGS={MAX_ARGS}"]
    if tracepoint_has_field("sched/sched_process_exit", "group_dead"):
        cflags.append("-DHAVE_GROUP_DEAD=1")
    return cflags


PROBE = BccProbe(SPEC, decode, cflags=_cflags)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
