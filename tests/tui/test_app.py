"""The shell driven by keys with Pilot, on a fake AppContext fed with fixed events."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TabbedContent, TextArea, Tree

from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.model import RecordHeader
from beefine_tui.events.record import Recorder
from beefine_tui.screens.errors import ErrorModal, ErrorPanel
from beefine_tui.screens.help import HelpScreen
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.screens.replay_view import ReplayView
from beefine_tui.screens.shell import SECTION_DOCKER, VIEWS, VIEWS_BY_KEY
from beefine_tui.screens.user_programs import UserProgramsView
from beefine_tui.widgets.event_log import EventLog
from beefine_tui.widgets.status_strip import StatusStrip
from tests.tui.conftest import FakeContext, MakeApp, wait_long, wait_until
from tests.tui.events_fixture import exec_events, lost, mount_events


def tree_line(key: str) -> int:
    """Line of a view in the sidebar: sections are lines too."""
    line = 0
    section = None
    for v in VIEWS:
        if v.section != section:
            section = v.section
            line += 1
        if v.key == key:
            return line
        line += 1
    raise KeyError(key)


@pytest.mark.parametrize("view", [v.key for v in VIEWS])
async def test_every_screen_opens_by_keys(
    make_app: MakeApp, view: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = VIEWS_BY_KEY[view]
    if entry.section == SECTION_DOCKER:
        # the Docker views have their own tests (they need Docker); here only the navigation to them counts
        stand_in = dataclasses.replace(entry, factory=lambda: Static(f"stand-in for {view}"))
        monkeypatch.setitem(VIEWS_BY_KEY, view, stand_in)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1", "home")
        await pilot.press(*["down"] * tree_line(view))
        await pilot.press("enter")
        await pilot.pause()
        tabs = app.shell.query_one(TabbedContent)
        assert tabs.active == f"tab-{view}"
        assert app.shell.query_one(f"#tab-{view}").children  # something is shown in it


async def test_opening_twice_focuses_the_same_tab_and_ctrl_w_closes(make_app: MakeApp) -> None:
    app = make_app(exec_events(4))
    async with app.run_test(size=(120, 40)) as pilot:
        app.shell.open_view("trace-exec")
        app.shell.open_view("helpers")
        await pilot.pause()
        app.shell.open_view("trace-exec")
        await pilot.pause()
        assert app.shell.open_tab_ids().count("tab-trace-exec") == 1
        assert app.shell.query_one(TabbedContent).active == "tab-trace-exec"
        ctx = app.ctx
        assert isinstance(ctx, FakeContext)
        await wait_until(pilot, lambda: bool(ctx.sessions))
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert "tab-trace-exec" not in app.shell.open_tab_ids()
        await wait_until(pilot, lambda: ctx.sessions[0].stopped == 1)
        assert ctx.sessions[0] not in ctx._owned


async def test_trace_exec_shows_events_counts_and_lost(make_app: MakeApp) -> None:
    app = make_app([*exec_events(10), lost("exec", 5, "kernel")])
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.is_mounted and view.event_log.total == 11)
        strip = view.query_one(StatusStrip)
        strip.refresh_counts()
        assert strip.total == 10
        assert strip.lost_kernel == 5
        assert "lost 5 (kernel 5, bus 0)" in str(strip.render_text())
        lines = view.event_log.lines()
        assert any("runc arg0" in line and "exec" in line for line in lines)
        assert any("LOST 5 events lost (kernel)" in line for line in lines)
        assert strip.state == "running"


async def test_filter_with_keys_in_a_probe_view(make_app: MakeApp) -> None:
    app = make_app(exec_events(12))
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.is_mounted and view.event_log.total == 12)
        view.event_log.log_widget.focus()
        await pilot.press("slash", *"comm=runc", "enter")
        await pilot.pause()
        lines = view.event_log.lines()
        assert len(lines) == 4 and all("runc" in line for line in lines)
        assert app.focused is view.event_log.log_widget  # Enter returns to the log, filter kept
        assert view.event_log.filter_text == "comm=runc"


async def test_scroll_back_pauses_and_end_resumes_in_app(make_app: MakeApp) -> None:
    app = make_app(exec_events(100))
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.is_mounted and view.event_log.total == 100)
        log = view.event_log
        log.log_widget.focus()
        await pilot.press("pageup")
        assert log.paused
        view.bus.publish(exec_events(3, start=100))
        await wait_until(pilot, lambda: log.total == 103)
        assert log.pending_while_paused == 3
        assert not any("arg102" in line for line in log.lines())
        await pilot.press("end")
        await pilot.pause()
        assert not log.paused
        assert any("arg102" in line for line in log.lines())


async def test_not_root_says_what_is_missing(make_app: MakeApp) -> None:
    app = make_app(exec_events(3), bpf_allowed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.shell.query_one("#banner", Static)
        assert banner.display and "sudo beefine-tui" in str(banner.render())
        view = app.shell.open_view("trace-exec")
        await pilot.pause()
        assert isinstance(view, ProbeView)
        assert "sudo beefine-tui" in str(view.query_one(".notice", Static).render())
        assert view.query_one("#start", Button).disabled
        assert isinstance(app.ctx, FakeContext) and not app.ctx.sessions


async def test_probe_that_cannot_load_shows_an_error_and_app_keeps_running(make_app: MakeApp) -> None:
    err = ProbeLoadError(
        "verifier rejected exec", "see the log", log="0: R1=ctx\ninvalid mem access 'scalar'", line=3
    )
    app = make_app(fail=err)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)

        def modal_ready() -> bool:
            return isinstance(app.screen, ErrorModal) and bool(app.screen.query("#error-log"))

        await wait_until(pilot, modal_ready)
        modal = app.screen
        assert isinstance(modal, ErrorModal)
        assert "invalid mem access" in str(modal.query_one("#error-log", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert view.strip.state == "error"
        assert "verifier rejected exec" in str(view.query_one(".notice", Static).render())
        assert not view.query_one("#start", Button).disabled  # can retry
        app.shell.open_view("helpers")  # still alive and navigable
        await pilot.pause()
        assert app.shell.query_one(TabbedContent).active == "tab-helpers"


async def test_user_program_error_panel_highlights_the_line(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import beefine_tui.probes.user_program as up

    def broken(text: str) -> None:
        raise ProbeLoadError(
            "the program does not compile",
            "fix the line shown",
            log="user.c:4:5: error: use of undeclared identifier 'oops'\n    oops;\n    ^",
            line=4,
        )

    monkeypatch.setattr(up, "load_user_program", broken)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("user-programs")
        await pilot.pause()
        assert isinstance(view, UserProgramsView)
        await pilot.press("ctrl+l")
        panel = view.query_one(ErrorPanel)
        await wait_until(pilot, lambda: panel.has_class("-shown"))
        body = str(view.query_one(".error--log", Static).render())
        assert "undeclared identifier 'oops'" in body
        area = view.query_one("#source", TextArea)
        assert area.selection.start[0] == 3  # line 4, zero-based
        assert not view.loaded


async def test_help_lists_bindings(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        from beefine_tui.screens.help import WIDGET_KEYS

        text = " ".join(f"{w} {k} {d}" for w, k, d in app.screen.rows + list(WIDGET_KEYS))
        for what in ("Close tab", "Tail container", "Quit", "filter", "Help"):
            assert what in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_finds_a_probe_and_a_screen(make_app: MakeApp) -> None:
    from beefine_tui.screens.shell import BeefineCommands

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        provider = BeefineCommands(app.shell)
        hits = [hit async for hit in provider.search("exec")]
        titles = [str(h.text) for h in hits]
        assert "Probe: exec" in titles and "Open Trace exec" in titles
        probe_hit = next(h for h in hits if str(h.text) == "Probe: exec")
        probe_hit.command()
        await wait_until(pilot, lambda: "tab-probe-exec" in app.shell.open_tab_ids())
        # and through the real palette, by keys
        await pilot.press("ctrl+p", *"Trace sys")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "tab-trace-syscalls" in app.shell.open_tab_ids())


async def test_too_small_terminal_says_so(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(70, 20)) as pilot:
        await pilot.pause()
        notice = app.shell.query_one("#too-small", Static)
        assert notice.display and "at least 80x24" in str(notice.render())
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert not notice.display


async def test_sidebar_toggles(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app.shell.query_one("#sidebar")
        await pilot.press("ctrl+b")
        assert not tree.display
        await pilot.press("ctrl+b")
        assert tree.display


async def test_split_pane_tails_a_container(make_app: MakeApp) -> None:
    app = make_app(exec_events(3))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        split = app.shell.query_one("#split")
        views = list(split.query(ProbeView))
        assert len(views) == 1 and views[0].container_required
        await pilot.press("enter")  # no container typed: asks for one, starts nothing
        await pilot.pause()
        assert isinstance(app.ctx, FakeContext) and not app.ctx.sessions
        assert "container" in str(views[0].query_one(".notice", Static).render())
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not split.query(ProbeView)


async def test_f1_right_after_ctrl_t_keeps_focus_on_the_sidebar(make_app: MakeApp) -> None:
    """The split pane focuses its container box once drawn; f1 pressed before that (keys typed
    ahead, a slow machine) must win, not be undone a frame later (found by the key fuzz)."""
    app = make_app(exec_events(3))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.shell.toggle_split()  # what ctrl+t does; its focus waits for the next refresh
        app.shell.action_focus_sidebar()  # f1, handled before that refresh
        for _ in range(5):
            await pilot.pause(0.05)
        assert isinstance(app.focused, Tree), app.focused
        await pilot.press("ctrl+t")  # closing and reopening still focuses the new pane
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "container")


async def test_focus_landing_in_a_closing_pane_does_not_activate_its_gone_tab(make_app: MakeApp) -> None:
    """Closing a tab removes its tab first and its pane after; focus landing in that pane meanwhile
    made TabbedContent activate the gone tab: ValueError "No Tab with id", the app ended (key fuzz,
    seed 1228194798)."""
    from textual.widgets import TabPane
    from textual.widgets._tabbed_content import ContentTab, ContentTabs

    app = make_app(exec_events(3))
    async with app.run_test(size=(120, 40)) as pilot:
        app.shell.open_view("helpers")
        await wait_until(pilot, lambda: "tab-helpers" in app.shell.open_tab_ids())
        tabs = app.shell.query_one("#tabs", TabbedContent)
        pane = tabs.get_pane("tab-helpers")
        await tabs.get_child_by_type(ContentTabs).remove_tab(ContentTab.add_prefix("tab-helpers"))
        assert "tab-helpers" not in app.shell.open_tab_ids()  # the pane is there, its tab is not
        before = tabs.active
        pane.post_message(TabPane.Focused(pane))
        await pilot.pause(0.1)
        assert app.is_running and app._exception is None
        assert tabs.active == before


async def test_replay_feeds_the_same_widgets(make_app: MakeApp, tmp_path: Path) -> None:
    rec = tmp_path / "r.jsonl"
    r = Recorder.open(rec, RecordHeader(probes=["exec", "mounts"]))
    r.write(exec_events(6) + mount_events(2) + [lost("mounts", 2)])
    r.close()
    app = make_app(replay=rec, replay_speed=0)  # --speed 0: the whole recording at once
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "tab-replay" in app.shell.open_tab_ids())
        replay = app.shell.query_one("#tab-replay").query_one(ReplayView)
        await wait_until(pilot, lambda: bool(replay.query(ProbeView)))
        view = replay.query_one(ProbeView)
        # the view's log mounts a moment after the view: event_log raised NoMatches on a busy machine
        await wait_long(pilot, lambda: bool(view.query(EventLog)))
        await wait_until(pilot, lambda: view.event_log.total >= 9)
        assert replay.cursor is not None and replay.cursor.at_end
        lines = view.event_log.lines()
        assert any("mount proc on /proc1" in line for line in lines)
        assert any("LOST" in line for line in lines)


async def test_corrupt_replay_shows_the_line_not_a_traceback(make_app: MakeApp, tmp_path: Path) -> None:
    rec = tmp_path / "bad.jsonl"
    r = Recorder.open(rec, RecordHeader(probes=["exec"]))
    r.write(exec_events(2))
    r.close()
    with rec.open("a") as f:
        f.write("{not json\n")
    app = make_app(replay=rec, replay_speed=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "tab-replay" in app.shell.open_tab_ids())
        replay = app.shell.query_one("#tab-replay").query_one(ReplayView)
        banner = replay.query_one("#rp-banner", Static)
        # line 1 the header, 2-3 the events, 4 the recording's end marker, 5 the junk
        await wait_until(pilot, lambda: "line 5" in str(banner.render()))
        assert "cannot read it" in str(banner.render())


async def test_two_views_of_the_same_probe_do_not_see_each_others_events(make_app: MakeApp) -> None:
    # e.g. Trace exec host-wide beside a tail of one container's exec: each has its own session and bus
    app = make_app(exec_events(12))
    async with app.run_test(size=(120, 40)) as pilot:
        quiet = app.shell.open_view(
            "quiet-exec", label="quiet", factory=lambda: ProbeView(("exec",), title="quiet exec")
        )
        busy = app.shell.open_view("trace-exec")
        assert isinstance(quiet, ProbeView) and isinstance(busy, ProbeView)
        await wait_until(pilot, lambda: busy.is_mounted and busy.event_log.total == 12)
        busy.strip.refresh_counts()
        quiet.strip.refresh_counts()
        await pilot.pause(0.2)
        assert busy.strip.total == 12
        assert quiet.event_log.total == 0 and quiet.strip.total == 0


async def test_quit_closes_the_context(make_app: MakeApp) -> None:
    app = make_app(exec_events(2))
    async with app.run_test(size=(80, 24)) as pilot:
        app.shell.open_view("trace-exec")
        ctx = app.ctx
        assert isinstance(ctx, FakeContext)
        await wait_until(pilot, lambda: bool(ctx.sessions))
        # Pilot.press never returns when the key closes the app before its post-key waits run (seen
        # under CPU load): press through the real binding, then wait for the app itself to stop.
        press = asyncio.ensure_future(pilot.press("ctrl+q"))
        for _ in range(600):
            if press.done() or not app.is_running:
                break
            await asyncio.sleep(0.05)
        press.cancel()
        assert not app.is_running, "ctrl+q did not quit the app"
    assert ctx.sessions[0].stopped >= 1
    assert not ctx._owned


async def test_quit_says_it_is_cleaning_up_and_keeps_the_screen_alive_meanwhile(make_app: MakeApp) -> None:
    release = threading.Event()
    stopped: list[bool] = []

    class SlowToStop:  # like a probe set detaching ~150 tracepoints
        def stop(self) -> None:
            release.wait(30)
            stopped.append(True)

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.ctx.own(SlowToStop())
        press = asyncio.ensure_future(pilot.press("ctrl+q"))
        await wait_until(pilot, lambda: app.sub_title.startswith("quitting"))
        assert app.is_running and not stopped  # the UI loop still runs while the cleanup waits
        release.set()
        for _ in range(600):
            if not app.is_running:
                break
            await asyncio.sleep(0.05)
        press.cancel()
        assert not app.is_running
    assert stopped == [True]


def test_event_log_is_used_for_probe_views() -> None:
    assert isinstance(EventLog, type)  # imported for type checks of the views above


async def test_no_color_is_honoured(make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color


async def test_a_view_that_fails_to_build_shows_its_real_error(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a view whose construction raises (an import error, a bug) says what failed, never "not available yet"
    def broken() -> Static:
        raise ImportError("No module named 'bcc'")

    monkeypatch.setitem(
        VIEWS_BY_KEY, "dashboard", dataclasses.replace(VIEWS_BY_KEY["dashboard"], factory=broken)
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("dashboard")
        await pilot.pause()
        text = str(view.render())
        assert "could not open: ImportError: No module named 'bcc'" in text
        assert "not available yet" not in text.lower()


async def test_trace_syscalls_can_include_beefine_itself(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trace syscalls leaves Beefine out by default; its "include Beefine" box turns include_self on."""
    from textual.widgets import Checkbox, SelectionList

    from beefine_tui.probes import catalog
    from beefine_tui.probes.base import Availability

    class Ready:
        def available(self) -> Availability:
            return Availability(True)

    monkeypatch.setattr(catalog, "get", lambda name: Ready())
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.shell.query("#tabs")))
        for include in (False, True):
            app.shell.open_view("trace-syscalls")
            await wait_until(pilot, lambda: bool(app.shell.query("#include-self")))
            view = app.shell.query(ProbeView).last()
            view.query_one("#probe-choice", SelectionList).select("files")
            view.query_one("#include-self", Checkbox).value = include
            ctx = app.ctx
            assert isinstance(ctx, FakeContext)
            n = len(ctx.started_with) + 1
            view.start()
            await wait_until(pilot, lambda: len(ctx.started_with) >= n)  # noqa: B023
            names, options = ctx.started_with[-1]
            assert names == ("files",) and options.include_self is include
            view.stop_view()
            await pilot.press("q")
            await pilot.pause()


class ClosingModal(ModalScreen[None]):
    """A modal that closes as soon as a callback is parked on it, before it could run it (the next
    key closed it while it was still busy with the ones before)."""

    def _invoke_later(self, callback: Any, sender: Any) -> None:
        super()._invoke_later(callback, sender)
        if self.is_current:
            self.app.pop_screen()


async def test_a_view_asked_for_under_a_modal_opens_when_the_modal_closes(make_app: MakeApp) -> None:
    """A key queued behind `?` (or a palette command) can open a view while a modal is on top.
    Textual runs after-refresh callbacks on whichever screen is on top, and drops them with it when
    it closes: the shell then waited forever for a mount that never came, and no view opened again
    (key fuzz, seed 2325458708)."""
    app = make_app([])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ClosingModal())
        await wait_until(pilot, lambda: isinstance(app.screen, ClosingModal))
        app.shell.open_view("compare")
        await wait_long(pilot, lambda: "tab-compare" in app.shell.open_tab_ids())
        app.shell.open_view("loaded-programs")
        tabs = app.shell.query_one("#tabs", TabbedContent)
        await wait_long(pilot, lambda: tabs.active == "tab-loaded-programs")


async def test_the_palette_opens_again_while_the_last_one_is_still_closing(make_app: MakeApp) -> None:
    """: then Esc then : in one burst of keys: the closed palette was still registered under its fixed
    id, so opening the next raised DuplicateIds and ended the app (key fuzz, seed 359540899)."""
    from beefine_tui.app import BeefinePalette

    app = make_app([])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.action_command_palette()
        await wait_until(pilot, lambda: isinstance(app.screen, BeefinePalette))
        app.pop_screen()
        app.action_command_palette()
        await wait_until(pilot, lambda: isinstance(app.screen, BeefinePalette))
        await pilot.pause(0.2)
    assert app._exception is None


async def test_notifications_show_brackets_as_typed(make_app: MakeApp) -> None:
    # messages carry names, errors and what a user typed: "[/b]" in one must not stop the app
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.notify("not a number of pids: '[/b]'", title="Not changed", severity="error")
        app.screen.notify("from a widget: [b]x", timeout=5)  # Textual's Widget.notify passes markup=True
        await pilot.pause(0.3)
        shown = [str(n.message) for n in app._notifications]
        assert shown == ["not a number of pids: '[/b]'", "from a widget: [b]x"]
        assert all(not n.markup for n in app._notifications)
        assert app.is_running


async def test_a_view_that_cannot_open_quotes_its_error_as_it_is(make_app: MakeApp) -> None:
    def broken() -> Any:
        raise ValueError("no container named 'web[/b]'")

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("broken", label="Broken [i]view", factory=broken)
        for _ in range(100):
            if view.is_mounted:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        shown = str(view.render())
        assert "Broken [i]view" in shown
        assert "This view could not open: ValueError: no container named 'web[/b]'" in shown
        assert app.is_running
