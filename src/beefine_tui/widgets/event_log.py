"""EventLog: a bounded live log of events, fed in batches, with pause/follow and a filter bar.

    log = EventLog(max_lines=5000)
    log.add_events(batch)          # on the UI thread, e.g. from an EventPump's on_batch

Keys (when the log or its filter has focus):
    /      open the filter bar (words, field=value: see widgets/filter_bar.py)
    end    resume following new events
    p      pause / resume following
Scrolling up (keys, mouse wheel) pauses auto-follow: the view stays still while new events are kept
(bounded) and counted; `end` shows them. Lost events are always shown, even when filtered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Log

from beefine_tui.events.model import LOST, STATUS, Event
from beefine_tui.widgets.filter_bar import EventFilter, FilterBar

FOLLOW_WRITE_MAX = 500  # lines written per batch while following (more than any screen shows)


def format_event(ev: Event, base_ts: int) -> str:
    """One line per event: time since start, probe, pid, comm, kind and the event's own text."""
    rel = (ev.ts - base_ts) / 1e9 if base_ts else 0.0
    if ev.kind == LOST:
        return f"{rel:10.6f} {ev.probe:<10} !! LOST {ev.text or ev.args}"
    text = ev.text or " ".join(f"{k}={v}" for k, v in ev.args.items())
    where = f" [{ev.container[:12]}]" if ev.container else ""
    return f"{rel:10.6f} {ev.probe:<10} {ev.pid:>7} {ev.comm:<15.15} {ev.kind:<10.10} {text}{where}"


class _Log(Log):
    """The inner Log; reports user scrolling so the owner can pause."""

    BINDINGS = [Binding("end", "follow", "Follow", show=True)]

    def action_follow(self) -> None:
        owner = self.parent
        if isinstance(owner, EventLog):
            owner.action_follow()

    def _user_scrolled_back(self) -> None:
        owner = self.parent
        if isinstance(owner, EventLog) and not owner.paused and self.max_scroll_y > 0:
            owner.pause()

    def action_scroll_up(self) -> None:
        self._user_scrolled_back()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._user_scrolled_back()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._user_scrolled_back()
        super().action_scroll_home()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._user_scrolled_back()
        super()._on_mouse_scroll_up(event)


class _StateLine(Widget):
    """One fixed line that re-renders itself (no layout pass per update, unlike Static.update)."""

    DEFAULT_CSS = "_StateLine { height: 1; width: 1fr; }"

    def __init__(self, classes: str) -> None:
        super().__init__(classes=classes)
        self.text = ""

    def set(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> str:
        return self.text


class EventLog(Vertical):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    EventLog > _Log { height: 1fr; }
    EventLog > .eventlog--state { height: 1; display: none; background: $warning-muted; }
    EventLog.-paused > .eventlog--state { display: block; }
    """
    BINDINGS = [
        Binding("slash", "open_filter", "Filter", show=True),
        Binding("p", "toggle_pause", "Pause", show=True),
    ]

    paused: reactive[bool] = reactive(False)

    def __init__(
        self,
        *,
        max_lines: int = 5000,
        formatter: Callable[[Event, int], str] = format_event,
        show_status: bool = True,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self.formatter = formatter
        self.show_status = show_status
        self.base_ts = 0  # ts of the first event: times are shown relative to it
        self.total = 0  # events ever added
        self.shown = 0  # lines written since the last rebuild
        self.pending_while_paused = 0
        self._gap = False  # the Log skipped lines that are in _events (flood while following)
        self._events: deque[Event] = deque(maxlen=max_lines)
        self._filter = EventFilter("")

    def compose(self) -> ComposeResult:
        yield FilterBar()
        yield _Log(max_lines=self.max_lines, highlight=False, auto_scroll=True)
        yield _StateLine(classes="eventlog--state")

    @property
    def log_widget(self) -> Log:
        return self.query_one(_Log)

    @property
    def filter_text(self) -> str:
        return self._filter.text

    def lines(self) -> list[str]:
        """What the log shows now (for tests and the clipboard)."""
        return list(self.log_widget.lines)

    # ---- feeding
    def add_events(self, events: Iterable[Event]) -> None:
        """Add a batch. Cheap under floods: only the lines that can still be shown are formatted."""
        batch = events if isinstance(events, list) else list(events)
        if not self.show_status:
            batch = [ev for ev in batch if ev.kind != STATUS]
        if not batch:
            return
        if not self.base_ts:
            self.base_ts = next((ev.ts for ev in batch if ev.kind != LOST), 0)
        self._events.extend(batch)  # bounded: the oldest fall off
        self.total += len(batch)
        if self.paused:
            self.pending_while_paused += len(batch)
            self._show_state()
            return
        # while following, only the newest lines can be seen: write at most FOLLOW_WRITE_MAX per batch
        # (formatting and measuring 5000 lines per batch is what made keys slow under floods). The full
        # bounded history stays in self._events and is written out when the user pauses to scroll back.
        if len(batch) > FOLLOW_WRITE_MAX:
            self._gap = True
        new = self._tail_lines(batch, FOLLOW_WRITE_MAX)
        if new:
            self._write(new)

    def _tail_lines(self, events: Sequence[Event], limit: int | None = None) -> list[str]:
        """Formatted lines of the last `limit` events that pass the filter, oldest first."""
        fmt, base, flt = self.formatter, self.base_ts, self._filter
        limit = self.max_lines if limit is None else min(limit, self.max_lines)
        if not flt:
            return [fmt(ev, base) for ev in events[-limit:]]
        out: list[str] = []
        for ev in reversed(events):
            line = fmt(ev, base)
            if flt.matches(ev, line):
                out.append(line)
                if len(out) >= limit:
                    break
        out.reverse()
        return out

    def _write(self, lines: Sequence[str]) -> None:
        log = self.log_widget
        with self.app.batch_update():
            log.write_lines(lines[-self.max_lines :], scroll_end=True)
        self.shown += len(lines)

    def _rebuild(self) -> None:
        log = self.log_widget
        lines = self._tail_lines(list(self._events))
        with self.app.batch_update():
            log.clear()
            log.write_lines(lines, scroll_end=True)
        self.shown = len(lines)
        self.pending_while_paused = 0
        self._gap = False

    def clear(self) -> None:
        self._events.clear()
        self.total = 0
        self.base_ts = 0
        self.log_widget.clear()

    # ---- filtering
    def set_filter(self, text: str) -> None:
        self._filter = EventFilter(text)
        self.paused = False
        self._rebuild()
        self._show_state()

    def action_open_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = self._filter.text
        bar.open()

    def on_filter_bar_filter_changed(self, message: FilterBar.FilterChanged) -> None:
        message.stop()
        self.set_filter(message.value)
        if not message.value and not message.bar.has_class("-open"):
            self.log_widget.focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        message.stop()
        self.log_widget.focus()

    # ---- follow / pause
    def pause(self) -> None:
        if self._gap:
            # lines were skipped while following a flood: show the whole bounded history before scrolling
            self._gap = False
            self._rebuild()
        self.paused = True

    def action_toggle_pause(self) -> None:
        if self.paused:
            self.action_follow()
        else:
            self.pause()

    def action_follow(self) -> None:
        held = self.pending_while_paused if self.paused else 0
        self.paused = False
        if held:
            self._rebuild()
        self.log_widget.scroll_end(animate=False, immediate=True)

    def watch_paused(self, paused: bool) -> None:
        self.set_class(paused, "-paused")
        if not paused:
            self.pending_while_paused = 0
        self._show_state()

    def _show_state(self) -> None:
        if not self.is_mounted:
            return
        state = self.query_one(".eventlog--state", _StateLine)
        if self.paused:
            state.set(f"⏸ paused: {self.pending_while_paused} new event(s) held; End or p resumes following")
        else:
            state.set("")

    @property
    def following(self) -> bool:
        return not self.paused
