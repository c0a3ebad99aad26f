"""The Textual fixes (widgets/textual_fixes.py): paging an OptionList that has no size yet, removing a
widget in the moment after it was mounted, and closing a tab while it is added must not raise; a table
cell with brackets is data, not markup."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, OptionList, Static, TabbedContent, TabPane

from beefine_tui.screens.shell import VIEWS, container_syscalls
from beefine_tui.widgets import textual_fixes
from tests.tui.conftest import MakeApp
from tests.tui.keyboard_fakes import use_fake_docker_views


class HiddenList(App[None]):
    def compose(self) -> ComposeResult:
        options = OptionList(*[f"option {i}" for i in range(50)])
        options.display = False  # never laid out: no row index yet, as in a list filled a moment ago
        yield options


async def test_paging_a_list_not_laid_out_does_nothing() -> None:
    textual_fixes.apply()
    async with HiddenList().run_test() as pilot:
        options = pilot.app.query_one(OptionList)
        options.highlighted = 3
        options.action_page_down()  # raised KeyError: 3 before the fix
        options.action_page_up()
        assert options.highlighted == 3
        options.display = True
        await pilot.pause()
        options.action_page_down()  # once shown, paging works as before
        assert options.highlighted is not None and options.highlighted > 3


class Table(Vertical):
    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_column("a")  # raised NoMatches when removed as it mounted


class Box(App[None]):
    def compose(self) -> ComposeResult:
        yield Vertical(id="box")


async def test_a_widget_removed_as_it_mounts_is_not_mounted() -> None:
    textual_fixes.apply()
    app = Box()
    async with app.run_test() as pilot:
        box = app.query_one("#box", Vertical)
        gone = Table()
        box.mount(gone)
        gone.remove()  # the same moment: its children are never mounted
        await pilot.pause(0.2)
        kept = Table()
        await box.mount(kept)  # mounted as before
        assert kept.query_one(DataTable).columns
    assert app._exception is None


VIEW_FACTORIES = {v.key: v.factory for v in VIEWS} | {"split": container_syscalls}


@pytest.mark.parametrize("key", sorted(VIEW_FACTORIES))
async def test_every_view_can_be_removed_as_it_mounts(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """A tab closed or the split pane toggled by keys of the same burst (key fuzz, seed 3481465899:
    SyscallTable's on_mount raised NoMatches and the app ended)."""
    use_fake_docker_views(monkeypatch)
    app = make_app([])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = VIEW_FACTORIES[key]()
        app.shell.query_one("#split", Vertical).mount(view)
        view.remove()
        await pilot.pause(0.3)
    assert app._exception is None


class Cells(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("pid", "command")
        table.add_row("7", "sh -c 'echo [/b]; sleep 1000'")
        table.add_row("8", "[red]not red[/red]")
        table.add_row("9", "two\nlines")


async def test_a_table_cell_with_brackets_is_shown_as_it_is() -> None:
    # a process's command line is data: it stopped the app when read as markup (MarkupError)
    textual_fixes.apply()
    async with Cells().run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        text = "\n".join(str(line.text) for line in pilot.app.screen._compositor.render_strips())
        assert "sh -c 'echo [/b]; sleep 1000'" in text
        assert "[red]not red[/red]" in text
        assert "two" in text and "lines" not in text  # a one-line row shows the first line, as before
        assert pilot.app.is_running


class EmptyTabs(App[None]):
    def compose(self) -> ComposeResult:
        yield TabbedContent(id="tabs")


async def test_a_tab_closed_while_it_is_added_to_an_empty_bar_does_not_stop_the_app() -> None:
    # ctrl+w in the same burst of keys as the key that opened the first tab (key fuzz, seed 3242294166)
    textual_fixes.apply()
    async with EmptyTabs().run_test() as pilot:
        tabs = pilot.app.query_one(TabbedContent)
        for i in range(5):
            adding = tabs.add_pane(TabPane(f"tab {i}", Static(f"view {i}"), id=f"p{i}"))

            async def close(pane_id: str) -> None:
                await asyncio.sleep(0)  # once the add has begun, before its tab is mounted
                await tabs.remove_pane(pane_id)

            closing = asyncio.ensure_future(close(f"p{i}"))
            await adding
            await closing
            await pilot.pause()
            assert pilot.app.is_running
            assert (tabs.tab_count, tabs.active) == (0, "")
        await tabs.add_pane(TabPane("kept", Static("kept"), id="kept"))
        await pilot.pause()
        assert (tabs.tab_count, tabs.active) == (1, "kept")
