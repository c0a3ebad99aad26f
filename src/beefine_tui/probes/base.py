"""What a probe is: metadata, a source that can be rendered without root, and a runner."""

from __future__ import annotations

import abc
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.model import Event

Sink = Callable[[Sequence[Event]], None]
"""Receives batches of events. Must not block (the bus's `publish` is a valid sink)."""

Engine = Literal["bcc", "bpftrace", "xdp", "bpftool"]

BCC_HINT = "install Debian's python3-bpfcc (`make setup`); the venv must see system site-packages"


def import_bcc() -> ModuleType:
    """BCC's Python bindings, imported when a program is loaded (not at startup: unit tests and the
    headless commands run without them). ProbeLoadError carrying the real import error if they fail."""
    try:
        import bcc
    except ImportError as e:
        raise ProbeLoadError(f"BCC's Python bindings cannot be imported: {e}", BCC_HINT) from e
    module: ModuleType = bcc  # untyped (no stubs): Any, named here
    return module


# Said at start by every probe that reports a syscall by pairing its enter and exit tracepoints: a
# call that entered before the probe was attached (a server blocked in accept) has no enter record,
# so its exit is dropped; without this line a count one short would be silent.
PAIRED_CALLS_NOTE = (
    "enter/exit pairs begin now: a call already in progress when tracing started is not reported"
)
_SYS_ENTER = re.compile(r"\bsys_enter_(\w+)")
_SYS_EXIT = re.compile(r"\bsys_exit_(\w+)")
_RAW_ENTER = re.compile(r"\braw_syscalls\W+sys_enter\b")
_RAW_EXIT = re.compile(r"\braw_syscalls\W+sys_exit\b")


def pairs_enter_exit(program_text: str) -> bool:
    """Whether a BPF C or bpftrace program attaches both the enter and the exit of some syscall
    (raw_syscalls' sys_enter/sys_exit pair every call)."""
    if _RAW_ENTER.search(program_text) and _RAW_EXIT.search(program_text):
        return True
    return bool(set(_SYS_ENTER.findall(program_text)) & set(_SYS_EXIT.findall(program_text)))


@dataclass(frozen=True)
class Target:
    """Which processes a probe should see. Empty means the whole host.

    Filters are applied in the kernel where the probe supports it (pid namespace via
    bpf_get_ns_current_pid_tgid, pids, lineage from a root pid) so filtered-out work costs little.
    """

    pidns: tuple[int, int] | None = None  # (st_dev, st_ino) of /proc/<pid>/ns/pid
    mntns: int | None = None  # inode of /proc/<pid>/ns/mnt
    cgroup_id: int | None = None  # cgroup v2 only
    pids: frozenset[int] = frozenset()  # exact tgids
    lineage_root: int | None = None  # this pid and every descendant forked after start
    container_id: str | None = None  # attached to events as `container`
    container_name: str | None = None

    @property
    def is_host(self) -> bool:
        return (
            self.pidns is None
            and self.mntns is None
            and self.cgroup_id is None
            and not self.pids
            and self.lineage_root is None
        )


@dataclass(frozen=True)
class ProbeOptions:
    target: Target = field(default_factory=Target)
    path_prefix: str | None = None  # files probe: only paths under this prefix
    interface: str | None = None  # XDP: the interface to attach to
    sample_every: int = 0  # XDP header samples: 1 in N packets (0 = probe default)
    ring_pages: int = 1 << 8  # BCC ring buffer size in pages (power of two)
    include_self: bool = False  # also trace Beefine itself and its helpers (excluded in the kernel)
    # event kinds the consumer has no use for: a probe may leave out the programs that only make
    # them (the story skips `read`, story/trace.py), which then cost the traced host nothing
    skip_kinds: frozenset[str] = frozenset()
    flight_slots: int = 10_000  # syscalls probe on a container: last N calls kept in the kernel (0: off)


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""  # why not, and what would fix it


# The probe groups, in the order the story loads them and lists print them.
GROUPS = ("process", "files", "mounts", "namespaces", "cgroups", "security", "network", "bpf")


@dataclass(frozen=True)
class KindNote:
    """What one event kind means, in plain words, and the primary source that was checked to write
    it (shown on demand beside it). Written in our own words; a comment next to the note says why
    the source is the right one. The event detail, the story's phases and `trace --explain` show it."""

    kind: str
    text: str
    source: str


@dataclass(frozen=True)
class StorySlot:
    """A probe's place in the story of a container's creation (story/trace.py GROUP_PROBES): the
    story loads the slots of the probe's group in `slot` order, and for each slot the first probe
    available here by `rank` (BCC first: its programs compile together into one set and follow the
    daemon's lineage in the kernel; bpftrace alternatives run host-wide)."""

    slot: int = 0
    rank: int = 0


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    group: str  # one of GROUPS
    engine: Engine
    description: str  # one line: what it shows
    teaches: str  # one or two sentences: what a learner sees in it
    source: str  # file in bpf/ or bpftrace/ ("" for bpftool-based probes)
    columns: tuple[str, ...] = ("ts", "pid", "comm", "kind", "text")
    kinds: tuple[str, ...] = ()  # event kinds it emits
    tracepoints: tuple[str, ...] = ()  # what it attaches to, for `probe list` and availability
    # what each of its kinds means (story/explanations.py gathers them from every probe); a kind two
    # probes emit (a BCC probe and its bpftrace alternative) carries the same note in both
    explains: tuple[KindNote, ...] = ()
    story: StorySlot | None = None  # None: not loaded by the story


class Runner(abc.ABC):
    """Loads one or more probes and feeds their events to a sink.

    Contract: `start` returns once the programs are attached (raising ProbeLoadError with a readable
    message if they cannot be), then events flow from a background thread. `stop` is idempotent,
    safe from any thread and from signal-driven shutdown paths, and always detaches everything.
    Pollers use timeouts so `stop` takes effect within ~100 ms.
    """

    def __init__(self) -> None:
        self._stop_event = threading.Event()

    @property
    @abc.abstractmethod
    def probes(self) -> tuple[str, ...]: ...

    @abc.abstractmethod
    def start(self, sink: Sink) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @property
    def running(self) -> bool:
        return not self._stop_event.is_set()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
