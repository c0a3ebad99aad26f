"""A fix for Textual (8.2) that the key fuzz test (tests/tui/test_key_fuzz.py) found, applied once by
the app. Remove it when Textual fixes it upstream.

OptionList (the palette's list, every Select's drop-down) pages through its row index, which it only
builds once it has a size: PgUp/PgDn reaching a list not laid out yet (just filled, or just opened in
the same burst of keys) raised KeyError and took the app down.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import OptionList

_original_move_page = OptionList._move_page


def _move_page_once_laid_out(self: OptionList, direction: Any) -> None:
    if not self.scrollable_content_region:
        return  # no rows on screen yet: nothing to page through
    _original_move_page(self, direction)


def apply() -> None:
    OptionList._move_page = _move_page_once_laid_out  # type: ignore[method-assign]
