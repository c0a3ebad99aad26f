"""`beefine-tui probe list|run`: the built-in probes, headless.

`run` streams events as human lines or JSON lines (the recording format) until Ctrl-C, SIGTERM,
SIGHUP or --duration, then prints per probe what was received and lost to stderr. Everything it
attaches is detached however it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import IO, Any

from beefine_tui.errors import UsageError
from beefine_tui.events.model import LOST, STATUS, Event, RecordHeader

DRAIN_TIMEOUT_S = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="probe_command", metavar="{list,run}")
    ls = sub.add_parser("list", help="the built-in probes and whether they can run here")
    ls.add_argument("--json", action="store_true", help="one JSON object per probe")

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
        "--sample-every", type=int, default=0, metavar="N", help="xdp probe: keep 1 packet header in N"
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
    run.add_argument("--record", metavar="FILE", help="also save the events to FILE (JSON lines)")
    run.add_argument("--ebpf", action="store_true", help="print the programs that would be loaded, and exit")
    run.add_argument(
        "--ring-pages", type=int, default=256, metavar="N", help="ring buffer pages per probe (power of two)"
    )


def run(args: argparse.Namespace) -> int:
    cmd = getattr(args, "probe_command", None)
    if cmd == "list":
        return cmd_list(args.json, sys.stdout)
    if cmd == "run":
        return cmd_run(args)
    raise UsageError("say what to do: `beefine-tui probe list` or `beefine-tui probe run NAME ...`")


# ---------------------------------------------------------------------------------------------- list


def probe_rows() -> list[dict[str, Any]]:
    from beefine_tui.probes import catalog

    rows = []
    for name, probe in catalog.all_probes().items():
        try:
            avail = probe.available()
            ok, reason = avail.ok, avail.reason
        except Exception as e:  # a broken availability check must not hide the others
            ok, reason = False, f"availability check failed: {e}"
        rows.append(
            {
                "name": name,
                "group": probe.spec.group,
                "engine": probe.spec.engine,
                "available": ok,
                "reason": reason,
                "description": probe.spec.description,
                "kinds": list(probe.spec.kinds),
            }
        )
    return rows


def cmd_list(as_json: bool, out: IO[str]) -> int:
    rows = probe_rows()
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
    from beefine_tui.probes.bcc_runner import check_ring_pages

    check_ring_pages(args.ring_pages)
    if args.sample_every < 0:
        raise UsageError("--sample-every takes a whole number >= 0 (0: the probe's default)")
    return ProbeOptions(
        target=target,
        path_prefix=args.path_prefix or None,
        interface=args.interface or None,
        sample_every=args.sample_every,
        ring_pages=args.ring_pages,
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
    from beefine_tui.probes import catalog

    probes = [catalog.get(n) for n in dict.fromkeys(args.names)]  # unknown names: NotFoundError
    options = build_options(args)
    names = [p.name for p in probes]

    if args.ebpf:
        for p in probes:
            render = getattr(p.module, "render", None)
            sys.stdout.write(f"// ===== {p.name} ({p.spec.engine}) =====\n")
            sys.stdout.write((render(options) if render else "(nothing to render)") + "\n")
        return 0

    from beefine_tui.privileges import require_bpf

    require_bpf()
    from beefine_tui.errors import ProbeLoadError
    from beefine_tui.events.bus import Bus
    from beefine_tui.events.record import Recorder, encode_events
    from beefine_tui.probes.session import ProbeSession

    for p in probes:
        avail = p.available()
        if not avail.ok:
            raise ProbeLoadError(f"probe {p.name} cannot run here: {avail.reason}")

    bus = Bus()
    sub = bus.subscribe("cli", capacity=1 << 18)
    stop = threading.Event()
    summary = Summary(names)
    recorder = None
    if args.record:
        try:
            recorder = Recorder.open(args.record, RecordHeader(probes=names, command=sys.argv))
        except OSError as e:
            raise UsageError(f"cannot write the recording {args.record}: {e.strerror}") from None
    out = sys.stdout.buffer
    wall_offset = time.time_ns() - time.monotonic_ns()

    def emit(events: Sequence[Event]) -> None:
        summary.add(events)
        if recorder is not None:
            recorder.write(events)
        if args.json:
            out.write(encode_events(events))
        else:
            out.write("".join(format_line(ev, wall_offset) + "\n" for ev in events).encode(errors="replace"))
        out.flush()

    session = ProbeSession(names, options, bus, strict=True)
    output_ok = True
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
                    except OSError:  # stdout gone (SSH dropped, pipe closed): keep stopping cleanly
                        output_ok = False
                        stop.set()
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
    return 0
