"""The replay screen on a shipped example (no root, BPF or Docker): the controls move the position and
the story follows; a probe recording replays into a probe view, a syscalls one into the tail pane.

Snapshots: .venv/bin/python -m pytest tests/tui/test_replay_view.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from beefine_tui.app import BeefineApp
from beefine_tui.events.model import RecordHeader
from beefine_tui.events.record import Recorder
from beefine_tui.replay import ReplayIndex, StoryAt
from beefine_tui.screens.image_monitor import ImageMonitorView
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.screens.replay_view import ReplayView
from beefine_tui.widgets.syscall_table import SyscallTable
from tests.tui.conftest import MakeApp, wait_until
from tests.tui.events_fixture import exec_events, syscall_events

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small.jsonl.gz"
SIZES = [(80, 24), (120, 40), (200, 60)]


async def ready(pilot: Any, app: BeefineApp) -> ReplayView:
    await wait_until(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")))
    await wait_until(pilot, lambda: "tab-replay" in app.shell.open_tab_ids())
    view = app.shell.query_one(ReplayView)
    await wait_until(pilot, lambda: view.cursor is not None)
    await pilot.pause()
    return view


def position_line(view: ReplayView) -> str:
    return str(view.query_one("#rp-position", Static).render())


def phase_positions() -> dict[str, int]:
    return {name: pos for name, _, pos in ReplayIndex.load(EXAMPLE).phases}


async def test_opens_the_story_marked_as_a_replay_just_before_it_starts(make_app: MakeApp) -> None:
    app = make_app(replay=EXAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await ready(pilot, app)
        assert view.cursor is not None
        index = view.cursor.index
        assert view.query(ImageMonitorView) and not view.query(ProbeView)
        assert "REPLAY" in str(view.query_one("#rp-banner", Static).render())
        assert view.cursor.position == index.phases[0][2] - 1 and not view.cursor.playing
        assert "⏸ paused 1x" in position_line(view)
        monitor = view.query_one(ImageMonitorView)
        assert monitor.run_obj is not None and monitor.run_obj.timeline().found() == []


async def test_step_one_event_and_one_phase(make_app: MakeApp) -> None:
    marks = phase_positions()
    app = make_app(replay=EXAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await ready(pilot, app)
        assert view.cursor is not None
        await pilot.press("n")  # the first phase: pull (the example was traced --fresh)
        assert view.cursor.position == marks["pull"]
        assert "phase: pull" in position_line(view)
        monitor = view.query_one(ImageMonitorView)
        assert monitor.selected == "pull"
        tl = monitor.run_obj.timeline()
        assert tl.phase("pull").state == "active" and tl.phase("pull").total >= 1
        await pilot.press("full_stop", "full_stop")
        assert view.cursor.position == marks["pull"] + 2
        await pilot.press("comma")
        assert view.cursor.position == marks["pull"] + 1
        await pilot.press("n")
        second = min(p for p in marks.values() if p > marks["pull"])
        assert view.cursor.position == second
        await pilot.press("N")
        assert view.cursor.position == marks["pull"]


async def test_speed_and_play_pause(make_app: MakeApp) -> None:
    app = make_app(replay=EXAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await ready(pilot, app)
        cursor = view.cursor
        assert cursor is not None
        await pilot.press("plus", "plus")
        assert cursor.speed == 5.0
        await pilot.press("minus", "minus", "minus")
        assert cursor.speed == 0.5 and "0.5x" in position_line(view)
        for _ in range(10):
            await pilot.press("plus")
        assert cursor.speed == 50.0
        for _ in range(10):
            await pilot.press("minus")
        assert cursor.speed == 0.25  # slow enough that the example does not end before the pause
        start = cursor.position
        await pilot.press("space")
        assert cursor.playing and "▶ playing 0.25x" in position_line(view)
        await wait_until(pilot, lambda: cursor.position > start)  # the timer moves it
        await pilot.press("space")
        assert not cursor.playing
        held = cursor.position
        await pilot.pause(0.3)
        assert cursor.position == held


async def test_jump_to_a_phase_a_time_and_the_ends(make_app: MakeApp) -> None:
    marks = phase_positions()
    app = make_app(replay=EXAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await ready(pilot, app)
        cursor = view.cursor
        assert cursor is not None
        await pilot.press("t")
        box = view.query_one("#rp-jump", Input)
        assert box.has_focus
        await pilot.press(*"mounts", "enter")
        assert cursor.position == marks["mounts"]
        assert view.query_one(ImageMonitorView).selected == "mounts"
        assert not box.display
        await pilot.press("t", *"nonsense", "enter")
        assert "neither a time" in position_line(view) and box.has_focus  # open to try again
        await pilot.press("escape")
        assert not box.display
        await pilot.press("t", *"0ms", "enter")
        assert cursor.elapsed_s <= 0 and "phase: pull" in position_line(view)
        await pilot.press("greater_than_sign")
        assert cursor.at_end and "■ end" in position_line(view)
        final = StoryAt(cursor.index).final
        shown = view.query_one(ImageMonitorView).run_obj.timeline()
        assert shown.found() == final.found()
        assert [p.name for p in shown.phases if p.state == "done"] == [
            p.name for p in final.phases if p.state == "done"
        ]
        await pilot.press("less_than_sign")
        assert cursor.position == 0


async def test_probe_recording_replays_into_a_probe_view(make_app: MakeApp, tmp_path: Path) -> None:
    rec = tmp_path / "exec.jsonl"
    r = Recorder.open(rec, RecordHeader(probes=["exec"]))
    events = exec_events(8)
    r.write(events)
    r.close()
    app = make_app(replay=rec)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await ready(pilot, app)
        probe = view.query_one(ProbeView)
        assert view.cursor is not None and view.cursor.position == 0
        assert probe.event_log.total == 0
        await pilot.press("full_stop", "full_stop", "full_stop")
        assert probe.event_log.total == 3
        assert probe.event_log._view_rows()[-1] == events[2]
        await pilot.press("comma")  # back: the log shows the window up to the new position
        assert probe.event_log.total == 2
        await pilot.press("greater_than_sign")
        assert probe.event_log.total == 8
        await pilot.press("n")
        assert "only a trace recording has them" in position_line(view)


async def test_syscalls_recording_replays_into_the_tail_pane(make_app: MakeApp, tmp_path: Path) -> None:
    rec = tmp_path / "tail.jsonl"
    r = Recorder.open(rec, RecordHeader(probes=["syscalls"]))
    calls = syscall_events()
    r.write(calls)
    r.close()
    app = make_app(replay=rec, replay_speed=0)  # --speed 0: opens at the end
    async with app.run_test(size=(120, 40)) as pilot:
        view = await ready(pilot, app)
        table = view.query_one(SyscallTable)
        assert table.summary.calls == len(calls)
        await pilot.press("less_than_sign", "full_stop")
        assert table.summary.calls == 1  # strace -c up to the position, not of the whole file


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_trace_replay_at_mounts(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app(replay=EXAMPLE)

    async def run_before(pilot: Any) -> None:
        view = await ready(pilot, app)
        await pilot.press("t", *"mounts", "enter")
        await pilot.press("full_stop", "full_stop")
        assert view.cursor is not None and not view.cursor.playing
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_a_recording_whose_name_has_brackets_is_named_as_it_is(
    make_app: MakeApp, tmp_path: Path
) -> None:
    # a file name is not markup: "run[bold]1.jsonl" was shown as a bold "run1.jsonl" while it loaded
    rec = tmp_path / "run[bold]1.jsonl"
    r = Recorder.open(rec, RecordHeader(probes=["exec"]))
    r.write(exec_events(2))
    r.close()
    app = make_app(replay=rec)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await ready(pilot, app)
        assert "run[bold]1.jsonl" in str(view.query_one("#rp-banner", Static).render())
        loading = ReplayView(rec, 1.0)  # its banner while the file is read, before the above replaced it
        banner = next(w for w in loading.compose() if w.id == "rp-banner")
        assert isinstance(banner, Static)
        assert "run[bold]1.jsonl" in str(banner.visual)
        assert app.is_running
