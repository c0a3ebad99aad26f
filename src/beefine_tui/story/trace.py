"""A traced run, headless: probes attached before the request, the container run, the story built
live. Used by `beefine-tui trace`, the Image monitor view and the tests. No Textual here.

The caller owns the probe session and the bus; TraceRun feeds one StoryEngine from a subscription in
a thread (bounded queue, timeout polls) and tells the engine what it learns (container id, overlay
mount id, image layers, the bundle).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from beefine_tui.docker.events import ContainerOutputArgs, ImageLayersArgs
from beefine_tui.docker.image_structure import from_registry
from beefine_tui.docker.runner import ContainerRun, ContainerStartError, DaemonProcs, RunResult, registry_of
from beefine_tui.errors import NotFoundError, UsageError
from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event
from beefine_tui.probes import catalog
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.bcc_program import BccProgram
from beefine_tui.probes.session import ProbeSession, bcc_programs
from beefine_tui.story.engine import StoryEngine
from beefine_tui.story.overlay import LayerIndex
from beefine_tui.story.phases import Timeline

# probe groups a trace can use: per group, slots of alternatives (the first available of each slot
# is loaded), from each probe's ProbeSpec.story. BCC versions come first: they compile together in one
# program set and follow the daemon's lineage in the kernel. XDP needs an interface (lo for a registry
# on 127.0.0.1).
GROUP_PROBES: dict[str, tuple[tuple[str, ...], ...]] = catalog.story_groups()
DEFAULT_GROUPS = tuple(GROUP_PROBES)
# kinds no phase uses: a file the runtime reads is already placed by its open (engine.py), and the
# unpack counts bytes written. Reads were ~30% of the files probe's in-kernel time per docker run
# (bench/trace_overhead.py): read(2) is one of the busiest syscalls on any host.
STORY_SKIPS = frozenset({"read"})


def probes_for(groups: Sequence[str], interface: str | None = None) -> tuple[list[str], list[str]]:
    """-> (probe names to load, notes about what is missing here). XDP only with an interface."""
    known = catalog.all_probes()
    names: list[str] = []
    notes: list[str] = []
    for g in groups:
        if g not in GROUP_PROBES:
            raise UsageError(f"unknown probe group {g!r}", "groups: " + ", ".join(GROUP_PROBES))
        for slot in GROUP_PROBES[g]:
            if slot == ("xdp",) and interface is None:
                continue
            pick = next((n for n in slot if n in known and known[n].available().ok), None)
            if pick is None:
                notes.append(
                    f"no {'/'.join(slot)} probe is available here: that part of the story will be missing"
                )
            elif pick not in names:
                names.append(pick)
    return names, notes


def docker_run_options(
    security_opt: Sequence[str] = (),
    read_only: bool = False,
    cap_drop: Sequence[str] = (),
    privileged: bool = False,
    network: str | None = None,
) -> dict[str, Any]:
    """The docker run options a trace passes on, as docker SDK containers.create keywords (`trace`'s
    options here, and the agent's `trace` command on a host)."""
    opts: dict[str, Any] = {}
    if security_opt:
        opts["security_opt"] = list(security_opt)
    if read_only:
        opts["read_only"] = True
    if cap_drop:
        opts["cap_drop"] = list(cap_drop)
    if privileged:
        opts["privileged"] = True
    if network is not None:
        if not network.strip():
            raise UsageError("--network needs a mode: none, host, bridge or a network's name")
        opts["network_mode"] = network  # the SDK's `network` would connect a named network after create
    return opts


class EventWriter(Protocol):
    """Where a traced run's events go besides the story, batch by batch (a Recorder, an agent's stream)."""

    def write(self, events: Sequence[Event]) -> None: ...


def daemon_target(daemon: DaemonProcs) -> Target:
    """What the story's probes follow: dockerd's lineage, plus a containerd that is not its child (a
    system containerd does the runc work of dockerd's containers outside that lineage)."""
    extra = (
        frozenset({daemon.containerd_pid})
        if daemon.containerd_pid and not daemon.containerd_is_child
        else frozenset()
    )
    return Target(lineage_root=daemon.dockerd_pid, pids=extra)


def story_options(target: Target, interface: str | None = None) -> ProbeOptions:
    return ProbeOptions(target=target, interface=interface, skip_kinds=STORY_SKIPS)


def story_programs(names: Sequence[str], target: Target) -> list[BccProgram]:
    """The BCC programs start_sessions would load for these probes: the same text and cflags, so
    a program cache filled with them ahead (probes/precompile.py) serves the run."""
    return bcc_programs(names, story_options(target))


def start_sessions(names: Sequence[str], target: Any, bus: Bus, interface: str | None = None) -> list[Any]:
    """Start the probes, attached before the run. BCC probes follow the daemon's lineage in the kernel;
    bpftrace probes run host-wide (their lineage filter seeds only the root pid, not the containerd
    that already runs under dockerd) and the story engine attributes their events itself. They are
    low-volume syscalls (clone/unshare/setns/sethostname, cgroup, seccomp/prctl/capset, sockets).
    Returns the sessions (stop each); on failure stops what started and raises."""
    probes = catalog.all_probes()
    followed = [n for n in names if probes[n].spec.engine == "bcc"]
    host = [n for n in names if n not in followed]
    sessions: list[Any] = []
    try:
        for group, tgt in ((followed, target), (host, Target())):
            if group:
                s = ProbeSession(group, story_options(tgt, interface), bus)
                sessions.append(s)
                s.start()
    except BaseException:
        for s in sessions:
            s.stop()
        raise
    return sessions


REDRAW_S = 0.25  # a live story is recomputed at most this often (screens poll it at 4 Hz)


class StoryFeed:
    """One StoryEngine fed from a bus subscription on a thread of its own, its timeline recomputed
    there at most every REDRAW_S, so a screen's read (`latest`) never computes. A run traced here
    (TraceRun) and one traced by a host's agent (agent/remote_image.py, fed the agent's stream)
    share it: the story is made from events the same way wherever they come from."""

    def __init__(
        self, engine: StoryEngine, on_batch: Callable[[Sequence[Event]], None] | None = None
    ) -> None:
        self.engine = engine
        self.on_batch = on_batch  # fed under the same lock: what it got is what the story has
        self.lock = threading.Lock()
        self.seen = threading.Condition()  # notified after each batch
        self._latest: Timeline | None = None
        self._sub: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, sub: Subscription, name: str) -> None:
        self._sub = sub
        self._thread = threading.Thread(target=self._pump, args=(sub,), name=name, daemon=True)
        self._thread.start()

    def _pump(self, sub: Subscription) -> None:
        import time

        last = 0.0
        dirty = False
        while not self._stop.is_set():
            batch = sub.get(timeout=0.05)
            if batch:
                self.take(batch)
                dirty = True
            if dirty and time.monotonic() - last >= REDRAW_S:
                self._latest = self.timeline()
                dirty, last = False, time.monotonic()

    def take(self, batch: Sequence[Event]) -> None:
        with self.lock:
            self.engine.feed(batch)
            if self.on_batch is not None:
                self.on_batch(batch)
        with self.seen:
            self.seen.notify_all()

    def pending(self) -> int:
        """Events the subscription holds that the story has not taken yet."""
        sub = self._sub
        return sub.pending() if sub is not None else 0

    def latest(self) -> Timeline:
        """The timeline the pump last computed (cheap, for screens); computed here only before the first."""
        tl = self._latest
        return tl if tl is not None else self.timeline()

    def timeline(self) -> Timeline:
        with self.lock:
            return self.engine.timeline()

    def final_timeline(self, detach: Callable[[], None]) -> Timeline:
        """The timeline, and `detach()` under the same lock: nothing is fed between the two."""
        with self.lock:
            tl = self.engine.timeline()
            detach()
        return tl

    def hint(self, **changes: Any) -> None:
        with self.lock:
            self.engine.update_hints(**changes)
        self._latest = None  # hints change the story: recompute on the next read

    def drain(self, join_s: float = 2.0) -> None:
        """The pump ends (its batch in hand fed), then what the subscription still holds is fed here:
        after it, the story has every event published before the call."""
        self._stop.set()
        t = self._thread
        if t is not None and t.is_alive() and threading.current_thread() is not t:
            t.join(timeout=join_s)
        sub = self._sub
        while sub is not None and (batch := sub.get(timeout=0)):
            self.take(batch)
        self._latest = None

    def stop(self, join_s: float = 1.0) -> None:
        """Idempotent: the pump ends, the subscription is closed."""
        self._stop.set()
        t = self._thread
        if t is not None and t.is_alive() and threading.current_thread() is not t:
            t.join(timeout=join_s)
        if self._sub is not None:
            self._sub.close()


@dataclass
class TraceRun:
    client: Any
    image: str
    bus: Bus
    command: list[str] | None = None
    pull: bool | None = None  # True always, None when missing, False never
    exec_roots: tuple[str, ...] = ()
    data_root: str = ""
    recorder: EventWriter | None = None
    on_progress: Callable[[dict[str, Any]], None] | None = None
    create_options: dict[str, Any] = field(default_factory=dict)  # docker run options (security_opt...)
    engine: StoryEngine = field(default_factory=StoryEngine)
    runner: ContainerRun | None = None
    feed: StoryFeed | None = None

    def __post_init__(self) -> None:
        self.feed = StoryFeed(self.engine, self.recorder.write if self.recorder is not None else None)
        self.runner = ContainerRun(
            self.client,
            self.image,
            self.command,
            sink=self.bus.publish,
            exec_roots=self.exec_roots,
            on_progress=self.on_progress,
            create_options=dict(self.create_options),
        )
        self.engine.update_hints(
            image=self.image, registry=registry_of(self.image), run_tag=self.runner.run_tag
        )

    # --- event pump -----------------------------------------------------------------------------

    def _feed(self) -> StoryFeed:
        assert self.feed is not None  # made in __post_init__
        return self.feed

    def start_pump(self) -> None:
        """Subscribe before anything runs, so nothing of the run is missed. The story is fed on the
        feed's thread, off the UI thread: screens read `latest()`."""
        sub = self.bus.subscribe(f"trace-{self.runner.run_tag if self.runner else ''}")
        self._feed().start(sub, "trace-pump")

    def latest(self) -> Timeline:
        return self._feed().latest()

    def timeline(self) -> Timeline:
        return self._feed().timeline()

    def final_timeline(self, detach: Callable[[], None]) -> Timeline:
        """The timeline, and `detach()` of the event writer under the same lock: what the writer got is
        exactly what the story was built from (an agent's client rebuilds the same story from it)."""
        return self._feed().final_timeline(detach)

    def hint(self, **changes: Any) -> None:
        self._feed().hint(**changes)

    # --- the run ----------------------------------------------------------------------------------

    def check_image(self) -> bool:
        """Before the probes are attached: the image is here or its registry has it (see
        ContainerRun.check_image); raises NotFoundError with the reason otherwise."""
        assert self.runner is not None
        return self.runner.check_image(self.pull)

    def run(self, timeout: float | None = None) -> RunResult:
        r = self.runner
        assert r is not None
        present = r.image_present()
        pulling = bool(self.pull or (self.pull is None and not present))
        self.hint(
            pulling=pulling,
            pull_skip_reason="" if pulling else "the image was already present on the daemon (no --pull)",
        )
        if pulling:
            try:
                st = from_registry(self.image, list_files=False)
                self.hint(manifest_digests=tuple(li.digest for li in st.layers))
            except Exception:
                pass  # the pull itself reports a missing image or registry clearly
            r.pull()
        elif not present:
            raise NotFoundError(f"no image {self.image} on the daemon", "use --pull")
        self._learn_layers()
        r.create()
        self.hint(container_id=r.result.container_id, mount_id=r.result.mount_id)
        self._learn_layers()  # again: the container's own -init layer and its short link exist now
        try:
            r.start()
        except ContainerStartError:
            self.hint(error=r.result.error, bundle=r.result.bundle)
            self.settle()
            return r.result
        self.hint(bundle=r.result.bundle)
        r.wait(timeout)
        self._emit_output()
        self.settle()
        return r.result

    def _emit_output(self, limit: int = 4096) -> None:
        """What the container printed (Docker's log of its stdout and stderr): the probes do not read
        what a process writes, so this is how `trace -- echo hi` shows the "hi"."""
        r = self.runner
        cid = r.result.container_id if r is not None else None
        if r is None or not cid:
            return
        try:
            raw = self.client.containers.get(cid).logs(stdout=True, stderr=True, tail=50)
        except Exception:
            return  # a container removed already (--rm by someone else) has no log to show
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        out = text[-limit:].rstrip("\n")
        r.emit("container_output", ContainerOutputArgs(output=out), container=cid)

    def _learn_layers(self) -> None:
        if not self.data_root:
            return
        idx = LayerIndex.load(self.data_root)
        dirs: set[str] = set()
        digests: list[str] = []
        with contextlib.suppress(Exception):
            attrs = self.client.images.get(self.image).attrs
            diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
            by_diff = {ref.diff_id: ref for ref in idx.by_cache_id.values()}
            for d in diff_ids:
                ref = by_diff.get(d)
                if ref is not None:
                    dirs.add(ref.cache_id)
                    if ref.digests:
                        digests.append(ref.digests[0])
        changes: dict[str, Any] = {"layers": idx, "image_layer_dirs": frozenset(dirs)}
        if digests and not self.engine.hints.manifest_digests:
            changes["manifest_digests"] = tuple(digests)
        self.hint(**changes)
        # the same facts as an event, so a recording replays into the same story without this disk
        mount_id = self.engine.hints.mount_id or ""
        ours = {cid for cid in idx.by_cache_id if cid in dirs}
        links = {k: v for k, v in idx.links.items() if v in ours or (mount_id and v.startswith(mount_id))}
        assert self.runner is not None
        layers = {
            c: {"diff_id": idx.by_cache_id[c].diff_id, "digests": list(idx.by_cache_id[c].digests)}
            for c in ours
        }
        facts = ImageLayersArgs(
            image_layer_dirs=sorted(dirs),
            manifest_digests=list(self.engine.hints.manifest_digests),
            layers=layers,
            links=links,
            mount_id=mount_id,
        )
        self.runner.emit("image_layers", facts, container=self.engine.hints.container_id)

    def settle(self, wait: float = 2.0) -> None:
        """Give the probes a moment to deliver the last events (the exit) after Docker said it ended."""
        import time

        deadline = time.monotonic() + wait
        quiet_since = time.monotonic()
        last = -1
        while time.monotonic() < deadline:
            tl = self.timeline()
            n = self.engine.event_count
            if n != last:
                last, quiet_since = n, time.monotonic()
            done = tl.phase("exit").state != "pending" or tl.phase("exec").state == "failed"
            if done and time.monotonic() - quiet_since > 0.3:
                return
            seen = self._feed().seen
            with seen:
                seen.wait(0.1)

    def stop(self) -> None:
        """Idempotent: remove the container, stop the pump."""
        if self.runner is not None:
            self.runner.stop()
        self._feed().stop()
