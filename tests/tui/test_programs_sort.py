"""Loaded programs: busiest first by default (runs/s, like bpftop); s moves to the next column, S
reverses, a header click sorts by that column; the cursor stays on its program; the figures are on
screen at 80 columns. No BPF: the inventory is faked, with run counts growing between refreshes."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from beefine_tui.probes import inventory as inv
from beefine_tui.screens.programs_list import ProgramsListView
from tests.tui.conftest import MakeApp
from tests.tui.conftest import wait_long as wait_until

# id -> runs added per refresh; 12 is not counted (no run_cnt: "-", sorted last either way)
RUNS = {10: 5, 11: 500, 13: 50}


def fake_inventory(calls: list[int]) -> Any:
    def inventory() -> list[inv.ProgRow]:
        calls.append(1)
        n = len(calls)
        rows = [
            inv.ProgRow(
                prog=inv.ProgInfo(
                    id=pid, type="tracepoint", name=f"prog{pid}", run_cnt=runs * n, run_time_ns=runs * n * 100
                ),
                owners=(4242,),
                owner_comms=("a-very-long-owner-process-name-that-goes-on",),
            )
            for pid, runs in RUNS.items()
        ]
        rows.append(inv.ProgRow(prog=inv.ProgInfo(id=12, type="kprobe", name="uncounted")))
        return rows

    return inventory


def order(view: ProgramsListView) -> list[str]:
    t: DataTable[str] = view.query_one(DataTable)
    return [str(t.get_row_at(i)[0]) for i in range(t.row_count)]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_sorted_by_runs_then_any_column(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(inv, "inventory", fake_inventory(calls))
    app = make_app()
    async with app.run_test(size=size) as pilot:
        view = app.shell.open_view("loaded-programs")
        assert isinstance(view, ProgramsListView)
        view.refresh_s = 3600.0
        await wait_until(pilot, lambda: len(view.rows) == 4)
        table: DataTable[str] = view.query_one(DataTable)
        table.focus()
        await pilot.press("r")  # a second sample: now there are rates
        await wait_until(pilot, lambda: len(calls) >= 2 and not view._busy)
        await pilot.pause()
        assert order(view) == ["11", "13", "10", "12"]  # busiest first, the uncounted last
        assert "runs/s ▼" in str(table.columns["runs/s"].label)  # type: ignore[index]
        table.move_cursor(row=1)  # on program 13
        await pilot.press("S")
        assert order(view) == ["10", "13", "11", "12"]  # quietest first, the uncounted still last
        assert str(table.get_row_at(table.cursor_row)[0]) == "13"  # the cursor followed its program
        await pilot.press("s")  # next column: avg ns
        await pilot.press("s")  # then id, largest first
        assert order(view) == ["13", "12", "11", "10"]
        await pilot.press("S")
        assert order(view) == ["10", "11", "12", "13"]
        name = table.columns["name"]  # type: ignore[index]
        table.post_message(DataTable.HeaderSelected(table, name.key, 2, name.label))
        await pilot.pause()
        assert view.sorter is not None and view.sorter.column == "name"
        assert order(view) == ["10", "11", "13", "12"]  # prog10 < prog11 < prog13 < uncounted
        # every column fits the width (nothing to scroll sideways to); the long owner is drawn cut with
        # an ellipsis, while the cell keeps the whole value
        widths = [c.get_render_width(table) for c in table.ordered_columns]
        assert sum(widths) <= table.scrollable_content_region.width, widths
        assert table.virtual_size.width <= table.scrollable_content_region.width
        owner_shown = table.render_line(1).text.split()  # line 0 is the header
        assert any(w.startswith("4242/a-very") and w.endswith("…") for w in owner_shown), owner_shown
        assert str(table.get_row_at(0)[6]) == "4242/a-very-long-owner-process-name-that-goes-on"
