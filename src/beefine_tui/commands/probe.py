"""`beefine-tui probe list|run`: the built-in probes, headless.

`run` streams events as human lines or JSON lines (the recording format) until Ctrl-C, SIGTERM,
SIGHUP or --duration, then prints per probe what was received and lost to stderr. Everything it
attaches is detached however it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from beefine_tui.errors import BeefineError, UsageError
from beefine_tui.events.model import LOST, STATUS, Event, RecordHeader

if TYPE_CHECKING:
    from beefine_tui.agent.client import AgentClient
    from beefine_tui.events.record import Recorder

DRAIN_TIMEOUT_S = 0.2
DEFAULT_RING_PAGES = 256

# options that only some probes use: (option, what uses it, test on a probe). Given to no probe that
# uses it, an option would silently do nothing, so it is refused instead.
_SCOPED_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("path_prefix", "the files probe", "files"),
    ("interface", "the xdp probe", "xdp"),
    ("sample_every", "the xdp probe", "xdp"),
    ("ring_pages", "BCC and xdp probes", "ring"),
)


def check_option_scope(args: argparse.Namespace, probes: Sequence[Any]) -> None:
    """Refuse an option none of the named probes uses (exit 2), naming which probes it is for."""
    names = [p.name for p in probes]
    for attr, users, test in _SCOPED_OPTIONS:
        value = getattr(args, attr, None)
        if value is None:
            continue
        used = any(p.spec.engine in ("bcc", "xdp") for p in probes) if test == "ring" else test in names
        if not used:
            flag = "--" + attr.replace("_", "-")
            raise UsageError(
                f"{flag} applies only to {users}, and none of {', '.join(names)} is one",
                f"drop {flag}, or add the probe it is for",
            )
    if getattr(args, "docker_host", None) and not getattr(args, "container", None):
        raise UsageError(
            "--docker-host is used only with --container", "drop --docker-host, or add --container"
        )
    if args.force and not args.record:
        raise UsageError("--force applies to --record FILE (replace FILE if it exists)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="probe_command", metavar="{list,run}")
    ls = sub.add_parser("list", help="the built-in probes and whether they can run here")
    ls.add_argument("--json", action="store_true", help="one JSON object per probe")
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(ls)

    run = sub.add_parser("run", help="run probes and stream their events")
    run.add_argument("names", nargs="+", metavar="NAME", help="probe names (see `probe list`)")
    who = run.add_mutually_exclusive_group()
    who.add_argument("--container", metavar="ID|NAME", help="only this running container (its pid ns)")
    who.add_argument("--pid", type=int, metavar="PID", help="only this process")
    run.add_argument(
        "--follow-children", action="store_true", help="with --pid: also every process it forks from now on"
    )
    run.add_argument("--path-prefix", metavar="P", help="files probe: only paths starting with P")
    run.add_argument("--interface", metavar="IFACE", help="xdp probe: the interface to count packets on")
    run.add_argument(
        "--sample-every", type=int, default=None, metavar="N", help="xdp probe: keep 1 packet header in N"
    )
    run.add_argument(
        "--docker-host", metavar="URL", help="Docker daemon for --container (default: DOCKER_HOST)"
    )
    run.add_argument(
        "--include-self",
        action="store_true",
        help="also trace beefine-tui itself and its bpftrace helpers (left out by default)",
    )
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    run.add_argument("--json", action="store_true", help="JSON lines (the recording format)")
    run.add_argument(
        "--record", metavar="FILE", help="also save the events to FILE (JSON lines, a new file, mode 0600)"
    )
    run.add_argument("--force", action="store_true", help="with --record: replace FILE if it exists")
    run.add_argument("--ebpf", action="store_true", help="print the programs that would be loaded, and exit")
    run.add_argument(
        "--ring-pages",
        type=int,
        default=None,
        metavar="N",
        help=f"BCC and xdp probes: ring buffer pages per probe (power of two, default {DEFAULT_RING_PAGES})",
    )
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(run)


def run(args: argparse.Namespace) -> int:
    cmd = getattr(args, "probe_command", None)
    if cmd == "list":
        return cmd_list(args.json, sys.stdout, _remote_probe_rows(args) if args.remote else None)
    if cmd == "run":
        return cmd_run(args)
    raise UsageError("say what to do: `beefine-tui probe list` or `beefine-tui probe run NAME ...`")


# ---------------------------------------------------------------------------------------------- list


def _remote_probe_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The host's probes and whether each can run there, from its agent's `probes`."""
    from beefine_tui.agent.client import connect
    from beefine_tui.commands.remote import agent_args

    client = connect(args.remote, agent_args(args))
    try:
        rows: list[dict[str, Any]] = client.request("probes")
        return rows
    finally:
        client.close()


def cmd_list(as_json: bool, out: IO[str], rows: list[dict[str, Any]] | None = None) -> int:
    """The probes of this machine, or `rows` (a host's, through its agent): the same output."""
    from beefine_tui.agent.server import probe_rows

    rows = probe_rows() if rows is None else rows
    if as_json:
        for r in rows:
            out.write(json.dumps(r) + "\n")
        return 0
    w = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        state = "ok" if r["available"] else "unavailable"
        out.write(f"{r['name']:<{w}}  {r['group']:<10} {r['engine']:<8} {state:<11}  {r['description']}\n")
        if not r["available"]:
            out.write(f"{'':<{w}}  why: {r['reason']}\n")
    return 0


# ----------------------------------------------------------------------------------------------- run


def build_options(args: argparse.Namespace) -> Any:
    from beefine_tui.probes import attribution
    from beefine_tui.probes.base import ProbeOptions, Target

    if args.follow_children and args.pid is None:
        raise UsageError("--follow-children needs --pid PID")
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration must be a positive number of seconds, not {args.duration}")
    if args.pid is not None and args.pid <= 0:
        raise UsageError(f"--pid must be a positive process id, not {args.pid}")
    target = Target()
    if args.pid is not None:
        target = (
            attribution.target_lineage(args.pid)
            if args.follow_children
            else attribution.target_for_pid(args.pid)
        )
    elif args.container:
        from beefine_tui.docker.client import connect, explain_unreachable, resolve_docker_host

        host = resolve_docker_host(args.docker_host)
        if host is None:
            raise explain_unreachable("unix:///var/run/docker.sock")
        client = connect(host)
        try:
            target = attribution.target_for_container(client, args.container)
        finally:
            client.close()
    from beefine_tui.probes.bcc_program import check_ring_pages

    ring_pages = check_ring_pages(DEFAULT_RING_PAGES if args.ring_pages is None else args.ring_pages)
    sample_every = args.sample_every or 0
    if sample_every < 0:
        raise UsageError("--sample-every takes a whole number >= 0 (0: the probe's default)")
    return ProbeOptions(
        target=target,
        path_prefix=args.path_prefix or None,
        interface=args.interface or None,
        sample_every=sample_every,
        ring_pages=ring_pages,
        include_self=bool(getattr(args, "include_self", False)),
    )


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (a dropped SSH session) set `stop`; the loop then stops cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def format_line(ev: Event, wall_offset_ns: int) -> str:
    t = (ev.ts + wall_offset_ns) / 1e9
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1e6) % 1_000_000:06d}"
    if ev.kind in (LOST, STATUS):
        return f"{stamp} {ev.probe:<10} {'':>7} {'':<16} {ev.kind:<8} {ev.text}"
    return f"{stamp} {ev.probe:<10} {ev.pid:>7} {ev.comm:<16} {ev.kind:<8} {ev.text}"


class Summary:
    def __init__(self, names: Sequence[str]) -> None:
        self.received: Counter[str] = Counter({n: 0 for n in names})
        self.lost: dict[str, Counter[str]] = {n: Counter() for n in names}
        self.failed: dict[str, str] = {}

    def add(self, events: Sequence[Event]) -> None:
        for ev in events:
            if ev.kind == LOST:
                self.lost.setdefault(ev.probe, Counter())[str(ev.args.get("source"))] += int(
                    ev.args.get("count", 0)
                )
            elif ev.kind == STATUS:
                if ev.args.get("state") == "failed":
                    self.failed[ev.probe] = str(ev.args.get("error", ""))
            else:
                self.received[ev.probe] += 1

    def lines(self) -> list[str]:
        out = ["probe       received  lost(kernel)  lost(perf)  lost(bus)"]
        for name in self.received:
            lost = self.lost.get(name, Counter())
            out.append(
                f"{name:<10} {self.received[name]:>9}  {lost['kernel']:>12}  {lost['perf']:>10}"
                f"  {lost['bus']:>9}" + (f"  failed: {self.failed[name]}" if name in self.failed else "")
            )
        return out


def cmd_run(args: argparse.Namespace) -> int:
    if getattr(args, "remote", None):
        return cmd_run_remote(args)
    from beefine_tui.probes import catalog

    probes = [catalog.get(n) for n in dict.fromkeys(args.names)]  # unknown names: NotFoundError
    check_option_scope(args, probes)
    if args.record:
        from beefine_tui.userfiles import check_output

        check_output(args.record, force=args.force)  # before anything is compiled or attached
    options = build_options(args)
    if args.ebpf and (args.record or args.duration is not None or args.json):
        raise UsageError(
            "--ebpf only prints the programs: it cannot be combined with --record, --duration or --json"
        )

    names = [p.name for p in probes]

    if args.ebpf:
        for p in probes:
            render = getattr(p.module, "render", None)
            sys.stdout.write(f"// ===== {p.name} ({p.spec.engine}) =====\n")
            sys.stdout.write((render(options) if render else "(nothing to render)") + "\n")
        return 0

    from beefine_tui.privileges import require_bpf

    require_bpf()
    from beefine_tui.errors import NotRootError, ProbeLoadError
    from beefine_tui.events.bus import Bus
    from beefine_tui.events.model import status_event
    from beefine_tui.events.record import Recorder, RecordingIncomplete
    from beefine_tui.privileges import permission_refusal
    from beefine_tui.probes.session import ProbeSession

    for p in probes:
        why = permission_refusal(p.spec.engine)
        if why:  # a permission this user lacks: the same exit code as not being root at all
            raise NotRootError(f"probe {p.name} cannot run as this user: {why}", "run it with sudo")
        avail = p.available()
        if not avail.ok:
            raise ProbeLoadError(f"probe {p.name} cannot run here: {avail.reason}")

    bus = Bus()
    sub = bus.subscribe("cli", capacity=1 << 18)
    stop = threading.Event()
    summary = Summary(names)
    recorder = None
    if args.record:

        def recording_failed(message: str) -> None:
            # said in the event stream too (live output, the TUI), not only once on stderr
            bus.publish([status_event("recording", "failed", message)])
            with contextlib.suppress(OSError):
                sys.stderr.write(f"beefine-tui: {message}; the probes go on\n")

        recorder = Recorder.open(
            args.record,
            RecordHeader(probes=names, command=sys.argv),
            force=args.force,
            on_error=recording_failed,
        )
    emit = _emitter(summary, recorder, args.json, time.time_ns() - time.monotonic_ns())

    session = ProbeSession(names, options, bus, strict=True)
    output_ok = True
    output_error = ""  # why writing the events failed (a full disk); a closed pipe is not an error
    try:
        with stop_on_signals(stop):
            session.start()
            # what exists now (BCC, the compiled programs' Python side, imports) lives until exit:
            # keep it out of every later collection of the short-lived events
            gc.freeze()
            deadline = time.monotonic() + args.duration if args.duration else None
            # --pid without --follow-children: nothing more can come once that process is gone
            watched = args.pid if args.pid is not None and not args.follow_children else None
            gone_since: float | None = None
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if watched is not None and gone_since is None and not os.path.exists(f"/proc/{watched}"):
                    gone_since = time.monotonic()
                if gone_since is not None and time.monotonic() - gone_since > 2 * DRAIN_TIMEOUT_S:
                    with contextlib.suppress(OSError):
                        sys.stderr.write(f"process {watched} exited\n")
                    break
                events = sub.get(DRAIN_TIMEOUT_S)
                if events and output_ok:
                    try:
                        emit(events)
                    except OSError as e:  # stdout gone (SSH dropped, pipe closed, full disk): stop cleanly
                        output_ok = False
                        stop.set()
                        if e.errno != errno.EPIPE:
                            output_error = e.strerror or str(e)
                        with contextlib.suppress(OSError):
                            sys.stderr.write(
                                f"beefine-tui: writing the events failed ({e.strerror}); stopping\n"
                            )
                elif events:
                    summary.add(events)
    finally:
        session.stop()
        # what arrived before the stop, and the runners' final loss reports
        while True:
            events = sub.get(0)
            if not events:
                break
            if output_ok:
                try:
                    emit(events)
                except OSError:
                    output_ok = False
                    summary.add(events)
            else:
                summary.add(events)
        sub.close()
        if recorder is not None:
            recorder.close()
        with contextlib.suppress(OSError):
            sys.stderr.write("\n".join(summary.lines()) + "\n")
            if recorder is not None:
                sys.stderr.write(recorder.status_line() + "\n")
    if output_error:
        raise BeefineError(
            f"writing the events failed ({output_error}): stopped", "free some space and run again"
        )
    if recorder is not None and not recorder.complete:
        raise RecordingIncomplete(
            f"the recording {args.record} is incomplete ({recorder.error})", "free some space and run again"
        )
    return 0


# options of `probe run` the agent takes as they are
_REMOTE_ARGS = ("container", "pid", "follow_children", "path_prefix", "include_self", "ring_pages")


def cmd_run_remote(args: argparse.Namespace) -> int:
    import msgspec

    from beefine_tui.agent.client import connect
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.events.record import Recorder

    for attr, flag in (("ebpf", "--ebpf"), ("interface", "--interface"), ("sample_every", "--sample-every")):
        if getattr(args, attr, None):
            raise UsageError(f"{flag} is not available with --remote yet", f"run it on the host: drop {flag}")
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration must be a positive number of seconds, not {args.duration}")
    if args.force and not args.record:
        raise UsageError("--force applies to --record FILE (replace FILE if it exists)")
    if args.record:
        from beefine_tui.userfiles import check_output

        check_output(args.record, force=args.force)
    names = list(dict.fromkeys(args.names))
    client = connect(args.remote, agent_args(args))
    summary = Summary(names)
    stop = threading.Event()
    recorder = None
    try:
        opts = {k: getattr(args, k) for k in _REMOTE_ARGS if getattr(args, k, None) not in (None, False)}
        if args.pid is not None and not args.follow_children:
            opts["end_on_exit"] = True  # as locally: nothing more can come once that process is gone
        started = client.request("start", probes=names, **opts)
        sid = started["stream"]
        header = msgspec.convert(started["header"], RecordHeader)
        # event times are the host's CLOCK_MONOTONIC: its own header says how that maps to wall time
        if args.record:
            recorder = Recorder.open(args.record, header, force=args.force)
        emit = _emitter(summary, recorder, args.json, int(header.started_wall * 1e9) - header.started_ns)

        deadline = time.monotonic() + args.duration if args.duration else None
        reason = follow_remote_stream(client, sid, emit, stop, deadline, recorder)
        if reason is not None:
            with contextlib.suppress(OSError):
                sys.stderr.write(f"{reason}\n")  # process N exited
    finally:
        client.close()
        if recorder is not None:
            recorder.close()
        with contextlib.suppress(OSError):
            sys.stderr.write("\n".join(summary.lines()) + "\n")
            if client.dropped:
                sys.stderr.write(
                    f"{client.dropped} events dropped here: this terminal was slower than the host\n"
                )
    return 0


def follow_remote_stream(
    client: AgentClient,
    sid: int,
    emit: Callable[[Sequence[Event]], None],
    stop: threading.Event,
    deadline: float | None,
    recorder: Recorder | None,
) -> str | None:
    """Hand an agent stream's events to `emit` until it ends, `stop` is set (a signal) or `deadline`
    (monotonic) passes; a stream still running is then stopped on the agent and what it sent before
    its end is handed on too. Returns why the stream ended on its own on the host (the process
    exited...), None if it was stopped (here, by the deadline or by the agent closing). A lost
    connection marks `recorder` incomplete (no trailer: replay says the recording stops short) and
    raises AgentConnectionError."""
    from beefine_tui.agent import protocol as P
    from beefine_tui.agent.client import AgentConnectionError

    reason: str | None = None

    def handle(msgs: Sequence[P.Message]) -> None:
        nonlocal reason
        for m in msgs:
            if isinstance(m, P.Events) and m.stream == sid:
                emit(m.events)
            elif isinstance(m, P.End) and m.stream == sid:
                reason = m.reason

    with stop_on_signals(stop):
        while not stop.is_set() and reason is None:
            if deadline is not None and time.monotonic() >= deadline:
                break
            handle(client.stream_messages(DRAIN_TIMEOUT_S))
            if client.closed:
                while msgs := client.stream_messages(0):  # what came before the end
                    handle(msgs)
                if reason is None:
                    if recorder is not None:
                        recorder.error = "the connection to the agent was lost"
                    raise AgentConnectionError(client.close_reason)
        if reason is None:
            client.request("stop", stream=sid)
            while msgs := client.stream_messages(0):
                handle(msgs)
    return None if reason in (None, "stopped", "agent closing") else reason


def _emitter(
    summary: Summary, recorder: Recorder | None, as_json: bool, wall_offset: int
) -> Callable[[Sequence[Event]], None]:
    """What a probe run does with each batch, local or through an agent: count it, record it, print it
    (JSON lines, or readable lines stamped with wall time: `wall_offset` maps the events' monotonic
    clock to it)."""
    from beefine_tui.events.record import encode_events

    out = sys.stdout.buffer

    def emit(events: Sequence[Event]) -> None:
        summary.add(events)
        if recorder is not None:
            recorder.write(events)
        if as_json:
            out.write(encode_events(events))
        else:
            out.write("".join(format_line(ev, wall_offset) + "\n" for ev in events).encode(errors="replace"))
        out.flush()

    return emit
