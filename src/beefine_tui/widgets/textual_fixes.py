"""Fixes for Textual (8.2) that the key fuzz test (tests/tui/test_key_fuzz.py) found, applied once by
the app. Remove each when Textual fixes it upstream.

- OptionList (the palette's list, every Select's drop-down) pages through its row index, which it only
  builds once it has a size: PgUp/PgDn reaching a list not laid out yet (just filled, or just opened in
  the same burst of keys) raised KeyError and took the app down.
- A widget removed in the moment after it was mounted (a tab closed, the split pane toggled, by keys
  queued in one burst) still gets its Mount event, but its composed children are never mounted (mount()
  on a widget being removed does nothing): every on_mount that looks up a child raised NoMatches and
  took the app down. Such a widget is skipped its Mount: it is on its way out.
- A tab closed while it is being added to an empty tab bar (ctrl+w in the same burst of keys as the
  key that opened it): once mounted, Tabs made the removed tab active, and TabbedContent switched to
  its removed pane on the TabActivated that followed. Both raised (ValueError, NoMatches) and took the
  app down. Such a tab is not made active, and its late TabActivated is dropped.
- A DataTable reads a str cell as markup (Text.from_markup): a process started as `sh -c 'echo [/b]'`,
  a mount path or a user's map key with brackets in it raised MarkupError while the table painted, and
  took the app down (`[red]` would recolour the row). Our cells are data, never markup: a str cell is
  shown as it is. Not an upstream bug, a choice for this app.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget
from textual.widgets import OptionList, TabbedContent, Tabs, _data_table

_original_move_page = OptionList._move_page


def _move_page_once_laid_out(self: OptionList, direction: Any) -> None:
    if not self.scrollable_content_region:
        return  # no rows on screen yet: nothing to page through
    _original_move_page(self, direction)


_original_dispatch = Widget._dispatch_message


async def _dispatch_unless_removed(self: Widget, message: Message) -> None:
    if self._pruning and isinstance(message, events.Mount):
        return  # removed before its children were mounted: its on_mount would find none
    await _original_dispatch(self, message)


def _active_unless_removed(self: Tabs, active: str) -> str:
    if active and not self.query(f"#tabs-list > #{active}"):
        current = self.active  # the tab asked for is gone: keep the current one, if it is still there
        return current if current and self.query(f"#tabs-list > #{current}") else ""
    return active


_original_tab_activated = TabbedContent._on_tabs_tab_activated


def _tab_activated_unless_removed(self: TabbedContent, event: Tabs.TabActivated) -> None:
    if not event.tab.is_attached:
        event.stop()  # the tab was removed after it was activated: there is no pane to switch to
        return
    _original_tab_activated(self, event)


_original_cell_formatter = _data_table.default_cell_formatter


def _plain_cell(obj: object, wrap: bool = True, height: int = 0) -> RenderableType:
    if isinstance(obj, str):
        if height:  # as Textual does: the lines past the row's height are never shown
            obj = "\n".join(obj.split("\n", height)[:height])
        return Text(obj, no_wrap=not wrap, end="")
    return _original_cell_formatter(obj, wrap, height)


def apply() -> None:
    OptionList._move_page = _move_page_once_laid_out  # type: ignore[method-assign]
    Widget._dispatch_message = _dispatch_unless_removed  # type: ignore[method-assign,assignment]
    _data_table.default_cell_formatter = _plain_cell
    Tabs.validate_active = _active_unless_removed  # type: ignore[method-assign]
    TabbedContent._on_tabs_tab_activated = _tab_activated_unless_removed  # type: ignore[method-assign]
