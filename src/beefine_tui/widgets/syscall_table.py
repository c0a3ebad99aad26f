"""A live per-syscall table like `strace -c` beside a syscalls tail: calls, errors, share of the time,
total and average time per syscall, sortable (s: next column, S: reverse, or click a header), redrawn
once a second from a SyscallSummary (events are only counted as they arrive: no per-event redraw).
The selected row's syscall is explained in one line below, from its man page (story/syscall_notes.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from beefine_tui.events.model import Event
from beefine_tui.events.syscall_summary import SyscallSummary
from beefine_tui.story.syscall_notes import note_for
from beefine_tui.widgets.table_sort import SortKeys, TableSort

REFRESH_S = 1.0
COLUMNS = (
    ("name", "syscall"),
    ("calls", "calls"),
    ("errors", "err"),
    ("share", "%time"),
    ("total", "seconds"),
    ("avg", "µs/call"),
)


class SyscallTable(SortKeys, Vertical):
    DEFAULT_CSS = """
    SyscallTable { height: 1fr; }
    SyscallTable > DataTable { height: 1fr; }
    SyscallTable > .syscall-head, SyscallTable > .syscall-note { height: auto; color: $text-muted; }
    """
    BINDINGS = [
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", key_display="S"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.summary = SyscallSummary()
        self._dirty = False
        self.sorter: TableSort | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="syscall-head")
        yield DataTable(cursor_type="row", zebra_stripes=False)
        yield Static("", classes="syscall-note")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.sorter = TableSort(
            table,
            COLUMNS,
            default="share",
            descending=True,
            numeric=("calls", "errors", "share", "total", "avg"),
            id_column="name",
        )
        self.sorter.apply({})
        self._show_head()
        self.set_interval(REFRESH_S, self.redraw)

    def add_events(self, events: Iterable[Event]) -> None:
        """Count the batch (cheap); the table is redrawn at the next tick."""
        before = self.summary.calls
        self.summary.add(events)
        if self.summary.calls != before:
            self._dirty = True

    def clear(self) -> None:
        self.summary = SyscallSummary()
        self._dirty = True

    def _show_head(self) -> None:
        s = self.summary
        sort = self.sorter.describe() if self.sorter is not None else ""
        self.query_one(".syscall-head", Static).update(
            f"{s.calls} calls, {s.errors} errors, {len(s.rows)} syscalls (wall time in each call), {sort}"
        )

    def redraw(self) -> None:
        """Rows diffed by key: changed cells updated, new syscalls added (none ever goes away)."""
        if not self._dirty or not self.is_mounted:
            return
        self._dirty = False
        table = self.query_one(DataTable)
        values: dict[str, dict[str, Any]] = {}
        for r in self.summary.rows.values():
            share = self.summary.share(r)
            cells = {
                "name": r.name,
                "calls": str(r.calls),
                "errors": str(r.errors) if r.errors else "",
                "share": f"{share:5.1f}",
                "total": f"{r.total_ns / 1e9:.6f}",
                "avg": str(r.avg_ns // 1000),
            }
            values[r.name] = {
                "name": r.name,
                "calls": r.calls,
                "errors": r.errors,
                "share": share,
                "total": r.total_ns,
                "avg": r.avg_ns,
            }
            if r.name in table.rows:
                for key, text in cells.items():
                    if key != "name" and table.get_cell(r.name, key) != text:
                        table.update_cell(r.name, key, text)
            else:
                table.add_row(*(cells[k] for k, _ in COLUMNS), key=r.name)
        if self.sorter is not None:
            self.sorter.apply(values)
        self._show_head()
        self._show_note()

    def _show_note(self) -> None:
        table = self.query_one(DataTable)
        text = ""
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            text = note_for(str(key)) if key is not None else ""
        self.query_one(".syscall-note", Static).update(text)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_note()

    def action_sort_next(self) -> None:
        super().action_sort_next()
        self._show_head()

    def action_sort_reverse(self) -> None:
        super().action_sort_reverse()
        self._show_head()
