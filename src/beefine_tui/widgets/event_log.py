"""EventLog: a bounded live log of events, fed in batches, with pause/follow and a filter bar.

    log = EventLog(max_lines=5000)
    log.add_events(batch)          # on the UI thread, e.g. from an EventPump's on_batch

Keys (when the log or its filter has focus):
    /      open the filter bar (words, field=value: see widgets/filter_bar.py)
    end    resume following new events
    p      pause / resume following
    ↑ ↓    move the cursor row (the newest row while following); moving up pauses
    enter  the cursor row's event in full (widgets/event_detail.py)
Scrolling up (keys, page up, home, mouse wheel, scrollbar) pauses auto-follow: the view stays still
while new events are kept (bounded) and counted; `end` shows them. Lost events are always shown, even
when filtered.

It is a virtual log: events are kept as they are (a bounded deque) and only the rows on screen are
formatted, when they are painted (Textual's Line API). So a batch costs O(batch) appends, and pause,
follow and scrolling cost O(rows on screen); a filter costs one pass to build its index, then only
the new events. Each event is one row (a newline in its text shows as a replacement character).
Rows that fall off the bounded log are counted (`dropped`) and said on the state line under it.
Long lines: the horizontal scroll range is the widest row painted so far, at most MAX_WIDTH cells;
anything beyond is cropped.

Times: every row's time is relative to one origin, the view's start (`set_origin`, a CLOCK_MONOTONIC
timestamp like the kernel's), or for a replay the earliest event of the first batch. It is never
negative: an event older than the origin moves the origin back to it (and rows are re-timed). Rows are
in timestamp order: each batch is sorted, and a batch holding events older than the newest row (another
probe's batch that came later) is merged into the tail, looking back at most MERGE_BACK rows; events
older than that are appended where they arrive and counted in `late`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo, ScrollUp
from textual.selection import Selection
from textual.strip import Strip
from textual.widgets import Input, Log

from beefine_tui.events.model import LOST, STATUS, Event
from beefine_tui.widgets.filter_bar import EventFilter, FilterBar

MAX_WIDTH = 1000  # cells: the horizontal scroll range never grows past this (longer rows are cropped)
MERGE_BACK = 4096  # rows an out-of-order batch may be merged back into
LINE_CACHE = 512  # rows' text kept (several screens), so a repaint or a small scroll does not reformat


def format_event(ev: Event, base_ts: int) -> str:
    """One line per event: time since start, probe, pid, comm, kind and the event's own text."""
    rel = (ev.ts - base_ts) / 1e9 if base_ts else 0.0
    if ev.kind == LOST:
        return f"{rel:10.6f} {ev.probe:<10} !! LOST {ev.text or ev.args}"
    text = ev.text or " ".join(f"{k}={v}" for k, v in ev.args.items())
    where = f" [{ev.container[:12]}]" if ev.container else ""
    return f"{rel:10.6f} {ev.probe:<10} {ev.pid:>7} {ev.comm:<15.15} {ev.kind:<10.10} {text}{where}"


def _in_time_order(batch: list[Event]) -> list[Event]:
    """Sorted by time, stable (equal times keep their arrival order). A loss report is stamped when it
    was reported (by another clock, in a replay): it stays after every event that arrived before it."""
    # the usual batch is in order already: checked at C speed (a list of ints, sorted() of a sorted
    # list is one pass), ~5x cheaper than the loop below on a 20k-event batch (bench/ui_latency.py).
    # Raw times in order imply the keys below are in order too (a loss report's key is at most its own
    # time), so this returns exactly what the loop would.
    stamps = [ev.ts for ev in batch]
    if stamps == sorted(stamps):
        return batch
    keys: list[int] = []
    last = 0
    for ev in batch:
        if ev.kind != LOST:
            last = max(last, ev.ts)
        keys.append(last if ev.kind == LOST else ev.ts)
    if all(a <= b for a, b in pairwise(keys)):
        return batch
    order = sorted(range(len(batch)), key=keys.__getitem__)
    return [batch[i] for i in order]


@dataclass(frozen=True, slots=True)
class _Paint:
    """What every row of one paint shares, read once (see LogView.render_lines)."""

    scroll_x: int
    scroll_y: int
    width: int
    state_row: int  # the row the state line covers, -1 without one
    rows: Sequence[Event]
    cursor: int | None
    selection: Selection | None


class LogView(ScrollView, can_focus=True):
    """The log's viewport: formats only the rows it paints, and reports user scrolling so the owner
    can pause. Looks like Textual's Log (same styles and line processing)."""

    ALLOW_SELECT = True
    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $text;
        overflow: scroll;
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """
    BINDINGS = [
        Binding("end", "follow", "Follow", show=True),
        Binding("enter", "open_event", "Show event", show=True),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
    ]
    COMPONENT_CLASSES = {"logview--cursor", "logview--state"}
    DEFAULT_CSS += """
    LogView > .logview--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    LogView:blur > .logview--cursor { background: $block-cursor-blurred-background; }
    LogView > .logview--state { background: $warning-muted; }
    """

    def __init__(self, owner: EventLog) -> None:
        super().__init__()
        self._owner = owner
        self._cursor: int | None = None  # row Enter opens; None: the newest row
        self._width = 0  # widest row painted so far, capped at MAX_WIDTH
        self._width_pending = False
        self._style = Style()
        self._state = ""  # the line drawn over the bottom row while paused (set_state)
        # keyed by id(event); the event is kept beside its strip so the id cannot be reused meanwhile
        self._cache: LRUCache[int, tuple[Event, str, int]] = LRUCache(LINE_CACHE)
        self._paint: _Paint | None = None  # what every row of the paint in progress shares

    # ---- sizing and following
    def _fit(self) -> None:
        """The scroll range: every row, plus one under the last while the state line covers the bottom
        row (so the last row can still be scrolled into view above it)."""
        size = Size(self._width, len(self._owner._view_rows()) + (1 if self._state else 0))
        if size == self.virtual_size:
            return
        if not self.is_mounted:
            self.virtual_size = size
            return
        # virtual_size is a layout reactive: setting it lays out the whole screen (~15 ms of CPU at
        # 160x50 under a flood, bench/ui_latency.py), though only this widget's scroll range changed:
        # its own size is set by CSS, not by its rows. So set it quietly and update the scrollbars;
        # a layout only if a scrollbar came or went (an `overflow: auto` style), which moves the content.
        bars = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        self.set_reactive(LogView.virtual_size, size)
        self._scroll_update(size)
        if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != bars:
            self.refresh(layout=True)

    def visible_rows(self) -> int:
        """Rows of events on screen: the state line takes the bottom one."""
        return max(0, self.scrollable_content_region.height - (1 if self._state else 0))

    def set_state(self, text: str) -> None:
        """Draw `text` over the bottom row ("" removes it). Drawn by render_line, not a widget of its own:
        a widget shown or hidden (display) lays out the whole screen, 12-18 ms of CPU per pause/follow
        key under a flood (bench/ui_latency.py); this repaints one row."""
        if text == self._state:
            return
        toggled = bool(text) != bool(self._state)
        self._state = text
        if toggled:
            self._fit()
        height = self.scrollable_content_region.height if self.is_mounted else 0
        if height:
            self.refresh(Region(0, height - 1, self.size.width, 1))

    @property
    def state_text(self) -> str:
        return self._state

    def sync(self, *, scroll_end: bool, x_axis: bool = False) -> None:
        """Rows changed: fit the scroll range to them, optionally show the newest, repaint."""
        self._fit()
        if not self.is_mounted:
            return
        if scroll_end and not self.is_vertical_scrollbar_grabbed:
            self.scroll_end(animate=False, immediate=True, x_axis=x_axis)
        # rows are positions in a sliding window: when it is full, the same rows show other events
        self.refresh()

    def forget(self, *, width: bool = False) -> None:
        """Formatted rows are stale (time base changed, log cleared)."""
        self._cache.clear()
        if width:
            self._width = 0

    def _grow_width(self, cells: int) -> None:
        cells = min(cells, MAX_WIDTH)
        if cells > self._width:
            self._width = cells
            if not self._width_pending:
                # not from inside a paint: resize after it. call_later keeps it in this widget's
                # queue: an after-refresh callback is dropped with a modal closed before it ran,
                # which left _width_pending set and the log's width fixed for good
                self._width_pending = True
                self.call_later(self._apply_width)

    def _apply_width(self) -> None:
        self._width_pending = False
        self._fit()

    # ---- painting
    def _paint_state(self) -> _Paint:
        scroll_x, scroll_y = self.scroll_offset
        height = self.scrollable_content_region.height
        return _Paint(
            scroll_x=scroll_x,
            scroll_y=scroll_y,
            width=self.size.width,
            state_row=height - 1 if self._state else -1,
            rows=self._owner._view_rows(),
            cursor=self.cursor_row(),
            selection=self.text_selection,
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        if not self.is_attached:
            # removed (its tab closed) while a modal above still paints the screen it was on as its
            # background: its owner and screen are gone, so blank rows (key fuzz, seed 1632656028)
            return [Strip.blank(crop.width)] * crop.height
        # once per paint, not per row: rich_style walks every ancestor's styles, and the offsets,
        # sizes and selection are properties that walk the DOM (a third of a repaint's CPU under a
        # flood when they were read per row, bench/ui_latency.py)
        self._style = self.rich_style
        self._paint = self._paint_state()
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._paint_state()
        width = paint.width
        style = self._style
        if y == paint.state_row:
            state = Text(self._state, self.get_component_rich_style("logview--state"), no_wrap=True)
            state.truncate(width, overflow="ellipsis", pad=True)
            return Strip(state.render(self.app.console), width)
        row = paint.scroll_y + y
        rows = paint.rows
        if row >= len(rows):
            return Strip.blank(width, style)
        scroll_x = paint.scroll_x
        line, cells = self._row_text(rows[row])
        if paint.selection is None and row != paint.cursor and cells == len(line):
            # the usual row (one style, one cell per character): cropped, padded and marked with its
            # offset (for mouse selection) as one segment. What crop_extend and apply_offsets give,
            # without their two intermediate strips (a third of a repaint's CPU, bench/log_paint.py)
            meta = Style.from_meta({"offset": (scroll_x, row)})
            text = line[scroll_x : scroll_x + width].ljust(width)
            return Strip([Segment(text, style + meta if style else meta)], width)
        strip = self._row_strip(rows[row], row, style, paint.selection)
        strip = strip.crop_extend(scroll_x, scroll_x + width, style)
        if row == paint.cursor:
            # the row Enter opens
            strip = strip.apply_style(self.get_component_rich_style("logview--cursor"))
        return strip.apply_offsets(scroll_x, row)

    # ---- the cursor: the row Enter opens in full
    def cursor_row(self) -> int | None:
        n = len(self._owner._view_rows())
        if n == 0:
            return None
        return n - 1 if self._cursor is None else min(self._cursor, n - 1)

    def reset_cursor(self) -> None:
        self._cursor = None

    def _move_cursor(self, row: int) -> None:
        last = len(self._owner._view_rows()) - 1
        if last < 0:
            return
        self._cursor = max(0, min(row, last))
        height = self.visible_rows()
        if self._cursor < self.scroll_y:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif height and self._cursor >= self.scroll_y + height:
            self.scroll_to(y=self._cursor - height + 1, animate=False, immediate=True)
        self.refresh()

    def action_cursor_up(self) -> None:
        row = self.cursor_row()
        if row is None:
            return
        self._user_scrolled_back()  # looking at older rows: hold them still
        self._move_cursor(row - 1)

    def action_cursor_down(self) -> None:
        row = self.cursor_row()
        if row is not None and self._cursor is not None:
            self._move_cursor(row + 1)

    def action_open_event(self) -> None:
        row = self.cursor_row()
        if row is None:
            self.notify("No event to show yet.", timeout=2)
            return
        from beefine_tui.widgets.event_detail import EventDetailScreen

        self.app.push_screen(EventDetailScreen(self._owner._view_rows()[row], self._owner.base_ts))

    def on_click(self, event: events.Click) -> None:
        rows = len(self._owner._view_rows())
        row = int(self.scroll_y) + event.y
        if 0 <= row < rows and event.y < self.visible_rows():
            self._user_scrolled_back()
            self._move_cursor(row)

    def _row_text(self, ev: Event) -> tuple[str, int]:
        """The row's text (one line) and its width in cells, formatted once while it is painted."""
        hit = self._cache.get(id(ev))
        if hit is not None and hit[0] is ev:
            return hit[1], hit[2]
        line = Log._process_line(self._owner._format(ev))
        cells = cell_len(line)
        self._cache[id(ev)] = (ev, line, cells)
        if cells > self._width:
            self._grow_width(cells)
        return line, cells

    def _row_strip(self, ev: Event, row: int, style: Style, selection: Selection | None) -> Strip:
        line, cells = self._row_text(ev)
        if selection is None:
            return Strip([Segment(line, style)], cells)
        text = Text(line, no_wrap=True)
        text.stylize(style)
        if (span := selection.get_span(row)) is not None:
            start, end = span
            sel_style = self.screen.get_component_rich_style("screen--selection")
            text.stylize(sel_style, start, len(text) if end == -1 else end)
        return Strip(text.render(self.app.console), cells)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(self._owner.lines())), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    # ---- user scrolling pauses the owner
    def action_follow(self) -> None:
        self._owner.action_follow()

    def _user_scrolled_back(self) -> None:
        if not self._owner.paused and self.max_scroll_y > 0:
            self._owner.pause()

    def action_scroll_up(self) -> None:
        self._user_scrolled_back()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        row = self.cursor_row()
        self._user_scrolled_back()
        super().action_page_up()
        if row is not None:
            self._move_cursor(row - max(1, self.visible_rows()))

    def action_page_down(self) -> None:
        super().action_page_down()
        row = self.cursor_row()
        if row is not None and self._cursor is not None:
            self._move_cursor(row + max(1, self.visible_rows()))

    def action_scroll_home(self) -> None:
        self._user_scrolled_back()
        super().action_scroll_home()
        self._move_cursor(0)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if not (event.ctrl or event.shift):
            self._user_scrolled_back()
        super()._on_mouse_scroll_up(event)

    def _on_scroll_up(self, event: ScrollUp) -> None:
        # a click on the scrollbar above its thumb
        self._user_scrolled_back()
        super()._on_scroll_up(event)

    def _on_scroll_to(self, message: ScrollTo) -> None:
        # dragging the scrollbar's thumb upwards
        if message.y is not None and message.y < self.scroll_y:
            self._user_scrolled_back()
        super()._on_scroll_to(message)


class EventLog(Vertical):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    EventLog > LogView { height: 1fr; }
    """
    BINDINGS = [
        Binding("slash", "open_filter", "Filter", show=True),
        Binding("p", "toggle_pause", "Pause", show=True),
    ]

    # no repaint of this container: what pausing changes, the LogView draws and refreshes itself
    paused: reactive[bool] = reactive(False, repaint=False)

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
        self.base_ts = 0  # the origin: times are shown relative to it (see the module docstring)
        self.late = 0  # events that came too late to be merged into time order
        self.total = 0  # events ever added
        self.pending_while_paused = 0
        self.dropped = 0  # older events that fell off the bounded log (said on the state line)
        self._events: deque[Event] = deque(maxlen=max_lines)
        self._seq = 0  # events ever kept: _events[i] has the absolute index _seq - len(_events) + i
        # the filter's index: absolute indices and events that match, oldest first (bounded like _events)
        self._match_at: deque[int] = deque(maxlen=max_lines)
        self._match: deque[Event] = deque(maxlen=max_lines)
        self._filter = EventFilter("")
        self._filter_needs_line = False  # only text terms need the formatted line
        # while paused: the rows on screen, frozen, so the view holds still as the window slides on
        self._frozen: list[Event] | None = None
        self._view = LogView(self)

    def compose(self) -> ComposeResult:
        yield FilterBar()
        yield self._view

    def on_mount(self) -> None:
        self._show_state()

    @property
    def log_widget(self) -> LogView:
        return self._view

    @property
    def filter_text(self) -> str:
        return self._filter.text

    def lines(self) -> list[str]:
        """What the log shows now, formatted, oldest first (for tests and the clipboard)."""
        return [self._format(ev) for ev in self._view_rows()]

    def _view_rows(self) -> Sequence[Event]:
        if self._frozen is not None:
            return self._frozen
        return self._match if self._filter else self._events

    def _format(self, ev: Event) -> str:
        try:
            return self.formatter(ev, self.base_ts)
        except Exception as e:  # a formatter bug must not take the UI down: say what failed instead
            return f"(cannot show this {ev.probe} {ev.kind} event: {type(e).__name__}: {e})"

    # ---- feeding
    def set_origin(self, ts: int) -> None:
        """Times from now on are relative to `ts` (monotonic ns: the view's start)."""
        self.base_ts = ts
        self._view.forget()
        self._view.refresh()

    def _merge_tail(self, batch: list[Event]) -> list[Event]:
        """Take back the kept rows newer than the batch's oldest event, so they are re-added in order."""
        first_ts = next((ev.ts for ev in batch if ev.kind != LOST), None)
        events = self._events
        if first_ts is None or not events or events[-1].ts <= first_ts:
            return batch
        back: list[Event] = []
        while events and events[-1].ts > first_ts and len(back) < MERGE_BACK:
            back.append(events.pop())
        if events and events[-1].ts > first_ts:
            self.late += sum(1 for ev in batch if ev.ts < events[-1].ts)
        self._seq -= len(back)
        self.total -= len(back)
        at, match = self._match_at, self._match
        while at and at[-1] >= self._seq:
            at.pop()
            match.pop()
        back.reverse()
        return _in_time_order(back + batch)

    def add_events(self, events: Iterable[Event]) -> None:
        """Add a batch: O(len(batch)) appends, nothing formatted (unless a text filter is on)."""
        batch = events if isinstance(events, list) else list(events)
        if not self.show_status:
            batch = [ev for ev in batch if ev.kind != STATUS]
        if not batch:
            return
        batch = _in_time_order(batch)
        # lost counts are stamped when reported, not when the events happened: they set no origin
        oldest = next((ev.ts for ev in batch if ev.ts > 0 and ev.kind != LOST), 0)
        if oldest and (not self.base_ts or oldest < self.base_ts):
            self.base_ts = oldest  # the first batch of a replay, or an event from before the origin
            self._view.forget()
        if self._frozen is not None:
            self.pending_while_paused += len(batch)
        batch = self._merge_tail(batch)
        self.total += len(batch)
        dropped = max(0, len(self._events) + len(batch) - self.max_lines)
        if len(batch) > self.max_lines:
            self._seq += len(batch) - self.max_lines
            batch = batch[-self.max_lines :]
        first = self._seq
        self._events.extend(batch)  # bounded: the oldest fall off
        self._seq += len(batch)
        if self._filter:
            self._index(batch, first)
        if dropped:
            self.dropped += dropped
        if self._frozen is not None or dropped:
            self._show_state()
        if self._frozen is not None:
            return
        self._view.sync(scroll_end=True)

    def _index(self, events: Iterable[Event], first: int) -> None:
        """Add matching events (absolute indices from `first`) to the filter's index, drop fallen-off ones."""
        flt, at, match = self._filter, self._match_at, self._match
        if self._filter_needs_line:
            fmt = self._format
            for i, ev in enumerate(events, first):
                if flt.matches(ev, fmt(ev)):
                    at.append(i)
                    match.append(ev)
        else:
            for i, ev in enumerate(events, first):
                if flt.matches(ev, ""):
                    at.append(i)
                    match.append(ev)
        oldest = self._seq - len(self._events)
        while at and at[0] < oldest:
            at.popleft()
            match.popleft()

    def clear(self) -> None:
        self._events.clear()
        self.dropped = 0
        self._match_at.clear()
        self._match.clear()
        if self._frozen is not None:
            self._frozen = []
        self.total = 0
        self.base_ts = 0
        self._view.reset_cursor()
        self._view.forget(width=True)
        self._view.sync(scroll_end=True, x_axis=True)
        self._show_state()

    # ---- filtering
    def set_filter(self, text: str) -> None:
        self._filter = EventFilter(text)
        self._filter_needs_line = any(t.field is None for t in self._filter.terms)
        self._match_at.clear()
        self._match.clear()
        if self._filter:
            self._index(self._events, self._seq - len(self._events))
        self._frozen = None
        self._view.reset_cursor()
        self.paused = False
        self.pending_while_paused = 0
        self._view.sync(scroll_end=True)
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
        # a copy of references, nothing formatted: rows keep their events while new ones arrive
        if self._frozen is None:
            self._frozen = list(self._view_rows())
        self.paused = True

    def action_toggle_pause(self) -> None:
        if self.paused:
            self.action_follow()
        else:
            self.pause()

    def action_follow(self) -> None:
        self._view.reset_cursor()
        self._frozen = None
        self.paused = False
        self._view.sync(scroll_end=True, x_axis=True)

    def watch_paused(self, paused: bool) -> None:
        # also reached by setting `paused` directly: keep the frozen rows in step with it
        if paused and self._frozen is None:
            self._frozen = list(self._view_rows())
        elif not paused and self._frozen is not None:
            self._frozen = None
            self._view.reset_cursor()
            self._view.sync(scroll_end=True)
        if not paused:
            self.pending_while_paused = 0
        self._show_state()

    def _show_state(self) -> None:
        # on the view's bottom row: nothing is shown, hidden or resized (a class on the whole log would
        # restyle all of it, ~5 ms a key; a widget's display toggled lays out the screen, ~15 ms)
        parts = []
        if self.paused:
            parts.append(
                f"⏸ paused: {self.pending_while_paused} new event(s) held; End or p resumes following"
            )
        if self.dropped:
            parts.append(
                f"{self.dropped:,} older event(s) dropped: this log keeps the last {self.max_lines:,}"
            )
        self._view.set_state("; ".join(parts))

    @property
    def state_text(self) -> str:
        """The line under the log's rows: why it is still, what it holds back, what fell off ("" while
        following a log that has dropped nothing)."""
        return self._view.state_text

    @property
    def following(self) -> bool:
        return not self.paused
