"""A DataTable whose columns always fit its width: nothing scrolls sideways, a value that does not fit
ends in an ellipsis (…), as in k9s and htop.

Each column says how far it may shrink (`min`) and how willing it is to (`tier`: the lowest tier is cut
first, down to its minimum, before the next tier is touched; inside a tier the widest column gives up a
cell first, so long values end up cut to the same width). Columns without a `Fit` keep their natural
width. When the table is wide enough, every column has its natural width (the widest of its header
and cells) and nothing is cut.

Cells are `rich.text.Text` made by `cell()`: Rich draws the ellipsis when the column is narrower than
the text, while the cell keeps the whole value (sorting, copying and a wider terminal still see it).
Widths are worked out again when the table is resized and when a view calls `fit()` after new rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import OverflowMethod
from rich.text import Text
from textual import events
from textual.widgets import DataTable


@dataclass(frozen=True)
class Fit:
    min: int  # cells (without padding) the column keeps, however narrow the table
    tier: int = 0  # lower tiers are cut first


def cell(value: object) -> Text:
    """A cell that ends in an ellipsis where its column is too narrow (never markup: names are data)."""
    return Text(str(value), no_wrap=True, overflow="ellipsis", end="")


def fit_widths(natural: Mapping[str, int], fits: Mapping[str, Fit], room: int) -> dict[str, int]:
    """Content widths (padding excluded) that sum to at most `room` when the minimums allow it."""
    widths = dict(natural)
    excess = sum(widths.values()) - room
    for tier in sorted({f.tier for f in fits.values()}):
        if excess <= 0:
            break
        cols = [k for k, f in fits.items() if f.tier == tier and k in widths]
        while excess > 0:
            # the widest column still above its minimum gives up one cell
            shrinkable = [k for k in cols if widths[k] > min(fits[k].min, natural[k])]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda k: (widths[k], -cols.index(k)))
            widths[widest] -= 1
            excess -= 1
    return widths


def text_width(value: object) -> int:
    return cell_len(value.plain if isinstance(value, Text) else str(value))


class FitTable(DataTable[Any]):
    """A DataTable that fits its columns to its width (see the module docstring)."""

    DEFAULT_CSS = """
    FitTable { overflow-x: hidden; scrollbar-gutter: stable; }
    """

    def __init__(self, fits: Mapping[str, Fit], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fits = dict(fits)

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def natural_widths(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for key, column in self.columns.items():
            if key.value is None:
                continue
            cells: Iterable[object] = self.get_column(key) if self.row_count else ()
            out[key.value] = max([text_width(column.label), *(text_width(c) for c in cells)])
        return out

    def room(self) -> int:
        """Cells the columns' contents may take: the width inside the scrollbar gutter, minus padding."""
        return self.scrollable_content_region.width - 2 * self.cell_padding * len(self.columns)

    def fit(self) -> None:
        if not self.columns or not self.size.width:
            return
        widths = fit_widths(self.natural_widths(), self.fits, self.room())
        changed = False
        for key, column in self.columns.items():
            width = widths.get(key.value or "")
            if width is None:
                continue
            # a header that loses only its trailing room (a sort arrow's place) is not cut: no ellipsis
            label = column.label
            overflow: OverflowMethod = "crop" if width >= cell_len(label.plain.rstrip()) else "ellipsis"
            if label.overflow != overflow or not label.no_wrap:
                label.no_wrap, label.overflow = True, overflow
                changed = True
            if column.auto_width or column.width != width:
                column.auto_width, column.width = False, width
                changed = True
        if changed:
            # the DataTable caches rendered cells and its virtual width: both depend on column widths
            self._clear_caches()
            self._require_update_dimensions = True
            self.refresh()
