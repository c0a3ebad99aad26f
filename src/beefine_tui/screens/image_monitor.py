"""Image monitor: pull an image (per-layer progress from the real pull stream) or pick one, tick the
probe groups, Run, and watch the story of the container's creation grow live: phases with durations
and counts, the selected phase's events and its explanation; the image structure is one key away (i).

Blocking work (Docker, probe loading, the run) happens in thread workers; the UI polls the story
(cached between changes) on a 4 Hz timer, so there is no per-event cross-thread call. Containers and
probe sessions it starts are owned by the app context (ctx.own) and removed on leave or quit.
"""

from __future__ import annotations

import threading
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Log, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState

from beefine_tui.errors import BeefineError
from beefine_tui.story.explanations import explain_kind, phase_title
from beefine_tui.story.phases import PHASES, Timeline
from beefine_tui.story.render import phase_detail_lines

# checkbox id -> probe groups of story.trace.GROUP_PROBES (process is always on)
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("g-files", "files", ("files",)),
    ("g-mounts", "mounts", ("mounts",)),
    ("g-network", "network (+XDP)", ("network",)),
    ("g-ns", "namespaces & cgroups", ("namespaces", "cgroups")),
    ("g-sec", "security", ("security",)),
)


class MonitorRun:
    """What the view needs from a run; the real one wraps story.trace.TraceRun."""

    def __init__(self, trace: Any, sessions: list[Any]) -> None:
        self.trace = trace
        self.sessions = sessions

    def timeline(self) -> Timeline:
        result: Timeline = self.trace.latest()  # computed by the pump thread, not on the UI thread
        return result

    def run(self) -> Any:
        return self.trace.run()

    def stop(self) -> None:
        self.trace.stop()
        for s in self.sessions:
            s.stop()


class ImageMonitorSource:
    """Docker + probes through the app context (ctx)."""

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

    def prepare(self, image: str, groups: list[str], pull: bool, on_progress: Any) -> MonitorRun:
        from beefine_tui.docker.runner import check_reference, find_daemon, registry_of
        from beefine_tui.probes.base import Target
        from beefine_tui.story.trace import TraceRun, probes_for, start_sessions

        check_reference(image)
        client = self.ctx.docker_client()
        data_root = str(client.info().get("DockerRootDir", ""))
        daemon = find_daemon(self.ctx.docker_host or "", data_root)
        if daemon.dockerd_pid is None:
            raise BeefineError(
                "the Docker daemon does not run on this machine: its processes cannot be traced"
            )
        iface = None
        if "network" in groups and registry_of(image).startswith(("127.", "localhost")):
            iface = "lo"  # the lab registry's traffic crosses lo: XDP counts it there
        names, _notes = probes_for(["process", *groups], iface)
        extra = (
            frozenset({daemon.containerd_pid})
            if daemon.containerd_pid and not daemon.containerd_is_child
            else frozenset()
        )
        sessions = start_sessions(
            names, Target(lineage_root=daemon.dockerd_pid, pids=extra), self.ctx.bus, iface
        )
        trace = TraceRun(
            client, image, self.ctx.bus, pull=True if pull else None,
            exec_roots=daemon.exec_roots, data_root=data_root, on_progress=on_progress,
        )  # fmt: skip
        trace.start_pump()
        run = MonitorRun(trace, sessions)
        self.ctx.own(run)
        return run


class ImageMonitorView(Vertical):
    DEFAULT_CSS = """
    ImageMonitorView { height: 1fr; }
    ImageMonitorView #im-left { width: 38; height: 1fr; }
    ImageMonitorView #im-right { width: 1fr; height: 1fr; }
    ImageMonitorView #im-top { height: auto; }
    ImageMonitorView #im-image { width: 1fr; }
    ImageMonitorView #im-status { height: auto; max-height: 4; color: $warning; }
    ImageMonitorView #im-progress { height: auto; max-height: 12; }
    ImageMonitorView #im-progress ProgressBar { width: 1fr; }
    ImageMonitorView #im-phases { height: 1fr; min-height: 8; }
    ImageMonitorView #im-explain { height: auto; max-height: 14; }
    ImageMonitorView #im-events { height: 1fr; }
    ImageMonitorView #im-structure { display: none; height: 1fr; }
    ImageMonitorView.structure #im-structure { display: block; }
    ImageMonitorView.structure #im-events { display: none; }
    ImageMonitorView Checkbox { height: auto; border: none; padding: 0; }
    """
    BINDINGS = [
        Binding("i", "toggle_structure", "Image structure"),
        Binding("ctrl+t", "toggle_structure", "Image structure", show=False),  # also while typing
        Binding("r", "run", "Run"),
    ]

    def __init__(self, source: Any = None) -> None:
        super().__init__()
        self.source = source
        self.run_obj: Any = None
        self.selected = "pull"
        self.running = False
        self._timer: Timer | None = None
        self._progress: dict[str, tuple[str, int, int]] = {}
        self._plock = threading.Lock()
        self._bars: dict[str, ProgressBar] = {}
        self._last_sig: tuple[Any, ...] = ()

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="im-left"):
                yield Input(placeholder="image to pull: name[:tag] or registry/name[:tag]", id="im-image")
                yield Select[str]([], prompt="or pick an existing image", id="im-pick", allow_blank=True)
                yield Checkbox("pull even if present", id="im-pull")
                yield Label("probe groups (process is always on):")
                for cid, label, _ in GROUPS:
                    yield Checkbox(label, value=True, id=cid)
                yield Button("Run", id="im-run", variant="primary")
                yield Static("", id="im-status")
                yield VerticalScroll(id="im-progress")
            with Vertical(id="im-right"):
                yield DataTable(id="im-phases", cursor_type="row")
                yield Static("", id="im-explain")
                yield Log(id="im-events", max_lines=2000)
                yield Log(id="im-structure", max_lines=5000)

    def on_mount(self) -> None:
        t = self.query_one("#im-phases", DataTable)
        for col in ("phase", "state", "start ms", "dur ms", "events"):
            t.add_column(col, key=col)
        for name in PHASES:
            t.add_row(phase_title(name), "pending", "", "", "0", key=name)
        if self.source is None:
            self.source = ImageMonitorSource(self.app.ctx)  # type: ignore[attr-defined]
        self._load_images()
        box = self.query_one("#im-image", Input)
        lab = getattr(getattr(self.app, "ctx", None), "lab", None)
        images = getattr(lab, "images", None)
        if isinstance(images, dict) and images.get("small"):
            # on the embedded lab, suggest a name that really exists in its registry
            box.placeholder = f"image to pull, e.g. {images['small']}"
        box.focus()

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self.run_obj is not None:
            self.run_obj.stop()  # idempotent; ctx.close() would do it too

    def status(self, text: str) -> None:
        self.query_one("#im-status", Static).update(text)

    # --- images --------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="images")
    def _load_images(self) -> list[str]:
        result: list[str] = self.source.images()
        return result

    @on(Select.Changed, "#im-pick")
    def picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#im-image", Input).value = event.value

    def chosen_image(self) -> str:
        return self.query_one("#im-image", Input).value.strip()

    # --- run -----------------------------------------------------------------------------------

    @on(Input.Submitted, "#im-image")
    @on(Button.Pressed, "#im-run")
    def action_run(self) -> None:
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
        if self.run_obj is not None:
            self.run_obj.stop()
            self.run_obj = None
        self.running = True
        self._reset()
        self.status(f"loading probes, then running {image}...")
        self._run(image, groups, pull)
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
    def _run(self, image: str, groups: list[str], pull: bool) -> Any:
        run = self.source.prepare(image, groups, pull, self._on_progress)
        self.run_obj = run
        return run.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            msg = err.message if isinstance(err, BeefineError) else f"{type(err).__name__}: {err}"
            hint = err.hint if isinstance(err, BeefineError) else ""
            if group == "run":
                self.running = False
                self._refresh()
            self.status(msg + (f" ({hint})" if hint else ""))
        elif event.state == WorkerState.SUCCESS:
            if group == "images":
                imgs = event.worker.result or []
                self.query_one("#im-pick", Select).set_options([(i, i) for i in imgs])
            elif group == "run":
                self.running = False
                res: Any = event.worker.result
                self._refresh()
                why = str(getattr(res, "error", "") or "")
                code = getattr(res, "exit_code", None)
                self.status(f"the container did not start: {why}" if why else f"done: exit code {code}")
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
        box = self.query_one("#im-progress", VerticalScroll)
        for lid, (status, cur, tot) in items:
            bar = self._bars.get(lid)
            if bar is None:
                bar = ProgressBar(total=tot or None, show_eta=False, id=f"bar-{lid}")
                self._bars[lid] = bar
                box.mount(Vertical(Label(f"{lid} {status}", classes="bar-label"), bar, classes="bar-row"))
            else:
                row = bar.parent
                if row is not None:
                    row.query_one(Label).update(f"{lid} {status}")
            if status in ("Download complete", "Pull complete", "Already exists", "Verifying Checksum"):
                bar.update(total=max(tot, 1), progress=max(tot, 1))
            elif tot:
                bar.update(total=tot, progress=cur)

    def show_timeline(self, tl: Timeline) -> None:
        sig = tuple((p.state, p.total, p.end_ns) for p in tl.phases)
        if sig == self._last_sig:
            return
        self._last_sig = sig
        t = self.query_one("#im-phases", DataTable)
        with self.app.batch_update():
            for p in tl.phases:
                start = "" if p.start_ns is None or tl.t0 is None else f"{(p.start_ns - tl.t0) / 1e6:.1f}"
                dur = "" if p.duration_ns is None else f"{p.duration_ns / 1e6:.1f}"
                for col, val in (
                    ("phase", p.title),
                    ("state", p.state),
                    ("start ms", start),
                    ("dur ms", dur),
                    ("events", str(p.total)),
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

    def _show_phase(self, tl: Timeline) -> None:
        p = tl.phase(self.selected)
        head = f"[b]{p.title}[/b] - {p.state}"
        if p.reason:
            head += f": {p.reason}"
        lines = [head, *phase_detail_lines(p, limit=6), "", p.explanation]
        kinds = [k for k, _ in p.counts.most_common(3) if explain_kind(k)]
        lines += [f"[i]{k}[/i]: {explain_kind(k)}" for k in kinds]
        self.query_one("#im-explain", Static).update("\n".join(lines))
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


def _args(args: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in args.items() if k not in ("run",))[:200]
