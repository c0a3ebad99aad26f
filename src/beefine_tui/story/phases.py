"""The story's data: phases of a container's creation and the timeline that orders them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.story.explanations import explain_kind, explain_phase, phase_source, phase_title

# Canonical order: where each phase starts in Docker 20.10 + containerd 1.6 + runc 1.1 (runc moves
# the first `runc init` into its cgroup before it sends nsexec the bootstrap data; see runc
# libcontainer/process_linux.go initProcess.start: manager.Apply, then io.Copy(bootstrapData)).
# Phases overlap (runc's cgroup limits are written while [2:INIT] mounts): `Timeline.by_start`
# gives the order they really began in, and each phase's span is its own work only.
PHASES: tuple[str, ...] = (
    "pull",
    "unpack",
    "rootfs",
    "bundle",
    "runtime",
    "cgroup",
    "namespaces",
    "mounts",
    "hook",
    "pivot_root",
    "hostname",
    "security",
    "exec",
    "running",
    "exit",
    "teardown",
)

# phase states
PENDING = "pending"  # nothing seen yet (it may still come)
DONE = "done"
SKIPPED = "skipped"  # did not happen, with `reason`
FAILED = "failed"  # happened and failed, with `reason`
ACTIVE = "active"  # running: started, not finished (only `running`)

MAX_EVENTS_PER_PHASE = 5_000  # the rest are counted, not kept (no unbounded lists)
MAX_LOSSES = 1_000  # loss reports kept apart; later ones are merged into the last (still counted)


@dataclass
class Phase:
    name: str
    state: str = PENDING
    start_ns: int | None = None
    end_ns: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # events counted but not kept
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    lost: int = 0  # events lost while this phase ran (a loss that spans several phases counts in each)

    @property
    def title(self) -> str:
        return phase_title(self.name)

    @property
    def explanation(self) -> str:
        return explain_phase(self.name)

    @property
    def source(self) -> str:
        return phase_source(self.name)

    @property
    def duration_ns(self) -> int | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        return self.end_ns - self.start_ns

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, ev: Event, span: bool = True) -> None:
        """`span=False`: the event belongs here but is not this phase's work in time (libseccomp
        probing the kernel long before the filter is loaded; our runner reading the bundle late)."""
        if span and (self.start_ns is None or ev.ts < self.start_ns):
            self.start_ns = ev.ts
        if span and (self.end_ns is None or ev.ts > self.end_ns):
            self.end_ns = ev.ts
        self.counts[ev.kind] += 1
        if len(self.events) < MAX_EVENTS_PER_PHASE:
            self.events.append(ev)
        else:
            self.dropped += 1
        if self.state == PENDING:
            self.state = DONE

    def to_dict(self, t0: int | None = None, with_events: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "phase": self.name,
            "title": self.title,
            "state": self.state,
            "start_ms": _ms(self.start_ns, t0),
            "end_ms": _ms(self.end_ns, t0),
            "duration_ms": None if self.duration_ns is None else round(self.duration_ns / 1e6, 3),
            "counts": dict(sorted(self.counts.items())),
            "lost": self.lost,
            "details": self.details,
            "explanation": self.explanation,
            "source": self.source,
            "kinds": {k: explain_kind(k) for k in sorted(self.counts) if explain_kind(k)},
        }
        if self.reason:
            d["reason"] = self.reason
        if with_events:
            d["events"] = [_event_dict(e) for e in self.events]
        return d


def _ms(ts: int | None, t0: int | None) -> float | None:
    if ts is None or t0 is None:
        return None
    return round((ts - t0) / 1e6, 3)


def _event_dict(e: Event) -> dict[str, Any]:
    return {"ts": e.ts, "probe": e.probe, "kind": e.kind, "pid": e.pid, "comm": e.comm, "args": e.args}


@dataclass
class Loss:
    """One report of lost events: how many, from which probe and source, and when the first and last
    of them happened where the source knows (None: it does not, e.g. an old recording); `phases`: the
    phases whose span it overlaps (empty: between or outside them, or at an unknown time)."""

    count: int
    probe: str
    source: str
    first_ts: int | None = None
    last_ts: int | None = None
    phases: tuple[str, ...] = ()

    def to_dict(self, t0: int | None) -> dict[str, Any]:
        return {
            "count": self.count,
            "probe": self.probe,
            "source": self.source,
            "first_ms": _ms(self.first_ts, t0),
            "last_ms": _ms(self.last_ts, t0),
            "phases": list(self.phases),
        }


@dataclass
class Timeline:
    container_id: str | None
    phases: list[Phase]
    t0: int | None = None  # ts of the story's first event
    init_pid: int | None = None  # host pid of the container's pid 1
    exit_code: int | None = None
    error: str = ""  # why the container did not start, when it did not
    lost: int = 0  # events lost (kernel or bus) while this story was recorded
    ignored: int = 0  # events seen that belong to something else
    losses: list[Loss] = field(default_factory=list)  # `lost`, report by report, placed in phases

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    def found(self) -> list[str]:
        """Names of the phases that happened (done, failed or active), in canonical order."""
        return [p.name for p in self.phases if p.state in (DONE, FAILED, ACTIVE)]

    def place_losses(self, losses: list[Loss]) -> None:
        """Give each phase the losses whose [first, last] overlaps its span, and each loss the phases
        it overlaps. The total (`lost`) stays exact; a phase's share is what was lost while it ran."""
        placed: list[Loss] = []
        for x in losses:
            names: list[str] = []
            if x.first_ts is not None and x.last_ts is not None:
                for p in self.phases:
                    if p.start_ns is None:
                        continue
                    end = p.end_ns if p.end_ns is not None else p.start_ns
                    if p.start_ns <= x.last_ts and end >= x.first_ts:
                        p.lost += x.count
                        names.append(p.name)
            placed.append(Loss(x.count, x.probe, x.source, x.first_ts, x.last_ts, tuple(names)))
        self.losses = placed

    def by_start(self) -> list[Phase]:
        """The phases in the order they began (they overlap); those that never started follow, in
        canonical order."""
        started = sorted((p for p in self.phases if p.start_ns is not None), key=lambda p: p.start_ns or 0)
        return started + [p for p in self.phases if p.start_ns is None]

    def to_dicts(self, with_events: bool = False) -> list[dict[str, Any]]:
        out = []
        for p in self.phases:
            d = p.to_dict(self.t0, with_events)
            d["container"] = self.container_id
            out.append(d)
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "phase": "summary",
            "container": self.container_id,
            "init_pid": self.init_pid,
            "exit_code": self.exit_code,
            "error": self.error,
            "lost": self.lost,
            "lost_by_phase": {p.name: p.lost for p in self.phases if p.lost},
            "losses": [x.to_dict(self.t0) for x in self.losses],
            "found": self.found(),
            "by_start": [p.name for p in self.by_start() if p.start_ns is not None],
        }
