"""Image monitor driven by a fake source that replays the recorded capture of a real pull + run
(tests/unit/fixtures/story): the timeline fills in, a phase's explanation and events show, progress
bars come from the pull messages, the structure is one key away, and leaving stops the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, DataTable, Input, Log, ProgressBar, Select, Static

from beefine_tui.errors import NotFoundError
from beefine_tui.events.record import read_recording
from beefine_tui.screens.image_monitor import ImageMonitorView
from beefine_tui.story.engine import StoryEngine, StoryHints
from beefine_tui.story.phases import Timeline

FIXTURE = Path(__file__).parents[1] / "unit" / "fixtures" / "story" / "lab_pull_and_runs.jsonl"
ECHO = "b4cc54ec00c5b141461d0a07c1e02cd5bb576fc2fe476576ed906dedbfcba997"


class Result:
    error = ""
    exit_code = 0


class FakeRun:
    def __init__(self, on_progress: Any) -> None:
        self.engine = StoryEngine(StoryHints(container_id=ECHO, pulling=True))
        self.on_progress = on_progress
        self.stopped = 0

    def run(self) -> Result:
        _, events = read_recording(FIXTURE)
        self.on_progress({"id": "048eaab15007", "status": "Downloading", "current": 50, "total": 100})
        self.engine.feed(list(events))
        return Result()

    def timeline(self) -> Timeline:
        return self.engine.timeline()

    def stop(self) -> None:
        self.stopped += 1


class FakeSource:
    def __init__(self, fail: Exception | None = None) -> None:
        self.runs: list[FakeRun] = []
        self.fail = fail
        self.asked: list[tuple[str, list[str], bool]] = []

    def images(self) -> list[str]:
        return ["127.0.0.1:5077/e-bb:1"]

    def structure(self, image: str) -> list[str]:
        return [f"{image} (registry)", "layers (2, bottom first):"]

    def prepare(self, image: str, groups: list[str], pull: bool, on_progress: Any) -> FakeRun:
        self.asked.append((image, groups, pull))
        if self.fail is not None:
            raise self.fail
        r = FakeRun(on_progress)
        self.runs.append(r)
        return r


class Host(App[None]):
    def __init__(self, source: FakeSource) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield ImageMonitorView(self.source)


async def _wait(pilot: Any, cond: Any, tries: int = 300) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition never became true")


async def test_run_fills_the_timeline_and_explains() -> None:
    src = FakeSource()
    app = Host(src)
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(ImageMonitorView)
        view.query_one("#im-image", Input).value = "127.0.0.1:5077/e-bb:1"
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: not view.running and src.runs)
        await _wait(
            pilot, lambda: view.query_one("#im-phases", DataTable).get_cell("exec", "state") == "done"
        )
        t = view.query_one("#im-phases", DataTable)
        assert t.get_cell("hostname", "state") == "done"
        assert t.get_cell("pull", "state") == "done"
        assert "exit code 0" in str(view.query_one("#im-status", Static).render())
        # every group ticked by default, process always on
        assert src.asked[0][1] == ["files", "mounts", "network", "namespaces", "cgroups", "security"]
        # select the namespaces phase: its explanation and its events show
        t.move_cursor(row=list(t.rows).index("namespaces"))
        await pilot.pause(0.1)
        text = str(view.query_one("#im-explain", Static).render())
        assert "CLONE_NEWPID" in text and "runc:[1:CHILD]" in text
        assert any("unshare" in line for line in view.query_one("#im-events", Log).lines)
        # one bar per layer from the pull stream
        assert view.query(ProgressBar)
        # the image structure is one key away
        t.focus()
        await pilot.press("i")
        await _wait(pilot, lambda: any("layers" in x for x in view.query_one("#im-structure", Log).lines))
    assert src.runs[0].stopped >= 1  # leaving stops (and so removes) the run


async def test_errors_are_said_not_raised() -> None:
    src = FakeSource(fail=NotFoundError("the registry has no nope:1", "check the repository and tag"))
    app = Host(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ImageMonitorView)
        view.query_one("#im-run", Button).press()
        for _ in range(500):  # Button.Pressed is handled asynchronously: wait for it, up to ~10 s
            if "enter an image" in str(view.query_one("#im-status", Static).render()):
                break
            await pilot.pause(0.02)
        assert "enter an image" in str(view.query_one("#im-status", Static).render())
        view.query_one("#im-image", Input).value = "127.0.0.1:5077/nope:1"
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: "no nope:1" in str(view.query_one("#im-status", Static).render()))
        assert not view.running


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_after_a_run(snap_compare: Any, size: tuple[int, int]) -> None:
    """The story of the recorded run, namespaces phase selected (deterministic: recorded events).
    After an intended visual change: pytest tests/tui/test_image_monitor.py --snapshot-update"""
    src = FakeSource()
    app = Host(src)
    app.animation_level = "none"  # progress bars would otherwise be caught mid-animation

    async def run_before(pilot: Any) -> None:
        view = app.query_one(ImageMonitorView)
        view.query_one("#im-image", Input).value = "127.0.0.1:5077/e-bb:1"
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: not view.running and bool(src.runs))
        t = view.query_one("#im-phases", DataTable)
        await _wait(pilot, lambda: t.get_cell("exec", "state") == "done")
        t.focus()
        # select the phase without moving the cursor: at 80x24 a cursor move scrolls the table, and
        # whether that scroll lands before the picture is not deterministic
        view.selected = "namespaces"
        view._show_phase(src.runs[0].timeline())
        pick = view.query_one("#im-pick", Select)
        explain = view.query_one("#im-explain", Static)
        # everything that arrives from workers or timers is in before the picture is taken
        await _wait(pilot, lambda: bool(view.query(ProgressBar)) and len(pick._options) > 1)
        await _wait(pilot, lambda: "namespaces" in str(explain.render()))
        view._refresh()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
