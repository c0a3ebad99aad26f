"""The BCC runner's parts that need no root or BPF."""

from __future__ import annotations

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
