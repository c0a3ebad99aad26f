from __future__ import annotations

from beefine_tui.probes import fork
from beefine_tui.probes.attribution import Attributor
from beefine_tui.probes.decode_context import DecodeContext, attributed
from beefine_tui.probes.flags import CLONE_FILES, CLONE_THREAD, CLONE_VM


def test_process_fork_without_flags() -> None:
    attributor = Attributor()
    raw = fork.FORK_REC.pack(9, 1, 100, 101, 0, b"bash", 555, 0, 0)
    ev = attributed(fork.decode, attributor)(raw, DecodeContext())
    assert ev is not None
    assert (ev.kind, ev.pid, ev.tid, ev.comm) == ("fork", 100, 101, "bash")
    assert ev.args == fork.ForkArgs(child_pid=555, child_tid=555, child_comm="bash", thread=False)
    # the child's parent is now known without /proc
    assert attributor.procs.info(555).ppid == 100


def test_thread_from_clone_flags() -> None:
    flags = CLONE_VM | CLONE_FILES | CLONE_THREAD
    raw = fork.FORK_REC.pack(9, 1, 100, 100, 0, b"app", 777, 1, flags)
    ev = fork.decode(raw, DecodeContext())
    assert ev is not None
    assert isinstance(ev.args, fork.ForkArgs) and ev.args.thread is True
    assert ev.args["child_pid"] == 100  # a thread belongs to the parent's thread group
    assert ev.args["child_tid"] == 777
    assert isinstance(ev.args, fork.ForkArgs) and ev.args.flags == flags  # raw, as the kernel had it
    assert "CLONE_THREAD" in ev.args.shown()["flags"]  # named for display
    assert "thread" in ev.text


def test_process_with_clone_flags() -> None:
    raw = fork.FORK_REC.pack(9, 1, 100, 100, 0, b"runc", 778, 1, 0x11)  # SIGCHLD only
    ev = fork.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.args["thread"] is False and "thread" not in ev.args  # the empty default: not shown
    assert ev.args["child_pid"] == 778
