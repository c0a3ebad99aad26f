"""The keyboard contract, driven with Pilot: q closes the view or asks to quit, Esc goes back, / and [ ]
and : work wherever focus is, j k g G move, letters never fire a binding while a text box has focus,
Enter on a log row shows the whole event. One test per reproduction of issue 11."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rich.console import Console
from textual import events
from textual.widgets import Button, DataTable, Input, Static, TabbedContent, Tabs, TextArea, Tree

from beefine_tui.app import BeefineApp
from beefine_tui.screens.container_monitor import ContainerMonitorView
from beefine_tui.screens.help import HelpScreen, QuitScreen
from beefine_tui.screens.image_monitor import ImageMonitorView
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.screens.shell import VIEWS, BeefineCommands, daemon_label
from beefine_tui.story.explanations import KIND_EXPLANATIONS, KIND_SOURCES
from beefine_tui.widgets.event_detail import EventDetailScreen, event_json
from beefine_tui.widgets.event_log import EventLog
from beefine_tui.widgets.filter_bar import FilterBar
from tests.tui.conftest import FakeContext, MakeApp, wait_until
from tests.tui.events_fixture import exec_events
from tests.tui.keyboard_fakes import CONTAINER_ID, use_fake_docker_views


@pytest.fixture(autouse=True)
def _fake_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_docker_views(monkeypatch)


async def open_and_wait(pilot: Any, key: str) -> Any:
    app = pilot.app
    view = app.shell.open_view(key)
    await wait_until(pilot, lambda: app.shell.query_one(TabbedContent).active == f"tab-{key}")
    await wait_until(pilot, lambda: view.is_mounted)
    await pilot.pause()
    return view


def active(app: BeefineApp) -> str:
    return app.shell.query_one(TabbedContent).active


# ---- tabs
@pytest.mark.parametrize(
    "start, key", [("container-monitor", "ctrl+pagedown"), ("image-monitor", "ctrl+pageup")]
)
async def test_tab_cycling_goes_through_the_apps_own_tabs_only(
    make_app: MakeApp, start: str, key: str
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_and_wait(pilot, "helpers")
        await open_and_wait(pilot, "container-monitor")
        await open_and_wait(pilot, "image-monitor")
        await open_and_wait(pilot, start)
        top = app.shell.open_tab_ids()
        assert top == ["tab-welcome", "tab-helpers", "tab-container-monitor", "tab-image-monitor"]
        seen = []
        for _ in range(len(top)):
            await pilot.press(key)
            await pilot.pause()
            seen.append(active(app))
        assert app.is_running
        assert sorted(seen) == sorted(top)  # every top-level tab once, and none of the monitor's sections


async def test_the_active_tab_shows_whole_in_a_crowded_tab_bar(make_app: MakeApp) -> None:
    keys = ["network", "trace-exec", "helpers", "trace-syscalls", "loaded-programs", "user-programs"]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        for key in keys:
            await open_and_wait(pilot, key)
        for step in ("", "ctrl+pageup", "ctrl+pageup", "ctrl+pagedown"):
            if step:
                await pilot.press(step)
            await pilot.pause(0.2)
            bar = app.shell.query_one("#tabs", TabbedContent).query_one(Tabs)
            tab = bar.active_tab
            assert tab is not None
            assert bar.region.x <= tab.region.x and tab.region.right <= bar.region.right, (
                f"{tab.label_text} at {tab.region} outside the tab bar {bar.region}"
            )


# ---- q and quitting
async def test_q_closes_the_view_then_asks_before_quitting(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_and_wait(pilot, "helpers")
        app.shell.query_one("#helpers-table" if app.shell.query("#helpers-table") else DataTable).focus()
        await pilot.press("q")
        await wait_until(pilot, lambda: "tab-helpers" not in app.shell.open_tab_ids())
        await wait_until(pilot, lambda: isinstance(app.focused, Tree))
        await pilot.press("q")  # on the sidebar: asks
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, QuitScreen))
        assert app.is_running and not app._closed
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen))
        # y quits: press without waiting on the key (the app stops under Pilot), then wait for it
        press = asyncio.ensure_future(pilot.press("y"))
        for _ in range(500):
            if not app.is_running:
                break
            await asyncio.sleep(0.02)
        press.cancel()
        assert app._closed


async def test_q_on_a_modal_does_not_close_the_tab_underneath(make_app: MakeApp) -> None:
    app = make_app(exec_events(3))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_and_wait(pilot, "trace-exec")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("q")  # closes the help only
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        assert "tab-trace-exec" in app.shell.open_tab_ids()


# ---- letters while typing
async def test_letters_typed_in_a_text_box_reach_it_and_nothing_else(make_app: MakeApp) -> None:
    app = make_app(exec_events(5))
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "trace-syscalls")
        box = view.query_one("#container", Input)
        box.focus()
        await pilot.pause()
        typed = "pq/jkgG:[]?"
        await pilot.press(*typed)
        await pilot.pause()
        assert box.value == typed
        assert "tab-trace-syscalls" in app.shell.open_tab_ids()
        assert app.screen is app.shell  # no palette, no help
        assert not view.event_log.paused and not view.query_one(FilterBar).has_class("-open")


async def test_tab_leaves_the_program_editor(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "user-programs")
        editor = view.query_one(TextArea)
        editor.focus()
        before = editor.text
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is not editor and editor.text == before


async def test_enter_on_a_container_name_while_a_probe_runs_says_why_nothing_starts(
    make_app: MakeApp,
) -> None:
    app = make_app(exec_events(3))
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.session is not None)
        view.query_one("#container", Input).focus()
        await pilot.press(*"web1", "enter")
        await pilot.pause()
        assert "Stop it first" in str(view.query_one(".notice").render())


# ---- / : [ ] Esc from wherever focus is
async def test_slash_filters_the_view_from_a_button_and_the_sidebar(make_app: MakeApp) -> None:
    app = make_app(exec_events(5))
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "trace-exec")
        bar = view.query_one(FilterBar)
        for where in (view.query_one("#stop", Button), app.shell.query_one("#sidebar", Tree)):
            where.disabled = False
            where.focus()
            await pilot.pause()
            await pilot.press("slash")
            await wait_until(pilot, lambda: app.focused is bar and bar is not None and bar.has_class("-open"))
            await pilot.press(*"comm=sh", "enter")
            await wait_until(pilot, lambda: view.event_log.filter_text == "comm=sh")
            # Esc away from the bar clears the filter first, then goes to the sidebar
            await pilot.press("escape")
            await wait_until(pilot, lambda: view.event_log.filter_text == "")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.focused, Tree))


async def test_slash_in_a_view_without_a_log_says_so(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_and_wait(pilot, "helpers")
        await pilot.press("slash")
        await wait_until(pilot, lambda: any("no filter" in n.message for n in app._notifications))


async def test_brackets_switch_sections_from_the_sidebar(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "container-monitor")
        assert isinstance(view, ContainerMonitorView)
        inner = view.query_one("#mon-tabs", TabbedContent)
        first = inner.active
        app.shell.query_one("#sidebar", Tree).focus()
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: inner.active != first)
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: inner.active == first)


async def test_esc_in_a_text_box_returns_to_the_sidebar(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "trace-syscalls")
        view.query_one("#container", Input).focus()
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.focused, Tree))


async def test_colon_opens_the_palette_from_a_log(make_app: MakeApp) -> None:
    app = make_app(exec_events(5))
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "trace-exec")
        view.event_log.log_widget.focus()
        await pilot.press("colon")
        await wait_until(pilot, lambda: app.screen is not app.shell)
        await pilot.press(*"Helper")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: active(app) == "tab-helpers")


async def test_palette_lists_containers_and_opens_one_in_the_monitor(make_app: MakeApp) -> None:
    class Api:
        def containers(self, all: bool = False) -> list[dict[str, Any]]:
            return [{"Names": ["/web1"], "Id": CONTAINER_ID, "State": "running"}]

    class Client:
        api = Api()

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        ctx = app.ctx
        ctx.docker_host = "unix:///fake/docker.sock"
        ctx.docker_client = lambda: Client()  # type: ignore[method-assign,assignment,return-value]
        provider = BeefineCommands(app.screen)
        await provider.startup()
        hits = [hit async for hit in provider.search("web1")]
        assert [str(h.text) for h in hits] == ["Container: web1"]
        hits[0].command()
        await wait_until(pilot, lambda: active(app) == "tab-container-monitor")
        monitor = app.shell.active_view()
        assert isinstance(monitor, ContainerMonitorView) and monitor.cid == CONTAINER_ID[:12]


# ---- moving
async def test_j_k_g_G_move_in_the_sidebar_and_in_tables(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.shell.query_one("#sidebar", Tree)
        await pilot.pause()
        start = tree.cursor_line
        await pilot.press("j", "j")
        assert tree.cursor_line == start + 2
        await pilot.press("k")
        assert tree.cursor_line == start + 1
        await pilot.press("G")
        assert tree.cursor_line == tree.last_line
        await pilot.press("g")
        assert tree.cursor_line == 0
        view = await open_and_wait(pilot, "dashboard")
        table = view.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count >= 2)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0


async def test_the_sidebar_starts_on_the_first_screen(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: active(app) == f"tab-{VIEWS[1].key}")


@pytest.mark.parametrize("letters", ["j", "jj", "jjk"])
async def test_keys_typed_in_one_burst_act_in_order(make_app: MakeApp, letters: str) -> None:
    """A terminal delivers fast typing as one read: `j Enter` must move, then open. j used to post a
    simulated down behind the Enter already queued, so Enter opened the row j was leaving (tmux)."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await wait_until(pilot, lambda: isinstance(app.focused, Tree))  # on the first screen, VIEWS[0]
        for ch in letters:  # what the driver posts for one read of the terminal, before any is handled
            app.post_message(events.Key(ch, ch))
        app.post_message(events.Key("enter", "\r"))
        moved = letters.count("j") - letters.count("k")
        await wait_until(pilot, lambda: active(app) == f"tab-{VIEWS[moved].key}")


# ---- what is shown
async def test_help_lists_each_key_once_and_says_how_to_close(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = help_screen.rows
        keys = [key for _, key, _ in rows]
        assert not [k for k in keys if "super" in k]
        assert sum("f1" in k.split() for k in keys) == 1
        assert sum("^b" in k.split() for k in keys) == 1
        described = [(where, what) for where, _, what in rows]
        assert len(described) == len(set(described)), "a (place, action) listed twice"
        text = " ".join(str(s.render()) for s in help_screen.query("Static"))
        assert "Esc, ? or q closes this help" in text


def test_the_daemon_in_use_is_named() -> None:
    from beefine_tui.appcontext import AppContext

    class Lab:
        name = "e2e"

    assert daemon_label(AppContext(docker_host="unix:///var/run/docker.sock")) == "system Docker"
    assert (
        daemon_label(AppContext(docker_host="unix:///run/beefine/lab-x/docker.sock", lab=Lab())) == "lab e2e"
    )
    assert daemon_label(AppContext(docker_host="tcp://10.0.0.5:2375")) == "Docker tcp://10.0.0.5:2375"
    assert daemon_label(AppContext(docker_host=None)) == "no Docker"


async def test_the_header_names_the_daemon(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.sub_title.endswith("no Docker")


# ---- Enter on a log row
async def test_enter_on_a_log_row_shows_the_whole_event_and_c_copies_it(make_app: MakeApp) -> None:
    events = exec_events(6)
    app = make_app(events)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "trace-exec")
        log: EventLog = view.event_log
        await wait_until(pilot, lambda: log.total == len(events))
        log.log_widget.focus()
        await pilot.press("k", "k", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EventDetailScreen))
        detail = app.screen
        assert isinstance(detail, EventDetailScreen)
        shown = log._view_rows()[log.log_widget.cursor_row() or 0]
        assert detail.event is shown and shown is log._events[-3]
        console = Console(width=120, record=True)
        console.print(detail.query_one("#event-fields", Static).content)
        painted = console.export_text()
        assert "comm" in painted and shown.comm in painted and "args.filename" in painted
        meaning = str(detail.query_one(".explain", Static).render())
        assert KIND_EXPLANATIONS[shown.kind] in meaning
        assert f"source: {KIND_SOURCES[shown.kind]}" in meaning
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == event_json(shown)
        assert json.loads(app.clipboard)["pid"] == shown.pid
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.shell)
        assert app.focused is log.log_widget


async def test_a_not_root_context_still_opens(make_app: MakeApp) -> None:
    """Keys that route to views must cope with a view that started nothing."""
    app = make_app(bpf_allowed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_and_wait(pilot, "trace-exec")
        await pilot.press("slash", "escape", "escape", "k", "j", "enter")
        await pilot.pause()
        assert app.is_running
        assert isinstance(app.ctx, FakeContext)


async def test_image_structure_has_its_own_key_and_ctrl_t_tails(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "image-monitor")
        assert isinstance(view, ImageMonitorView)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: view.has_class("structure"))
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: bool(app.shell.query_one("#split").children))
        assert view.has_class("structure")  # ctrl+t did not toggle the structure


async def test_slash_in_the_container_monitor_shows_its_events_section_and_filters(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_and_wait(pilot, "container-monitor")
        inner = view.query_one("#mon-tabs", TabbedContent)
        assert inner.active != "t-ev"
        app.shell.query_one("#sidebar", Tree).focus()
        await pilot.press("slash")
        bar = view.query_one(FilterBar)
        await wait_until(pilot, lambda: inner.active == "t-ev" and app.focused is bar)


@pytest.mark.parametrize("how", ["command line", "sidebar"])
async def test_image_monitor_opens_with_the_image_box_focused(make_app: MakeApp, how: str) -> None:
    """A registry name has a `:` (host:port, tag): typed as the view opens, it must land in the image box.
    The shell's focus-the-first-widget moved focus to the scrolling left pane and `:` opened the
    palette (found by the fault matrix's tui-image cell)."""
    name = "127.0.0.1:5077/beefine/busybox:latest"
    app = make_app(open_views=("image-monitor",) if how == "command line" else ())
    async with app.run_test(size=(120, 40)) as pilot:
        if how == "sidebar":
            app.shell.open_view("image-monitor")
        await wait_until(pilot, lambda: bool(app.query(ImageMonitorView)))
        view = app.query_one(ImageMonitorView)
        box = view.query_one("#im-image", Input)
        await wait_until(pilot, lambda: app.focused is box)
        await pilot.pause(0.5)  # a late focus-the-view must not take it away
        assert app.focused is box
        await pilot.press(*name)
        assert box.value == name
        assert len(app.screen_stack) == 1, "a typed : opened the palette"
