"""Sorting a keyed DataTable by any column: `s` moves to the next column, `S` reverses, a click on a
header sorts by it (again: reverses). The sorted column's header carries ▲ or ▼.

    sorter = TableSort(table, [("cpu", "CPU %"), ("name", "NAME")], default="cpu", descending=True)
    sorter.apply(values)   # values: id-column cell -> {column key: comparable value}; after each refresh

Rows keep their keys, so the cursor stays on the same row (not the same position) across a sort.
A missing value (None: "not counted") always sorts last, in either direction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from beefine_tui.widgets.fit_table import FitTable


class TableSort:
    def __init__(
        self,
        table: DataTable[Any],
        columns: Sequence[tuple[str, str]],
        *,
        default: str,
        descending: bool = True,
        numeric: Sequence[str] = (),
        id_column: str = "id",
    ) -> None:
        self.table = table
        self.id_column = id_column  # a column whose cells are unique: the sort ranks rows by it
        self.columns = list(columns)  # (key, label): the sortable ones, in `s` order
        self.labels = dict(columns)
        self.numeric = set(numeric)  # columns a click first sorts largest first
        self.column = default
        self.descending = descending
        self._values: Mapping[str, Mapping[str, Any]] = {}
        self._had_rows = False  # the first rows to arrive are shown from the top, not where row 0 went

    def describe(self) -> str:
        return f"sorted by {self.labels[self.column]} {'▼' if self.descending else '▲'}"

    def next_column(self) -> None:
        keys = [k for k, _ in self.columns]
        self.column = keys[(keys.index(self.column) + 1) % len(keys)]
        self.descending = self.column in self.numeric
        self.apply()

    def reverse(self) -> None:
        self.descending = not self.descending
        self.apply()

    def choose(self, column: str) -> None:
        """A click on a header: sort by it, or reverse if it is already the sorted column."""
        if column not in self.labels:
            return
        if column == self.column:
            self.descending = not self.descending
        else:
            self.column, self.descending = column, column in self.numeric
        self.apply()

    def header(self, key: str, label: str) -> Text:
        """A column's header: the sorted one with ▲/▼, the others with room for it (widths stay put)."""
        if key not in self.labels:
            return Text(label)
        arrow = (" ▼" if self.descending else " ▲") if key == self.column else "  "
        return Text(label + arrow)

    def apply(self, values: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Sort by the current column. `values`: id-column cell -> {column key: value} (kept for later)."""
        if values is not None:
            self._values = values
        t = self.table
        col, vals, desc = self.column, self._values, self.descending
        ids = [str(v) for v in t.get_column(self.id_column)] if t.row_count else []

        def order(cell: str) -> tuple[bool, Any, str]:
            v = vals.get(cell, {}).get(col)
            return (v is None) != desc, v if v is not None else 0, cell

        rank = {cell: i for i, cell in enumerate(sorted(ids, key=order, reverse=desc))}
        cursor_key = t.coordinate_to_cell_key(t.cursor_coordinate).row_key if t.row_count else None
        t.sort(self.id_column, key=lambda cell: rank.get(str(cell), len(rank)))
        for key, label in self.columns:
            column = t.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                column.label = self.header(key, label)
        if isinstance(t, FitTable):
            t.fit()  # the new headers are cut (or not) like the old ones
        t.refresh()
        if not self._had_rows:
            t.move_cursor(row=0, animate=False)
        elif cursor_key is not None and cursor_key in t.rows:
            t.move_cursor(row=t.get_row_index(cursor_key), animate=False)
        self._had_rows = t.row_count > 0


class SortKeys:
    """The `s`/`S`/header-click handlers for a view holding a TableSort in `self.sorter` (None until its
    table is built). Mix in before the widget class: `class View(SortKeys, Vertical)`."""

    sorter: TableSort | None = None

    def action_sort_next(self) -> None:
        if self.sorter is not None:
            self.sorter.next_column()

    def action_sort_reverse(self) -> None:
        if self.sorter is not None:
            self.sorter.reverse()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if self.sorter is not None and event.column_key.value is not None:
            self.sorter.choose(event.column_key.value)
