"""Image monitor: pull an image (per-layer progress from the real pull stream) or pick one, tick the
probe groups, Run, and watch the story of the container's creation grow live: phases with durations
and counts, the selected phase's events and its explanation; the image structure is one key away (i).

Blocking work (Docker, probe loading, the run) happens in thread workers; the UI polls the story
(cached between changes) on a 4 Hz timer, so there is no per-event cross-thread call. Containers and
probe sessions it starts are owned by the app context (ctx.own) and removed on leave or quit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Log, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState

from beefine_tui.errors import BeefineError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Args
from beefine_tui.screens.common import app_context
from beefine_tui.story.explanations import explain_kind, kind_source, phase_title
from beefine_tui.story.phases import PHASES, Phase, Timeline
from beefine_tui.story.render import phase_detail_lines, timeline_bar, timeline_end
from beefine_tui.widgets.fit_table import cell
from beefine_tui.widgets.text_checkbox import TextCheckbox
from beefine_tui.widgets.ui_thread import ui_soon

# checkbox id -> probe groups of story.trace.GROUP_PROBES (process is always on)
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("g-files", "files", ("files",)),
    ("g-mounts", "mounts", ("mounts",)),
    ("g-network", "network (+XDP)", ("network",)),
    ("g-ns", "namespaces & cgroups", ("namespaces", "cgroups")),
    ("g-sec", "security", ("security",)),
)


# the phase table, one row per phase in the order the phases began (they overlap): column key ->
# (header, fixed width or None); the phase and timeline columns share what is left
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("phase", "phase", None),
    ("state", "", 1),
    ("start ms", "at ms", 7),  # up to 99999.9 ms
    ("dur ms", "dur ms", 7),
    ("events", "ev", 5),  # up to 99999 events
    ("timeline", "timeline", None),
)
FIXED_WIDTH = sum(w or 0 for _, _, w in COLUMNS) + 2 * len(COLUMNS)  # fixed columns and cell padding
TITLE_MAX = max(len(phase_title(n)) for n in PHASES)
TITLE_MIN, BAR_MIN, BAR_MAX = 10, 8, 100
LEFT_WIDE, LEFT_NARROW, NARROW_BELOW = 38, 28, 100
DEFAULT_HINT = "e.g. busybox:latest"
DETACH_WAIT_S = 60.0  # the app's exit waits this long for a run's probes to detach
COMPILE_TICK_S = 0.5  # refresh of the "compiling probes n/m" line

# phase state -> one cell (the explanation panel says the word)
STATE_MARK = {"pending": "·", "active": "▶", "done": "✓", "skipped": "-", "failed": "✗"}


class MonitorRun:
    """What the view needs from a run; the real one wraps story.trace.TraceRun."""

    detached_note = "probes detached"  # said once the run's probes are gone

    def __init__(self, trace: Any, sessions: list[Any], note: str = "", release: Any = None) -> None:
        self.trace = trace
        self.sessions = sessions
        self.note = note  # what the fresh pull removed, said at the end
        self._release = release
        self._final: Timeline | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._detacher: threading.Thread | None = None

    def timeline(self) -> Timeline:
        final = self._final
        if final is not None:
            return final
        result: Timeline = self.trace.latest()  # computed by the pump thread, not on the UI thread
        return result

    def run(self) -> Any:
        return self.trace.run()

    def finish(self, on_detached: Callable[[], None] | None = None) -> Timeline:
        """The run ended: freeze the story first (removing the container makes kernel events of its
        own), remove the container, and return the story; the probes detach on a thread of their
        own (seconds: an RCU grace period per tracepoint), so the view is free at once, and a new
        run waits only for the objects it takes back (ProgramCache.take). `on_detached` is called
        from that thread when they are. stop() (the app's exit) waits for it. Blocking: call it
        from a worker."""
        if self._final is None:
            settle = getattr(self.trace, "settle", None)
            if settle is not None:
                # a run that raised (a failed pull) did not wait for the bus's last batch: the error
                # event that marks the pull phase failed may still be on its way (bounded: <= 2 s)
                settle()
            self._final = self.trace.timeline()
        final = self._final
        with self._lock:
            if self._stopped:
                return final
            self._stopped = True
            # not a daemon: the process waits for it at exit, as for stop_in_background
            self._detacher = threading.Thread(
                target=self._detach, args=(on_detached,), name="detach-probes", daemon=False
            )
        self.trace.stop()  # the container first: it outlives us, probes do not
        self._detacher.start()
        return final

    def remove_outliving(self) -> None:
        """Remove the container (it would outlive us); idempotent, the probes stay attached."""
        self.trace.stop()

    def stop(self, wait: bool = True) -> None:
        """Idempotent. After finish(), waits for the background detach unless `wait` is false (a
        tab closing on the UI thread: the app's exit still waits for it through the context)."""
        with self._lock:
            already, detacher = self._stopped, self._detacher
            self._stopped = True
        if already:
            if wait and detacher is not None and detacher is not threading.current_thread():
                detacher.join(DETACH_WAIT_S)  # the app's exit: every probe detached before it goes on
            return
        # the container first: it outlives us, probes do not (detaching ~150 tracepoints takes
        # seconds, and a forced exit must not find the container still there). The story was frozen
        # before (finish), so the removal's own events change nothing.
        self.trace.stop()
        self._detach(None)

    def _detach(self, on_detached: Callable[[], None] | None) -> None:
        try:
            for s in self.sessions:
                with contextlib.suppress(Exception):
                    s.stop()
            if self._release is not None:
                self._release(self)  # the app context need not keep a stopped run (and its events)
        finally:
            if on_detached is not None:
                on_detached()


class ImageMonitorSource:
    """Docker + probes through the app context (ctx), on this machine."""

    host = ""  # a remote source names the host it runs on (agent/remote_image.py)
    hosts: tuple[str, ...] = ()  # the hosts a remote source can choose from

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def images(self) -> list[str]:
        client = self.ctx.docker_client()
        tags: list[str] = []
        for img in client.images.list():
            tags += list(img.tags)
        lab = getattr(self.ctx, "lab", None)
        if lab is not None:
            tags = list(dict.fromkeys([*lab.images.values(), *tags]))
        return sorted(tags)

    def structure(self, image: str) -> list[str]:
        from beefine_tui.docker.image_structure import from_daemon, from_registry

        out: list[str] = []
        try:
            out += from_registry(image).lines()
        except BeefineError as e:
            out.append(f"registry: {e.message}")
        try:
            client = self.ctx.docker_client()
            root = str(client.info().get("DockerRootDir", ""))
            out += ["", *from_daemon(client, image, root).lines()]
        except BeefineError as e:
            out.append(f"daemon: {e.message}")
        return out

    def prepare(
        self, image: str, groups: list[str], pull: bool, on_progress: Any, fresh: bool = False
    ) -> MonitorRun:
        from beefine_tui.docker.runner import check_reference, find_daemon, registry_of, remove_image
        from beefine_tui.story.trace import TraceRun, daemon_target, probes_for, start_sessions

        check_reference(image)
        client = self.ctx.docker_client()
        data_root = str(client.info().get("DockerRootDir", ""))
        daemon = find_daemon(self.ctx.docker_host or "", data_root)
        if daemon.dockerd_pid is None:
            raise BeefineError(
                "the Docker daemon does not run on this machine: its processes cannot be traced"
            )
        # before the probes load: a refusal (a container uses the image) costs no probe loading, and
        # the daemon's deletions are not part of the story
        note = remove_image(client, image) if fresh else ""
        iface = None
        if "network" in groups and registry_of(image).startswith(("127.", "localhost")):
            iface = "lo"  # the lab registry's traffic crosses lo: XDP counts it there
        names, _notes = probes_for(["process", *groups], iface)
        # one bus per run: another view's session of the same probe must not feed this story twice
        bus = Bus()
        trace = TraceRun(
            client, image, bus, pull=True if pull or fresh else None,
            exec_roots=daemon.exec_roots, data_root=data_root, on_progress=on_progress,
        )  # fmt: skip
        trace.check_image()  # a wrong name fails before the probes load
        sessions = start_sessions(names, daemon_target(daemon), bus, iface)
        trace.start_pump()
        run = MonitorRun(trace, sessions, note, release=self.ctx.disown)
        self.ctx.own(run)
        return run


class ImageMonitorView(Vertical):
    DEFAULT_CSS = """
    ImageMonitorView { height: 1fr; }
    ImageMonitorView #im-main { height: 1fr; }
    ImageMonitorView #im-left { width: 38; height: 1fr; }
    ImageMonitorView.-narrow #im-left { width: 28; }
    ImageMonitorView #im-hint, ImageMonitorView #im-fresh-note { color: $text-muted; }
    ImageMonitorView #im-where { color: $accent; }
    ImageMonitorView #im-left Label { width: 1fr; }
    ImageMonitorView #im-right { width: 1fr; height: 1fr; }
    ImageMonitorView #im-top { height: auto; }
    ImageMonitorView #im-image { width: 1fr; }
    ImageMonitorView #im-status { height: auto; max-height: 2; color: $warning; padding: 0 1; }
    ImageMonitorView #im-compile { height: auto; color: $text-muted; padding: 0 1; display: none; }
    ImageMonitorView #im-progress { height: auto; }
    ImageMonitorView #im-progress ProgressBar { width: 1fr; }
    ImageMonitorView #im-phases { height: auto; max-height: 45%; min-height: 5; }
    ImageMonitorView #im-explain-box { height: 1fr; min-height: 3; }
    ImageMonitorView #im-explain { height: auto; }
    ImageMonitorView #im-events { height: 1fr; min-height: 3; }
    ImageMonitorView #im-structure { display: none; height: 1fr; }
    ImageMonitorView.structure #im-structure { display: block; }
    ImageMonitorView.structure #im-events { display: none; }
    ImageMonitorView Checkbox { height: auto; border: none; padding: 0; }
    /* a replay shows the story only: nothing to pull or run */
    ImageMonitorView.-replay #im-left { display: none; }
    """
    BINDINGS = [
        Binding("i", "toggle_structure", "Image structure"),
        Binding("ctrl+o", "toggle_structure", "Image structure", show=False),  # also while typing
        Binding("r", "run", "Run"),
        Binding("s", "toggle_source", "Source"),  # the selected phase's primary source
    ]

    def __init__(self, source: Any = None, *, replay: bool = False) -> None:
        super().__init__(classes="-replay" if replay else "")
        self.replay = replay  # fed by a replay screen through show_story: no Docker, no probes
        self.source = source
        self.run_obj: Any = None
        self.selected = "pull"
        self.running = False
        self._timer: Timer | None = None
        self._progress: dict[str, tuple[str, int, int]] = {}
        self._plock = threading.Lock()
        self._bars: dict[str, ProgressBar] = {}
        self._last_sig: tuple[Any, ...] = ()
        self._phase_width = TITLE_MAX
        self._bar_width = BAR_MIN
        self._order: tuple[str, ...] = PHASES  # the table's row order (by start once a run shows)
        self.show_source = False
        self._explained = ""  # the phase the explanation pane shows
        self._explain_shown: tuple[str, str] = ("", "")  # (phase, text) last put in the pane
        self._outcome = ""  # how the run ended, said again once the probes are detached
        self._compile_text = ""  # the "compiling probes" line shown
        self._detached_run: Any = None  # the last run whose probes are detached
        self._left = False  # unmounted: a run whose preparing ends now is stopped at once

    def compose(self) -> ComposeResult:
        if self.source is None and not self.replay:
            # the context says where images run: this machine, or a host's agent over --remote
            ctx = app_context(self)
            self.source = ctx.image_monitor_source() or ImageMonitorSource(ctx)
        host = str(getattr(self.source, "host", "") or "")
        hosts = list(getattr(self.source, "hosts", None) or [])
        with Horizontal(id="im-main"):
            # the controls scroll on a short terminal; the status line below them always shows
            with VerticalScroll(id="im-left"):
                if len(hosts) > 1:
                    yield Select[str]([(h, h) for h in hosts], value=host, allow_blank=False, id="im-host")
                elif host:
                    yield Label(f"runs on {host}", id="im-where")
                yield Input(placeholder="image to pull", id="im-image")
                yield Label(DEFAULT_HINT, id="im-hint")
                yield Select[str]([], prompt="or pick an image", id="im-pick", allow_blank=True)
                yield TextCheckbox("pull even if present", id="im-pull")
                yield TextCheckbox("fresh pull", value=False, id="im-fresh")
                # the label a checkbox can show is one line: what it does goes under it, in full
                yield Label("  removes the image first", id="im-fresh-note")
                yield Label("probes (process always on):")
                for cid, label, _ in GROUPS:
                    yield TextCheckbox(label, value=True, id=cid)
                yield Button("Run", id="im-run", variant="primary")
                yield Vertical(id="im-progress")
            with Vertical(id="im-right"):
                yield DataTable(id="im-phases", cursor_type="row")
                with VerticalScroll(id="im-explain-box"):
                    yield Static("", id="im-explain")
                yield Log(id="im-events", max_lines=2000)
                yield Log(id="im-structure", max_lines=5000)
        yield Static("", id="im-status", markup=False)
        yield Static("", id="im-compile")

    def on_mount(self) -> None:
        self._build_table()
        if self.replay:
            return
        ctx = getattr(self.app, "ctx", None)
        if ctx is not None and ctx.precompiler is not None:
            ctx.precompile_story(first=True)  # compiled already at the start: only checked
            self._show_compiling()
            self.set_interval(COMPILE_TICK_S, self._show_compiling)
        self._load_images()
        box = self.query_one("#im-image", Input)
        lab = getattr(getattr(self.app, "ctx", None), "lab", None)
        images = getattr(lab, "images", None)
        if isinstance(images, dict) and images.get("small"):
            # on the embedded lab, suggest a name that really exists in its registry
            self.query_one("#im-hint", Label).update(f"e.g. {images['small']}")
        box.focus()

    def focus_target(self) -> Input | DataTable[Any]:
        """The image box: a learner opens this view to type a name (the scrolling left pane, the first
        focusable widget, took focus and a typed `:` opened the palette). A replay: the phases."""
        if self.replay:
            return self.query_one("#im-phases", DataTable)
        return self.query_one("#im-image", Input)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # a replay has no daemon to run or read an image from
        return not (self.replay and action in ("run", "toggle_structure"))

    def show_story(self, tl: Timeline) -> None:
        """A replay's story at its current position (the replay screen calls it as it moves)."""
        self.run_obj = _Frozen(tl)
        self.show_timeline(tl)

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW_BELOW
        self.set_class(narrow, "-narrow")
        left = LEFT_NARROW if narrow else LEFT_WIDE
        # what the phase title and the timeline bar share: the right pane less the fixed columns and
        # the vertical scrollbar (2)
        free = event.size.width - left - FIXED_WIDTH - 2
        title = max(TITLE_MIN, min(TITLE_MAX, free - BAR_MIN))
        bar = max(BAR_MIN, min(BAR_MAX, free - title))
        if (title, bar) != (self._phase_width, self._bar_width):
            self._phase_width, self._bar_width = title, bar
            self._build_table()

    def _build_table(self) -> None:
        """(Re)make the phase table: the phase column `_phase_width` wide (longer titles are cut; the
        panel below says the selected one in full), the timeline `_bar_width`, rows in `_order`."""
        t = self.query_one("#im-phases", DataTable)
        t.clear(columns=True)
        for key, label, width in COLUMNS:
            if key == "phase":
                width = self._phase_width
            elif key == "timeline":
                width = self._bar_width
            t.add_column(label, key=key, width=width)
        for name in self._order:
            # a title longer than its column ends in an ellipsis (a plain string is cut without one)
            t.add_row(cell(phase_title(name)), STATE_MARK["pending"], "", "", "0", "", key=name)
        self._last_sig = ()  # the next refresh fills the new table
        if self.selected != self._order[0]:
            t.move_cursor(row=self._order.index(self.selected), scroll=False)

    def on_unmount(self) -> None:
        self._left = True
        if self._timer is not None:
            self._timer.stop()
        if self.run_obj is not None:
            self.run_obj.stop(wait=False)  # idempotent; ctx.close() would do it too

    def status(self, text: str) -> None:
        self.query_one("#im-status", Static).update(text)

    def _show_compiling(self) -> None:
        """While the app compiles the story's probes in the background, say how far it is: a Run
        started now waits for them, then only attaches."""
        p = app_context(self).precompile_progress()
        line = p.line() if p is not None else ""
        text = f"{line}: a run attaches them when ready" if line else ""
        if text != self._compile_text:
            self._compile_text = text
            box = self.query_one("#im-compile", Static)
            box.update(text)
            box.display = bool(text)

    # --- images --------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="images")
    def _load_images(self) -> list[str]:
        result: list[str] = self.source.images()
        return result

    @on(Select.Changed, "#im-host")
    def host_picked(self, event: Select.Changed) -> None:
        """Several hosts: the next run, the image list and the structure are that host's."""
        if not isinstance(event.value, str) or event.value == getattr(self.source, "host", ""):
            return
        if self.running:
            self.status(f"a run is in progress on {self.source.host}: the next one runs on {event.value}")
        self.source.choose_host(event.value)
        self.query_one("#im-pick", Select).set_options([])
        self._load_images()

    @on(Select.Changed, "#im-pick")
    def picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#im-image", Input).value = event.value

    @on(Input.Changed, "#im-image")
    def typed(self, event: Input.Changed) -> None:
        # the text box is what runs: a pick that no longer matches it is cleared, not left disagreeing
        pick = self.query_one("#im-pick", Select)
        if isinstance(pick.value, str) and pick.value != event.value.strip():
            pick.clear()

    def chosen_image(self) -> str:
        return self.query_one("#im-image", Input).value.strip()

    # --- run -----------------------------------------------------------------------------------

    @on(Input.Submitted, "#im-image")
    @on(Button.Pressed, "#im-run")
    def action_run(self) -> None:
        if self.replay:
            return  # Enter in a replay: nothing to run
        if self.running:
            self.status("a run is in progress")
            return
        image = self.chosen_image()
        if not image:
            self.status("enter an image name or pick one")
            return
        groups: list[str] = []
        for cid, _label, gs in GROUPS:
            if self.query_one(f"#{cid}", Checkbox).value:
                groups += gs
        pull = self.query_one("#im-pull", Checkbox).value
        fresh = self.query_one("#im-fresh", Checkbox).value
        # the previous run was finished (probes detached) before `running` went false: start fresh
        self.run_obj = None
        self.running = True
        self._reset()
        host = str(getattr(self.source, "host", "") or "")
        first = f"removing the {'' if host else 'local '}{image}, " if fresh else ""
        self.status(f"{first}loading probes, then running {image}" + (f" on {host}..." if host else "..."))
        self._run(image, groups, pull, fresh)
        if self._timer is None:
            self._timer = self.set_interval(0.25, self._refresh)

    def _reset(self) -> None:
        with self._plock:
            self._progress.clear()
        for bar in self._bars.values():
            if isinstance(bar.parent, Vertical):
                bar.parent.remove()
        self._bars.clear()
        self._last_sig = ()
        self.query_one("#im-events", Log).clear()

    def _on_progress(self, args: dict[str, Any]) -> None:
        """Called from the run's thread for each pull message: store only; the timer draws."""
        lid = str(args.get("id") or "")
        if len(lid) != 12 or any(c not in "0123456789abcdef" for c in lid):
            return  # "Pulling from repo" carries the tag as id; only layers (12 hex) get a bar
        with self._plock:
            _, cur, tot = self._progress.get(lid, ("", 0, 0))
            self._progress[lid] = (
                str(args.get("status", "")),
                int(args.get("current", cur) or 0),
                int(args.get("total", tot) or 0),
            )

    @work(thread=True, exclusive=True, exit_on_error=False, group="run")
    def _run(self, image: str, groups: list[str], pull: bool, fresh: bool) -> Any:
        run = self.source.prepare(image, groups, pull, self._on_progress, fresh)
        self.run_obj = run
        if self._left:
            # left while the probes loaded: on_unmount found no run to stop, so it is stopped here
            run.stop()
            raise BeefineError("the view was closed before the run began: it was stopped")
        return run.run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="finish")
    def _finish(self, run: Any) -> Timeline:
        result: Timeline = run.finish(lambda: ui_soon(self, self._detached, run))
        return result

    def _detached(self, run: Any) -> None:
        """The run's probes are detached (on their own thread): say so, unless a new run began."""
        self._detached_run = run
        if run is self.run_obj and not self.running and self.is_mounted:
            self.status(f"{self._outcome}; {run.detached_note}")

    def _ended(self, outcome: str) -> None:
        """The run is over: the story is final; detach the probes and remove the container off the
        UI thread. `running` stays true until that is done, so a new Run starts from nothing."""
        run = self.run_obj
        note = str(getattr(run, "note", "") or "")
        self._outcome = outcome + (f" ({note})" if note else "")
        if run is None:
            self.running = False
            self.status(self._outcome)
            return
        self.status(f"{self._outcome}; detaching probes...")
        self._finish(run)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            msg = err.message if isinstance(err, BeefineError) else f"{type(err).__name__}: {err}"
            hint = err.hint if isinstance(err, BeefineError) else ""
            text = msg + (f" ({hint})" if hint else "")
            if group == "run":
                self._refresh()
                self._ended(text)
            elif group == "finish":
                self.running = False
                self.status(f"{self._outcome}; detaching the probes failed: {msg}")
            else:
                self.status(text)
        elif event.state == WorkerState.SUCCESS:
            if group == "images":
                imgs = event.worker.result or []
                self.query_one("#im-pick", Select).set_options([(i, i) for i in imgs])
            elif group == "run":
                res: Any = event.worker.result
                self._refresh()
                why = str(getattr(res, "error", "") or "")
                code = getattr(res, "exit_code", None)
                cut = str(getattr(res, "interrupted", "") or "")  # a host's agent stopped it (remote)
                if why:
                    self._ended(f"the container did not start: {why}")
                elif cut:
                    self._ended(f"interrupted ({cut}): the container was removed")
                else:
                    self._ended(f"done: exit code {code}")
            elif group == "finish":
                self.running = False  # the probes detach in the background: a new run may start
                self._last_sig = ()  # draw the final story even if the last tick drew the same counts
                self._refresh()
                done = self._detached_run is self.run_obj  # fast: detached before this message
                note = str(getattr(self.run_obj, "detached_note", "probes detached"))
                self.status(f"{self._outcome}; " + (note if done else "detaching probes..."))
            elif group == "structure":
                log = self.query_one("#im-structure", Log)
                log.clear()
                log.write_lines(event.worker.result or [])

    # --- drawing -------------------------------------------------------------------------------

    def _refresh(self) -> None:
        self._draw_progress()
        run = self.run_obj
        if run is None:
            return
        tl = run.timeline()
        self.show_timeline(tl)

    def _draw_progress(self) -> None:
        with self._plock:
            items = list(self._progress.items())
        box = self.query_one("#im-progress", Vertical)
        for lid, (status, cur, tot) in items:
            bar = self._bars.get(lid)
            if bar is None:
                bar = ProgressBar(total=tot or None, show_eta=False, id=f"bar-{lid}")
                self._bars[lid] = bar
                box.mount(Vertical(Label(f"{lid} {status}", classes="bar-label"), bar, classes="bar-row"))
            else:
                row = bar.parent
                label = row.query_one(Label) if row is not None else None
                if label is not None and str(label.render()) != f"{lid} {status}":
                    label.update(f"{lid} {status}")  # only on change: an update re-lays the pane out
            if status in ("Download complete", "Pull complete", "Already exists", "Verifying Checksum"):
                bar.update(total=max(tot, 1), progress=max(tot, 1))
            elif tot:
                bar.update(total=tot, progress=cur)

    def show_timeline(self, tl: Timeline) -> None:
        """The phases in the order they began, each with a bar for its span on one time axis, so the
        overlaps (runc's cgroup limits while [2:INIT] mounts, the hook, teardown) are visible."""
        sig = tuple((p.state, p.total, p.start_ns, p.end_ns) for p in tl.phases)
        if sig == self._last_sig:
            return
        ordered = tl.by_start()
        order = tuple(p.name for p in ordered)
        if order != self._order:
            self._order = order
            self._build_table()
        self._last_sig = sig
        t = self.query_one("#im-phases", DataTable)
        end = timeline_end(tl)
        with self.app.batch_update():
            for p in ordered:
                start = "" if p.start_ns is None or tl.t0 is None else f"{(p.start_ns - tl.t0) / 1e6:.1f}"
                dur = "" if p.duration_ns is None else f"{p.duration_ns / 1e6:.1f}"
                for col, val in (
                    ("phase", cell(p.title)),
                    ("state", STATE_MARK.get(p.state, p.state)),
                    ("start ms", start),
                    ("dur ms", dur),
                    ("events", str(p.total)),
                    ("timeline", _bar(p, tl.t0, end, self._bar_width)),
                ):
                    t.update_cell(p.name, col, val)
            self._show_phase(tl)

    @on(DataTable.RowHighlighted, "#im-phases")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.selected = str(event.row_key.value)
            run = self.run_obj
            if run is not None:
                self._show_phase(run.timeline())

    def action_toggle_source(self) -> None:
        self.show_source = not self.show_source
        run = self.run_obj
        if run is not None:
            self._show_phase(run.timeline())
        else:
            self.query_one("#im-explain", Static).update(self._source_text(self.selected))
            self._explain_shown = ("", "")  # the next story redraws the pane

    @staticmethod
    def _source_text(name: str) -> Text:
        from beefine_tui.story.explanations import phase_source

        return Text.assemble(("source: ", "bold"), phase_source(name) or "none recorded")

    def _show_phase(self, tl: Timeline) -> None:
        p = tl.phase(self.selected)
        # plain Text: paths and flags in the details must never be read as markup
        text = Text.assemble((p.title, "bold"), f" - {p.state}")
        if p.reason:
            text.append(f": {p.reason}")
        for line in phase_detail_lines(p, limit=8):
            text.append("\n" + line)
        if self.show_source:
            text.append("\n\n")
            text.append_text(self._source_text(p.name))
        else:
            text.append("\n\n" + p.explanation)
            text.append("\n(s: primary source)", style="dim")
        # the three most frequent kinds that have an explanation (ties by name: a stable picture)
        kinds = sorted((k for k in p.counts if explain_kind(k)), key=lambda k: (-p.counts[k], k))
        for k in kinds[:3]:
            text.append("\n")
            text.append(k, style="italic")
            text.append(
                f": {kind_source(k) or 'none recorded'}" if self.show_source else f": {explain_kind(k)}"
            )
        if (p.name, text.plain) != self._explain_shown:
            self._explain_shown = (p.name, text.plain)
            self.query_one("#im-explain", Static).update(text)  # re-lays the pane out: only on change
        if p.name != self._explained:
            # another phase's explanation starts at its top, not where the last one was scrolled to
            self._explained = p.name
            self.query_one("#im-explain-box", VerticalScroll).scroll_home(animate=False, immediate=True)
        log = self.query_one("#im-events", Log)
        log.clear()
        rows = []
        for e in p.events[:1500]:
            ms = "" if tl.t0 is None else f"{(e.ts - tl.t0) / 1e6:9.2f}"
            rows.append(f"{ms} {e.pid:>7} {e.comm[:16]:16} {e.kind:13} {e.text or _args(e.args)}")
        log.write_lines(rows)

    # --- structure -----------------------------------------------------------------------------

    def action_toggle_structure(self) -> None:
        self.toggle_class("structure")
        if self.has_class("structure"):
            image = self.chosen_image()
            if not image:
                self.query_one("#im-structure", Log).write_line("enter or pick an image first")
                return
            self.query_one("#im-structure", Log).write_line(f"reading {image}...")
            self._structure(image)

    @work(thread=True, exclusive=True, exit_on_error=False, group="structure")
    def _structure(self, image: str) -> list[str]:
        result: list[str] = self.source.structure(image)
        return result


class _Frozen:
    """A replay's story as a run: a timeline that only the replay screen changes."""

    def __init__(self, tl: Timeline) -> None:
        self.tl = tl

    def timeline(self) -> Timeline:
        return self.tl

    def stop(self, wait: bool = True) -> None:
        pass


def _bar(p: Phase, t0: int | None, end: int | None, width: int) -> Text:
    style = {"failed": "red", "active": "green"}.get(p.state, "cyan")
    return Text(timeline_bar(p, t0, end, width), style=style)


def _args(args: Args) -> str:
    return " ".join(f"{k}={v}" for k, v in args.items() if k not in ("run",))[:200]
