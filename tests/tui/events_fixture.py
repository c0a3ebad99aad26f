"""Deterministic events for TUI tests: fixed timestamps, pids and texts (no clocks)."""

from __future__ import annotations

from beefine_tui.events.model import Event, FreeArgs, lost_event

BASE_TS = 1_000_000_000_000


def exec_events(n: int = 10, start: int = 0) -> list[Event]:
    out: list[Event] = []
    for i in range(start, start + n):
        comm = "runc" if i % 3 == 0 else ("sh" if i % 3 == 1 else "containerd")
        out.append(
            Event(
                ts=BASE_TS + i * 1_000_000,
                probe="exec",
                kind="exec" if i % 2 == 0 else "exit",
                pid=1000 + i,
                tid=1000 + i,
                ppid=1,
                comm=comm,
                args=FreeArgs(
                    fields={"filename": f"/usr/bin/{comm}", "argv": [comm, f"arg{i}"], "ret": 0},
                    line=f"{comm} arg{i}" if i % 2 == 0 else f"{comm} exited code=0",
                ),
            )
        )
    return out


def mount_events(n: int = 5) -> list[Event]:
    return [
        Event(
            ts=BASE_TS + 500_000 + i * 1_000_000,
            probe="mounts",
            kind="mount",
            pid=2000 + i,
            tid=2000 + i,
            comm="runc:[2:INIT]",
            args=FreeArgs(
                fields={"source": "proc", "target": f"/proc{i}", "fstype": "proc", "flags": "", "ret": 0},
                line=f"mount proc on /proc{i} type proc",
            ),
        )
        for i in range(n)
    ]


def lost(probe: str = "exec", count: int = 42, source: str = "kernel") -> Event:
    return lost_event(probe, count, source, ts=BASE_TS + 99_000_000)


def syscall_events() -> list[Event]:
    """A container's loop as the syscalls probe reports it: reads, a failing stat, sleeps, futexes."""
    calls = [
        ("read", 0, 2_000, "read(3, 0x7ffd1000, 4096) = 12"),
        ("newfstatat", -2, 5_000, "newfstatat(AT_FDCWD, 0x5000, 0x7ffd2000, 0) = -1 ENOENT"),
        ("clock_nanosleep", 0, 20_000_000, "clock_nanosleep(0, 0, 0x7ffd3000, 0) = 0"),
        ("futex", 0, 1_000_000, "futex(0x7f001000, 128, 0, 0, 0, 0) = 0"),
    ]
    out: list[Event] = []
    for i in range(12):
        name, ret, dur, text = calls[i % len(calls)] if i < 8 else calls[i % 2]
        args: dict[str, object] = {"syscall": name, "ret": ret, "dur_ns": dur, "ns_pid": 1, "ns_tid": 1}
        if ret < 0:
            args["error"] = "ENOENT"
        out.append(
            Event(
                ts=BASE_TS + i * 1_000_000,
                probe="syscalls",
                kind="syscall",
                pid=4242,
                tid=4242,
                comm="sh",
                args=FreeArgs(fields=args, line=f"{text} <{dur / 1e9:.6f}>"),
            )
        )
    return out
