"""What every screen needs from the running app, without Textual: the Docker daemon in use, the bus,
and probe sessions that are always stopped when the app exits.

The Textual app owns one AppContext (`app.ctx`); views reach it through `HasContext`. Headless
commands build their own. Everything started through it is stopped by `close()`, which the app calls
on unmount and on signals, so nothing of ours outlives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from beefine_tui.docker.client import connect
from beefine_tui.errors import BeefineError, DockerUnavailableError, ProbeLoadError
from beefine_tui.events.bus import Bus
from beefine_tui.privileges import can_load_bpf
from beefine_tui.probes import catalog, program_cache, user_program, xdp_runner
from beefine_tui.probes.base import ProbeOptions, Sink, Target
from beefine_tui.probes.bcc_program import BccProgram
from beefine_tui.probes.precompile import Compile, Precompiler, Progress, stop_quietly
from beefine_tui.probes.session import ProbeSession, bcc_programs

if TYPE_CHECKING:
    import docker


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class AppContext:
    docker_host: str | None = None  # None: no daemon answered and no lab could start
    lab: Any = None  # beefine_tui.docker.lab.LabInfo when the app started its own lab
    docker_error: str = ""  # why there is no daemon, for the screens to show
    bus: Bus = field(default_factory=Bus)
    bpf_allowed: bool = field(default_factory=can_load_bpf)
    _client: docker.DockerClient | None = None
    _owned: list[Stoppable] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False
    programs: program_cache.ProgramCache | None = None  # compiled probes kept for the session
    precompiler: Precompiler | None = None  # fills `programs` ahead of use (probes/precompile.py)

    def keep_programs(self, compile: Compile | None = None) -> program_cache.ProgramCache:
        """Keep compiled BCC probes for this app's session (see probes/program_cache.py): every BCC
        runner of the process takes from and gives back to this cache until close(). With BPF
        allowed, views may also have them compiled ahead (`precompile_*`); `compile` replaces the
        real compile (UI tests)."""
        with self._lock:
            if self.programs is None:
                self.programs = program_cache.ProgramCache()
                program_cache.install(self.programs)
                if self.bpf_allowed:
                    self.precompiler = Precompiler(self.programs, compile)
            return self.programs

    # ---- compiling ahead: never blocks the caller (the UI thread), a no-op without a precompiler

    def precompile_story(self, first: bool = False) -> None:
        """The Image monitor's probes for the daemon in use, every group ticked (a run with fewer
        groups uses a subset of the same programs). Finding the daemon runs on the precompile thread."""
        self._precompile([self._story_programs], first)

    def precompile_probes(self, names: Sequence[str], options: ProbeOptions | None = None) -> None:
        """A view's BCC probes with the options it will start them with (a view just opened: first)."""
        opts = options or ProbeOptions(target=Target())
        self._precompile([lambda: bcc_programs(list(names), opts)], first=True)

    def precompile_at_start(self) -> None:
        """At the app's start: the story's probes, then Trace exec's (host-wide exec)."""
        self._precompile([self._story_programs, lambda: bcc_programs(["exec"], ProbeOptions())])

    def precompile_progress(self) -> Progress | None:
        p = self.precompiler
        return p.progress() if p is not None else None

    def _precompile(self, jobs: list[Callable[[], Sequence[BccProgram]]], first: bool = False) -> None:
        p = self.precompiler
        if p is not None and not self._closed:
            p.request(jobs, first=first)

    def _story_programs(self) -> list[BccProgram]:
        from beefine_tui.docker.runner import find_daemon
        from beefine_tui.story.trace import DEFAULT_GROUPS, daemon_target, probes_for, story_programs

        if self.docker_host is None:
            return []
        data_root = str(self.docker_client().info().get("DockerRootDir", ""))
        daemon = find_daemon(self.docker_host, data_root)
        if daemon.dockerd_pid is None:
            return []  # a remote daemon: its processes cannot be traced from here
        names, _ = probes_for(DEFAULT_GROUPS)
        return story_programs(names, daemon_target(daemon))

    def docker_client(self) -> docker.DockerClient:
        """The SDK client for the daemon in use; raises DockerUnavailableError with the reason."""
        if self.docker_host is None:
            raise DockerUnavailableError(
                self.docker_error or "no Docker daemon is available",
                "start Docker, set DOCKER_HOST, or run `sudo beefine-tui lab up`",
            )
        with self._lock:
            if self._client is None:
                self._client = connect(self.docker_host)
            return self._client

    def stats_collector(self) -> Any:
        """What the dashboard refreshes from (RemoteContext: the agent's `stats`)."""
        from beefine_tui.docker.stats import StatsCollector

        return StatsCollector(self.docker_client(), host=self.docker_host or "")

    def resolve_target(self, container: str) -> Target:
        """A probe Target for one container: its pid namespace, found through the Docker daemon."""
        from beefine_tui.probes import attribution

        return attribution.target_for_container(self.docker_client(), container)

    def image_monitor_source(self) -> Any:
        """Where the Image monitor lists, reads and runs images when not here (RemoteContext: a host's
        agent); None: this machine's Docker and probes (the view's own ImageMonitorSource)."""
        return None

    def hosts(self) -> list[str]:
        """The remote hosts observed (RemoteContext); none here: every view shows this machine."""
        return []

    def host_link(self, host: str | None = None) -> Any:
        """The agent link a host-wide view on `host` reads from (RemoteContext), None for this machine."""
        return None

    def host_target(self, host: str | None = None) -> Target:
        """The Target of a host-wide probe on `host` (RemoteContext); here, the whole machine."""
        return Target()

    @property
    def closed(self) -> bool:
        return self._closed

    def own(self, thing: Stoppable) -> None:
        """Register something to stop at close() (a probe session, a container remover...).

        After close() (a worker finishing while the app exits) it is stopped at once instead, so
        nothing started late outlives the app.
        """
        with self._lock:
            if not self._closed:
                self._owned.append(thing)
                return
        thing.stop()

    def owned(self) -> list[Stoppable]:
        """What close() would stop now, newest last (a snapshot: safe to iterate while others own more)."""
        with self._lock:
            return list(self._owned)

    def disown(self, thing: Stoppable) -> None:
        with self._lock:
            if thing in self._owned:
                self._owned.remove(thing)

    def start_probes(self, names: Sequence[str], options: ProbeOptions, bus: Bus | None = None) -> Any:
        """Start a ProbeSession publishing to `bus` (a view's own, so two views running the same probe
        with different filters do not see each other's events) or this context's; stopped at close()."""
        if self._closed:
            raise BeefineError("the app is closing: no new probes are started")
        session = ProbeSession(names, options, bus if bus is not None else self.bus)
        self.own(session)
        try:
            session.start()
        except BaseException:
            session.stop()
            self.disown(session)
            raise
        return session

    def check_available(self, names: Sequence[str]) -> None:
        """ProbeLoadError naming the first probe that cannot run here and why (no root, no tracefs...),
        so a view can say so at once instead of starting the others."""
        for name in names:
            avail = catalog.get(name).available()
            if not avail.ok:
                raise ProbeLoadError(f"probe {name!r} is not available here: {avail.reason}")

    def start_user_program(
        self,
        path_or_text: str,
        origin: str = "",
        sink_for: Callable[[user_program.UserProgram], Sink] | None = None,
        host: str | None = None,
    ) -> user_program.UserProgram:
        """Compile, load and start a user's program (BCC C or bpftrace, file or pasted text), publishing to
        this context's bus (or to the sink `sink_for` gives once the program's names are known); stopped at
        close(). `origin` is the file it came from. ProbeLoadError (with the compiler's log) when it fails.
        `host` is for RemoteContext (which host's agent loads it): here it is this machine."""
        runner = user_program.load_user_program(path_or_text)
        if origin:
            runner.origin = origin
        self.own(runner)
        try:
            runner.start(sink_for(runner) if sink_for is not None else self.bus.publish)
        except BaseException:
            runner.stop()
            self.disown(runner)
            raise
        return runner

    def network_interfaces(self, host: str | None = None) -> list[xdp_runner.InterfaceInfo]:
        """Every interface of this network namespace, for choosing where to attach XDP (`host`: the
        RemoteContext's, whose agent lists its host's)."""
        return xdp_runner.list_interfaces()

    def release_outliving(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        """Remove what would outlive this process (containers), before anything is detached: owned
        things offering `remove_outliving()` do it now; they stay owned, so close() stops the rest."""
        with self._lock:
            owned = list(reversed(self._owned))
        for thing in owned:
            remove = getattr(thing, "remove_outliving", None)
            if remove is None:
                continue
            try:
                remove()
            except Exception as e:
                if on_error:
                    on_error(e)

    def close(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        """Stop everything owned, newest first. Idempotent; one failure does not skip the rest."""
        with self._lock:
            self._closed = True
            owned, self._owned = list(reversed(self._owned)), []
            client, self._client = self._client, None
        # nothing more compiled ahead; the compile in progress ends (its object freed with the cache)
        stop_quietly(self.precompiler)
        for thing in owned:
            try:
                thing.stop()
            except Exception as e:
                if on_error:
                    on_error(e)
        # after the sessions stopped (they gave their objects back): free every kept program
        cache = self.programs
        if cache is not None:
            if program_cache.current() is cache:
                program_cache.install(None)
            try:
                cache.close()
            except Exception as e:
                if on_error:
                    on_error(e)
        if client is not None:
            try:
                client.close()
            except Exception as e:
                if on_error:
                    on_error(e)


class HasContext(Protocol):
    ctx: AppContext
