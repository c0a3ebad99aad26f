"""A live view of one or more built-in probes: Trace exec, Trace syscalls, a single probe, the split
pane tailing one container, and replays of recordings (same widgets, fed from a file).

Start/stop run in thread workers (BPF compile takes seconds); events arrive through an
EventPump into an EventLog; the StatusStrip shows rate, total and loss.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from rich.segment import Segment
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, SelectionList, Static
from textual.widgets.option_list import OptionDoesNotExist
from textual.worker import Worker

from beefine_tui.appcontext import AppContext
from beefine_tui.errors import BeefineError, ProbeLoadError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, STATUS, Event, RecordHeader
from beefine_tui.events.record import BusRecording
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.replay import Replayer, open_recording
from beefine_tui.screens.common import (
    ContainerSuggester,
    app_context,
    probe_names,
    stop_in_background,
    view_origin_ns,
)
from beefine_tui.screens.errors import WorkerErrors, describe, show_error
from beefine_tui.widgets.event_log import EventLog, format_event
from beefine_tui.widgets.pump import EventPump
from beefine_tui.widgets.status_strip import StatusStrip
from beefine_tui.widgets.syscall_table import SyscallTable
from beefine_tui.widgets.text_checkbox import TextCheckbox
from beefine_tui.widgets.ui_thread import ui_soon

# what the split pane tails for a container: every syscall (with its strace -c table, and each call's
# path), and the probes that decode what the syscalls probe shows only as addresses (argv, socket
# addresses, what a mount or setns did to the namespaces...), where they exist
SPLIT_PREFERENCE = ("syscalls", "exec", "files", "mounts", "namespaces", "sockets", "security")
# the syscalls probe's summary table goes beside the log when the view is at least this wide, else under it
SIDE_BY_SIDE_MIN = 110

SYSCALLS_PROBE = "syscalls"


def recording_name(title: str, now: float | None = None) -> str:
    """beefine-<view>-<local time>.jsonl: sorts by time, says which view made it."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "view"
    return f"beefine-{slug}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.jsonl"


NOT_ROOT = "Loading eBPF needs root (or CAP_BPF + CAP_PERFMON). Quit (ctrl+q) and run: sudo beefine-tui"


def split_probes() -> tuple[str, ...]:
    known = {n for n, _ in probe_names()}
    return tuple(n for n in SPLIT_PREFERENCE if n in known) or ("exec",)


def format_exec(ev: Event, base_ts: int) -> str:
    """exec and exit as columns (pid, ppid, comm), then the event's own line. Others: the log's format."""
    if ev.kind not in ("exec", "exit"):
        return format_event(ev, base_ts)
    rel = (ev.ts - base_ts) / 1e9 if base_ts else 0.0
    where = f" [{ev.container[:12]}]" if ev.container else ""
    return f"{rel:10.6f} {ev.kind:<4} {ev.pid:>7} {ev.ppid:>7} {ev.comm:<15.15} {ev.text}{where}"


def format_syscall(ev: Event, base_ts: int, tagged: bool = False) -> str:
    """A syscalls probe line as strace -f writes it: time, [host pid/pid in the container] comm, call.
    `tagged` (a view mixing probes, as the split pane does): the probe is named in the column where
    the other probes' lines name theirs, so every line says which probe saw it and `/` `probe=files`
    keeps one probe's lines. Other probes' events keep the general format."""
    if ev.probe != SYSCALLS_PROBE or ev.kind != "syscall":
        return format_event(ev, base_ts)
    rel = (ev.ts - base_ts) / 1e9 if base_ts else 0.0
    ns = ev.args.get("ns_pid")
    who = f"{ev.pid}/{ns}" if ns else str(ev.pid)
    if ev.tid and ev.tid != ev.pid:
        who += f":{ev.tid}"
    tag = f"{ev.probe:<10} " if tagged else ""
    return f"{rel:10.6f} {tag}[{who}] {ev.comm:<.15} {ev.text}"


def resolve_target(ctx: AppContext, container: str) -> Target:
    """A probe Target for one container (over --remote, the agent finds it on its host)."""
    return ctx.resolve_target(container)


class ProbeChoice(SelectionList[str]):
    """The probe picker: each row starts with [x] or [ ], not a coloured block that reads the same on
    and off on a 16-colour terminal (TERM=linux, screen)."""

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        segments = list(line)
        _, scroll_y = self.scroll_offset
        try:
            option = self.get_option_at_index(scroll_y + y)
        except OptionDoesNotExist:
            return line
        if len(segments) < 3:
            return line
        mark = "[x]" if option.value in self.selected else "[ ]"
        style = segments[1].style
        return Strip([Segment(mark, style), *segments[3:]], line.cell_length)


class ProbeView(WorkerErrors, Vertical):
    DEFAULT_CSS = """
    ProbeView { height: 1fr; }
    ProbeView > .controls { height: auto; }
    ProbeView > .controls > Input { width: 1fr; }
    ProbeView > .controls > Button { width: auto; min-width: 8; }
    /* the picker gets its own rows: every probe on screen when there is room, never under 5 rows */
    ProbeView > ProbeChoice { height: auto; max-height: 60%; min-height: 5; width: 1fr; }
    /* once running, the log needs the room: the picker shrinks (it still scrolls) */
    ProbeView.-running > ProbeChoice { max-height: 7; }
    ProbeView > .controls > Checkbox { width: auto; }
    ProbeView > .notice { height: auto; color: $warning; }
    ProbeView > .body { height: 1fr; layout: horizontal; }
    ProbeView > .body > EventLog { width: 1fr; }
    ProbeView > .body > SyscallTable { width: 60; border-left: solid $secondary; }
    ProbeView.-stacked > .body { layout: vertical; }
    ProbeView.-stacked > .body > EventLog { width: 1fr; height: 3fr; }
    ProbeView.-stacked > .body > SyscallTable { width: 1fr; height: 2fr; border-left: none; }
    """
    BINDINGS = [Binding("ctrl+r", "record", "Record"), Binding("f", "flight_dump", "Flight dump")]

    def __init__(
        self,
        probes: Sequence[str] = (),
        *,
        choose: bool = False,
        title: str = "",
        autostart: bool = False,
        container_required: bool = False,
        replay: Path | None = None,
        replay_speed: float = 1.0,
        replay_fed: bool = False,
        max_lines: int = 5000,
        host: str | None = None,
    ) -> None:
        super().__init__()
        self.host = host  # over several --remote hosts: where it runs (None: this machine, or the first host)
        self.probes = tuple(probes)
        self.choose = choose
        self.title = title or ", ".join(self.probes)
        self.autostart = autostart
        self.container_required = container_required
        self.replay = replay
        self.replay_speed = replay_speed
        # a replay screen feeds the log (and table) itself, position by position: no Replayer thread
        self.replay_fed = replay_fed
        self.max_lines = max_lines
        self.session: Any = None
        # this view's own bus: another view running the same probe (host-wide, or for another container)
        # must not feed this log or these counts
        self.bus = Bus()
        self._accept: frozenset[str] | None = frozenset(self.probes) if not replay else None
        self._seen_probes: set[str] = set()
        self._lock = threading.Lock()
        self.recording: BusRecording | None = None

    # ---- layout
    def compose(self) -> ComposeResult:
        if self.replay is None:
            if self.choose:
                yield ProbeChoice(*[(f"{n}: {d}", n) for n, d in probe_names()], id="probe-choice")
            with Horizontal(classes="controls"):
                if self.choose:
                    # off by default: Beefine's own /proc reads would flood the files probe
                    yield TextCheckbox(
                        "include Beefine",
                        id="include-self",
                        tooltip="also trace this app and its bpftrace helpers",
                    )
                yield Input(
                    placeholder="container name or id" + ("" if self.container_required else " (optional)"),
                    id="container",
                    suggester=ContainerSuggester(self._ctx_or_none),
                )
                yield Button("Start", id="start", variant="success")
                yield Button("Stop", id="stop", variant="error", disabled=True)
        yield Static("", classes="notice", markup=False)
        yield StatusStrip(
            self.bus, self.probes, label=self.title, clock=getattr(self.app, "clock", None) or time.monotonic
        )
        fmt = (
            format_exec
            if self.probes == ("exec",)
            else partial(format_syscall, tagged=len(self.probes) > 1)
            if SYSCALLS_PROBE in self.probes
            else format_event
        )
        if self.has_syscall_table:
            with Horizontal(classes="body"):
                yield EventLog(max_lines=self.max_lines, formatter=fmt)
                yield SyscallTable()
        else:
            yield EventLog(max_lines=self.max_lines, formatter=fmt)
        yield EventPump(self.bus, name=f"view-{self.title}", on_batch=self._on_batch, accept=self._accepts)

    def _ctx_or_none(self) -> AppContext | None:
        return getattr(self.app, "ctx", None)

    @property
    def has_syscall_table(self) -> bool:
        return SYSCALLS_PROBE in self.probes and (self.replay is None or self.replay_fed)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "flight_dump":
            # only views tailing the syscalls probe have a recorder
            return self.has_syscall_table and self.replay is None
        return True

    def action_flight_dump(self) -> None:
        """Ask the kernel-side flight recorder for its last calls: they arrive in the log (a note,
        then the calls marked flight). Never blocks: the dump is read on the runner's thread."""
        session = self.session
        find = getattr(session, "periodic_for", None)
        recorder = find(SYSCALLS_PROBE) if callable(find) else None
        request = getattr(recorder, "request", None)
        if not callable(request):
            self.app.notify(
                "no flight recorder here: it runs only while the syscalls probe watches one container",
                severity="warning",
            )
            return
        request()
        self.app.notify("flight recorder: dumping the last calls into the log")

    def on_resize(self) -> None:
        self.set_class(self.size.width < SIDE_BY_SIDE_MIN, "-stacked")

    @property
    def strip(self) -> StatusStrip:
        return self.query_one(StatusStrip)

    @property
    def event_log(self) -> EventLog:
        return self.query_one(EventLog)

    def focus_target(self) -> Widget | None:
        """Where focus goes when the tab opens: the log for live views, the first input otherwise."""
        if (self.autostart or self.replay is not None) and self.query(EventLog):
            return self.event_log.log_widget
        return None

    def notice(self, text: str) -> None:
        n = self.query_one(".notice", Static)
        n.update(text)
        n.display = bool(text)

    def on_mount(self) -> None:
        self.notice("")
        ctx = app_context(self)
        if self.replay is not None:
            if self.replay_fed:
                self.strip.display = False  # its counts are the bus's: the replay screen says where it is
                return
            self.strip.state = "starting"
            self._start_replay(self.replay, self.replay_speed)
            return
        if not ctx.bpf_allowed:
            self.notice(NOT_ROOT)
            self.query_one("#start", Button).disabled = True
            self.strip.state = "unavailable"
            return
        if self.container_required:
            self.notice(
                "Type a container name or id and press Enter (or Start) to tail its syscalls."
                + (
                    f" Each line names its probe; / then probe={self.probes[1]} (say) shows one probe."
                    if len(self.probes) > 1
                    else ""
                )
            )
        elif self.choose:
            self.notice("Select probes (space), then Start.")
        if self.autostart and not self.container_required:
            self.start()

    # ---- events
    def _accepts(self, ev: Event) -> bool:
        acc = self._accept
        return acc is None or ev.probe in acc or (ev.kind == STATUS and ev.probe == "replay")

    def _on_batch(self, events: list[Event]) -> None:
        if self.replay is not None:
            names = {ev.probe for ev in events if ev.kind not in (LOST, STATUS)}
            if not names <= self._seen_probes:
                self._seen_probes |= names
                self.strip.probes = tuple(sorted(self._seen_probes))
            for ev in events:
                if ev.kind == STATUS and ev.probe == "replay":
                    state = ev.args.get("state", "")
                    self.strip.state = {"replaying": "replay"}.get(state, state)
        self.event_log.add_events(events)
        for table in self.query(SyscallTable):
            table.add_events(events)

    # ---- start / stop
    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.start()

    @on(Input.Submitted, "#container")
    def _container_submitted(self) -> None:
        if self.session is not None:
            # Enter must never be ignored without a word
            self.notice("A probe is running: Stop it first, then Enter starts it on this container.")
            return
        self.start()

    @on(SelectionList.SelectedChanged, "#probe-choice")
    def _choice_changed(self) -> None:
        """Probes ticked in Trace syscalls start compiling now, in the background: by the time Start
        is pressed they only need attaching (a container typed in changes their flags: then not)."""
        ctx = self._ctx_or_none()
        if ctx is None or ctx.precompiler is None or self.session is not None:
            return
        include_self = self.query_one("#include-self", Checkbox).value
        ctx.precompile_probes(
            self.selected_probes(), ProbeOptions(target=Target(), include_self=include_self)
        )

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.stop_view()

    def selected_probes(self) -> tuple[str, ...]:
        if self.choose:
            return tuple(self.query_one("#probe-choice", SelectionList).selected)
        return self.probes

    def start(self) -> None:
        if self.session is not None:
            return
        names = self.selected_probes()
        if not names:
            self.notice("Select at least one probe first (space toggles), then Start.")
            return
        container = self.query_one("#container", Input).value.strip()
        if self.container_required and not container:
            self.notice("Type a container name or id first.")
            return
        if not self.event_log.base_ts:  # times count from this view's first start
            self.event_log.set_origin(view_origin_ns(self.app))
        self.notice(f"Loading {', '.join(names)}… (compiling BPF takes a few seconds)")
        self._accept = frozenset(names)
        self.strip.set_probes(names, self.title if not container else f"{self.title} [{container}]")
        self.strip.state = "starting"
        self.query_one("#start", Button).disabled = True
        include_self = self.choose and self.query_one("#include-self", Checkbox).value
        self._start_worker(names, container, include_self)

    @work(thread=True, exclusive=True, exit_on_error=False, group="session")
    def _start_worker(self, names: tuple[str, ...], container: str, include_self: bool = False) -> None:
        ctx = app_context(self)
        ctx.check_available(names)
        if container and self.host and "/" not in container:
            container = f"{self.host}/{container}"  # a NAME alone is on this view's host
        target = resolve_target(ctx, container) if container else ctx.host_target(self.host)
        session = ctx.start_probes(
            names, ProbeOptions(target=target, include_self=include_self), bus=self.bus
        )
        ui_soon(self, self._started, session)

    def _started(self, session: Any) -> None:
        if not self.is_mounted:
            stop_in_background(app_context(self), session)
            return
        self.session = session
        self.notice("")
        self.add_class("-running")
        if self.replay is None:
            self.strip.state = "running"
            self.query_one("#stop", Button).disabled = False

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        info = describe(error)
        if self.is_mounted:
            self.strip.state = "error"
            self.notice(f"{info.title}: {info.message}" + (f"\nhint: {info.hint}" if info.hint else ""))
            if self.replay is None:
                self.query_one("#start", Button).disabled = False
        if (isinstance(error, ProbeLoadError) and error.log) or info.internal:
            show_error(self.app, error)

    def stop_view(self, update_ui: bool = True) -> None:
        """Stop what this view started (idempotent, never blocks the UI)."""
        with self._lock:
            session, self.session = self.session, None
        if session is not None:
            stop_in_background(app_context(self), session)
        if update_ui and self.is_mounted and self.query(StatusStrip):
            self.remove_class("-running")
            self.strip.state = "stopped"
            if self.replay is None:
                self.query_one("#stop", Button).disabled = True
                self.query_one("#start", Button).disabled = not app_context(self).bpf_allowed

    def on_unmount(self) -> None:
        self.stop_view(update_ui=False)
        rec, self.recording = self.recording, None
        if rec is not None:
            stop_in_background(app_context(self), rec)

    # ---- recording: what this view's bus carries, in the format `replay` and `--record` use
    def action_record(self) -> None:
        if self.replay is not None:
            self.notice("This view replays a recording already.")
            return
        rec, self.recording = self.recording, None
        if rec is None:
            # where the user started the app, as `--record FILE` would resolve a bare name
            path = Path.cwd() / recording_name(self.title)
            self.notice(f"Recording to {path}…")
            self._start_recording(path, tuple(self._accept or self.probes))
        else:
            self.strip.recording = None
            self._stop_recording(rec)

    @work(thread=True, exit_on_error=False, group="record")
    def _start_recording(self, path: Path, probes: tuple[str, ...]) -> None:
        ctx = app_context(self)
        header = RecordHeader(probes=list(probes), command=["beefine-tui", "tui", f"({self.title})"])

        def failed(line: str) -> None:  # a full disk: the view goes on, the strip and notice say so
            ui_soon(self, self.notice, line)

        try:
            rec = BusRecording(self.bus, path, header, on_error=failed)
        except BeefineError as e:
            ui_soon(self, self.notice, f"Cannot record: {e}")
            return
        ctx.own(rec)
        ui_soon(self, self._recording_started, rec)

    def _recording_started(self, rec: BusRecording) -> None:
        if not self.is_mounted or self.recording is not None:
            stop_in_background(app_context(self), rec)
            return
        self.recording = rec
        self.strip.recording = rec
        self.notice(f"Recording to {rec.path}: ctrl+r stops it.")

    @work(thread=True, exit_on_error=False, group="record")
    def _stop_recording(self, rec: BusRecording) -> None:
        app_context(self).disown(rec)
        rec.stop()
        state = f"INCOMPLETE ({rec.error})" if rec.error else "complete"
        ui_soon(
            self,
            self.notice,
            f"Recorded {rec.count} events to {rec.path} ({state}). "
            f"Replay it with: beefine-tui replay {rec.path}",
        )

    # ---- replay
    @work(thread=True, exclusive=True, exit_on_error=False, group="session")
    def _start_replay(self, path: Path, speed: float) -> None:
        ctx = app_context(self)
        header, events = open_recording(path)
        replayer = Replayer(events, self.bus, speed=speed)
        ctx.own(replayer)
        ui_soon(self, self._started, replayer)
        if header.probes:
            ui_soon(self, setattr, self.strip, "probes", tuple(header.probes))
        replayer.start()
