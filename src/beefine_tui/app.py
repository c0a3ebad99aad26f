"""The Textual app: a sidebar ("Load eBPF", "Docker") and tabs for the views opened from it.

Owns one AppContext (`app.ctx`): everything a view starts (probe sessions, XDP, containers) is
registered there and stopped on unmount, on Ctrl-C/quit, and on SIGTERM/SIGHUP (a dropped SSH
session). Screens never import BPF code; blocking work runs in thread workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import textual.screen
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from beefine_tui.appcontext import AppContext
from beefine_tui.screens.errors import show_error
from beefine_tui.screens.help import HelpScreen, QuitScreen
from beefine_tui.screens.shell import BeefineCommands, BeefinePalette, ShellScreen, daemon_label
from beefine_tui.widgets import textual_fixes

# Measured with bench/ui_latency.py (100k events/s, 2 CPUs): with the interpreter's defaults, full
# collections walking Textual's heap and the events in flight took 34 s of 100 (p50 143 ms each, GIL
# held), which is what made keys slow. Freezing the heap built at start-up and letting short-lived
# events die before a young collection promotes them took key p99 from ~230 ms to ~85 ms.
GC_YOUNG_THRESHOLD = 50_000
# The UI thread shares the GIL with the threads that decode and deliver events. A thread that wants
# it back (the UI loop after each poll for input, a key's handler) waits up to the switch interval for
# a busy one to let go: 5 ms by default, paid again at every hop of a key through the loop.
GIL_SWITCH_INTERVAL_S = 0.001
# Textual repaints at most 60 times a second: a key's effect waits for the next of those frames, often
# one more when the change reaches the screen just after a frame was taken. At 120 the wait halves
# (key p50 under 100k events/s 23.8 -> 18.3 ms, bench/ui_latency.py); a screen repaints only when
# something changed, so a flood adds no frames (the log takes at most 10 batches a second). At 240
# the key p99 under 100k events/s fell again, 28.1 -> 22.6 ms (medians of 6 alternating rounds of
# bench/ab.py ui_latency.py --base . --a-args='--fps 120' --b-args='--fps 240'), with the same 473
# repaints and UI thread CPU (4.6 -> 4.9 s) in a 30 s flood.
UI_FPS = 240

# what the help screen calls the widgets whose keys it lists (a learner does not know class names)
_GENERIC_PLACES = {
    "DataTable": "Tables",
    "Input": "Text boxes",
    "Tree": "Sidebar",
    "Select": "Lists",
    "SelectCurrent": "Lists",
    "Tabs": "Tabs",
    "TabbedContent": "Tabs",
    "Checkbox": "Checkboxes",
    "Button": "Buttons",
    "LogView": "Live logs",
    "EventLog": "Live logs",
}
_VIEW_PLACES = {
    "HelpersView": "Helper functions",
    "NetworkView": "Inspect network",
    "ProbeView": "Live probe view",
    "ProgramsListView": "Loaded programs",
    "UserProgramsView": "Your programs",
}


def place_of(node: object) -> tuple[int, str]:
    """(rank, name) for where a binding applies: 0 everywhere, 1 the view, 2 generic widgets."""
    name = type(node).__name__.lstrip("_")
    if name in ("ShellScreen", "BeefineApp"):
        return 0, "everywhere"
    if name in _GENERIC_PLACES:
        return 2, _GENERIC_PLACES[name]
    if name in _VIEW_PLACES:
        return 1, _VIEW_PLACES[name]
    for suffix in ("View", "Screen"):
        if name.endswith(suffix) and name != suffix:
            name = name[: -len(suffix)]
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name) or [name]
    return 1, " ".join([words[0].capitalize(), *(w.lower() for w in words[1:])])


def tune_gc() -> None:
    """Fewer, cheaper collections for a long-running app that streams events (process-wide)."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, gen1, gen2)


def tune_gil() -> None:
    """Hand the GIL over sooner (process-wide): see GIL_SWITCH_INTERVAL_S."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def tune_frame_rate() -> None:
    """Let Textual repaint up to UI_FPS times a second, unless the user chose with TEXTUAL_FPS. Its
    screens read the period when they first paint: call before the app runs."""
    if "TEXTUAL_FPS" not in os.environ:
        textual.screen.UPDATE_PERIOD = 1 / UI_FPS  # type: ignore[misc]  # Final in Textual, read late


def freeze_startup_heap() -> None:
    """Move what start-up built out of the collector's sight; collect first so no garbage becomes
    immortal."""
    gc.collect()
    gc.freeze()


# the letter of each j/k/g/G move, for check_action (a text box types it instead)
_MOVE_LETTERS = {"down": "j", "up": "k", "home": "g", "end": "G"}

MIN_SIZE = (80, 24)
# After SIGTERM/SIGHUP/SIGINT: what outlives us (containers, the lab) is removed first, bounded by
# OUTLIVING_TIMEOUT_S (a lab's dockerd gets 10 s to stop its containers); then the UI has
# SIGNAL_GRACE_S to exit through Textual (which restores the terminal) before a forced exit.
OUTLIVING_TIMEOUT_S = 60.0
SIGNAL_GRACE_S = 5.0
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
PRECOMPILE_TICK_S = 0.5  # how often the header's "compiling probes n/m" is refreshed


class BeefineApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Beefine"
    SUB_TITLE = "eBPF x Docker"
    COMMANDS = App.COMMANDS | {BeefineCommands}
    # The keyboard contract, the same in every view. Letter keys are not priority bindings: an Input
    # or TextArea with focus consumes printable keys first (check_consume_key), so typing never fires them.
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "close_or_quit", "Close/quit"),
        Binding("escape", "go_back", "Back", show=False),
        Binding("slash", "filter", "Filter", key_display="/"),
        # binding the palette here replaces Textual's own ctrl+p binding: keep it
        Binding("colon", "command_palette", "Go to", key_display=":"),
        Binding("ctrl+p", "command_palette", "Go to", show=False, priority=True),
        # j/k/g/G act when the key arrives (priority), not after it bubbled up from the focused widget:
        # `j Enter` typed fast opened the row under the cursor before j moved it (check_action lets
        # the key through to a text box instead)
        Binding("j", "move('down')", "Down", show=False, priority=True),
        Binding("k", "move('up')", "Up", show=False, priority=True),
        Binding("g", "move('home')", "First", show=False, priority=True),
        Binding("G,shift+g", "move('end')", "Last", key_display="G", show=False, priority=True),
        Binding("right_square_bracket", "section(1)", "Next section", key_display="]", show=False),
        Binding("left_square_bracket", "section(-1)", "Prev section", key_display="[", show=False),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar"),
        Binding("ctrl+w", "close_tab", "Close tab", priority=True),
        Binding("ctrl+t", "toggle_split", "Tail container"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # every other TUI quits on ctrl+c; Textual's default only says "press ctrl+q". Not a priority
        # binding: with text selected, the screen or text box copies it (they skip when nothing is)
        Binding("ctrl+c", "quit", "Quit", show=False),
    ]
    # bindings that act on the shell's views: on a modal (help, an error, a question) they must not
    # reach the tabs underneath
    _SHELL_ACTIONS = frozenset(
        {"close_or_quit", "go_back", "filter", "move", "section", "close_tab", "toggle_split"}
    )

    def __init__(
        self,
        ctx: AppContext,
        *,
        banner: str = "",
        clock: Callable[[], float] = time.monotonic,
        replay: Path | None = None,
        replay_speed: float = 1.0,
        open_views: tuple[str, ...] = (),
        compare: tuple[Path, Path] | None = None,
        remove_outliving: Callable[[], None] | None = None,
        gc_tuning: bool = False,
    ) -> None:
        super().__init__()
        textual_fixes.apply()
        # the collector and the GIL tuned for a long-running app (process-wide): off in tests, where
        # freezing would keep other tests' objects alive
        self.gc_tuning = gc_tuning
        if gc_tuning:
            tune_frame_rate()
        self.ctx = ctx
        self.banner = banner
        self.clock = clock
        self.replay_path = replay
        self.replay_speed = replay_speed
        self.open_views = open_views
        self.compare_paths = compare  # `diff A B --tui`: opened on the Compare view
        # what outlives this process unless removed (the embedded lab); run before probes detach
        self.remove_outliving = remove_outliving
        # not `_closed`: that name is Textual's MessagePump flag, and setting it made the app drop
        # the exit message, so a signal never left through Textual's exit (terminal not restored)
        self._context_closed = False
        self._close_lock = threading.Lock()
        self.outliving_gone = threading.Event()  # containers and lab are removed
        self.ui_exited = threading.Event()  # set once run() returned: the terminal is restored
        self.exit_signal = 0  # the signal that ended the app, 0 if none
        self._quitting = False
        self._old_handlers: dict[int, Any] = {}
        self._ui_loop: asyncio.AbstractEventLoop | None = None

    def run(self, *args: Any, **kwargs: Any) -> int | None:
        """App.run; once it returns the UI is gone (terminal restored): the signal watchdog stands down."""
        try:
            return super().run(*args, **kwargs)
        finally:
            self.ui_exited.set()

    def get_default_screen(self) -> Screen[Any]:
        return ShellScreen()

    def on_mount(self) -> None:
        self.sub_title = self._base_sub_title()
        self._ui_loop = asyncio.get_running_loop()
        self._install_signal_handlers()
        if self.ctx.precompiler is not None:
            # compile the story's probes now, in the background, so the Image monitor's first run
            # only attaches them; the header says how far it is (views may ask for more later)
            if self.replay_path is None and self.compare_paths is None:
                self.ctx.precompile_at_start()
            self.set_interval(PRECOMPILE_TICK_S, self._show_header)
        elif callable(getattr(self.ctx, "connection_text", None)):
            self.set_interval(1.0, self._show_header)  # --remote: a lost connection shows at once
        if self.gc_tuning:
            tune_gc()
            tune_gil()
            self.call_after_refresh(freeze_startup_heap)

    def _base_sub_title(self) -> str:
        return f"{self.SUB_TITLE} · {daemon_label(self.ctx)}"

    def _show_header(self) -> None:
        """The daemon in use (over --remote, the connection's state), then "compiling probes 3/9
        (files)" while the precompiler works."""
        if self._quitting or self.exit_signal:
            return  # the header says the app is ending
        p = self.ctx.precompile_progress()
        line = p.line() if p is not None else ""
        title = f"{self._base_sub_title()} · {line}" if line else self._base_sub_title()
        if title != self.sub_title:
            self.sub_title = title

    @property
    def shell(self) -> ShellScreen:
        screen = self.get_default_screen_instance()
        assert isinstance(screen, ShellScreen)
        return screen

    def get_default_screen_instance(self) -> Screen[Any]:
        return self.screen_stack[0]

    # ---- shutdown: nothing of ours outlives the app
    def close_context(self) -> None:
        """Remove what would outlive us (containers, then the lab), then detach probes (seconds:
        each tracepoint's detach waits for an RCU grace period). Runs once; a second caller waits
        for the first to finish."""
        with self._close_lock:
            if self._context_closed:
                return
            self._context_closed = True

            def on_error(e: BaseException) -> None:
                self.log.error(f"cleanup: {e!r}")

            try:
                self.ctx.release_outliving(on_error=on_error)
                if self.remove_outliving is not None:
                    try:
                        self.remove_outliving()
                    except Exception as e:
                        on_error(e)
            finally:
                self.outliving_gone.set()
            self.ctx.close(on_error=on_error)

    def on_unmount(self) -> None:
        self._restore_signal_handlers()
        if self.exit_signal:
            return  # the signal's cleanup thread runs it; the caller waits for it after the UI is gone
        self.close_context()

    async def action_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        # stopping ~150 tracepoints, XDP and containers takes seconds: say so, and keep the screen alive
        # the header says it at once (its own message pump repaints it: a notification, being a message
        # to this app, would only show after this action returns), while the cleanup runs off this loop
        self.sub_title = "quitting: removing what this app started, stopping probes…"
        await asyncio.to_thread(self.close_context)
        self.exit(0)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in EXIT_SIGNALS:
            try:
                old = signal.getsignal(sig)
                if old is signal.SIG_IGN:
                    continue  # nohup's choice is respected
                self._old_handlers[sig] = old
                signal.signal(sig, self._on_signal)
            except (ValueError, OSError):
                pass

    def _restore_signal_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)
        self._old_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Runs in the main thread between bytecodes: never raise or block here. A second signal
        while the first is handled changes nothing (the cleanup is already running)."""
        if self.exit_signal:
            return
        self.exit_signal = signum
        # the cleanup must not wait for the UI loop (it may be stuck on a dead terminal): a thread
        threading.Thread(target=self.close_context, name="signal-cleanup", daemon=True).start()
        threading.Thread(target=self._watchdog, args=(signum,), name="signal-watchdog", daemon=True).start()
        loop = self._ui_loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._exit_after_outliving(signum)))

    async def _exit_after_outliving(self, signum: int) -> None:
        """Leave through Textual's own exit (it restores the terminal) once containers and the lab are
        gone; the probes finish detaching after the screen is restored (the caller waits for them)."""
        self.sub_title = "stopping: removing what this app started…"
        await asyncio.to_thread(self.outliving_gone.wait, OUTLIVING_TIMEOUT_S)
        self.exit(128 + signum)

    def _watchdog(self, signum: int) -> None:
        """If the UI cannot exit (a dead terminal), leave anyway, but only after what outlives us is
        removed: probes need no help, the kernel frees them with our file descriptors."""
        self.outliving_gone.wait(OUTLIVING_TIMEOUT_S)
        if self.ui_exited.wait(SIGNAL_GRACE_S):
            return
        os._exit(128 + signum)

    # ---- global actions
    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        # one row per (where, what): keys for the same thing share it ("f1 ^b  Sidebar")
        rows: dict[tuple[int, str, str], list[str]] = {}
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if not b.description or key.startswith("super+"):
                continue  # super+ (the macOS command key) does not reach a terminal app
            rank, where = (0, "everywhere") if active.node is self else place_of(active.node)
            display = b.key_display or self.get_key_display(b) or key
            keys = rows.setdefault((rank, where, b.description), [])
            if display not in keys:
                keys.append(display)
        # the app's own keys first, then the open view's, then those every table or text box has
        ranked = sorted(rows.items(), key=lambda item: item[0][0])
        self.push_screen(HelpScreen([(where, " ".join(keys), what) for (_, where, what), keys in ranked]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "move":
            # a priority binding: a widget that takes the letter as text (Input, TextArea) gets it
            letter = _MOVE_LETTERS.get(str(parameters[0]) if parameters else "", "")
            focused = self.focused
            if focused is None or focused.check_consume_key(letter, letter):
                return False
        return not (action in self._SHELL_ACTIONS and len(self.screen_stack) > 1)

    async def action_close_or_quit(self) -> None:
        """q: close the current tab; at the top (sidebar focused, or no view open) ask to quit."""
        shell = self.shell
        if shell.sidebar_has_focus() or shell.active_view() is None:
            self.push_screen(QuitScreen(), self._quit_answered)
        else:
            await shell.close_current()

    def _quit_answered(self, quit_now: bool | None) -> None:
        if quit_now:
            self.run_worker(self.action_quit(), group="quit")

    def action_go_back(self) -> None:
        self.shell.go_back()

    def action_filter(self) -> None:
        if not self.shell.open_filter():
            self.notify("This view has no filter: / filters live logs.", timeout=3)

    async def action_move(self, key: str) -> None:
        """j/k/g/G: the same as down/up/home/end for whatever list, table or log has focus, done now
        through the focused widget's own bindings: a simulated key would queue behind the keys typed
        after this one."""
        if self.focused is not None and not await self._check_bindings(key):
            self.simulate_key(key)  # a widget that reads the key in on_key rather than a binding

    def action_section(self, step: int) -> None:
        self.shell.cycle_section(step)

    def action_command_palette(self) -> None:
        if self.use_command_palette and not any(isinstance(s, BeefinePalette) for s in self.screen_stack):
            # no fixed id (Textual gives its palette "--command-palette"): a palette closed by the
            # previous key is still registered for a moment, and a second one with its id raised
            # DuplicateIds and ended the app
            self.push_screen(BeefinePalette())

    def action_toggle_sidebar(self) -> None:
        self.shell.toggle_sidebar()

    async def action_close_tab(self) -> None:
        await self.shell.close_active_tab()

    async def action_toggle_split(self) -> None:
        await self.shell.toggle_split()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Never markup, whatever a widget's notify passes (Textual's Widget.notify says markup=True):
        messages carry names, errors and what a user typed, and a "[/x]" in them stopped the app."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def show_error(self, exc: BaseException, title: str = "") -> None:
        show_error(self, exc, title)

    def on_resize(self, event: events.Resize) -> None:
        if self.screen_stack:
            self.shell.size_changed(event.size.width, event.size.height)
