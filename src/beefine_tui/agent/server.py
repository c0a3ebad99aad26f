"""`beefine-tui agent`: the headless engine, driven by JSON-line commands on stdin.

One thread reads stdin (bounded queue of commands), the main thread runs the commands one at a time,
and each started probe stream has a pump thread: its own Bus with one bounded subscription, drained
into `events` lines. A reader slower than the probes blocks the pump on the write; the subscription
then fills, the bus drops and counts, and the reader gets `lost` markers: memory stays bounded and
the loss is said. Everything started is stopped when stdin ends (the SSH connection closed), on
SIGHUP/SIGTERM/SIGINT, or on `bye`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import queue
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any, Protocol

import msgspec

from beefine_tui import __version__
from beefine_tui.agent import protocol as P
from beefine_tui.appcontext import AppContext
from beefine_tui.errors import BeefineError, NotFoundError, UsageError
from beefine_tui.events.bus import Bus, ProbeTally
from beefine_tui.events.model import SCHEMA_VERSION, RecordHeader
from beefine_tui.probes.base import ProbeOptions, Target

DEFAULT_CAPACITY = 65_536  # events a stream holds for a slow reader before it drops and counts
MAX_CAPACITY = 1 << 20
MIN_CAPACITY = 16
BATCH_MAX = 2_000  # events per `events` line
POLL_S = 0.2
COMMAND_QUEUE = 64  # commands read ahead of the one running; the reader waits beyond that
STREAM_JOIN_S = 10.0  # `stop`: how long a stream's pump may take to send what came before the stop
CLOSE_JOIN_S = 5.0  # closing: the same, for all streams together
CLOSE_SEND_S = 2.0  # closing: how long the last lines wait behind one stuck on a reader not reading
TRACE_JOIN_S = 120.0  # a trace stopped mid-attach finishes attaching (clang) before it can detach
MAX_FLIGHT_SLOTS = 1 << 20
EXIT_GRACE_S = 2 * POLL_S  # end_on_exit: what the probes still held of a process that exited
CAPABILITIES = ("probes", "start", "stop", "streams", "stats", "inspect", "progs", "lost-markers")
# capabilities added since (hello lists both; clients ignore names they do not know): every command
# added later (protocol.MORE_COMMANDS; `interfaces` also stands for `start`'s `interface`), and two
# that are behaviours rather than commands
MORE_CAPABILITIES: tuple[str, ...] = ("end-on-exit", "flight", *P.MORE_COMMANDS)
MAX_SAMPLERS = 8  # `sample`: containers whose previous sample (CPU % per process) a connection keeps


def probe_rows() -> list[dict[str, Any]]:
    """Every built-in probe with whether it can run here (`probe list` and the agent's `probes`)."""
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


class Session(Protocol):
    """What the agent needs of a running probe session (probes.session.ProbeSession)."""

    def stop(self) -> None: ...


# (names, options, bus) -> a started session publishing to bus
StartSession = Callable[[Sequence[str], ProbeOptions, Bus], Session]


class _Out:
    """stdout, one whole line at a time from any thread. A failed write (the reader is gone) marks it
    broken and wakes the agent, which then stops everything.

    Lines go straight to the fd with os.write where there is one: a thread blocked writing to a reader
    that stopped reading then holds no lock of Python's io, so the process can still exit (a daemon
    thread inside BufferedWriter.write makes the interpreter abort at exit)."""

    def __init__(self, f: IO[bytes], on_broken: Callable[[], None]) -> None:
        self._f = f
        self._fd: int | None = None
        with contextlib.suppress(AttributeError, OSError, ValueError):
            self._fd = f.fileno()
        self._lock = threading.Lock()
        self._on_broken = on_broken
        self.broken = False
        self.closing = False  # the agent is ending: every line gets CLOSE_SEND_S of patience

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self._f.write(data)
            self._f.flush()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def send(self, msg: P.Message, patience: float | None = None) -> bool:
        """Write `msg`; with `patience`, give up (and mark broken) when another line has been stuck
        that long: on the way out, a reader that stopped reading must not keep the agent alive."""
        data = P.encode(msg)
        if patience is None and self.closing:
            patience = CLOSE_SEND_S
        if not self._lock.acquire(timeout=-1 if patience is None else patience):
            self.broken = True
            return False
        try:
            if self.broken:
                return False
            try:
                self._write(data)
                return True
            except (OSError, ValueError):
                self.broken = True
        finally:
            self._lock.release()
        self._on_broken()
        return False


@dataclass
class _Stream:
    id: int
    names: tuple[str, ...]
    bus: Bus
    session: Session | None = None
    thread: threading.Thread | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    lost_seen: dict[str, int] = field(default_factory=dict)
    end: P.End | None = None
    max_pending: int = 0  # the most events this stream ever held: tests check it stays bounded
    watch: tuple[int, str] | None = None  # end_on_exit: (pid, what to say when it is gone)
    gone_since: float | None = None
    flight_dump: bool = False  # at its end, the flight recorder's dump if none was written yet


class Agent:
    def __init__(
        self,
        inp: IO[bytes],
        out: IO[bytes],
        *,
        ctx: AppContext | None = None,
        start_session: StartSession | None = None,
        docker_host: str | None = None,
    ) -> None:
        self._in = inp
        self._wake = threading.Event()
        self._out = _Out(out, self._wake.set)
        self._docker_host = docker_host
        self._ctx = ctx
        self._start_session = start_session
        self._commands: queue.Queue[bytes | None] = queue.Queue(COMMAND_QUEUE)
        self._streams: dict[int, _Stream] = {}
        self._next_stream = 1
        self._protocol: int | None = None  # agreed at hello
        self._stop = threading.Event()
        self._why = ""
        self._stats: Any = None  # docker.stats.StatsCollector, kept so CPU % has a previous sample
        self.on_stream_tally: Callable[[int, Bus], None] | None = None  # metrics hook
        self.peak_pending: dict[int, int] = {}  # per stream, the most events it ever held
        self._done_tally: dict[str, ProbeTally] = {}  # streams that ended, for the metrics' counters
        self._metrics_stats: Any = None  # a StatsCollector of the metrics' own (scrapes run in a thread)
        self.signalled = threading.Event()
        self._closed = False
        self._traces: dict[int, _TraceJob] = {}  # by stream id
        self.make_trace: Any = None  # tracing.MakeTrace; None: tracing.HostTrace (tests give fakes)
        self.on_trace_done: Callable[[list[dict[str, Any]]], None] | None = None  # metrics hook
        self._programs: dict[int, int] = {}  # users' programs this agent loaded: id -> their stream
        self._next_program = 1
        # `sample`: per container ref, its MonitorSampler (the previous tick gives CPU %), the most
        # recently asked last; at most MAX_SAMPLERS, the longest unasked dropped first
        self._samplers: OrderedDict[str, Any] = OrderedDict()

    # ---- the context (Docker, sessions), made when first needed so hello works without Docker

    def ctx(self) -> AppContext:
        if self._ctx is None:
            from beefine_tui.docker.client import resolve_docker_host

            host = resolve_docker_host(self._docker_host)
            self._ctx = AppContext(
                docker_host=host,
                docker_error="" if host else "no Docker daemon answers on this host",
            )
        return self._ctx

    # ---- main loop

    def stop(self, why: str) -> None:
        """Ask the loop to end (a signal, a broken stdout); it then stops everything."""
        if not self._why:
            self._why = why
        self._stop.set()
        self._wake.set()

    def _read_stdin(self) -> None:
        """Lines from stdin's fd with os.read: a daemon thread blocked in a BufferedReader holds its
        lock, and the interpreter aborts at exit on it (seen: SIGABRT after `bye`)."""
        fd = self._in.fileno()
        buf = b""
        skipping = False  # inside a line already reported as too long: dropped up to its newline
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if buf and not skipping and not self._put(buf):
                    return
                self._put(None)
                return
            buf += chunk
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    if skipping:
                        buf = b""
                    elif len(buf) > P.MAX_LINE_BYTES:  # reported once; memory stays bounded
                        if not self._put(buf[: P.MAX_LINE_BYTES + 1]):
                            return
                        buf, skipping = b"", True
                    break
                line, buf = buf[: nl + 1], buf[nl + 1 :]
                if skipping:
                    skipping = False
                elif not self._put(line):
                    return

    def _put(self, item: bytes | None) -> bool:
        while not self._stop.is_set():
            try:
                self._commands.put(item, timeout=POLL_S)
                self._wake.set()
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> int:
        reader = threading.Thread(target=self._read_stdin, name="agent-stdin", daemon=True)
        reader.start()
        try:
            while not self._stop.is_set():
                self._end_exited()
                try:
                    line = self._commands.get(timeout=POLL_S)
                except queue.Empty:
                    if self._out.broken:
                        self.stop("the client stopped reading")
                    continue
                if line is None:
                    self.stop("stdin closed")
                    break
                self._handle_line(line)
        finally:
            self.close()
        return 0

    def close(self) -> None:
        """Stop every stream and everything the context started. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._out.closing = True  # a trace's worker ending its stream must not wait on a stuck reader
        self._close_traces("agent closing")  # their containers first: they would outlive us
        streams = list(self._streams.values())
        for s in streams:
            self._stop_stream(s)
        # a pump blocked on a reader that stopped reading never ends: wait for all of them at once,
        # then send the ends with CLOSE_SEND_S of patience
        deadline = time.monotonic() + CLOSE_JOIN_S
        for s in streams:
            self._finish_stream(s, "agent closing", max(0.0, deadline - time.monotonic()), CLOSE_SEND_S)
        for col in (self._stats, self._metrics_stats):
            if col is not None:
                with contextlib.suppress(Exception):
                    col.close()
                    col.client.close()
        self._stats = self._metrics_stats = None
        if self._ctx is not None:
            self._ctx.close()
        self._out.send(P.Bye(reason=self._why), patience=CLOSE_SEND_S)

    # ---- commands

    def _handle_line(self, line: bytes) -> None:
        if len(line) > P.MAX_LINE_BYTES:
            self._error(None, P.MALFORMED, f"a command line longer than {P.MAX_LINE_BYTES >> 20} MiB")
            return
        if not line.strip():
            return
        try:
            msg = msgspec.json.decode(line)
        except msgspec.DecodeError as e:
            self._error(None, P.MALFORMED, f"not JSON: {e}", 'send one JSON object per line: {"id":1,...}')
            return
        if not isinstance(msg, dict):
            self._error(None, P.MALFORMED, "a command is a JSON object", '{"id": 1, "cmd": "hello", ...}')
            return
        mid = msg.get("id")
        if not isinstance(mid, int) or isinstance(mid, bool):
            self._error(None, P.MALFORMED, "a command needs an integer `id`")
            return
        cmd = msg.get("cmd")
        if not isinstance(cmd, str):
            self._error(mid, P.MALFORMED, "a command needs a string `cmd`")
            return
        known = cmd in P.COMMANDS or cmd in P.MORE_COMMANDS
        handler = getattr(self, f"_cmd_{cmd}", None) if known else None
        if handler is None:
            every = ", ".join((*P.COMMANDS, *P.MORE_COMMANDS))
            self._error(mid, P.UNKNOWN, f"unknown command {cmd!r}", f"commands: {every}")
            return
        if cmd not in ("hello", "bye") and self._protocol is None:
            self._error(mid, P.HELLO_FIRST, "say hello first (it agrees on the protocol version)")
            return
        try:
            result = handler(msg)
        except _Replied:
            return
        except _VersionError as e:
            self._error(mid, P.VERSION, e.message, e.hint)
        except UsageError as e:
            self._error(mid, P.BAD_ARGS, e.message, e.hint)
        except NotFoundError as e:
            self._error(mid, P.BAD_ARGS, e.message, e.hint)
        except BeefineError as e:
            self._error(mid, P.FAILED, e.message, e.hint)
        except Exception as e:  # a bug must not end the agent and leave the client hanging
            self._error(mid, P.FAILED, f"internal error: {type(e).__name__}: {e}")
        else:
            self._out.send(P.Reply(id=mid, result=result))

    def _error(self, mid: int | None, code: str, message: str, hint: str = "") -> None:
        self._out.send(P.Error(id=mid, code=code, message=message, hint=hint))

    def _cmd_hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        peer_max = _int_arg(msg, "protocol", None)
        if peer_max is None:
            raise UsageError("hello needs `protocol`: the newest version the client speaks")
        peer_min = _int_arg(msg, "min_protocol", peer_max)
        assert peer_min is not None
        agreed = P.pick_version(peer_max, peer_min)
        if agreed is None:
            raise _VersionError(
                f"no protocol version in common: this agent (beefine-tui {__version__}) speaks "
                f"{P.MIN_PROTOCOL}..{P.PROTOCOL}, the client {peer_min}..{peer_max}",
                "install the same beefine-tui version on both machines",
            )
        self._protocol = agreed
        return {
            "protocol": agreed,
            "protocols": [P.MIN_PROTOCOL, P.PROTOCOL],
            "agent": __version__,
            "schema": SCHEMA_VERSION,
            "capabilities": [*CAPABILITIES, *MORE_CAPABILITIES],
            "host": socket.gethostname(),
            "kernel": platform.release(),
            "pid": os.getpid(),
            "root": os.geteuid() == 0,
            # the clock events are stamped with: a client shifts them onto its own (views' times)
            "monotonic_ns": time.monotonic_ns(),
        }

    def _cmd_bye(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.stop("bye")
        return {}

    def _cmd_probes(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        return probe_rows()

    def _cmd_streams(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for s in self._streams.values():
            tally = s.bus.tally()
            out.append(
                {
                    "stream": s.id,
                    "probes": list(s.names),
                    "received": {p: t.received for p, t in tally.items()},
                    "lost": {p: t.lost for p, t in tally.items()},
                }
            )
        return out

    def _cmd_start(self, msg: dict[str, Any]) -> dict[str, Any]:
        from beefine_tui.privileges import permission_refusal
        from beefine_tui.probes import catalog

        names = msg.get("probes")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise UsageError("start needs `probes`: a list of probe names (see the `probes` command)")
        probes = [catalog.get(n) for n in dict.fromkeys(names)]  # NotFoundError for an unknown name
        capacity = _int_arg(msg, "capacity", DEFAULT_CAPACITY)
        assert capacity is not None
        if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
            raise UsageError(f"capacity must be between {MIN_CAPACITY} and {MAX_CAPACITY} events")
        options = self._options(msg)
        watch = self._exit_watch(msg, options)
        if self._start_session is None:
            for p in probes:
                why = permission_refusal(p.spec.engine)
                if why:
                    raise BeefineError(
                        f"probe {p.name} cannot run as this user: {why}", "run the agent as root"
                    )
        bus = Bus()
        s = _Stream(self._next_stream, tuple(p.name for p in probes), bus, watch=watch)
        s.flight_dump = bool(msg.get("flight_dump", False))
        self._next_stream += 1
        sub = bus.subscribe(f"agent stream {s.id}", capacity)  # before start: nothing is missed
        if self._start_session is not None:
            s.session = self._start_session(s.names, options, bus)
        else:
            ctx = self.ctx()
            ctx.check_available(s.names)
            s.session = ctx.start_probes(s.names, options, bus)
        self._streams[s.id] = s
        states = {n: st.state for n, st in getattr(s.session, "states", {}).items()}
        header = RecordHeader(probes=list(s.names), command=["beefine-tui", "agent", "start", *s.names])
        # the reply goes out before the pump starts, so it precedes the stream's first events
        self._out.send(
            P.Reply(
                id=msg["id"],
                result={
                    "stream": s.id,
                    "probes": list(s.names),
                    "states": states,
                    "header": header,
                    **_start_facts(s.names, options, watch),
                },
            )
        )
        s.thread = threading.Thread(
            target=self._pump, args=(s, sub), name=f"agent-stream-{s.id}", daemon=True
        )
        s.thread.start()
        raise _Replied

    def _options(self, msg: dict[str, Any]) -> ProbeOptions:
        from beefine_tui.probes import attribution

        pid = _int_arg(msg, "pid", None)
        container = msg.get("container")
        if container is not None and (not isinstance(container, str) or not container.strip()):
            raise UsageError("`container` is a container's name or id")
        if pid is not None and container is not None:
            raise UsageError("give `container` or `pid`, not both")
        follow = bool(msg.get("follow_children", False))
        target = Target()
        if pid is not None:
            if pid <= 0:
                raise UsageError(f"`pid` must be a positive process id, not {pid}")
            target = attribution.target_lineage(pid) if follow else attribution.target_for_pid(pid)
        elif follow:
            raise UsageError("`follow_children` needs `pid`")
        elif container is not None:
            target = attribution.target_for_container(self.ctx().docker_client(), container)
        prefix = msg.get("path_prefix")
        if prefix is not None and not isinstance(prefix, str):
            raise UsageError("`path_prefix` is a string")
        kwargs: dict[str, Any] = {}
        flight = _int_arg(msg, "flight_slots", None)
        if flight is not None:
            if not 0 <= flight <= MAX_FLIGHT_SLOTS:
                raise UsageError(f"`flight_slots` must be between 0 and {MAX_FLIGHT_SLOTS}")
            kwargs["flight_slots"] = flight
        ring = _int_arg(msg, "ring_pages", None)
        if ring is not None:
            from beefine_tui.probes.bcc_program import check_ring_pages

            kwargs["ring_pages"] = check_ring_pages(ring)
        iface = msg.get("interface")
        if iface is not None:
            if not isinstance(iface, str) or not iface.strip():
                raise UsageError("`interface` is a network interface's name (see the `interfaces` command)")
            from beefine_tui.probes import xdp_runner

            kwargs["interface"] = xdp_runner.interface(iface).name  # NotFoundError naming the real ones
        return ProbeOptions(
            target=target,
            path_prefix=prefix or None,
            include_self=bool(msg.get("include_self", False)),
            **kwargs,
        )

    def _cmd_stop(self, msg: dict[str, Any]) -> dict[str, Any]:
        sid = _int_arg(msg, "stream", None)
        if sid is not None and sid in self._traces:
            return self._stop_trace(self._traces[sid], "stopped")
        s = self._streams.get(sid) if sid is not None else None
        if s is None:
            raise UsageError(f"no stream {sid}", "the `streams` command lists the running ones")
        end = self._end_stream(s, "stopped")
        return {"stream": s.id, "received": end.received, "lost": end.lost}

    def _end_stream(self, s: _Stream, reason: str) -> P.End:
        """Stop the probes, let the pump send what they gave before, then the End line."""
        self._stop_stream(s)
        return self._finish_stream(s, reason, STREAM_JOIN_S, None)

    def _stop_stream(self, s: _Stream) -> None:
        if s.flight_dump:
            _request_flight_dumps(s)
        if s.session is not None:
            with contextlib.suppress(Exception):
                s.session.stop()
        s.stopping.set()

    def _finish_stream(self, s: _Stream, reason: str, join_s: float, patience: float | None) -> P.End:
        if s.thread is not None and threading.current_thread() is not s.thread:
            s.thread.join(join_s)
        self._streams.pop(s.id, None)
        tally = s.bus.tally()
        for p, t in tally.items():
            d = self._done_tally.setdefault(p, ProbeTally())
            d.received += t.received
            d.lost_kernel += t.lost_kernel
            d.lost_bus += t.lost_bus
        s.end = P.End(
            stream=s.id,
            reason=reason,
            received={p: t.received for p, t in tally.items()},
            lost={p: t.lost for p, t in tally.items()},
        )
        self._out.send(s.end, patience)
        return s.end

    def _pump(self, s: _Stream, sub: Any) -> None:
        try:
            while not s.stopping.is_set():
                self._pump_once(s, sub, POLL_S)
                if self._out.broken:
                    return
            while self._pump_once(s, sub, 0):  # what came before the stop
                pass
        finally:
            sub.close()

    def _pump_once(self, s: _Stream, sub: Any, timeout: float) -> bool:
        s.max_pending = max(s.max_pending, sub.pending())
        self.peak_pending[s.id] = s.max_pending
        batch = sub.get(timeout, BATCH_MAX)
        sent = bool(batch) and self._out.send(P.Events(stream=s.id, events=batch))
        for probe, t in s.bus.tally().items():
            seen = s.lost_seen.get(probe, 0)
            if t.lost_bus > seen:
                s.lost_seen[probe] = t.lost_bus
                self._out.send(P.Lost(stream=s.id, probe=probe, count=t.lost_bus - seen, total=t.lost_bus))
        if self.on_stream_tally is not None:
            self.on_stream_tally(s.id, s.bus)
        return sent

    def probe_tallies(self) -> dict[str, ProbeTally]:
        """Per probe, over every stream this agent ran (counters: they only grow)."""
        out = {p: ProbeTally(t.received, t.lost_kernel, t.lost_bus) for p, t in self._done_tally.items()}
        for s in list(self._streams.values()):
            for p, t in s.bus.tally().items():
                d = out.setdefault(p, ProbeTally())
                d.received += t.received
                d.lost_kernel += t.lost_kernel
                d.lost_bus += t.lost_bus
        return out

    def probe_prog_ids(self) -> dict[str, set[int]]:
        """Per probe, the kernel ids of the BPF programs the running streams hold."""
        out: dict[str, set[int]] = {}
        for s in list(self._streams.values()):
            by_probe = getattr(s.session, "prog_ids_by_probe", None)
            if callable(by_probe):
                for probe, ids in by_probe().items():
                    out.setdefault(probe, set()).update(ids)
        return out

    def metrics_snapshot(self) -> Any:
        """The containers' use now, for a scrape (None without Docker). Its own client: scrapes come
        from the metrics server's thread."""
        host = self.ctx().docker_host
        if host is None:
            return None
        if self._metrics_stats is None:
            from beefine_tui.docker.client import connect
            from beefine_tui.docker.stats import StatsCollector

            try:
                self._metrics_stats = StatsCollector(connect(host), host=host)
            except BeefineError:
                # the daemon is gone or not there yet: beefine_docker_up 0, and the probes' metrics
                # still served (a failed scrape would hide them); asked again at the next scrape
                return None
        return self._metrics_stats.refresh()

    def _docker(self) -> Any:
        return self.ctx().docker_client()

    def _cmd_stats(self, msg: dict[str, Any]) -> Any:
        from beefine_tui.docker.stats import StatsCollector

        if self._stats is None:
            # CPU % needs two samples: the first call takes them a second apart, as `stats` does
            self._stats = StatsCollector(self._docker(), host=self.ctx().docker_host or "")
            self._stats.refresh()
            time.sleep(1.0)
        return self._stats.refresh()

    def _cmd_inspect(self, msg: dict[str, Any]) -> Any:
        from beefine_tui.docker.inspect import build_report

        ref = msg.get("container")
        if not isinstance(ref, str) or not ref.strip():
            raise UsageError("inspect needs `container`: a container's name or id")
        return build_report(self._docker(), ref, with_members=bool(msg.get("sharers", True)))

    def _cmd_progs(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        from beefine_tui.privileges import require_bpf
        from beefine_tui.probes import inventory

        require_bpf("list the BPF programs on this machine")
        return [r.to_json() for r in inventory.inventory()]

    def _cmd_interfaces(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """Every interface of this network namespace (`ip -j -d link`), for choosing where the xdp
        probe attaches (`start` with `interface`), as the app's Inspect network lists them."""
        from dataclasses import asdict

        from beefine_tui.probes import xdp_runner

        return [asdict(i) for i in xdp_runner.list_interfaces()]

    # ---- trace: one image's container creation, traced (agent/tracing.py)

    def _cmd_trace(self, msg: dict[str, Any]) -> None:
        from beefine_tui.agent import tracing

        req = tracing.parse_request(msg)
        capacity = _int_arg(msg, "capacity", DEFAULT_CAPACITY)
        assert capacity is not None
        if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
            raise UsageError(f"capacity must be between {MIN_CAPACITY} and {MAX_CAPACITY} events")
        make = self.make_trace
        if make is None:
            from beefine_tui.privileges import require_bpf

            require_bpf("trace a container's creation")
            make = tracing.HostTrace
        bus = Bus()
        s = _Stream(self._next_stream, (), bus)
        self._next_stream += 1
        sub = bus.subscribe(f"agent trace {s.id}", capacity)  # before anything runs: nothing is missed
        job = _TraceJob(msg["id"], make(req, self._docker_host, bus.publish), s, req.image)
        self._traces[s.id] = job
        # minutes (attach, pull, run): the main loop goes on meanwhile, so bye, stop or a signal
        # reach it and cancel() removes the container at once
        job.thread = threading.Thread(
            target=self._trace_worker, args=(job, sub), name=f"agent-trace-{s.id}", daemon=True
        )
        job.thread.start()
        raise _Replied

    def _trace_worker(self, job: _TraceJob, sub: Any) -> None:
        from beefine_tui.agent import tracing

        t, s = job.trace, job.stream
        started = False
        try:
            t.prepare()
            if not job.reason:
                t.attach()
            if job.reason:
                raise BeefineError(f"the trace was stopped before it began ({job.reason})")
            s.names = tuple(t.names)
            header = RecordHeader(probes=list(t.names), command=["beefine-tui", "agent", "trace", job.image])
            self._streams[s.id] = s  # listed by `streams`, counted in the metrics
            # before the pump starts: the stream's header precedes its first events
            self._out.send(
                P.StreamStarted(
                    id=job.mid, stream=s.id, probes=list(t.names), header=msgspec.to_builtins(header),
                    notes=list(t.notes), docker_host=t.docker_host, run=t.run_tag,
                )
            )  # fmt: skip
            started = True
            s.thread = threading.Thread(
                target=self._pump, args=(s, sub), name=f"agent-stream-{s.id}", daemon=True
            )
            s.thread.start()
            error = t.run()
            tl = t.final_timeline()
            end = self._end_stream(s, job.reason or "finished")
            t.remove()  # before the reply: when it comes, the container is gone
            phases = tracing.phase_rows(tl)
            if self.on_trace_done is not None and not job.reason:
                with contextlib.suppress(Exception):
                    self.on_trace_done(phases)
            result = {
                "stream": s.id,
                "phases": phases,
                "summary": tl.summary(),
                "hints": t.hints(),
                "error": error,
                "interrupted": job.reason,
                "received": end.received,
                "lost": end.lost,
            }
            self._out.send(P.Reply(id=job.mid, result=result))
        except BaseException as e:
            if started and s.end is None:
                self._end_stream(s, "failed")
            with contextlib.suppress(Exception):
                t.remove()
            usage, message, hint = tracing.trace_error(e)
            self._error(job.mid, P.BAD_ARGS if usage else P.FAILED, message, hint)
        finally:
            if not started:
                sub.close()  # the pump closes it otherwise
            with contextlib.suppress(Exception):
                t.remove()
            t.detach()
            self._traces.pop(s.id, None)

    def _stop_trace(self, job: _TraceJob, reason: str) -> dict[str, Any]:
        """Cancel a trace (its container removed now) and wait for its worker to end it."""
        if not job.reason:
            job.reason = reason
        job.trace.cancel()
        if job.thread is not None and threading.current_thread() is not job.thread:
            job.thread.join(TRACE_JOIN_S)
        end = job.stream.end
        return {
            "stream": job.stream.id,
            "received": end.received if end else {},
            "lost": end.lost if end else {},
        }

    def _close_traces(self, reason: str) -> None:
        jobs = list(self._traces.values())
        for job in jobs:  # every container first, then wait for the detaching
            if not job.reason:
                job.reason = reason
            with contextlib.suppress(Exception):
                job.trace.cancel()
        for job in jobs:
            self._stop_trace(job, reason)

    def _cmd_helpers(self, msg: dict[str, Any]) -> dict[str, object]:
        """The BPF helpers this kernel offers per program type, as `beefine-tui helpers` computes
        them (checked by loading; cached for the agent's life), with this host's docs of them."""
        from beefine_tui.probes import helpers_catalog as hc

        return hc.kernel_report(hc.probe_kernel(), hc.load_docs())

    # ---- users' programs: load and unload, each a stream ended with the connection like any other

    def _cmd_load(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A user's BCC C program or bpftrace script from its text, loaded and attached as the app's
        "Your programs" does (probes/user_program), its output a stream. A program that does not
        compile or verify gets an error with the compiler's or verifier's `log` and `line`."""
        from beefine_tui.errors import ProbeLoadError
        from beefine_tui.probes import user_program as up

        source = msg.get("source")
        if not isinstance(source, str) or not source.strip():
            raise UsageError("load needs `source`: the program's text (BCC C or a bpftrace script)")
        if len(source.encode()) > up.MAX_SOURCE_BYTES:
            raise UsageError(f"the program is larger than {up.MAX_SOURCE_BYTES // 1024} KiB")
        engine = msg.get("engine") or up.detect_engine(source)
        if engine not in ("bcc", "bpftrace"):
            raise UsageError(f"`engine` is bcc or bpftrace, not {engine!r}")
        name, origin = msg.get("name"), msg.get("origin") or "pasted"
        if (name is not None and not isinstance(name, str)) or not isinstance(origin, str):
            raise UsageError("`name` and `origin` are strings")
        capacity = _int_arg(msg, "capacity", DEFAULT_CAPACITY)
        assert capacity is not None
        if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
            raise UsageError(f"capacity must be between {MIN_CAPACITY} and {MAX_CAPACITY} events")
        # the text is never read as a path: a host file is not the client's to load
        kind = up.UserBpftraceProgram if engine == "bpftrace" else up.UserBccProgram
        runner = kind(source, origin, name=name or None)
        bus = Bus()
        s = _Stream(self._next_stream, tuple(runner.probes), bus)
        self._next_stream += 1
        sub = bus.subscribe(f"agent program stream {s.id}", capacity)
        try:
            runner.start(bus.publish)
        except ProbeLoadError as e:
            runner.stop()
            sub.close()
            self._out.send(
                P.Error(id=msg["id"], code=P.FAILED, message=e.message, hint=e.hint, log=e.log, line=e.line)
            )
            raise _Replied from None
        except BaseException:
            runner.stop()
            sub.close()
            raise
        s.session = runner
        self._streams[s.id] = s
        prog = self._next_program
        self._next_program += 1
        self._programs[prog] = s.id
        header = RecordHeader(probes=list(s.names), command=["beefine-tui", "agent", "load", runner.name])
        self._out.send(
            P.Reply(
                id=msg["id"],
                result={
                    "program": prog,
                    "stream": s.id,
                    "name": runner.name,
                    "engine": runner.engine,
                    "origin": runner.origin,
                    "probes": list(runner.probes),
                    "columns": list(runner.columns),
                    "prog_ids": sorted(runner.prog_ids),
                    "warnings": list(runner.warnings),
                    "header": header,
                },
            )
        )
        s.thread = threading.Thread(
            target=self._pump, args=(s, sub), name=f"agent-stream-{s.id}", daemon=True
        )
        s.thread.start()
        raise _Replied

    def _cmd_unload(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Stop and unload a program `load` loaded (by the id it returned); no other program."""
        prog = _int_arg(msg, "program", None)
        sid = self._programs.pop(prog, None) if prog is not None else None
        if sid is None:
            raise UsageError(
                f"no program {prog} loaded by this agent",
                "give the `program` id `load` returned; only programs this agent loaded are unloaded",
            )
        s = self._streams.get(sid)
        if s is None:  # its stream was already stopped
            return {"program": prog, "stream": sid, "received": {}, "lost": {}}
        end = self._end_stream(s, "unloaded")
        return {"program": prog, "stream": sid, "received": end.received, "lost": end.lost}

    def _cmd_doctor(self, msg: dict[str, Any]) -> list[dict[str, str]]:
        """`beefine-tui doctor`'s checks, made on this host as the agent runs (its user, its
        kernel, the Docker daemon it was given)."""
        from beefine_tui.doctor import run_checks

        return [c.as_dict() for c in run_checks()]

    def _cmd_image(self, msg: dict[str, Any]) -> dict[str, Any]:
        """An image's structure as `beefine-tui image` reads it, from here: the registry as this
        host reaches it and/or this host's daemon."""
        from beefine_tui.docker.image_structure import read_structures
        from beefine_tui.docker.runner import check_reference

        image, source = msg.get("image"), msg.get("source", "both")
        if not isinstance(image, str) or not image.strip():
            raise UsageError("image needs `image`: an image reference")
        if source not in ("registry", "daemon", "both"):
            raise UsageError(f"`source` is registry, daemon or both, not {source!r}")
        check_reference(image)
        results, notes = read_structures(
            image, self.ctx().docker_host, source, list_files=bool(msg.get("files", True))
        )
        return {"structures": [st.to_dict() for st in results], "notes": notes}

    def _cmd_progs_stats(self, msg: dict[str, Any]) -> dict[str, Any]:
        """`progs --stats` here: every program, and what each ran during `interval` seconds with
        run counting on (a BPF_ENABLE_STATS fd, dropped by the kernel even if the agent is killed)."""
        from dataclasses import asdict

        from beefine_tui.privileges import require_bpf
        from beefine_tui.probes import inventory as inv

        interval = msg.get("interval", 1.0)
        if not isinstance(interval, int | float) or isinstance(interval, bool) or not 0.1 <= interval <= 60:
            raise UsageError("`interval` must be between 0.1 and 60 seconds")
        require_bpf("list the BPF programs on this machine")
        with inv.stats_on() as guard:
            first = inv.snapshot()
            # not a plain sleep: the connection ending (or a signal) stops the agent at once
            if self._stop.wait(interval):
                raise BeefineError("the agent is stopping")
            cur = inv.snapshot()
        rates = inv.rates(first, cur, stats_on=True)
        return {
            "method": guard.method,
            "rows": [r.to_json() for r in cur.rows],
            "rates": [asdict(r) for r in rates.values()],
        }

    # ---- end_on_exit: a stream that ends with the process or container it follows

    def _exit_watch(self, msg: dict[str, Any], options: ProbeOptions) -> tuple[int, str] | None:
        """With `end_on_exit`, the pid whose end ends the stream (the container's first process, or
        `pid`) and the End's reason; as `syscalls CONTAINER` and `probe run --pid` do locally."""
        if not msg.get("end_on_exit"):
            return None
        pid = _int_arg(msg, "pid", None)
        if pid is not None:
            if msg.get("follow_children"):
                raise UsageError("`end_on_exit` with `follow_children`: its children may outlive it")
            return pid, f"process {pid} exited"
        t = options.target
        if t.container_id:
            attrs = self._docker().containers.get(t.container_id).attrs
            init = int((attrs.get("State") or {}).get("Pid") or 0)
            if init > 0:
                return init, f"container {t.container_name} ended"
            raise NotFoundError(f"container {t.container_name} is not running")
        raise UsageError("`end_on_exit` needs `container` or `pid`")

    def _end_exited(self) -> None:
        """End the streams whose watched process is gone, after a grace for its last events."""
        now = time.monotonic()
        for s in list(self._streams.values()):
            if s.watch is None:
                continue
            if s.gone_since is None:
                if not os.path.exists(f"/proc/{s.watch[0]}"):
                    s.gone_since = now
            elif now - s.gone_since > EXIT_GRACE_S:
                self._end_stream(s, s.watch[1])

    # ---- the Container monitor: the same docker/ functions its local source (MonitorSource) calls

    def _cmd_containers(self, msg: dict[str, Any]) -> Any:
        """Every container the daemon knows (`docker ps -a`), for the monitor's picker."""
        from beefine_tui.docker.inspect import list_containers

        return list_containers(self._docker())

    def _cmd_sample(self, msg: dict[str, Any]) -> Any:
        """One monitor tick of a container (docker/inspect.py `Sample`). Its sampler is kept for the
        next tick (CPU % per process needs the previous one), bounded per connection."""
        from beefine_tui.docker.inspect import MonitorSampler

        ref = _container_arg(msg, "sample")
        sampler = self._samplers.pop(ref, None) or MonitorSampler(self._docker(), ref)
        result = sampler.sample()  # a container not found is not kept
        self._samplers[ref] = sampler
        while len(self._samplers) > MAX_SAMPLERS:
            self._samplers.popitem(last=False)
        return result

    def _cmd_netinfo(self, msg: dict[str, Any]) -> Any:
        """A running container's interfaces and sockets now (docker/netinfo.py `NetInfo`). Its init
        and processes are found here from the container: a client's pids would name any process."""
        from beefine_tui.docker.inspect import container_netinfo

        return container_netinfo(self._docker(), _container_arg(msg, "netinfo"))

    def _cmd_limits(self, msg: dict[str, Any]) -> Any:
        """New memory (bytes), cpus and pids limits through Docker (docker/limits.py `LimitChange`)."""
        from beefine_tui.docker.limits import update_limits

        ref = _container_arg(msg, "limits")
        memory, pids = _int_arg(msg, "memory", None), _int_arg(msg, "pids", None)
        cpus = msg.get("cpus")
        if cpus is not None and (not isinstance(cpus, int | float) or isinstance(cpus, bool) or cpus < 0):
            raise UsageError(f"`cpus` must be a number of CPUs, 0 or more, not {cpus!r}")
        return update_limits(
            self._docker(), ref, memory=memory, cpus=None if cpus is None else float(cpus), pids=pids
        )

    def _cmd_pause(self, msg: dict[str, Any]) -> Any:
        from beefine_tui.docker.limits import pause

        return pause(self._docker(), _container_arg(msg, "pause"))

    def _cmd_unpause(self, msg: dict[str, Any]) -> Any:
        from beefine_tui.docker.limits import unpause

        return unpause(self._docker(), _container_arg(msg, "unpause"))

    # ---- images: the host daemon's image tags

    def _cmd_images(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The tags of every image this host's daemon has, sorted: what the Image monitor offers to
        run over --remote (a local one lists its own daemon's the same way)."""
        try:
            found = self._docker().images.list()
        except BeefineError:
            raise
        except Exception as e:  # the SDK's own errors (the daemon gone meanwhile): said, not a traceback
            raise BeefineError(f"the host's Docker daemon did not list its images: {e}") from None
        return {"images": sorted({t for img in found for t in img.tags})}


def _request_flight_dumps(s: _Stream) -> None:
    """Ask each probe's flight recorder for its dump, unless one was written (the container's pid 1
    exiting writes one): the runner writes it at stop, before the stream's End."""
    periodic_for = getattr(s.session, "periodic_for", None)
    if not callable(periodic_for):
        return
    for name in s.names:
        with contextlib.suppress(Exception):
            flight = periodic_for(name)
            if flight is not None and not flight.dumps:
                flight.request()


def _start_facts(
    names: Sequence[str], options: ProbeOptions, watch: tuple[int, str] | None
) -> dict[str, Any]:
    """What a client prints about a stream besides its events: the container followed (id and name
    as resolved here), the pid watched, and for the syscalls probe where its names come from."""
    t = options.target
    facts: dict[str, Any] = {
        "target": {
            "container_id": t.container_id,
            "container_name": t.container_name,
            "watch_pid": watch[0] if watch else None,
        }
    }
    if "syscalls" in names:
        from beefine_tui.probes import syscall_table

        facts["syscall_table"] = syscall_table.load().source
    return facts


@dataclass
class _TraceJob:
    mid: int  # the trace command's id: its final reply carries it
    trace: Any  # tracing.Trace
    stream: _Stream
    image: str
    thread: threading.Thread | None = None
    reason: str = ""  # why it was cancelled; "" while it was not


class _Replied(Exception):
    """The command sent its reply itself (start: before its stream's first events)."""


class _VersionError(BeefineError):
    pass


def _container_arg(msg: dict[str, Any], cmd: str) -> str:
    ref = msg.get("container")
    if not isinstance(ref, str) or not ref.strip():
        raise UsageError(f"{cmd} needs `container`: a container's name or id")
    return ref


def _int_arg(msg: dict[str, Any], key: str, default: int | None) -> int | None:
    v = msg.get(key, default)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise UsageError(f"`{key}` must be an integer, not {v!r}")
    return v


@contextlib.contextmanager
def stop_on_signals(agent: Agent) -> Iterator[None]:
    """SIGHUP (the SSH session went), SIGTERM and SIGINT end the agent cleanly."""

    def handler(signum: int, frame: FrameType | None) -> None:
        agent.signalled.set()
        agent.stop(f"signal {signal.Signals(signum).name}")

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def serve(docker_host: str | None = None, metrics: str | None = None) -> int:
    """Run the agent on this process's stdin/stdout until the client leaves. With `metrics`
    ([ADDR:]PORT) it also serves Prometheus exposition, and goes on serving after stdin ends (as an
    exporter started with stdin at /dev/null) until SIGTERM, SIGINT or SIGHUP."""
    agent = Agent(sys.stdin.buffer, sys.stdout.buffer, docker_host=docker_host)
    agent.on_trace_done = _spool_trace
    stop_metrics = None
    counting = None
    with stop_on_signals(agent):
        if metrics is not None:
            from beefine_tui.agent.metrics import AgentCollector, PhaseDurations, parse_listen, serve_metrics

            addr, port = parse_listen(metrics)
            counting = _count_runs()
            from beefine_tui.agent.phase_spool import SpoolReader

            # before any trace: the traces of this host's agents from now on, this one's included
            phases = PhaseDurations(spool=SpoolReader())
            collector = AgentCollector(
                agent.metrics_snapshot,
                agent.probe_tallies,
                prog_ids=agent.probe_prog_ids if counting is not None else None,
                prog_counts=_prog_counts,
                phases=phases,
            )
            stop_metrics = serve_metrics(addr, port, collector)
            print(f"beefine-tui agent: metrics on http://{addr}:{port}/metrics", file=sys.stderr, flush=True)
        try:
            rc = agent.run()
            while stop_metrics is not None and not agent.signalled.wait(POLL_S):
                pass
        finally:
            if stop_metrics is not None:
                stop_metrics()
                if counting is not None:
                    counting.stop()
            agent.close()
    return rc


def _spool_trace(phases: list[dict[str, Any]]) -> None:
    """A finished trace's phases for this host's exporter (agent --metrics), whichever agent ran it."""
    from beefine_tui.agent.phase_spool import append

    try:
        append(phases)
    except OSError as e:  # the trace itself went well: said, not fatal
        why = f"beefine-tui agent: the trace's phases are not in the metrics: {e}"
        print(why, file=sys.stderr, flush=True)


def _count_runs() -> Any:
    """Run counting on for an exporter's life (an inventory.StatsGuard: a BPF_ENABLE_STATS fd, which
    the kernel drops even on SIGKILL). It costs every BPF program on the host a clock read per run,
    which is why only --metrics asks for it. None (and no run metrics) when the kernel refuses."""
    from beefine_tui.probes import inventory

    try:
        return inventory.StatsGuard().start()
    except Exception as e:
        print(f"beefine-tui agent: no BPF run counts in the metrics: {e}", file=sys.stderr, flush=True)
        return None


def _prog_counts() -> dict[int, tuple[int, int]]:
    from beefine_tui.probes import inventory

    return {
        r.prog.id: (r.prog.run_cnt or 0, r.prog.run_time_ns or 0)  # bpftool leaves out zeros
        for r in inventory.inventory()
    }
