"""fit_widths: how columns give way when a table is narrower than its contents."""

from __future__ import annotations

from beefine_tui.widgets.fit_table import Fit, fit_widths

NATURAL = {"name": 20, "id": 12, "cpu": 7, "net": 10, "blk": 9}
FITS = {
    "id": Fit(min=4, tier=0),
    "net": Fit(min=6, tier=1),
    "blk": Fit(min=6, tier=1),
    "name": Fit(8, tier=2),
}


def test_room_enough_keeps_every_natural_width() -> None:
    assert fit_widths(NATURAL, FITS, sum(NATURAL.values())) == NATURAL
    assert fit_widths(NATURAL, FITS, 500) == NATURAL


def test_lowest_tier_gives_way_first_down_to_its_minimum() -> None:
    w = fit_widths(NATURAL, FITS, sum(NATURAL.values()) - 5)
    assert w == {**NATURAL, "id": 7}
    w = fit_widths(NATURAL, FITS, sum(NATURAL.values()) - 10)
    assert w["id"] == 4 and w["net"] + w["blk"] == 17 and w["name"] == 20
    assert sum(w.values()) == sum(NATURAL.values()) - 10


def test_inside_a_tier_the_widest_gives_a_cell_first() -> None:
    w = fit_widths(NATURAL, FITS, sum(NATURAL.values()) - 8 - 3)
    assert (w["net"], w["blk"]) == (8, 8)  # 10 -> 9 -> 8, and 9 -> 8: cut to the same width


def test_columns_without_a_fit_are_never_cut() -> None:
    w = fit_widths(NATURAL, FITS, 10)
    assert w["cpu"] == 7
    assert w == {"name": 8, "id": 4, "cpu": 7, "net": 6, "blk": 6}  # every minimum: as narrow as allowed


def test_a_column_narrower_than_its_minimum_is_not_widened() -> None:
    assert fit_widths({"id": 2, "x": 30}, {"id": Fit(min=4), "x": Fit(min=4)}, 10) == {"id": 2, "x": 8}
