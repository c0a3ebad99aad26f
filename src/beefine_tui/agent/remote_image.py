"""The Image monitor over --remote: what screens/image_monitor.py's ImageMonitorSource does with
Docker and probes here, done by a host's agent (its `images`, `image` and `trace` commands).

The story is told here by the same StoryEngine, fed the events of the trace's stream: exactly the
events the host's own story is built from (agent/PROTOCOL.md, trace), so the phases are the same as
`trace --remote` prints and as the host computes. The pull's per-layer progress comes from those
events too (the runner's `pull_status`). The agent removes the container it made, and detaches its
probes, when the run ends, is stopped, or the connection ends however it ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from beefine_tui.agent import protocol as P
from beefine_tui.agent.client import AgentClient, AgentConnectionError
from beefine_tui.agent.remote_context import RemoteContext, RemoteLink, RemoteSession, _upstream_loss
from beefine_tui.docker.events import PullStatusArgs
from beefine_tui.docker.image_structure import ImageStructure
from beefine_tui.docker.runner import check_reference, registry_of
from beefine_tui.errors import BeefineError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, UPSTREAM, Event, lost_event
from beefine_tui.story.engine import StoryEngine, StoryHints
from beefine_tui.story.phases import Timeline
from beefine_tui.story.trace import StoryFeed

POLL_S = 0.05
# the host compiles and attaches the story's probes (~150 tracepoints) before the stream begins:
# seconds, minutes on a busy host with nothing compiled yet
STREAM_WAIT_S = 600.0
END_WAIT_S = 10.0  # after the reply: the stream's last lines, routed on another thread, arriving
STOP_WAIT_S = 60.0  # `stop`: the agent removes the container, then detaches the probes, then replies


@dataclass(frozen=True)
class RemoteRunResult:
    """What the view reads of a run's end, as of a local RunResult."""

    error: str = ""
    exit_code: int | None = None
    interrupted: str = ""


class RemoteTraceRun(RemoteSession):
    """One run traced by a host's agent (`trace`), shaped as the view's MonitorRun: `timeline()`
    (cheap: computed on the run's own thread), `run()` and `finish()` (blocking: from a worker),
    `stop()` and `remove_outliving()` (never block the caller's thread unless asked to wait).

    A stream of the link (deliver, dropped_here, disconnected), but never started again on a new
    connection: the agent that ran it removed its container when the old one ended."""

    detached_note_text = "the agent on {host} detaches its probes"

    def __init__(
        self,
        link: RemoteLink,
        image: str,
        request: dict[str, Any],
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        release: Callable[[Any], None] | None = None,
    ) -> None:
        # a bus between the routing thread and the story: never blocks the routing of other views'
        # streams, bounded, and what it drops reaches the story as loss
        super().__init__(link, (), None, Bus())
        self.bus: Bus
        self.host = link.label
        self.image = image
        self.request = dict(request)
        self.on_progress = on_progress
        self.note = ""
        self.notes: list[str] = []
        self.end_reason = ""
        self.engine = StoryEngine(StoryHints(image=image, registry=registry_of(image)))
        # the same feeding as a run traced here (story/trace.py): the engine on a thread of its own
        self.story = StoryFeed(self.engine)
        self._sub = self.bus.subscribe(f"remote-image-{image}")  # before any event can come
        self._release = release
        self._client: AgentClient | None = None
        self._pending: Any = None
        self._lock = threading.Lock()  # the stop's flag
        self._final: Timeline | None = None
        self._ended = threading.Event()  # the stream's end (or the connection's) came
        self._closing = threading.Event()  # stop() was asked
        self._done = threading.Event()  # wound down: the story is fed no more
        self._stop_sent = False
        self.lost_why = ""  # the connection's end, when that is what ended the run

    @property
    def detached_note(self) -> str:
        return self.detached_note_text.format(host=self.host)

    # ---- the link's session interface

    def deliver(self, msg: P.Message) -> None:
        if isinstance(msg, P.Events):
            evs: list[Event] = []
            for e in msg.events:
                if e.kind == LOST:
                    e = _upstream_loss(e)  # the agent's queue's drops: lost before this process
                elif isinstance(e.args, PullStatusArgs) and self.on_progress is not None:
                    a = e.args
                    progress: dict[str, Any] = {"id": a.id, "status": a.status}
                    if a.total:
                        progress.update(current=a.current or 0, total=a.total)
                    with contextlib.suppress(Exception):
                        self.on_progress(progress)
                evs.append(e)
            self.bus.publish(evs)
        elif isinstance(msg, P.End):
            self.end_reason = msg.reason
            self._ended.set()

    def dropped_here(self, n: int) -> None:
        """This client fell behind the agent: said in the story, never hidden."""
        self.bus.publish([lost_event("agent", n, UPSTREAM)])

    def disconnected(self, why: str) -> None:
        self.stopped = True
        self.lost_why = why
        self._ended.set()

    # ---- start, run, finish

    def start(self) -> None:
        """Ask the host's agent to trace, and wait until its probes are attached (its `stream`
        message). Raises what the agent refused (a clear BeefineError: no such image, no Docker)."""
        if self._pending is not None:
            return  # one run: a new connection does not start it again
        client = self.link.client_or_raise()
        client.require("trace", "trace a run over --remote")
        self._client = client
        self.story.start(self._sub, f"remote-story-{self.image}")
        pending = self._pending = client.submit("trace", **self.request)
        deadline = time.monotonic() + STREAM_WAIT_S
        while True:
            started = self.link.take_started(pending.id)
            if started is not None:
                break
            if pending.done.is_set():
                client.result(pending, "trace", 0)  # the agent's refusal, or the connection's end
                raise BeefineError(f"{self.host}: the agent replied to `trace` without a stream")
            if time.monotonic() > deadline:
                raise AgentConnectionError(
                    f"the agent on {self.host} did not start tracing within {STREAM_WAIT_S:g} s"
                )
            pending.done.wait(POLL_S)
        self.stream = started.stream
        self.names = tuple(started.probes)
        self.notes = list(started.notes)
        # what the pull removed (fresh) and what the host lacks, said when the run ends
        self.note = "; ".join(n.removeprefix("beefine-tui: ").removeprefix("note: ") for n in self.notes)
        self.story.hint(run_tag=started.run)
        self.link.attach(self)  # the events that came before it are delivered first
        if self._closing.is_set():
            self._send_stop()  # left while the host attached the probes: stop the run it begins

    def run(self) -> RemoteRunResult:
        """Wait for the trace's reply (its container already removed on the host)."""
        client, pending = self._client, self._pending
        assert client is not None and pending is not None
        while not pending.done.wait(0.5):
            if client.closed:
                break  # the reader wakes every waiter as it ends: this is only a safety net
        try:
            result = client.result(pending, "trace", 0)
        finally:
            self._catch_up()
        hints = result.get("hints") or {}
        known = {f.name for f in dataclasses.fields(StoryHints)}
        # what no event carries (whether it pulled, why not): the host's story had them
        self.story.hint(**{k: v for k, v in hints.items() if k in known})
        self._final = self.story.timeline()
        code = (result.get("summary") or {}).get("exit_code")
        return RemoteRunResult(
            error=str(result.get("error") or ""),
            exit_code=code if isinstance(code, int) else None,
            interrupted=str(result.get("interrupted") or ""),
        )

    def _catch_up(self) -> None:
        """The stream's messages come on the routing thread: wait (bounded) for its end, then feed the
        story everything before it."""
        if not self._done.is_set():  # stopped: the stream's end goes to no one, nothing to wait for
            self._ended.wait(END_WAIT_S)
        self.story.drain()

    def timeline(self) -> Timeline:
        final = self._final
        if final is not None:
            return final
        return self.story.latest()

    def finish(self, on_detached: Callable[[], None] | None = None) -> Timeline:
        """The run is over: the story is final. The agent removed the container before it replied
        and detaches its probes on its own; `on_detached` is called now (the view then says that the
        agent detaches them: nothing of ours stays here). Blocking: from a worker."""
        if self._final is None:
            self._catch_up()
            self._final = self.story.timeline()
        final = self._final
        self._wind_down(wait=True)
        if on_detached is not None:
            on_detached()
        return final

    # ---- stopping

    def remove_outliving(self) -> None:
        """The app's exit: the agent removes the container now (the stop's reply comes later)."""
        self._closing.set()
        self._send_stop()

    def stop(self, wait: bool = True) -> None:
        """Idempotent. Leaving the view (wait false, on the UI thread: nothing blocks) or the app's
        exit (wait: until the agent removed the container and detached the probes, bounded)."""
        self._closing.set()
        self._send_stop(wait)
        self._wind_down(wait)

    def _send_stop(self, wait: bool = False) -> None:
        client, sid = self._client, self.stream
        with self._lock:
            if self._stop_sent or sid is None or client is None or client.closed or self._ended.is_set():
                return
            self._stop_sent = True
        if not wait:
            client.submit("stop", stream=sid)  # its reply is not awaited: the view is free at once
            return
        with contextlib.suppress(BeefineError):
            client.request("stop", timeout=STOP_WAIT_S, stream=sid)

    def _wind_down(self, wait: bool) -> None:
        self.stopped = True
        self.link.detach(self)
        self._done.set()
        self.story.stop(2.0 if wait else 0.0)
        release, self._release = self._release, None
        if release is not None:
            release(self)  # the context need not keep a finished run (and its events)


class RemoteImageSource:
    """The Image monitor's source over --remote: images, structure and runs on one host's agent (the
    first; `choose_host` picks another), the same methods as the local ImageMonitorSource."""

    def __init__(self, ctx: RemoteContext) -> None:
        self.ctx = ctx
        self.host = ctx.links[0].label

    @property
    def hosts(self) -> list[str]:
        return [link.label for link in self.ctx.links]

    def choose_host(self, label: str) -> None:
        self.host = self.ctx.link(label).label  # a clear UsageError for a host not given

    def _client(self) -> AgentClient:
        return self.ctx.link(self.host).client_or_raise()

    def images(self) -> list[str]:
        client = self._client()
        client.require("images", "list its images", "type an image name: Run still works")
        got = client.request("images", timeout=60)
        try:
            return msgspec.convert(got["images"], list[str])
        except (msgspec.ValidationError, KeyError, TypeError) as e:
            why = f"{self.host}: the agent's image list is not one this client reads: {e}"
            raise BeefineError(why) from None

    def structure(self, image: str) -> list[str]:
        client = self._client()
        client.require("image", "read images")
        got = client.request("image", timeout=120, image=image, source="both")
        try:
            results = msgspec.convert(got["structures"], list[ImageStructure])
            notes = msgspec.convert(got.get("notes") or [], list[str])
        except (msgspec.ValidationError, KeyError, TypeError) as e:
            why = f"{self.host}: the agent's image report is not one this client reads: {e}"
            raise BeefineError(why) from None
        out = [f"as {self.host} sees it"]
        for st in results:
            out += ["", *st.lines()]
        return out + [f"{self.host}: {n}" for n in notes]

    def prepare(
        self, image: str, groups: list[str], pull: bool, on_progress: Any, fresh: bool = False
    ) -> RemoteTraceRun:
        check_reference(image)
        req: dict[str, Any] = {
            "image": image,
            "pull": bool(pull or fresh),
            "fresh": bool(fresh),
            "groups": ["process", *groups],
            # as the local view: the registry on the host's own loopback has its packets counted on lo
            "xdp": "network" in groups and registry_of(image).startswith(("127.", "localhost")),
        }
        if self.ctx.closed:
            raise BeefineError("the app is closing: no run is started")
        run = RemoteTraceRun(self.ctx.link(self.host), image, req, on_progress, release=self.ctx.disown)
        self.ctx.own(run)
        try:
            run.start()
        except BaseException:
            run.stop(wait=False)
            raise
        return run
