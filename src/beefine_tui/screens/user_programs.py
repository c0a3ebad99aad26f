"""Your programs: load a BCC C file or bpftrace script (a path, a pasted text, or a template), see its
output struct's fields as table columns, unload it. Compile and verifier errors appear in a panel with
the offending line highlighted in the editor; the app keeps running.

The loading engine is probes/user_program.py, reached through AppContext (no BPF code here).

Loading a program again under the same name replaces it. The old runner is stopped in the
background and, until it is gone, still sees the same kernel events as the new one: its sink is
closed (a Gate) before the new runner starts, so each event shows once (an execve row once showed
twice, with the same kernel timestamp, after a reload).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Static, TextArea
from textual.worker import Worker

from beefine_tui import templates
from beefine_tui.errors import NotFoundError, ProbeLoadError
from beefine_tui.events.model import LOST, STATUS, Event
from beefine_tui.screens.common import app_context, stop_in_background
from beefine_tui.screens.errors import ErrorPanel, WorkerErrors, describe
from beefine_tui.userfiles import MAX_SOURCE_BYTES, read_text_bounded
from beefine_tui.widgets.pump import EventPump
from beefine_tui.widgets.ui_thread import ui_soon

NOT_ROOT = "Loading programs needs root: quit (ctrl+q) and run: sudo beefine-tui"
MAX_ROWS = 1000  # output rows kept per view; older rows are dropped (the count says so)

EXAMPLE = """// name: my-execs
// description: every execve on the host (edit me, then Load)
struct event { u32 pid; char comm[16]; char filename[64]; };
BPF_RINGBUF_OUTPUT(events, 8);

TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    struct event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    bpf_probe_read_user_str(&e->filename, sizeof(e->filename), args->filename);
    events.ringbuf_submit(e, 0);
    return 0;
}
"""


class Gate:
    """Passes a runner's batches to the bus until closed (the runner was replaced or unloaded)."""

    def __init__(self, publish: Any) -> None:
        self.publish = publish
        self.open = True

    def __call__(self, batch: Sequence[Event]) -> None:
        if self.open:  # a replaced program's last events are the new one's duplicates: not shown
            self.publish(batch)


@dataclass
class Loaded:
    runner: Any
    name: str
    engine: str
    origin: str
    probe: str
    columns: tuple[str, ...]
    events: int = 0
    lost: int = 0
    first_ts: int = 0  # times are shown from the program's first event, as in every other live view
    gate: Gate | None = None


class UserProgramsView(WorkerErrors, Vertical):
    DEFAULT_CSS = """
    UserProgramsView { height: 1fr; }
    UserProgramsView > .controls { height: auto; }
    UserProgramsView > .controls > Input { width: 1fr; }
    UserProgramsView > .controls > Button { width: auto; min-width: 8; }
    /* the editor keeps most of the room, even with the error panel open; at 80x24 the output
       still gets a few rows */
    UserProgramsView #source { height: 2fr; min-height: 8; }
    UserProgramsView #error { max-height: 8; }
    UserProgramsView #loaded { height: auto; max-height: 4; }
    UserProgramsView #output { height: 1fr; min-height: 3; }
    UserProgramsView .notice { height: auto; color: $warning; }
    """
    BINDINGS = [
        ("ctrl+l", "load", "Load program"),
        ("ctrl+u", "unload", "Unload selected"),
    ]

    def __init__(self, host: str | None = None) -> None:
        super().__init__()
        self.host = host  # over several --remote hosts: whose agent loads them (None: the first)
        self.loaded: dict[str, Loaded] = {}
        self.shown: str | None = None  # probe whose output the table shows
        self._row_keys: deque[Any] = deque()
        self.rows_dropped = 0
        self._lock = threading.Lock()
        self._gates: dict[str, Gate] = {}  # probe -> the sink of its current runner
        self.opened: tuple[str, str] | None = None  # (path, text) last opened into the editor

    def compose(self) -> ComposeResult:
        ctx = app_context(self)
        with Horizontal(classes="controls"):
            yield Input(
                placeholder="path to a .c (BCC) or .bt (bpftrace) file, or a template name", id="path"
            )
            yield Button("Open", id="open")
            yield Button("Load", id="load", variant="success")
        yield Static("", classes="notice", markup=False)
        # Tab leaves the editor like every other widget (with "indent" it never could); indentation
        # is typed as spaces
        yield TextArea(EXAMPLE, id="source", show_line_numbers=True, soft_wrap=False, tab_behavior="focus")
        yield ErrorPanel(id="error")
        yield Label("Loaded programs (Enter shows output, ctrl+u unloads):")
        yield DataTable(id="loaded", cursor_type="row")
        yield Label("", id="output-title")
        yield DataTable(id="output", cursor_type="row")
        yield EventPump(ctx.bus, name="user-programs", on_batch=self._on_batch, accept=self._accepts)

    def on_mount(self) -> None:
        t = self.query_one("#loaded", DataTable)
        t.add_columns("name", "engine", "from", "BPF ids", "events", "lost", "state")
        ctx = app_context(self)
        host = self.host or getattr(ctx, "program_host", "")  # --remote: the agent there loads them
        self.notice(
            f"Over --remote: programs load on {host}, held by its agent, and are unloaded when the "
            "connection ends."
            if host
            else ""
            if ctx.bpf_allowed
            else "Loading programs needs root: quit (ctrl+q), run sudo beefine-tui"
        )
        self.query_one("#load", Button).disabled = not ctx.bpf_allowed

    def notice(self, text: str) -> None:
        n = self.query_one(".notice", Static)
        n.update(text)
        n.display = bool(text)

    # ---- open a file or a template into the editor
    @on(Button.Pressed, "#open")
    @on(Input.Submitted, "#path")
    def action_open(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self.notice("Type a file path (or a template name) first.")
            return
        self._open_worker(path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="open")
    def _open_worker(self, path: str) -> None:
        text = read_program(path)
        ui_soon(self, self._opened, path, text)

    def _opened(self, path: str, text: str) -> None:
        area = self.query_one("#source", TextArea)
        area.text = text
        self.opened = (path, text)
        self.notice(f"Opened {path}: review it, then Load (ctrl+l).")
        self.query_one("#error", ErrorPanel).hide()

    # ---- load / unload
    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        ctx = app_context(self)
        if not ctx.bpf_allowed:
            self.notice(NOT_ROOT)
            return
        text = self.query_one("#source", TextArea).text
        self.query_one("#error", ErrorPanel).hide()
        self.notice("Compiling and loading… (clang takes a second or more)")
        self.query_one("#load", Button).disabled = True
        self._load_worker(text, origin_of(self.opened, text))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_worker(self, text: str, origin: str) -> None:
        ctx = app_context(self)
        gate = Gate(ctx.bus.publish)

        def gate_for(runner: Any) -> Gate:
            with self._lock:
                for probe in runner.probes:
                    old = self._gates.get(probe)
                    if old is not None:
                        old.open = False  # before the new one attaches: no event is shown twice
                    self._gates[probe] = gate
            return gate

        try:
            runner = ctx.start_user_program(text, origin=origin, sink_for=gate_for, host=self.host)
        except BaseException:
            gate.open = False
            raise
        ui_soon(self, self._loaded, runner, gate)

    def _loaded(self, runner: Any, gate: Gate | None = None) -> None:
        self.query_one("#load", Button).disabled = False
        if not self.is_mounted:
            return
        probe = runner.probes[0]
        item = Loaded(
            runner=runner,
            name=getattr(runner, "name", probe),
            engine=getattr(runner, "engine", "?"),
            origin=getattr(runner, "origin", ""),
            probe=probe,
            columns=tuple(getattr(runner, "columns", ()) or ()),
            gate=gate,
        )
        old = self.loaded.pop(probe, None)
        if old is not None:
            if old.gate is not None:
                old.gate.open = False
            self._stop(old)
        self.loaded[probe] = item
        self._refresh_loaded()
        self.show_output(probe)
        warnings = getattr(runner, "warnings", [])
        self.notice(f"Loaded {item.name}." + (f" Warnings: {'; '.join(warnings)}" if warnings else ""))

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        self.query_one("#load", Button).disabled = not app_context(self).bpf_allowed
        info = describe(error)
        self.notice("")
        self.query_one("#error", ErrorPanel).show(info)
        if isinstance(error, ProbeLoadError) and error.line:
            area = self.query_one("#source", TextArea)
            row = max(0, min(error.line - 1, area.document.line_count - 1))
            area.select_line(row)
            # after the error panel has taken its room, or the line scrolls out of the smaller editor
            self.call_after_refresh(area.scroll_cursor_visible, center=True)

    def action_unload(self) -> None:
        table = self.query_one("#loaded", DataTable)
        if table.row_count == 0:
            self.notice("Nothing to unload.")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        item = self.loaded.pop(str(key), None)
        if item is not None:
            if item.gate is not None:
                item.gate.open = False
            self._stop(item)
            self.notice(f"Unloaded {item.name}.")
            if self.shown == item.probe:
                self.shown = None
            self._refresh_loaded()

    def _stop(self, item: Loaded) -> None:
        stop_in_background(app_context(self), item.runner)

    def stop_view(self) -> None:
        for item in list(self.loaded.values()):
            self._stop(item)
        self.loaded.clear()

    def on_unmount(self) -> None:
        self.stop_view()

    def _refresh_loaded(self) -> None:
        t = self.query_one("#loaded", DataTable)
        t.clear()
        for probe, it in self.loaded.items():
            ids = ",".join(str(i) for i in getattr(it.runner, "prog_ids", ()) or ()) or "-"
            state = "error" if getattr(it.runner, "error", None) else "running"
            t.add_row(it.name, it.engine, it.origin, ids, str(it.events), str(it.lost), state, key=probe)

    @on(DataTable.RowSelected, "#loaded")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.show_output(str(event.row_key.value))

    # ---- output table: the program's struct fields as columns
    def show_output(self, probe: str) -> None:
        item = self.loaded.get(probe)
        if item is None:
            return
        self.shown = probe
        out = self.query_one("#output", DataTable)
        out.clear(columns=True)
        self._row_keys.clear()
        self.rows_dropped = 0
        cols = item.columns or ("text",)
        # Text, not markup: a script's `// columns:` can hold brackets ("a[/b]" stopped the app)
        out.add_columns("time", "kind", *(Text(c) for c in cols))
        self.query_one("#output-title", Label).update(Text(f"Output of {item.name}: {', '.join(cols)}"))

    def _accepts(self, ev: Event) -> bool:
        return ev.probe.startswith("user:")

    def _on_batch(self, events: list[Event]) -> None:
        out = self.query_one("#output", DataTable)
        shown = self.loaded.get(self.shown) if self.shown else None
        rows: list[tuple[str, ...]] = []
        for ev in sorted(events, key=lambda e: e.ts):  # rows in time order within a batch
            item = self.loaded.get(ev.probe)
            if item is None:
                continue
            if ev.kind == LOST:
                item.lost += int(ev.args.get("count", 0))
                continue
            if ev.kind == STATUS:
                if ev.args.get("error"):
                    self.notice(f"{item.name}: {ev.args['error']}")
                continue
            item.events += 1
            if not item.first_ts:
                item.first_ts = ev.ts
            if item is shown:
                cols = item.columns or ("text",)
                vals = [
                    ev.kind if c == "kind" and not item.columns else _cell(ev.args.get(c, ev.text))
                    for c in cols
                ]
                rows.append((f"{(ev.ts - item.first_ts) / 1e9:.6f}", ev.kind, *vals))
        if rows:
            with self.app.batch_update():
                rows = rows[-MAX_ROWS:]
                for row in rows:
                    self._row_keys.append(out.add_row(*row))
                while len(self._row_keys) > MAX_ROWS:
                    out.remove_row(self._row_keys.popleft())
                    self.rows_dropped += 1
                out.move_cursor(row=out.row_count - 1)
        self._refresh_counts()

    def _refresh_counts(self) -> None:
        t = self.query_one("#loaded", DataTable)
        for probe, it in self.loaded.items():
            try:
                t.update_cell(probe, t.ordered_columns[4].key, str(it.events))
                t.update_cell(probe, t.ordered_columns[5].key, str(it.lost))
            except Exception:
                self._refresh_loaded()
                return


def origin_of(opened: tuple[str, str] | None, text: str) -> str:
    """Where the editor's text came from: the file opened into it (edited or not), else ""."""
    if opened is None:
        return ""
    path, original = opened
    return path if text == original else f"{path} (edited)"


def _cell(v: Any) -> str:
    s = v if isinstance(v, str) else str(v)
    return s if len(s) <= 80 else s[:79] + "…"


def read_program(path: str) -> str:
    """A file's text, or a named template's ("bcc", "bpftrace"), with clear errors."""
    p = Path(path).expanduser()
    if not p.exists():
        try:
            return templates.template_text(path)  # "bcc" / "bpftrace": the new-probe skeletons
        except KeyError:
            pass
        raise NotFoundError(f"no such file: {p}", "give the path of a .c (BCC) or .bt (bpftrace) file")
    # stat, regular-file check and a bounded read before anything is held (/dev/zero, a fifo)
    return read_text_bounded(p, MAX_SOURCE_BYTES, "program file")
