"""The agent's `trace` command: one image's container creation traced on the agent's host with the
engine `beefine-tui trace` uses (story/trace.py: probes_for, start_sessions, TraceRun).

The server (server.py) runs a trace in a worker thread: `prepare` (Docker, the daemon's processes, the
image checked before seconds of attaching), `attach` (the probes), `run`, then `final_timeline`,
`remove` (the container) and `detach` (the probes). Every step after `prepare` may meet `cancel`
from the agent's main thread (bye, stop, a signal, stdin closed): it removes the container at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from beefine_tui.errors import BeefineError, DockerUnavailableError, UsageError
from beefine_tui.events.model import Event
from beefine_tui.story.phases import Timeline

# what the `trace` command takes, with its type: each is `trace`'s own option of the same name
_RUN_OPTIONS: dict[str, type] = {
    "security_opt": list,
    "read_only": bool,
    "cap_drop": list,
    "privileged": bool,
    "network": str,
}
MAX_TIMEOUT_S = 24 * 3600.0


@dataclass(frozen=True)
class TraceRequest:
    image: str
    command: tuple[str, ...] = ()
    pull: bool = False
    fresh: bool = False  # remove the image's tag first (implies pull)
    groups: tuple[str, ...] = ()  # probe groups; () = all (story.trace.DEFAULT_GROUPS)
    xdp: bool = False  # also count a registry on 127.0.0.1's packets on lo
    options: dict[str, Any] = field(default_factory=dict)  # docker SDK containers.create keywords
    timeout: float | None = None  # stop waiting for the container after this many seconds


def _strings(msg: dict[str, Any], key: str) -> tuple[str, ...]:
    v = msg.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise UsageError(f"`{key}` must be a list of strings")
    return tuple(v)


def _flag(msg: dict[str, Any], key: str) -> bool:
    v = msg.get(key, False)
    if not isinstance(v, bool):
        raise UsageError(f"`{key}` must be true or false, not {v!r}")
    return v


def parse_request(msg: dict[str, Any]) -> TraceRequest:
    """The `trace` command's arguments, checked as `beefine-tui trace` checks its own (UsageError)."""
    from beefine_tui.docker.runner import check_reference
    from beefine_tui.story.trace import GROUP_PROBES, docker_run_options

    image = msg.get("image")
    if not isinstance(image, str) or not image.strip():
        raise UsageError("trace needs `image`: the image to run")
    check_reference(image)
    groups = _strings(msg, "groups")
    for g in groups:
        if g not in GROUP_PROBES:
            raise UsageError(f"unknown probe group {g!r}", "groups: " + ", ".join(GROUP_PROBES))
    raw = msg.get("options", {})
    if not isinstance(raw, dict):
        raise UsageError("`options` is an object of docker run options")
    unknown = sorted(set(raw) - set(_RUN_OPTIONS))
    if unknown:
        known = "known: " + ", ".join(_RUN_OPTIONS)
        raise UsageError(f"unknown docker run option(s): {', '.join(unknown)}", known)
    for key, kind in _RUN_OPTIONS.items():
        v = raw.get(key)
        if v is None:
            continue
        if kind is list:
            ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
        else:
            ok = isinstance(v, kind)
        if not ok:
            what = "list of strings" if kind is list else kind.__name__
            raise UsageError(f"option `{key}` must be a {what}")
    options = docker_run_options(
        security_opt=raw.get("security_opt") or (),
        read_only=bool(raw.get("read_only")),
        cap_drop=raw.get("cap_drop") or (),
        privileged=bool(raw.get("privileged")),
        network=raw.get("network"),
    )
    timeout = msg.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise UsageError(f"`timeout` is a number of seconds, not {timeout!r}")
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise UsageError(f"`timeout` must be a positive number of seconds up to {MAX_TIMEOUT_S:g}")
    return TraceRequest(
        image=image,
        command=_strings(msg, "command"),
        pull=_flag(msg, "pull"),
        fresh=_flag(msg, "fresh"),
        groups=groups,
        xdp=_flag(msg, "xdp"),
        options=options,
        timeout=None if timeout is None else float(timeout),
    )


def phase_rows(tl: Timeline) -> list[dict[str, Any]]:
    """The final reply's phases: name, state, start, end and duration (ms from the story's first
    event, as `trace --json`) and the events lost while each ran."""
    return [
        {
            "name": d["phase"],
            "state": d["state"],
            "start_ms": d["start_ms"],
            "end_ms": d["end_ms"],
            "duration_ms": d["duration_ms"],
            "lost": d["lost"],
        }
        for d in tl.to_dicts()
    ]


class Trace(Protocol):
    """What the agent's worker drives (HostTrace; tests give fakes)."""

    names: list[str]  # the probes loaded
    notes: list[str]  # what is missing here, what was done first (a removed image)
    docker_host: str
    run_tag: str

    def prepare(self) -> None: ...
    def attach(self) -> None: ...
    def run(self) -> str: ...  # "" or why the container did not start
    def final_timeline(self) -> Timeline: ...  # and no more events go to the stream
    def hints(self) -> dict[str, Any]: ...
    def cancel(self) -> None: ...
    def remove(self) -> None: ...
    def detach(self) -> None: ...


# (request, docker host or None, where the run's events go) -> a Trace
MakeTrace = Callable[[TraceRequest, "str | None", Callable[[Sequence[Event]], None]], Trace]


class StreamWriter:
    """TraceRun's event writer: each batch the story gets, handed to the agent's stream (a Bus: never
    blocks, drops and counts for a slow reader) until `close()`."""

    def __init__(self, publish: Callable[[Sequence[Event]], None]) -> None:
        self._publish = publish
        self.closed = False

    def write(self, events: Sequence[Event]) -> None:
        if not self.closed:
            self._publish(events)

    def close(self) -> None:
        self.closed = True


class HostTrace:
    """A trace of `req` on this host's Docker daemon, as `beefine-tui trace` makes it."""

    def __init__(
        self, req: TraceRequest, docker_host: str | None, publish: Callable[[Sequence[Event]], None]
    ) -> None:
        self.req = req
        self._want_host = docker_host
        self.writer = StreamWriter(publish)
        self.names: list[str] = []
        self.notes: list[str] = []
        self.docker_host = ""
        self.run_tag = ""
        self._client: Any = None
        self._tr: Any = None  # story.trace.TraceRun
        self._target: Any = None
        self._iface: str | None = None
        self._sessions: list[Any] = []
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    def prepare(self) -> None:
        from beefine_tui.docker.client import connect
        from beefine_tui.docker.reaper import reap
        from beefine_tui.docker.runner import find_daemon, registry_of
        from beefine_tui.events.bus import Bus
        from beefine_tui.story.trace import DEFAULT_GROUPS, TraceRun, daemon_target, probes_for

        groups = list(self.req.groups or DEFAULT_GROUPS)
        if "process" not in groups:
            groups.insert(0, "process")  # the story follows processes: exec and fork are always needed
        if self.req.xdp:
            registry = registry_of(self.req.image)
            if not registry.startswith(("127.", "localhost")):
                # XDP counts on lo: a remote registry's packets never cross it
                raise UsageError(
                    f"xdp counts a local registry's packets on lo, and {self.req.image} comes from "
                    f"{registry}",
                    "drop --xdp, or use an image from a registry on the host's 127.0.0.1",
                )
            self._iface = "lo"
        self.names, notes = probes_for(groups, self._iface)
        self.notes += [f"note: {n}" for n in notes]
        left = reap(self._want_host)
        if left:
            self.notes.append(f"beefine-tui: {left}")
        from beefine_tui.docker.client import resolve_docker_host

        host = resolve_docker_host(self._want_host)
        if host is None:
            raise DockerUnavailableError(
                "no Docker daemon answers on the host", "start Docker there, or give the agent --docker-host"
            )
        self.docker_host = host
        self._client = connect(host)
        try:
            data_root = str(self._client.info().get("DockerRootDir", ""))
        except Exception as e:
            raise DockerUnavailableError(f"the daemon at {host} did not answer: {e}") from None
        daemon = find_daemon(host, data_root)
        if daemon.dockerd_pid is None:
            raise DockerUnavailableError(
                f"cannot find the dockerd process serving {host} on the host",
                "trace needs the daemon to run on the agent's host (its processes are what the probes "
                "follow)",
            )
        self._target = daemon_target(daemon)
        if self.req.fresh:
            from beefine_tui.docker.runner import remove_image

            # before the probes: the daemon's deletions are not part of the story
            self.notes.append(f"beefine-tui: {remove_image(self._client, self.req.image)}")
        tr = TraceRun(
            self._client, self.req.image, Bus(), command=list(self.req.command) or None,
            pull=True if self.req.pull or self.req.fresh else None, exec_roots=daemon.exec_roots,
            data_root=data_root, recorder=self.writer, create_options=dict(self.req.options),
        )  # fmt: skip
        tr.check_image()  # a wrong name fails here, before seconds of compiling and attaching
        assert tr.runner is not None
        self.run_tag = tr.runner.run_tag
        with self._lock:
            self._tr = tr
        tr.start_pump()

    def attach(self) -> None:
        from beefine_tui.story.trace import start_sessions

        tr = self._tr
        assert tr is not None
        sessions = start_sessions(self.names, self._target, tr.bus, self._iface)
        with self._lock:
            # detach() may have run meanwhile (a cancel during the seconds of attaching): the worker
            # calls it again at its end, and finds these
            self._sessions += sessions

    def run(self) -> str:
        tr = self._tr
        assert tr is not None
        if self._cancelled.is_set():
            return ""
        try:
            result = tr.run(timeout=self.req.timeout)
        except KeyboardInterrupt:  # the pull saw cancel(): ContainerRun.pull's own way of stopping
            return ""
        return str(result.error or "")

    def final_timeline(self) -> Timeline:
        """The story, and the stream closed at that very point: the events sent are exactly those the
        story was built from, so a client's StoryEngine tells the same story."""
        tr = self._tr
        assert tr is not None
        tl: Timeline = tr.final_timeline(self.writer.close)
        return tl

    def hints(self) -> dict[str, Any]:
        """The story's hints that no event carries: a client's StoryEngine needs them to tell the same
        story from the events (the rest, container id, layers, bundle, come as docker events)."""
        tr = self._tr
        if tr is None:
            return {}
        h = tr.engine.hints
        return {
            "image": h.image,
            "registry": h.registry,
            "run_tag": h.run_tag,
            "pulling": h.pulling,
            "pull_skip_reason": h.pull_skip_reason,
        }

    def cancel(self) -> None:
        """From any thread: stop the run and remove its container now."""
        self._cancelled.set()
        self.remove()

    def remove(self) -> None:
        with self._lock:
            tr = self._tr
        if tr is not None:
            tr.stop()  # idempotent: removes the container (by its run label too), stops the pump

    def detach(self) -> None:
        """The probes (seconds for ~150 tracepoints), then the Docker client. Idempotent; call it
        after remove(): nothing that outlives us waits behind the detaching."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            client, self._client = self._client, None
        for s in sessions:
            with contextlib.suppress(Exception):
                s.stop()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def trace_error(e: BaseException) -> tuple[bool, str, str]:
    """(a usage error?, message, hint) of what ended a trace."""
    if isinstance(e, BeefineError):
        from beefine_tui.errors import NotFoundError

        return isinstance(e, UsageError | NotFoundError), e.message, e.hint
    return False, f"internal error: {type(e).__name__}: {e}", ""
