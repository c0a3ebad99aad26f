"""The BCC runner's parts that need no root or BPF."""

from __future__ import annotations

import pytest

from beefine_tui.probes import bcc_runner as br
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.resources import bpf_dir


def test_runner_stop_before_start_is_harmless() -> None:
    r = br.BccRunner([], ProbeOptions())
    r.stop()
    r.stop()
    assert not r.running


def test_probes_pairing_enter_and_exit_are_found() -> None:
    """Every program that reports a syscall from its enter and exit tracepoints gives the note."""
    from beefine_tui.probes.base import pairs_enter_exit

    pairing = {p.name for p in bpf_dir().glob("*.bpf.c") if pairs_enter_exit(p.read_text())}
    assert {"exec.bpf.c", "files.bpf.c", "sockets.bpf.c", "mounts.bpf.c"} <= pairing
    assert "tcp.bpf.c" not in pairing and "xdp.bpf.c" not in pairing
    assert pairs_enter_exit("tracepoint:syscalls:sys_enter_openat {} tracepoint:syscalls:sys_exit_openat {}")
    assert not pairs_enter_exit(
        "tracepoint:syscalls:sys_enter_openat {} tracepoint:syscalls:sys_exit_read {}"
    )


def test_forks_are_drained_first_so_their_children_need_no_proc_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """One drain holds a fork and the child's exec. Decoded in that order, the exec finds the child
    in the process table, with the parent's container, and /proc is not read (a read cost ~110 us
    per traced docker run's new process, bench/trace_overhead.py); the runner loaded exec first."""
    from beefine_tui.events.model import Event
    from beefine_tui.probes import attribution
    from beefine_tui.probes.exec import ExecArgs
    from beefine_tui.probes.fork import ForkArgs

    parent, child = 4_000_001, 4_000_002  # above pid_max's default: no such processes here
    read: list[int] = []

    def no_proc(pid: int) -> attribution.ProcInfo:
        read.append(pid)
        return attribution.ProcInfo(0, "", None, gone=True)

    monkeypatch.setattr(attribution, "read_proc", no_proc)
    r = br.BccRunner([], ProbeOptions())
    r.attributor.procs._remember(parent, attribution.ProcInfo(1, "containerd-shim", "c0ffee"))
    fork_ev = Event(
        ts=1, probe="fork", kind="fork", pid=parent, tid=parent, comm="containerd-shim",
        args=ForkArgs(child_pid=child, child_tid=child, child_comm="containerd-shim"),
    )  # fmt: skip
    exec_ev = Event(
        ts=2, probe="exec", kind="exec", pid=child, tid=child, comm="runc",
        args=ExecArgs(filename="/usr/bin/runc", argv=["runc"], ret=0),
    )  # fmt: skip

    class Buffers:
        def __init__(self, ev: Event) -> None:
            self.ev = ev

        def drain(self, out: list[Event]) -> int:
            out.append(r.attributor.attribute(self.ev))
            return 0

    class Prog:
        def __init__(self, probe: str) -> None:
            self.probe = probe

    for probe, ev in (("exec", exec_ev), ("files", None), ("fork", fork_ev)):
        ld = br._Loaded(prog=Prog(probe), bpf=None)  # type: ignore[arg-type]
        ld.buffers = Buffers(ev) if ev is not None else None  # type: ignore[assignment]
        r._loaded.append(ld)
    r._drain()
    assert [ev.probe for ev in r._batch] == ["fork", "exec"]
    assert r._batch[1].container == "c0ffee"
    assert read == []
