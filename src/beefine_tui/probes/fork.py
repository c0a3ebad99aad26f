"""fork probe: new processes and threads with their parent, to build the process tree.

Thread or process: decided in the kernel from the clone flags of the parent's clone/clone3 call in
flight (CLONE_THREAD), see bpf/fork.bpf.c; fork/vfork and kernel-internal forks count as processes.

The event's pid is the process that called fork/clone. With CLONE_PARENT (runc's nsexec.c creates
runc:[1:CHILD] and runc:[2:INIT] with its clone_parent() helper, which passes CLONE_PARENT) the
kernel's parent of the child is one level up; `clone_parent` is then true in args.
"""

from __future__ import annotations

import struct
from typing import Any

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import CLONE_PARENT, CLONE_THREAD, clone_flags

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    KindNote(
        "fork",
        "A process created a child (fork/clone); the tree of these is how the story follows a container.",
        source="fork(2), clone(2); kernel tracepoint sched:sched_process_fork",
    ),
)

SPEC = ProbeSpec(
    name="fork",
    group="process",
    engine="bcc",
    description="new processes and threads (sched_process_fork) with parent and child, for the process tree",
    teaches=(
        "Every process comes from a fork of another: follow dockerd -> containerd -> shim -> runc -> "
        "runc:[1:CHILD] -> runc:[2:INIT] -> the entrypoint, and see which clones are only threads."
    ),
    source="fork.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("fork",),
    tracepoints=(
        "sched:sched_process_fork",
        "syscalls:sys_enter_clone",
        "syscalls:sys_exit_clone",
        "syscalls:sys_enter_clone3",
        "syscalls:sys_exit_clone3",
    ),
    explains=EXPLAINS,
    story=StorySlot(slot=1),
)

# struct fork_rec: beefine_hdr (u64 ts; u32 kind, pid, tid, pad; char comm[16]); u32 child_tid,
# has_flags; u64 flags
FORK_REC = struct.Struct("<QIIII16sIIQ")


class ForkArgs(Args, frozen=True, kw_only=True, gc=False, tag="fork"):
    """A new task: a process (its tgid is `child_pid`) or a thread of the parent (`thread`)."""

    kinds = ("fork",)
    child_pid: int
    child_tid: int
    child_comm: str  # a new task starts with its parent's comm
    thread: bool = False
    flags: int | None = None  # clone flags, when the clone syscall was seen (not for fork/vfork)

    @property
    def clone_parent(self) -> bool:
        return self.flags is not None and bool(self.flags & CLONE_PARENT)

    def names(self) -> dict[str, Any]:
        return {"flags": clone_flags(self.flags)} if self.flags is not None else {}

    def describe(self, ev: Event) -> str:
        what = "thread" if self.thread else "process"
        return f"new {what} {self.child_tid}" + (f" (in {ev.pid})" if self.thread else "")


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    ts, _kind, pid, tid, _pad, comm_b, child_tid, has_flags, flags = FORK_REC.unpack_from(raw)
    comm = comm_b.split(b"\0", 1)[0].decode(errors="replace")
    thread = bool(has_flags and flags & CLONE_THREAD)
    child_pid = pid if thread else child_tid
    return Event(
        ts=ts,
        probe="fork",
        kind="fork",
        pid=pid,
        tid=tid,
        comm=comm,
        args=ForkArgs(
            child_pid=child_pid,
            child_tid=child_tid,
            child_comm=comm,
            thread=thread,
            flags=flags if has_flags else None,
        ),
    )


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
