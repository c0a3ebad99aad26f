"""`beefine-tui trace IMAGE [-- CMD ...]`: run an image in a labelled container with the probes
attached first, and print the story of its creation phase by phase (or JSON lines with a `phase`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from beefine_tui.errors import BeefineError, DockerUnavailableError, UsageError

TRAILING_COMMAND = True  # cli.parse: `trace [OPTIONS] IMAGE [OPTIONS] [-- CMD ...]`
CLOSE_TIMEOUT_S = 60.0  # --remote: how long the agent may take to detach and end after bye


class TraceInterrupted(BeefineError):
    exit_code = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image to run (with --lab also: small, layered)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--lab", action="store_true", help="use a private lab (started here and downed after)")
    where.add_argument("--docker-host", metavar="URL", help="Docker daemon to use (default: $DOCKER_HOST)")
    parser.add_argument("--pull", action="store_true", help="pull even when the image is present")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="remove the image's tag from the daemon first (never forced), so the story has the pull "
        "and the unpacking of every layer no other image holds (implies --pull)",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines: one per phase (field `phase`)")
    parser.add_argument("--events", action="store_true", help="with --json: include each phase's events")
    parser.add_argument("--explain", action="store_true", help="print each phase's explanation")
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="also record every event (JSON lines) to FILE (a new file, mode 0600)",
    )
    parser.add_argument("--force", action="store_true", help="with --record: replace FILE if it exists")
    parser.add_argument(
        "--probes",
        metavar="GROUPS",
        help="comma-separated probe groups (default: all of process, files, mounts, namespaces, cgroups, "
        "security, network)",
    )
    parser.add_argument(
        "--xdp", action="store_true", help="also count the registry's packets with XDP on lo (local registry)"
    )
    parser.add_argument(
        "--security-opt",
        action="append",
        default=[],
        metavar="OPT",
        help="as docker run --security-opt (e.g. no-new-privileges); repeatable",
    )
    parser.add_argument("--read-only", action="store_true", help="as docker run --read-only")
    parser.add_argument("--privileged", action="store_true", help="as docker run --privileged")
    parser.add_argument(
        "--network", metavar="MODE", help="as docker run --network (none, host, bridge or a network's name)"
    )
    parser.add_argument(
        "--cap-drop", action="append", default=[], metavar="CAP", help="as docker run --cap-drop; repeatable"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="stop waiting for the container after N s"
    )
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)
    parser.add_argument(
        "cmd",
        nargs="*",
        metavar="-- CMD",
        help="the command to run instead of the image's (after --, so its own options stay its own)",
    )


def run(args: argparse.Namespace) -> int:
    from beefine_tui.docker.runner import check_reference

    cmd = list(args.cmd or [])
    if args.events and not args.json:
        raise UsageError("--events needs --json")
    if args.timeout is not None and not 0 < args.timeout < float("inf"):
        raise UsageError("--timeout must be a positive number of seconds")
    if args.explain and args.json:
        raise UsageError(
            "--explain is for the text story; with --json each phase already has its `explanation`"
        )
    if args.force and not args.record:
        raise UsageError("--force applies to --record FILE (replace FILE if it exists)")
    create_options(args)  # a bad docker run option is refused before a lab or probes start
    if args.remote and args.lab:
        raise UsageError(
            "--lab starts a private lab on this machine, and --remote traces on the host",
            "drop --lab, and give an image the host's daemon has or can pull",
        )
    if not (args.lab and args.image in ("small", "layered")):
        check_reference(args.image)
    if args.record:
        from beefine_tui.userfiles import check_output

        check_output(args.record, force=args.force)  # before a lab or probes are started for nothing
    if args.remote:
        return _trace_remote(args, cmd)
    if args.xdp and not args.lab:
        from beefine_tui.docker.runner import registry_of

        registry = registry_of(args.image)
        if not registry.startswith(("127.", "localhost")):
            # XDP counts on lo: a remote registry's packets never cross it, the counts would stay 0
            raise UsageError(
                f"--xdp counts a local registry's packets on lo, and {args.image} comes from {registry}",
                "drop --xdp, or use an image from a registry on 127.0.0.1 (--lab has one)",
            )
    from beefine_tui.story.trace import DEFAULT_GROUPS, probes_for

    groups = [g.strip() for g in (args.probes or ",".join(DEFAULT_GROUPS)).split(",") if g.strip()]
    if "process" not in groups:
        groups.insert(0, "process")  # the story follows processes: exec and fork are always needed
    names, notes = probes_for(groups)
    from beefine_tui.privileges import require_bpf

    require_bpf()
    from beefine_tui.docker.client import exit_on_signals
    from beefine_tui.docker.reaper import reap

    with exit_on_signals():
        left = reap(None if args.lab else args.docker_host)
    if left:
        print(f"beefine-tui: {left}", file=sys.stderr)
    # two stacks, so every ending (error, Ctrl-C, SIGTERM/SIGHUP as SystemExit) removes what would
    # outlive us first (the container, then the lab: `stack`), and only then detaches the probes
    # (`probes`: seconds for ~150 tracepoints)
    with exit_on_signals(), contextlib.ExitStack() as probes, contextlib.ExitStack() as stack:
        if args.lab:
            from beefine_tui.docker import lab as labmod

            info = stack.enter_context(
                labmod.running_lab(f"trace{os.getpid() % 100000}", seed=True, timeout=120)
            )
            host = info.docker_host
            image = info.images.get(args.image, args.image)
        else:
            from beefine_tui.docker.client import resolve_docker_host

            found = resolve_docker_host(args.docker_host)
            if found is None:
                raise DockerUnavailableError(
                    "no Docker daemon answers here",
                    "start Docker, pass --docker-host, or use --lab for a private one",
                )
            host = found
            image = args.image
        return _trace(args, host, image, cmd, names, notes, stack, probes)


def _trace(
    args: argparse.Namespace,
    host: str,
    image: str,
    cmd: list[str],
    names: list[str],
    notes: list[str],
    stack: contextlib.ExitStack,
    probes: contextlib.ExitStack,
) -> int:
    from beefine_tui.docker.client import connect
    from beefine_tui.docker.runner import find_daemon, registry_of
    from beefine_tui.events.bus import Bus
    from beefine_tui.events.model import RecordHeader, status_event
    from beefine_tui.events.record import Recorder, RecordingIncomplete
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.story.trace import TraceRun, daemon_target, probes_for, start_sessions

    client = connect(host)
    stack.callback(client.close)
    try:
        data_root = str(client.info().get("DockerRootDir", ""))
    except Exception as e:
        raise DockerUnavailableError(f"the daemon at {host} did not answer: {e}") from None
    daemon = find_daemon(host, data_root)
    if daemon.dockerd_pid is None:
        raise DockerUnavailableError(
            f"cannot find the dockerd process serving {host} on this machine",
            "trace needs the daemon to run here (its processes are what the probes follow)",
        )
    options = ProbeOptions(target=daemon_target(daemon))
    if args.fresh:
        from beefine_tui.docker.runner import check_reference, remove_image

        check_reference(image)
        # before the recording and the probes: the daemon's deletions are not part of the story
        note = remove_image(client, image)
        if not args.json:
            print(f"beefine-tui: {note}", file=sys.stderr)
    bus = Bus()
    recorder = None
    if args.record:

        def recording_failed(message: str) -> None:
            # in the event stream too (the TUI's status), not only once on stderr
            bus.publish([status_event("recording", "failed", message)])
            with contextlib.suppress(OSError):
                print(f"beefine-tui: {message}; the trace goes on", file=sys.stderr)

        recorder = Recorder.open(
            args.record,
            RecordHeader(probes=names, command=sys.argv),
            force=args.force,
            on_error=recording_failed,
        )
        stack.callback(recorder.close)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    tr = TraceRun(
        client, image, bus, command=cmd or None, pull=True if args.pull or args.fresh else None,
        exec_roots=daemon.exec_roots, data_root=data_root, recorder=recorder,
        create_options=create_options(args),
    )  # fmt: skip
    tr.check_image()  # a wrong name fails here, before seconds of compiling and attaching
    tr.start_pump()
    stack.callback(tr.stop)
    iface = None
    if "xdp" not in names and args.xdp and registry_of(image).startswith(("127.", "localhost")):
        iface = "lo"  # a registry on this machine: its traffic crosses lo
        more, more_notes = probes_for(["network"], iface)
        names += [n for n in more if n not in names]
        for n in more_notes:
            print(f"note: {n}", file=sys.stderr)
    for session in start_sessions(names, options.target, bus, iface):  # attached BEFORE the request
        probes.callback(session.stop)
    if not args.json:
        print(f"tracing {image} on {host} with probes: {', '.join(names)}", file=sys.stderr)
    interrupted = False
    result = None
    try:
        result = tr.run(timeout=args.timeout)
    except KeyboardInterrupt:
        interrupted = True
    tl = tr.timeline()
    _print(tl, args)
    if recorder is not None:
        tr.stop()  # the pump writes no more: the recorder's account is final
        recorder.close()
        print(recorder.status_line(), file=sys.stderr)
    if interrupted:
        raise TraceInterrupted(
            "interrupted: the container (if any) and the probes were removed",
            "the story above shows how far it got",
        )
    if result is not None and result.error:
        raise BeefineError(f"the container did not start: {result.error}", "see the exec phase above")
    if recorder is not None and not recorder.complete:
        raise RecordingIncomplete(
            f"the recording {args.record} is incomplete ({recorder.error})", "free some space and run again"
        )
    return 0


def _remote_request(args: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    """The agent's `trace` arguments (agent/PROTOCOL.md) for these options: the host checks groups and
    the registry for --xdp, since what can run is what its kernel and daemon have."""
    req: dict[str, Any] = {"image": args.image, "command": cmd, "pull": bool(args.pull)}
    req["fresh"] = bool(args.fresh)
    req["xdp"] = bool(args.xdp)
    req["options"] = {
        k: v
        for k, v in (
            ("security_opt", list(args.security_opt or [])),
            ("read_only", bool(args.read_only)),
            ("cap_drop", list(args.cap_drop or [])),
            ("privileged", bool(args.privileged)),
            ("network", args.network),
        )
        if v not in (None, False, [])
    }
    if args.probes:
        req["groups"] = [g.strip() for g in args.probes.split(",") if g.strip()]
    if args.timeout is not None:
        req["timeout"] = args.timeout
    return req


def _trace_remote(args: argparse.Namespace, cmd: list[str]) -> int:
    """`trace --remote HOST`: the agent on HOST traces; its stream's events tell the same story here
    (the same StoryEngine, fed what the host's story was built from) and print as a local trace."""
    import dataclasses
    import threading

    import msgspec

    from beefine_tui.agent import protocol as P
    from beefine_tui.agent.client import AgentConnectionError, connect
    from beefine_tui.commands.probe import stop_on_signals
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.events.model import RecordHeader, lost_event
    from beefine_tui.events.record import Recorder, RecordingIncomplete
    from beefine_tui.story.engine import StoryEngine, StoryHints

    request = _remote_request(args, cmd)
    client = connect(args.remote, agent_args(args))
    engine = StoryEngine()
    recorder: Recorder | None = None
    stop = threading.Event()
    sid: int | None = None
    last_ts = 0
    try:
        client.require("trace", "trace")
        pending = client.submit("trace", **request)

        def handle(msgs: list[P.Message]) -> None:
            nonlocal sid, recorder, last_ts
            for m in msgs:
                if isinstance(m, P.StreamStarted) and m.id == pending.id:
                    sid = m.stream
                    for n in m.notes:
                        print(n, file=sys.stderr)
                    if args.record:
                        # the host's header (its clock, kernel, host name), with the command run here
                        header = msgspec.structs.replace(
                            msgspec.convert(m.header, RecordHeader), command=list(sys.argv)
                        )
                        recorder = Recorder.open(args.record, header, force=args.force)
                    if not args.json:
                        print(
                            f"tracing {args.image} on {client.label} ({m.docker_host}) with probes: "
                            f"{', '.join(m.probes)}",
                            file=sys.stderr,
                        )
                elif isinstance(m, P.Events) and m.stream == sid and m.events:
                    engine.feed(m.events)
                    last_ts = max(last_ts, m.events[-1].ts)
                    if recorder is not None:
                        recorder.write(m.events)

        stop_sent = False
        with stop_on_signals(stop):
            while not pending.done.is_set():
                handle(client.stream_messages(0.2))
                if stop.is_set() and not stop_sent:
                    stop_sent = True
                    if sid is None:
                        break  # still attaching: closing the connection cancels it on the host
                    client.submit("stop", stream=sid)  # the host removes the container now
            while msgs := client.stream_messages(0):  # the stream came before its reply
                handle(msgs)
        if stop_sent and sid is None:
            raise TraceInterrupted(f"interrupted: nothing was left running on {client.label}")
        try:
            result = client.result(pending, "trace", 0)
        except AgentConnectionError:
            if recorder is not None:
                recorder.error = "the connection to the agent was lost"  # no trailer: incomplete
            raise
        hints = result.get("hints") or {}
        known = {f.name for f in dataclasses.fields(StoryHints)}
        engine.update_hints(**{k: v for k, v in hints.items() if k in known})
        if client.dropped:
            # this terminal fell behind the host: said in the story and the recording, never hidden
            lost = lost_event("agent", client.dropped, "bus", ts=last_ts)
            engine.feed([lost])
            if recorder is not None:
                recorder.write([lost])
        _print(engine.timeline(), args)
        if recorder is not None:
            recorder.close()
            print(recorder.status_line(), file=sys.stderr)
        if stop_sent or result.get("interrupted"):
            raise TraceInterrupted(
                f"interrupted: the container (if any) and the probes were removed on {client.label}",
                "the story above shows how far it got",
            )
        if result.get("error"):
            raise BeefineError(f"the container did not start: {result['error']}", "see the exec phase above")
        if recorder is not None and not recorder.complete:
            why = f"the recording {args.record} is incomplete ({recorder.error})"
            raise RecordingIncomplete(why, "free some space and run again")
        return 0
    finally:
        # the agent detaches the trace's probes (~150 tracepoints, 5 s here, more on a busy host)
        # before it ends: wait for that rather than signal it halfway
        client.close(timeout=CLOSE_TIMEOUT_S)
        if recorder is not None:
            recorder.close()


def create_options(args: argparse.Namespace) -> dict[str, Any]:
    """The docker run options this trace passes on (docker SDK containers.create keywords)."""
    from beefine_tui.story.trace import docker_run_options

    return docker_run_options(
        security_opt=getattr(args, "security_opt", None) or (),
        read_only=bool(getattr(args, "read_only", False)),
        cap_drop=getattr(args, "cap_drop", None) or (),
        privileged=bool(getattr(args, "privileged", False)),
        network=getattr(args, "network", None),
    )


def _print(tl: Any, args: argparse.Namespace) -> None:
    if args.json:
        for row in tl.to_dicts(with_events=args.events):
            print(json.dumps(row, default=str))
        print(json.dumps(tl.summary(), default=str))
        return
    from beefine_tui.story.render import timeline_lines

    for line in timeline_lines(tl, explain=args.explain):
        print(line)
