"""The TUI over `--remote`: an AppContext whose probes and Docker figures come from agents on other
hosts, so the views run unchanged, unprivileged, with no BPF loaded here.

Each host is a RemoteLink: one agent connection (agent/client.py) and one thread that routes its
stream messages to the sessions that asked for them, notices when the connection ends and makes a new
one with backoff (1 s doubling to 30 s). A RemoteSession is what a view's `start_probes` returns: an
agent stream feeding the view's own bus; after a reconnection it asks the new agent for the same
stream again. A version mismatch is not retried: retrying cannot fix it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from beefine_tui.agent import protocol as P
from beefine_tui.agent.client import (
    AgentClient,
    AgentVersionError,
    Remote,
    open_client,
    parse_remote,
    transport_argv,
)
from beefine_tui.appcontext import AppContext
from beefine_tui.docker.stats import ContainerRow, DaemonFacts, Snapshot, totals
from beefine_tui.errors import BeefineError, UsageError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, UPSTREAM, Event, lost_event, status_event
from beefine_tui.probes.base import ProbeOptions, Sink, Target
from beefine_tui.probes.xdp_runner import InterfaceInfo

# messages of streams no session is attached to yet: the agent sends a stream's first events right
# after its reply, which may reach the routing thread before start() has attached the session
EARLY_MAX = 1024
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
POLL_S = 0.2

# (argv, label) -> a connected client (hello done). Tests pass their own.
Connect = Callable[[Sequence[str], str], AgentClient]


def _connect(argv: Sequence[str], label: str) -> AgentClient:
    return open_client(argv, label)


class Publisher(Protocol):
    """Where a remote stream's events go: a view's Bus, or a user program's sink."""

    def publish(self, events: Sequence[Event]) -> None: ...


class RemoteSession:
    """One agent stream feeding `bus`; restarted on each new connection until stop()."""

    def __init__(
        self,
        link: RemoteLink,
        names: Sequence[str],
        container: str | None,
        bus: Publisher,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.link = link
        self.names = tuple(names)
        self.container = container
        self.options = dict(options or {})  # the agent's other filters (path_prefix, include_self)
        self.bus = bus
        self.stream: int | None = None
        self.client: AgentClient | None = None
        self.offset_ns = 0  # the agent's CLOCK_MONOTONIC -> ours, so views' relative times hold
        self.stopped = False
        self.states: dict[str, Any] = {}

    def start(self) -> None:
        """Ask the agent for the stream (raises what the agent said: a clear BeefineError)."""
        client = self.link.client_or_raise()
        args: dict[str, Any] = {"probes": list(self.names), **self.options}
        if self.container:
            args["container"] = self.container
        result = client.request("start", **args)
        self.client = client
        self.offset_ns = self.link.offset_ns
        self.stream = int(result["stream"])
        self.link.attach(self)

    def deliver(self, msg: P.Message) -> None:
        if isinstance(msg, P.Events):
            off = self.offset_ns
            evs: list[Event] = [
                _upstream_loss(e) if e.kind == LOST else e
                for e in (
                    msg.events if not off else [msgspec.structs.replace(e, ts=e.ts + off) for e in msg.events]
                )
            ]
            self.bus.publish(evs)
        elif isinstance(msg, P.End) and msg.reason != "stopped":
            self.bus.publish(
                [status_event(n, "stopped", f"the agent ended it: {msg.reason}") for n in self.names]
            )
        # P.Lost needs nothing: the same loss is in the stream as `lost` events (PROTOCOL.md)

    def dropped_here(self, n: int) -> None:
        """Events the client dropped because this view read slower than the agent sent."""
        share = max(1, n // max(1, len(self.names)))
        self.bus.publish([lost_event(name, share, UPSTREAM_LOSS) for name in self.names])

    def disconnected(self, why: str) -> None:
        self.stream = None
        self.client = None
        self.bus.publish([status_event(n, "disconnected", why) for n in self.names])

    def stop(self) -> None:
        """Idempotent; the agent stops the probes (and unloads them) on `stop`."""
        if self.stopped:
            return
        self.stopped = True
        self.link.detach(self)
        client, sid = self.client, self.stream
        self.stream = self.client = None
        if client is not None and sid is not None and not client.closed:
            with contextlib.suppress(BeefineError):
                client.request("stop", timeout=30, stream=sid)


class _ToSink:
    """A Publisher for a user program's sink, which is known only once the agent named the program."""

    def __init__(self) -> None:
        self.sink: Sink | None = None

    def publish(self, events: Sequence[Event]) -> None:
        if self.sink is not None:
            self.sink(events)


class RemoteProgram(RemoteSession):
    """A user's program loaded on a host by its agent (`load`), for the Your programs view: what the
    view reads of a local runner (name, engine, probes, columns, prog_ids, warnings, error), its
    output fed to the sink `sink_for` gives; stop() unloads it. The agent unloads it too when the
    connection ends; once reconnected it is loaded again on the new agent."""

    def __init__(
        self,
        link: RemoteLink,
        source: str,
        origin: str,
        sink_for: Callable[[Any], Sink] | None,
        default_sink: Sink,
    ) -> None:
        self._to = _ToSink()
        super().__init__(link, (), None, self._to)
        self.source = source
        self.origin = origin or "pasted"
        self.host = link.label
        self._sink_for = sink_for
        self._default_sink = default_sink
        self.program: int | None = None
        self.name = ""
        self.engine = "?"
        self.columns: tuple[str, ...] = ()
        self.prog_ids: tuple[int, ...] = ()
        self.warnings: list[str] = []
        self.error: str | None = None

    @property
    def probes(self) -> tuple[str, ...]:
        return self.names

    def start(self) -> None:
        """Load it on the host: an AgentProgramError (a ProbeLoadError with the compiler's or
        verifier's log and line) when it does not compile or verify there."""
        client = self.link.client_or_raise()
        # the first load on a host compiles with clang there: seconds, more on a busy host
        r = client.request("load", timeout=300, source=self.source, origin=self.origin)
        self.client = client
        self.offset_ns = self.link.offset_ns
        self.program, self.stream = int(r["program"]), int(r["stream"])
        self.name, self.engine = str(r["name"]), str(r["engine"])
        self.names = tuple(r["probes"])
        self.columns = tuple(r.get("columns") or ())
        self.prog_ids = tuple(r.get("prog_ids") or ())
        self.warnings = list(r.get("warnings") or ())
        self.error = None
        if self._to.sink is None:
            self._to.sink = self._sink_for(self) if self._sink_for is not None else self._default_sink
        self.link.attach(self)

    def disconnected(self, why: str) -> None:
        self.error = why
        self.program = None
        super().disconnected(why)

    def stop(self) -> None:
        """Idempotent: `unload` (the agent frees the program and ends its stream)."""
        if self.stopped:
            return
        self.stopped = True
        self.link.detach(self)
        client, prog = self.client, self.program
        self.stream = self.client = self.program = None
        if client is not None and prog is not None and not client.closed:
            with contextlib.suppress(BeefineError):
                client.request("unload", timeout=30, program=prog)


# A `lost` event of source "bus" is what a bus says to its own reader, and publishing one counts
# nothing (events/bus.py): the agent's queue losses and this client's drops are renamed so the view's
# tally (its status strip) counts them, with the kernel's, as lost before the view.
UPSTREAM_LOSS = UPSTREAM


def _upstream_loss(ev: Event) -> Event:
    if ev.args.get("source") != "bus":
        return ev
    return lost_event(ev.probe, int(ev.args.get("count", 0)), UPSTREAM_LOSS, ts=ev.ts)


@dataclass
class LinkState:
    state: str = "connecting"  # connecting, up, lost, refused, closed
    why: str = ""
    retry_at: float = 0.0  # time.monotonic() of the next attempt while lost
    reconnects: int = 0


class RemoteLink:
    """One host's agent, kept connected. `connect_first()` is the synchronous first connection (its
    errors end the command before the TUI opens); later losses are retried in the link's thread."""

    def __init__(
        self,
        remote: Remote,
        agent_args: Sequence[str] = (),
        *,
        label: str = "",
        connect: Connect = _connect,
        argv: Sequence[str] | None = None,
    ) -> None:
        self.remote = remote
        self.label = label or remote.label
        self.argv = list(argv) if argv is not None else transport_argv(remote, agent_args)
        self._connect = connect
        self.client: AgentClient | None = None
        self.offset_ns = 0
        self.status = LinkState()
        self._sessions: dict[int, RemoteSession] = {}
        self._resume: list[RemoteSession] = []
        self._early: deque[P.Message] = deque(maxlen=EARLY_MAX)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped_seen = 0

    # ---- connection
    def _hello(self) -> AgentClient:
        t0 = time.monotonic_ns()
        client = self._connect(self.argv, self.label)
        t1 = time.monotonic_ns()
        far = client.hello.get("monotonic_ns")
        # the agent read its clock about halfway through the handshake
        self.offset_ns = (t0 + t1) // 2 - far if isinstance(far, int) else 0
        self._dropped_seen = 0
        with self._lock:
            self._early.clear()  # stream ids start again on a new agent
        return client

    def connect_first(self) -> None:
        self.client = self._hello()
        self.status = LinkState(state="up")
        self._thread = threading.Thread(target=self._run, name=f"remote-{self.label}", daemon=True)
        self._thread.start()

    def client_or_raise(self) -> AgentClient:
        client = self.client
        if client is None or client.closed:
            st = self.status
            raise BeefineError(
                f"{self.label}: not connected ({st.why or st.state})",
                "the connection is retried on its own; start again once the header says it is up",
            )
        return client

    def describe(self) -> str:
        st = self.status
        if st.state == "up":
            return f"remote {self.label}" + (f" (reconnected {st.reconnects}x)" if st.reconnects else "")
        if st.state == "lost":
            wait = max(0.0, st.retry_at - time.monotonic())
            return f"remote {self.label}: connection lost, retrying in {wait:.0f} s"
        return f"remote {self.label}: {st.state}" + (f" ({st.why})" if st.why else "")

    def attach(self, s: RemoteSession) -> None:
        """Route the stream's messages to `s`, starting with those that came before it attached."""
        with self._lock:
            if s.stream is not None:
                self._sessions[s.stream] = s
                early = [m for m in self._early if getattr(m, "stream", None) == s.stream]
                if early:
                    rest = [m for m in self._early if getattr(m, "stream", None) != s.stream]
                    self._early = deque(rest, maxlen=EARLY_MAX)
                for m in early:  # under the lock: the routing thread's later ones come after
                    s.deliver(m)

    def detach(self, s: RemoteSession) -> None:
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v is not s}
            self._resume = [v for v in self._resume if v is not s]

    def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stop.is_set():
            client = self.client
            if client is not None and not client.closed:
                self._route(client)
                backoff = BACKOFF_FIRST_S
                continue
            if client is not None:  # it just ended
                self.client = None
                self._lost(client.close_reason or "the connection ended", backoff)
            if self.status.state == "refused":
                self._stop.wait(POLL_S)
                continue
            if time.monotonic() < self.status.retry_at:
                self._stop.wait(POLL_S)
                continue
            try:
                self.client = self._hello()
            except AgentVersionError as e:
                self.status = LinkState(state="refused", why=e.message + (f" ({e.hint})" if e.hint else ""))
                continue
            except BeefineError as e:
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                self.status = LinkState(
                    state="lost",
                    why=e.message,
                    retry_at=time.monotonic() + backoff,
                    reconnects=self.status.reconnects,
                )
                continue
            self.status = LinkState(state="up", reconnects=self.status.reconnects + 1)
            self._resume_sessions()

    def _route(self, client: AgentClient) -> None:
        for msg in client.stream_messages(POLL_S):
            sid = getattr(msg, "stream", None)
            if not isinstance(sid, int):
                continue
            with self._lock:  # delivering under it keeps a stream's order with attach()'s early ones
                s = self._sessions.get(sid)
                if s is not None:
                    s.deliver(msg)
                else:  # not attached yet (or already stopped: the oldest go first)
                    self._early.append(msg)
        if client.dropped > self._dropped_seen:
            n, self._dropped_seen = client.dropped - self._dropped_seen, client.dropped
            with self._lock:
                sessions = list(self._sessions.values())
            for s in sessions:  # which stream's batch it was is not kept: every stream is told
                s.dropped_here(n)

    def _lost(self, why: str, backoff: float) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
            self._resume = [s for s in sessions if not s.stopped]
        for s in sessions:
            s.disconnected(why)
        self.status = LinkState(
            state="lost", why=why, retry_at=time.monotonic() + backoff, reconnects=self.status.reconnects
        )

    def _resume_sessions(self) -> None:
        with self._lock:
            todo, self._resume = self._resume, []
        for s in todo:
            if s.stopped:
                continue
            try:
                s.start()
            except BeefineError as e:
                s.bus.publish([status_event(n, "error", e.message) for n in s.names])

    def close(self) -> None:
        """Stop retrying, say bye (the agent then stops everything it started). Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        client, self.client = self.client, None
        if client is not None:
            client.close()
        self.status = LinkState(state="closed")

    def take_started(self, command_id: int) -> P.StreamStarted | None:
        """The `stream` message that began command `command_id`'s stream (a `trace`), once it came:
        the routing thread holds it with the stream's first events until a session attaches under its
        stream id, which only this message tells."""
        with self._lock:
            for m in self._early:
                if isinstance(m, P.StreamStarted) and m.id == command_id:
                    self._early.remove(m)
                    return m
        return None


@dataclass(frozen=True)
class RemoteTarget(Target):
    """A container on one of the remote hosts: the agent there resolves the name."""

    host: str = ""


class HostsSnapshot(Snapshot, kw_only=True):
    """Every host's containers: `hosts[i]` is the host of `rows[i]`; `daemons` per host; a host that
    did not answer is in `host_errors` while the others' rows still show."""

    hosts: list[str] = msgspec.field(default_factory=list)
    daemons: dict[str, DaemonFacts] = msgspec.field(default_factory=dict)
    host_errors: list[str] = msgspec.field(default_factory=list)


class HostsStats:
    """The dashboard's collector over --remote: each agent's `stats`, merged, each row with its host."""

    def __init__(self, links: Sequence[RemoteLink]) -> None:
        self.links = list(links)

    def refresh(self) -> HostsSnapshot:
        rows: list[ContainerRow] = []
        hosts: list[str] = []
        daemons: dict[str, DaemonFacts] = {}
        errors: list[str] = []
        for link in self.links:
            try:
                snap = msgspec.convert(link.client_or_raise().request("stats", timeout=30), Snapshot)
            except BeefineError as e:
                errors.append(e.message if e.message.startswith(link.label) else f"{link.label}: {e.message}")
                continue
            if snap.error:
                errors.append(f"{link.label}: {snap.error}")
            if snap.daemon is not None:
                daemons[link.label] = snap.daemon
            rows += snap.rows
            hosts += [link.label] * len(snap.rows)
        all_failed = len(errors) == len(self.links)
        return HostsSnapshot(
            ts=time.time(),
            daemon=next(iter(daemons.values())) if len(self.links) == 1 and daemons else None,
            rows=rows,
            totals=totals(rows),
            error="; ".join(errors) if all_failed else "",
            hosts=hosts,
            daemons=daemons,
            host_errors=[] if all_failed else errors,
        )

    def close(self) -> None:
        pass


@dataclass
class RemoteContext(AppContext):
    """An AppContext for `beefine-tui --remote`: nothing is loaded and no Docker is asked here."""

    links: list[RemoteLink] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bpf_allowed = True  # the agents load; this process never does
        self.docker_error = "the containers are on the remote host(s): the Dashboard shows them"

    @property
    def remote(self) -> bool:
        return True

    def connection_text(self) -> str:
        return " · ".join(link.describe() for link in self.links)

    def link(self, label: str | None = None) -> RemoteLink:
        if label is None:
            return self.links[0]
        for link in self.links:
            if link.label == label:
                return link
        raise UsageError(f"no remote host {label!r}", "hosts: " + ", ".join(x.label for x in self.links))

    def stats_collector(self) -> Any:
        return HostsStats(self.links)

    def hosts(self) -> list[str]:
        return [link.label for link in self.links]

    def host_link(self, host: str | None = None) -> RemoteLink:
        """The link of `host` (the first one when None): host-wide views read from its agent."""
        return self.link(host)

    def host_target(self, host: str | None = None) -> Target:
        """A host-wide probe on `host` (the first one when None): its agent runs it."""
        return RemoteTarget(host=self.link(host).label)

    def network_interfaces(self, host: str | None = None) -> list[InterfaceInfo]:
        """`host`'s interfaces (the first host's when None), from its agent's `interfaces`."""
        client = self.link(host).client_or_raise()
        client.require("interfaces", "list its network interfaces for XDP")
        try:
            return [msgspec.convert(d, InterfaceInfo) for d in client.request("interfaces", timeout=60)]
        except (msgspec.ValidationError, TypeError) as e:
            raise BeefineError(
                f"{client.label}: the agent's interface list is not one this client reads: {e}"
            ) from None

    def resolve_target(self, container: str) -> Target:
        """`NAME` (on the first host) or `HOST/NAME` (Docker names hold no `/`). The agent resolves
        the name on its own host: only the name travels."""
        host, sep, name = container.rpartition("/")
        link = self.link(host if sep else None)
        if not name:
            raise UsageError(f"{container!r}: give a container name after {host}/")
        return RemoteTarget(container_name=name, host=link.label)

    def check_available(self, names: Sequence[str]) -> None:
        pass  # the agent checks on its host and refuses with the reason

    def start_probes(self, names: Sequence[str], options: ProbeOptions, bus: Bus | None = None) -> Any:
        if self.closed:
            raise BeefineError("the app is closing: no new probes are started")
        host = getattr(options.target, "host", None) or None
        extra: dict[str, Any] = {}
        if options.path_prefix:
            extra["path_prefix"] = options.path_prefix
        if options.include_self:
            extra["include_self"] = True
        if options.interface:
            extra["interface"] = options.interface  # the xdp probe, on that host's interface
        s = RemoteSession(self.link(host), names, options.target.container_name, bus or self.bus, extra)
        self.own(s)
        try:
            s.start()
        except BaseException:
            self.disown(s)
            raise
        return s

    @property
    def program_host(self) -> str:
        """Where Your programs load over --remote: the first host."""
        return self.links[0].label

    def start_user_program(
        self,
        path_or_text: str,
        origin: str = "",
        sink_for: Callable[[Any], Sink] | None = None,
        host: str | None = None,
    ) -> Any:
        """The program's text loaded by `host`'s agent (the first host's when None; a RemoteProgram);
        the compiler's or verifier's refusal raised as the ProbeLoadError a local load gives."""
        if self.closed:
            raise BeefineError("the app is closing: no program is loaded")
        prog = RemoteProgram(self.link(host), path_or_text, origin, sink_for, self.bus.publish)
        self.own(prog)
        try:
            prog.start()
        except BaseException:
            self.disown(prog)
            raise
        return prog

    def close(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        super().close(on_error)  # the sessions stop their streams first
        for link in self.links:
            try:
                link.close()
            except Exception as e:
                if on_error:
                    on_error(e)

    def image_monitor_source(self) -> Any:
        """The Image monitor runs on a host's agent (the first; the view offers the others)."""
        # here: remote_image builds on this module's RemoteSession
        from beefine_tui.agent.remote_image import RemoteImageSource

        return RemoteImageSource(self)


def connect_remotes(
    specs: Sequence[str], agent_args: Sequence[str] = (), connect: Connect = _connect
) -> RemoteContext:
    """One link per `--remote`, each connected once now (a clear error otherwise, and the links
    already made are closed)."""
    links: list[RemoteLink] = []
    try:
        for spec in specs:
            remote = parse_remote(spec)
            link = RemoteLink(remote, agent_args, connect=connect)
            if any(x.label == link.label for x in links):
                raise UsageError(f"--remote {spec} is given twice")
            link.connect_first()
            links.append(link)
    except BaseException:
        for x in links:
            x.close()
        raise
    return RemoteContext(links=links)
