"""The replay screen: a recording shown in the view it came from (the Image monitor's story for a
trace, a probe view for a probe run, the tail pane's log and syscall table for a container), marked as a
replay, with play/pause, step, phase and time jumps, speed and a position bar.

Thin on purpose: the position, pace, seeking and the story at a position are replay.py's ReplayIndex,
ReplayCursor and StoryAt (no Textual there, unit-tested). The index is built once in a thread worker;
after that a key or a timer tick only moves the cursor and redraws what changed: a log gets the events
in between (or its new window after a jump back), the story is fed forward (rebuilt only going back).
No Docker, BPF or root is needed.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState

from beefine_tui.errors import BeefineError
from beefine_tui.replay import TRACE, ReplayCursor, ReplayIndex, StoryAt, position_bar
from beefine_tui.screens.image_monitor import ImageMonitorView
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.widgets.syscall_table import SyscallTable

TICK_S = 0.1  # the play timer: 10 redraws a second at most, whatever the speed
LOG_LINES = 5000  # the log's window (as a live probe view keeps)


class ReplayView(Vertical):
    DEFAULT_CSS = """
    ReplayView { height: 1fr; }
    ReplayView > #rp-banner { height: auto; background: $accent 30%; color: $text; padding: 0 1; }
    ReplayView > #rp-body { height: 1fr; }
    ReplayView > #rp-position { height: 2; padding: 0 1; }
    ReplayView > #rp-jump { display: none; }
    ReplayView.-jumping > #rp-jump { display: block; }
    """
    BINDINGS = [
        Binding("space", "toggle_play", "Play/pause"),
        Binding("full_stop", "step(1)", "Step", key_display="."),
        Binding("comma", "step(-1)", "Back", key_display=","),
        Binding("n", "phase(1)", "Next phase"),
        Binding("N,shift+n", "phase(-1)", "Prev phase", key_display="N"),
        Binding("plus,equals_sign", "speed(1)", "Faster", key_display="+"),
        Binding("minus", "speed(-1)", "Slower", key_display="-"),
        Binding("t", "open_jump", "Jump to"),
        Binding("escape", "close_jump", "Close", show=False),
        Binding("less_than_sign", "to_edge(0)", "Start", key_display="<", show=False),
        Binding("greater_than_sign", "to_edge(1)", "End", key_display=">", show=False),
    ]

    def __init__(self, path: Path, speed: float = 1.0) -> None:
        super().__init__()
        self.path = path
        self.start_speed = speed
        self.index: ReplayIndex | None = None
        self.cursor: ReplayCursor | None = None
        self.story: StoryAt | None = None
        self.shown = 0  # the position the body shows
        self.message = ""  # the last thing a key did (a phase reached, a bad jump)
        self._last_tick = 0.0

    def compose(self) -> ComposeResult:
        # Text: a file name is not markup ("run[bold]1.jsonl" was shown as a bold "run1.jsonl")
        yield Static(Text(f"REPLAY of {self.path.name}: reading…"), id="rp-banner")
        yield Vertical(id="rp-body")
        yield Input(placeholder="jump to: a time (2.5, 2.5s, 1500ms) or a phase; Enter", id="rp-jump")
        yield Static("", id="rp-position")

    def on_mount(self) -> None:
        self._load(self.path)

    def focus_target(self) -> Widget | None:
        body = self.query_one("#rp-body")
        for child in body.children:
            target = getattr(child, "focus_target", None)
            if callable(target):
                found = target()
                return found if isinstance(found, Widget) else None
        return None

    # ---- loading (a thread: a big recording takes seconds to index)
    @work(thread=True, exclusive=True, exit_on_error=False, group="replay-load")
    def _load(self, path: Path) -> ReplayIndex:
        return ReplayIndex.load(path)

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "replay-load":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, ReplayIndex):
            await self._loaded(event.worker.result)
        elif event.state == WorkerState.ERROR:
            err = event.worker.error
            msg = err.message if isinstance(err, BeefineError) else f"{type(err).__name__}: {err}"
            self.query_one("#rp-banner", Static).update(Text(f"REPLAY of {self.path}: cannot read it: {msg}"))

    async def _loaded(self, index: ReplayIndex) -> None:
        self.index = index
        self.query_one("#rp-banner", Static).update(self._banner(index))
        body = self.query_one("#rp-body", Vertical)
        if index.origin == TRACE:
            self.story = StoryAt(index)
            await body.mount(ImageMonitorView(replay=True))
        else:
            view = ProbeView(
                index.probes,
                title=f"Replay {self.path.name}",
                replay=self.path,
                replay_fed=True,
                max_lines=LOG_LINES,
            )
            await body.mount(view)
        self._ready(ReplayCursor(index, self.start_speed))

    def _ready(self, cursor: ReplayCursor) -> None:
        """The body is mounted: keys work from now on (not before, or a key would be undone here)."""
        for view in self.query(ProbeView):
            view.event_log.set_origin(cursor.index.origin_ts)
        if self.start_speed == 0:
            cursor.seek(cursor.index.count)  # --speed 0: the whole recording at once, as before
        else:
            cursor.seek(cursor.index.start_position)
        self.cursor = cursor
        self._show()
        target = self.focus_target()
        if target is not None:
            target.focus()
        self._last_tick = time.monotonic()
        self.set_interval(TICK_S, self._tick)

    def _banner(self, index: ReplayIndex) -> Text:
        h = index.header
        cmd = h.command
        ours = bool(cmd) and Path(cmd[0]).name in ("beefine-tui", "__main__.py")
        what = " ".join(cmd[1:] if ours else cmd) or "unknown command"
        # UTC: a file shared between a teacher and students in other zones says the same time
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(h.started_wall))
        text = Text.assemble(("REPLAY ", "bold reverse"), f" {self.path.name}: `{what}`")
        text.append(f" on {h.host} (kernel {h.kernel}), {when}; {index.count} events")
        if not index.complete:
            text.append(f"\nINCOMPLETE: {index.problem}", style="bold")
        return text

    # ---- moving
    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        cursor = self.cursor
        if cursor is not None and cursor.playing:
            cursor.advance(dt)
            self._show()

    def action_toggle_play(self) -> None:
        if self.cursor is not None:
            self.cursor.toggle()
            self._last_tick = time.monotonic()
            self.message = ""
            self._show()

    def action_step(self, n: int) -> None:
        if self.cursor is not None:
            self.cursor.step(n)
            self.message = ""
            self._show()

    def action_phase(self, direction: int) -> None:
        cursor = self.cursor
        if cursor is None:
            return
        if not cursor.index.phases:
            self.message = "phases: only a trace recording has them"
        else:
            name = cursor.step_phase(direction)
            # a phase reached is named on the position line already
            self.message = "" if name else ("no later phase" if direction > 0 else "no earlier phase")
            if name:
                self._select_phase(name)
        self._show()

    def action_speed(self, direction: int) -> None:
        if self.cursor is not None:
            self.cursor.faster(direction)
            self.message = ""
            self._show()

    def action_to_edge(self, end: int) -> None:
        cursor = self.cursor
        if cursor is not None:
            cursor.pause()
            cursor.seek(cursor.index.count if end else 0)
            self.message = ""
            self._show()

    def action_open_jump(self) -> None:
        if self.cursor is None:
            return
        self.add_class("-jumping")
        box = self.query_one("#rp-jump", Input)
        box.value = ""
        box.focus()

    @on(Input.Submitted, "#rp-jump")
    def _jump(self, event: Input.Submitted) -> None:
        event.stop()
        cursor = self.cursor
        if cursor is None:
            return
        try:
            self.message = cursor.jump(event.value)
        except ValueError as e:
            self.message = str(e)
            self._show()
            return  # the box stays open to try again
        if self.message.startswith("phase "):
            self._select_phase(cursor.index.phase_at(cursor.position))
        self._close_jump()
        self._show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_jump":
            return self.has_class("-jumping")  # else Esc means what it means everywhere (the sidebar)
        return True

    def action_close_jump(self) -> None:
        self._close_jump()

    def _close_jump(self) -> None:
        self.remove_class("-jumping")
        target = self.focus_target()
        if target is not None:
            target.focus()

    def _select_phase(self, name: str) -> None:
        """The story's table follows a phase step to that phase's row (its events and explanation)."""
        for monitor in self.query(ImageMonitorView):
            monitor.selected = name

    # ---- drawing
    def _show(self) -> None:
        cursor = self.cursor
        if cursor is None:
            return
        index, pos = cursor.index, cursor.position
        if pos != self.shown or not self.shown:
            if self.story is not None:
                for monitor in self.query(ImageMonitorView):
                    monitor.show_story(self.story.at(pos))
                    self._follow_selection(monitor)
            for view in self.query(ProbeView):
                self._feed(view, index, pos)
            self.shown = pos
        self.query_one("#rp-position", Static).update(self._position_text())

    def _follow_selection(self, monitor: ImageMonitorView) -> None:
        table = monitor.query_one("#im-phases", DataTable)
        order = [str(k.value) for k in table.rows]
        if monitor.selected in order and table.cursor_row != order.index(monitor.selected):
            table.move_cursor(row=order.index(monitor.selected))

    def _feed(self, view: ProbeView, index: ReplayIndex, pos: int) -> None:
        reset, events = index.window(self.shown, pos, LOG_LINES)
        log = view.event_log
        tables = list(view.query(SyscallTable))
        if reset:
            log.clear()
            log.set_origin(index.origin_ts)
            for table in tables:
                # strace -c counts every call up to the position, not just the log's window
                table.clear()
                table.add_events(index.events(0, max(0, pos - LOG_LINES)))
        log.add_events(events)
        for table in tables:
            table.add_events(events)

    def _position_text(self) -> Text:
        cursor = self.cursor
        assert cursor is not None
        index = cursor.index
        state = "▶ playing" if cursor.playing else ("■ end" if cursor.at_end else "⏸ paused")
        speed = f"{cursor.speed:g}x"
        phase = index.phase_at(cursor.position)
        line = Text.assemble(
            (state, "bold"),
            f" {speed}  event {cursor.position}/{index.count}  ",
            f"{cursor.elapsed_s:+.3f} s of {cursor.duration_s:.3f} s",
        )
        if phase:
            line.append(f"  phase: {phase}")
        lost = index.lost_before(cursor.position)
        line.append(f"  lost {lost}", style="bold red" if lost else "")
        if self.message:
            line.append(f"  {self.message}", style="italic")
        width = max(10, (self.size.width or 80) - 2)
        bar = position_bar(cursor.position, index.count, width, (m[2] for m in index.phases))
        line.append("\n" + bar, style="cyan")
        return line

    def stop_view(self) -> None:
        if self.cursor is not None:
            self.cursor.pause()
