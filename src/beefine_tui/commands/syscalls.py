"""`beefine-tui syscalls CONTAINER`: every syscall a running container makes, strace-like, headless.

Lines as strace prints them (with the pid inside the container), or JSON lines (--json, the recording
format); --summary prints instead a table like `strace -c -w` at the end (JSON with --json). Runs
until Ctrl-C, SIGTERM, SIGHUP, --duration, or the container's end; what was lost is always said.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from beefine_tui.errors import BeefineError, UsageError
from beefine_tui.events.model import LOST, STATUS, Event, RecordHeader
from beefine_tui.probes.syscalls import FlightDumpArgs, SyscallArgs

PROBE = "syscalls"
DRAIN_TIMEOUT_S = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container", metavar="CONTAINER", help="id or name of a running container")
    parser.add_argument(
        "--summary", action="store_true", help="a per-syscall table at the end, like strace -c"
    )
    parser.add_argument(
        "--json", action="store_true", help="JSON lines (events), or one JSON object (--summary)"
    )
    parser.add_argument(
        "--flight",
        action="store_true",
        help="print only the flight recorder's dump (the last calls kept in the kernel) when the container "
        "ends, or at Ctrl-C / --duration",
    )
    parser.add_argument(
        "--flight-slots",
        type=int,
        default=10_000,
        metavar="N",
        help="calls the flight recorder keeps (default 10000; 0: none)",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument(
        "--record", metavar="FILE", help="also save the events to FILE (JSON lines, a new file, mode 0600)"
    )
    parser.add_argument("--force", action="store_true", help="with --record: replace FILE if it exists")
    parser.add_argument("--docker-host", metavar="URL", help="Docker daemon (default: DOCKER_HOST)")
    parser.add_argument(
        "--sort",
        default="time",
        choices=("time", "calls", "errors", "avg", "name"),
        help="with --summary: the column to sort by (default: time)",
    )


def format_line(ev: Event, wall_offset_ns: int) -> str:
    """`12:00:01.123456 [4021/7] cat openat(AT_FDCWD, ...) = 3 <0.000012>`: host pid/container pid."""
    t = (ev.ts + wall_offset_ns) / 1e9
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1e6) % 1_000_000:06d}"
    if ev.kind in (LOST, STATUS):
        return f"{stamp} {ev.text}"
    ns = ev.args.get("ns_pid")
    who = f"{ev.pid}/{ns}" if ns else str(ev.pid)
    if ev.tid and ev.tid != ev.pid:
        who += f" tid {ev.tid}"
    return f"{stamp} [{who}] {ev.comm} {ev.text}"


def _from_flight_recorder(ev: Event) -> bool:
    """A dump's note or one of the calls it dumped."""
    a = ev.args
    return isinstance(a, FlightDumpArgs) or (isinstance(a, SyscallArgs) and a.flight)


def _container(args: argparse.Namespace) -> tuple[Any, int]:
    """(Target, the container's init pid on the host)."""
    from beefine_tui.docker.client import connect, explain_unreachable, resolve_docker_host
    from beefine_tui.probes import attribution

    host = resolve_docker_host(args.docker_host)
    if host is None:
        raise explain_unreachable("unix:///var/run/docker.sock")
    client = connect(host)
    try:
        target = attribution.target_for_container(client, args.container)
        pid = int(
            (client.containers.get(target.container_id or args.container).attrs.get("State") or {}).get("Pid")
            or 0
        )
    finally:
        client.close()
    return target, pid


def run(args: argparse.Namespace) -> int:
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration must be a positive number of seconds, not {args.duration}")
    if args.flight and args.summary:
        raise UsageError("--flight and --summary each replace the live stream: choose one")
    if args.flight and args.flight_slots <= 0:
        raise UsageError("--flight needs --flight-slots of at least 1")
    if args.force and not args.record:
        raise UsageError("--force applies to --record FILE (replace FILE if it exists)")
    if args.record:
        from beefine_tui.userfiles import check_output

        check_output(args.record, force=args.force)
    from beefine_tui.privileges import require_bpf

    require_bpf()
    target, init_pid = _container(args)

    from beefine_tui.commands.probe import Summary, stop_on_signals
    from beefine_tui.errors import ProbeLoadError
    from beefine_tui.events.bus import Bus
    from beefine_tui.events.record import Recorder, RecordingIncomplete, encode_events
    from beefine_tui.events.syscall_summary import SyscallSummary
    from beefine_tui.probes import catalog, syscall_table
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.probes.session import ProbeSession

    avail = catalog.get(PROBE).available()
    if not avail.ok:
        raise ProbeLoadError(f"probe {PROBE} cannot run here: {avail.reason}")
    table = syscall_table.load()
    if not table.source:
        sys.stderr.write(
            "beefine-tui: no syscall table on this machine (asm/unistd_64.h from linux-libc-dev): "
            "syscalls are shown by number\n"
        )

    bus = Bus()
    sub = bus.subscribe("cli", capacity=1 << 18)
    stop = threading.Event()
    losses = Summary([PROBE])
    totals = SyscallSummary()
    recorder = None
    if args.record:
        recorder = Recorder.open(
            args.record, RecordHeader(probes=[PROBE], command=sys.argv), force=args.force
        )
    out = sys.stdout.buffer
    wall_offset = time.time_ns() - time.monotonic_ns()

    def emit(events: Sequence[Event]) -> None:
        losses.add(events)
        totals.add(events)
        if recorder is not None:
            recorder.write(events)
        if args.summary:
            return
        if args.flight:
            events = [ev for ev in events if _from_flight_recorder(ev) or ev.kind == LOST]
            if not events:
                return
        if args.json:
            out.write(encode_events(events))
        else:
            out.write("".join(format_line(ev, wall_offset) + "\n" for ev in events).encode(errors="replace"))
        out.flush()

    # the in-kernel ring only when its dump is asked for: the live stream already has every call
    options = ProbeOptions(target=target, flight_slots=args.flight_slots if args.flight else 0)
    session = ProbeSession([PROBE], options, bus, strict=True)
    ended = ""
    try:
        with stop_on_signals(stop):
            session.start()
            # said once attached, on stderr: scripts (and tests) wait for it before making the events
            with contextlib.suppress(OSError):
                sys.stderr.write(
                    f"tracing the syscalls of container {target.container_name} "
                    f"({(target.container_id or '')[:12]}); Ctrl-C to stop\n"
                )
                sys.stderr.flush()
            deadline = time.monotonic() + args.duration if args.duration else None
            gone_since: float | None = None
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if gone_since is None and init_pid and not os.path.exists(f"/proc/{init_pid}"):
                    gone_since = time.monotonic()
                if gone_since is not None and time.monotonic() - gone_since > 2 * DRAIN_TIMEOUT_S:
                    ended = f"container {target.container_name} ended"
                    break
                emit(sub.get(DRAIN_TIMEOUT_S))
        flight = session.periodic_for(PROBE)
        if args.flight and flight is not None and not flight.dumps:
            flight.request()  # the runner's last housekeeping, at stop, writes it
    finally:
        session.stop()
        while True:
            events = sub.get(0)
            if not events:
                break
            emit(events)
        sub.close()
        if recorder is not None:
            recorder.close()
    if args.summary:
        if args.json:
            doc: dict[str, Any] = {
                "container": target.container_id,
                **totals.as_dict(args.sort),
                "lost": dict(losses.lost[PROBE]),
                "table": table.source,
            }
            sys.stdout.write(json.dumps(doc) + "\n")
        else:
            sys.stdout.write("\n".join(totals.table_lines(args.sort)) + "\n")
    with contextlib.suppress(OSError):
        if ended:
            sys.stderr.write(ended + "\n")
        sys.stderr.write("\n".join(losses.lines()) + "\n")
        if recorder is not None:
            sys.stderr.write(recorder.status_line() + "\n")
    if recorder is not None and not recorder.complete:
        raise RecordingIncomplete(
            f"the recording {args.record} is incomplete ({recorder.error})", "free some space and run again"
        )
    if losses.failed:
        raise BeefineError(f"probe {PROBE} failed: {losses.failed.get(PROBE, '')}")
    return 0
