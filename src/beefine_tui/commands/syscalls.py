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
from typing import TYPE_CHECKING, Any

from beefine_tui.errors import BeefineError, UsageError
from beefine_tui.events.model import LOST, STATUS, Event, RecordHeader
from beefine_tui.probes.syscalls import FlightDumpArgs, SyscallArgs

if TYPE_CHECKING:
    from beefine_tui.events.record import Recorder

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
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)


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


class _Output:
    """What a run does with its events, local or through a host's agent: count them, record them,
    print them (or only the flight recorder's), and the summary and loss lines at the end."""

    def __init__(self, args: argparse.Namespace, recorder: Recorder | None, wall_offset_ns: int) -> None:
        from beefine_tui.commands.probe import Summary
        from beefine_tui.events.syscall_summary import SyscallSummary

        self.args = args
        self.recorder = recorder
        self.wall_offset = wall_offset_ns
        self.losses = Summary([PROBE])
        self.totals = SyscallSummary()
        self.out = sys.stdout.buffer

    def emit(self, events: Sequence[Event]) -> None:
        from beefine_tui.events.record import encode_events

        args = self.args
        self.losses.add(events)
        self.totals.add(events)
        if self.recorder is not None:
            self.recorder.write(events)
        if args.summary:
            return
        if args.flight:
            events = [ev for ev in events if _from_flight_recorder(ev) or ev.kind == LOST]
            if not events:
                return
        if args.json:
            self.out.write(encode_events(events))
        else:
            self.out.write(
                "".join(format_line(ev, self.wall_offset) + "\n" for ev in events).encode(errors="replace")
            )
        self.out.flush()

    def finish(self, container_id: str | None, table_source: str, ended: str, dropped: int = 0) -> int:
        """The summary (--summary), then on stderr why it ended and what was received and lost.
        `dropped`: events this side could not keep up with (only through an agent)."""
        from beefine_tui.events.record import RecordingIncomplete

        args = self.args
        if args.summary:
            if args.json:
                lost = dict(self.losses.lost[PROBE])
                if dropped:
                    lost["client"] = dropped
                doc: dict[str, Any] = {
                    "container": container_id,
                    **self.totals.as_dict(args.sort),
                    "lost": lost,
                    "table": table_source,
                }
                sys.stdout.write(json.dumps(doc) + "\n")
            else:
                sys.stdout.write("\n".join(self.totals.table_lines(args.sort)) + "\n")
        recorder = self.recorder
        with contextlib.suppress(OSError):
            if ended:
                sys.stderr.write(ended + "\n")
            sys.stderr.write("\n".join(self.losses.lines()) + "\n")
            if dropped:
                sys.stderr.write(f"{dropped} events dropped here: this terminal was slower than the host\n")
            if recorder is not None:
                sys.stderr.write(recorder.status_line() + "\n")
        if recorder is not None and not recorder.complete:
            raise RecordingIncomplete(
                f"the recording {args.record} is incomplete ({recorder.error})",
                "free some space and run again",
            )
        if self.losses.failed:
            raise BeefineError(f"probe {PROBE} failed: {self.losses.failed.get(PROBE, '')}")
        return 0


def _tracing_line(name: str | None, container_id: str | None, where: str = "") -> None:
    """Said once attached, on stderr: scripts (and tests) wait for it before making the events."""
    with contextlib.suppress(OSError):
        sys.stderr.write(
            f"tracing the syscalls of container {name} ({(container_id or '')[:12]}){where}; Ctrl-C to stop\n"
        )
        sys.stderr.flush()


def _no_table_warning(where: str = "this machine") -> None:
    sys.stderr.write(
        f"beefine-tui: no syscall table on {where} (asm/unistd_64.h from linux-libc-dev): "
        "syscalls are shown by number\n"
    )


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
    if getattr(args, "remote", None):
        return _run_remote(args)
    from beefine_tui.privileges import require_bpf

    require_bpf()
    target, init_pid = _container(args)

    from beefine_tui.commands.probe import stop_on_signals
    from beefine_tui.errors import ProbeLoadError
    from beefine_tui.events.bus import Bus
    from beefine_tui.events.record import Recorder
    from beefine_tui.probes import catalog, syscall_table
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.probes.session import ProbeSession

    avail = catalog.get(PROBE).available()
    if not avail.ok:
        raise ProbeLoadError(f"probe {PROBE} cannot run here: {avail.reason}")
    table = syscall_table.load()
    if not table.source:
        _no_table_warning()

    bus = Bus()
    sub = bus.subscribe("cli", capacity=1 << 18)
    stop = threading.Event()
    recorder = None
    if args.record:
        recorder = Recorder.open(
            args.record, RecordHeader(probes=[PROBE], command=sys.argv), force=args.force
        )
    output = _Output(args, recorder, time.time_ns() - time.monotonic_ns())
    emit = output.emit

    # the in-kernel ring only when its dump is asked for: the live stream already has every call
    options = ProbeOptions(target=target, flight_slots=args.flight_slots if args.flight else 0)
    session = ProbeSession([PROBE], options, bus, strict=True)
    ended = ""
    try:
        with stop_on_signals(stop):
            session.start()
            _tracing_line(target.container_name, target.container_id)
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
    return output.finish(target.container_id, table.source, ended)


def _run_remote(args: argparse.Namespace) -> int:
    """The same run on a host, made by its agent: the `start` of the syscalls probe on the
    container, ended by the agent when the container ends (`end_on_exit`; with --flight the
    recorder's dump comes before the end), printed and summarised here by the same _Output as a
    local run."""
    import msgspec

    from beefine_tui.agent.client import connect
    from beefine_tui.commands.probe import follow_remote_stream
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.events.record import Recorder

    client = connect(args.remote, agent_args(args))
    stop = threading.Event()
    recorder = None
    output: _Output | None = None
    ended = ""
    facts: dict[str, Any] = {}
    table_source = ""
    try:
        if not client.has("end-on-exit"):
            with contextlib.suppress(OSError):
                sys.stderr.write(
                    f"beefine-tui: the agent on {client.label} is older and cannot say when the container "
                    "ends: stop with Ctrl-C or --duration\n"
                )
        if args.flight:
            client.require(
                "flight",
                "dump the flight recorder",
                "install the same beefine-tui version on both machines, or drop --flight",
            )
        # the in-kernel ring only when its dump is asked for, as locally (the agent's default keeps one)
        started = client.request(
            "start",
            probes=[PROBE],
            container=args.container,
            end_on_exit=True,
            flight_slots=args.flight_slots if args.flight else 0,
            flight_dump=bool(args.flight),
        )
        sid = started["stream"]
        facts = started.get("target") or {}
        table_source = started.get("syscall_table") or ""
        host_header = msgspec.convert(started["header"], RecordHeader)
        if not table_source:
            _no_table_warning(client.label)
        if args.record:
            # the host's clock and names, this command line: replay opens it as a `syscalls` run
            header = msgspec.structs.replace(host_header, command=sys.argv)
            recorder = Recorder.open(args.record, header, force=args.force)
        # event times are the host's CLOCK_MONOTONIC: its header says how that maps to wall time
        output = _Output(args, recorder, int(host_header.started_wall * 1e9) - host_header.started_ns)
        _tracing_line(facts.get("container_name"), facts.get("container_id"), f" on {client.label}")
        deadline = time.monotonic() + args.duration if args.duration else None
        ended = follow_remote_stream(client, sid, output.emit, stop, deadline, recorder) or ""
    finally:
        client.close()
        if recorder is not None:
            recorder.close()
    assert output is not None
    return output.finish(facts.get("container_id"), table_source, ended, client.dropped)
