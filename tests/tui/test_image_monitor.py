"""Image monitor driven by a fake source that replays the recorded capture of a real pull + run
(tests/unit/fixtures/story): the timeline fills in, a phase's explanation and events show, progress
bars come from the pull messages, the structure is one key away, once the container exited the probes
are detached and the story is final, and leaving stops the run. The fake trace and probe sessions sit
under the real MonitorRun, so its finishing is what is tested."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace
from textual.app import App, ComposeResult
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Log, ProgressBar, Select, Static

from beefine_tui.errors import NotFoundError
from beefine_tui.replay import open_recording
from beefine_tui.screens.image_monitor import STATE_MARK, ImageMonitorView, MonitorRun
from beefine_tui.story.engine import StoryEngine, StoryHints
from beefine_tui.story.explanations import KIND_SOURCES, phase_title
from beefine_tui.story.phases import Timeline

FIXTURE = Path(__file__).parents[1] / "unit" / "fixtures" / "story" / "lab_pull_and_runs.jsonl"
ECHO = "b4cc54ec00c5b141461d0a07c1e02cd5bb576fc2fe476576ed906dedbfcba997"


class Result:
    error = ""
    exit_code = 0


class FakeRun:
    """Stands for story.trace.TraceRun: `publish` is what its pump does with the bus's events."""

    def __init__(self, on_progress: Any) -> None:
        self.engine = StoryEngine(StoryHints(container_id=ECHO, pulling=True))
        self.on_progress = on_progress
        self.stopped = 0

    def run(self) -> Result:
        _, events = open_recording(FIXTURE)
        self.on_progress({"id": "048eaab15007", "status": "Downloading", "current": 50, "total": 100})
        self.engine.feed(list(events))
        return Result()

    def publish(self, events: list[Any]) -> None:
        self.engine.feed(events)

    def timeline(self) -> Timeline:
        return self.engine.timeline()

    def latest(self) -> Timeline:
        return self.engine.timeline()

    def stop(self) -> None:
        self.stopped += 1


class FakeSession:
    def __init__(self) -> None:
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1


class FakeSource:
    def __init__(self, fail: Exception | None = None) -> None:
        self.runs: list[FakeRun] = []
        self.fail = fail
        self.asked: list[tuple[str, list[str], bool, bool]] = []
        self.sessions: list[FakeSession] = []
        self.monitor_runs: list[MonitorRun] = []
        self.released: list[MonitorRun] = []

    def images(self) -> list[str]:
        return ["127.0.0.1:5077/e-bb:1"]

    def structure(self, image: str) -> list[str]:
        return [f"{image} (registry)", "layers (2, bottom first):"]

    def prepare(
        self, image: str, groups: list[str], pull: bool, on_progress: Any, fresh: bool = False
    ) -> MonitorRun:
        self.asked.append((image, groups, pull, fresh))
        if self.fail is not None:
            raise self.fail
        r = FakeRun(on_progress)
        self.runs.append(r)
        sessions = [FakeSession(), FakeSession()]
        self.sessions += sessions
        note = "removed 127.0.0.1:5077/e-bb:1" if fresh else ""
        m = MonitorRun(r, sessions, note, release=self.released.append)
        self.monitor_runs.append(m)
        return m


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
        done = STATE_MARK["done"]
        await _wait(pilot, lambda: view.query_one("#im-phases", DataTable).get_cell("exec", "state") == done)
        t = view.query_one("#im-phases", DataTable)
        assert t.get_cell("hostname", "state") == done
        assert t.get_cell("pull", "state") == done
        assert "exit code 0" in str(view.query_one("#im-status", Static).render())
        # every group ticked by default, process always on
        assert src.asked[0][1] == ["files", "mounts", "network", "namespaces", "cgroups", "security"]
        # select the namespaces phase: its explanation and its events show
        t.move_cursor(row=[k.value for k in t.rows].index("namespaces"))
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
    assert src.runs[0].stopped == 1  # finishing removed the container; leaving does not do it twice


async def test_after_the_exit_probes_detach_and_the_story_is_final() -> None:
    src = FakeSource()
    app = Host(src)
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(ImageMonitorView)
        status = view.query_one("#im-status", Static)
        view.query_one("#im-image", Input).value = "127.0.0.1:5077/e-bb:1"
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: "probes detached" in str(status.render()))
        assert str(status.render()) == "done: exit code 0; probes detached"
        assert not view.running
        assert all(s.stopped == 1 for s in src.sessions) and len(src.sessions) == 2
        assert src.runs[0].stopped == 1  # the container is removed as `trace` does
        assert src.released == src.monitor_runs  # the app context no longer holds the stopped run
        t = view.query_one("#im-phases", DataTable)
        before = [(p.state, p.total, p.end_ns) for p in view.run_obj.timeline().phases]
        cells = [t.get_cell(n, "events") for n in ("rootfs", "teardown")]
        # later activity on the host (the container's `docker rm` unmounting its root filesystem)
        # still reaches the engine, as teardown (after the exit, not the rootfs phase)...
        late = [replace(e, ts=e.ts + 10**10) for e in src.runs[0].engine.timeline().phase("rootfs").events]
        src.runs[0].publish(late)
        grown = src.runs[0].engine.timeline()
        assert grown.phase("teardown").total > int(cells[1])  # it would have grown
        assert grown.phase("rootfs").total == int(cells[0])  # the rootfs phase ended with its work
        # ...but the finished story does not change
        await pilot.pause(0.6)  # a few 4 Hz refresh ticks
        view._refresh()
        assert [(p.state, p.total, p.end_ns) for p in view.run_obj.timeline().phases] == before
        assert [t.get_cell(n, "events") for n in ("rootfs", "teardown")] == cells
        # a new Run starts fresh: a new run, new sessions
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: len(src.monitor_runs) == 2 and "probes detached" in str(status.render()))
        assert view.run_obj is src.monitor_runs[1] and len(src.sessions) == 4
        assert all(s.stopped == 1 for s in src.sessions)


async def test_a_failed_run_detaches_the_probes_too() -> None:
    class Failing(FakeRun):
        def run(self) -> Result:
            raise NotFoundError("the registry has no image 127.0.0.1:5077/nope:1", "check the tag")

    src = FakeSource()
    src_prepare = src.prepare

    def prepare(*a: Any) -> MonitorRun:
        m = src_prepare(*a)
        m.trace = Failing(a[3])
        src.runs[-1] = m.trace
        return m

    src.prepare = prepare  # type: ignore[method-assign,assignment]
    app = Host(src)
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(ImageMonitorView)
        status = view.query_one("#im-status", Static)
        view.query_one("#im-image", Input).value = "127.0.0.1:5077/nope:1"
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: "probes detached" in str(status.render()))
        assert "no image 127.0.0.1:5077/nope:1" in str(status.render())
        assert all(s.stopped == 1 for s in src.sessions) and src.runs[0].stopped == 1


async def test_fresh_pull_is_asked_only_when_ticked_and_said() -> None:
    src = FakeSource()
    app = Host(src)
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(ImageMonitorView)
        status = view.query_one("#im-status", Static)
        fresh = view.query_one("#im-fresh", Checkbox)
        assert not fresh.value  # off by default: no image is removed unless the user asks
        view.query_one("#im-image", Input).value = "127.0.0.1:5077/e-bb:1"
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: "probes detached" in str(status.render()))
        fresh.value = True
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: len(src.asked) == 2 and "probes detached" in str(status.render()))
        assert [a[3] for a in src.asked] == [False, True]
        assert "removed 127.0.0.1:5077/e-bb:1" in str(status.render())


async def test_the_text_box_is_the_one_source_of_truth() -> None:
    src = FakeSource()
    app = Host(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ImageMonitorView)
        box = view.query_one("#im-image", Input)
        pick = view.query_one("#im-pick", Select)
        await _wait(pilot, lambda: len(pick._options) > 1)
        pick.value = "127.0.0.1:5077/e-bb:1"
        await _wait(pilot, lambda: box.value == "127.0.0.1:5077/e-bb:1")
        box.value = "busybox:latest"
        await _wait(pilot, lambda: pick.is_blank())
        assert view.chosen_image() == "busybox:latest"
        # the example is said in full under the box, not cut in a placeholder
        assert "e.g. " in str(view.query_one("#im-hint", Label).render())


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


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
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
        status = view.query_one("#im-status", Static)
        await _wait(pilot, lambda: "probes detached" in str(status.render()) and not view.running)
        t = view.query_one("#im-phases", DataTable)
        await _wait(pilot, lambda: t.get_cell("exec", "state") == STATE_MARK["done"])
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
        if view._timer is not None:
            view._timer.pause()  # the picture is of the finished story: no 4 Hz redraw while it is taken
        await pilot.pause(0.3)
        # at 80x24 the events log is a line or two high: where its deferred follow-the-end scroll has
        # got to is not deterministic, so the picture shows its top
        view.query_one("#im-events", Log).scroll_home(animate=False, immediate=True)
        view.query_one("#im-explain-box").scroll_home(animate=False, immediate=True)
        await pilot.pause(0.1)
        await pilot.pause()  # and every message (a late row highlight, a re-layout) is handled

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_phases_are_listed_by_start_with_bars_and_sources_on_demand() -> None:
    """The table lists phases in the order they began (not a fixed order), each with a bar on one
    time axis; `s` shows the selected phase's primary source in the explanation pane and back."""
    src = FakeSource()
    app = Host(src)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ImageMonitorView)
        view.query_one("#im-image", Input).value = "127.0.0.1:5077/e-bb:1"
        view.query_one("#im-run", Button).press()
        status = view.query_one("#im-status", Static)
        await _wait(pilot, lambda: "probes detached" in str(status.render()))
        tl = view.run_obj.timeline()
        t = view.query_one("#im-phases", DataTable)
        rows = [str(k.value) for k in t.rows]
        starts = [tl.phase(n).start_ns for n in rows if tl.phase(n).start_ns is not None]
        assert starts == sorted(starts) and len(starts) >= 10
        assert rows == [p.name for p in tl.by_start()]
        bar = str(t.get_cell("exec", "timeline"))
        assert "█" in bar and bar.index("█") > str(t.get_cell("pull", "timeline")).index("█")
        t.focus()
        explain = view.query_one("#im-explain", Static)
        view.selected = "security"
        view._show_phase(tl)
        assert "s: primary source" in str(explain.render())
        await pilot.press("s")
        shown = str(explain.render())
        assert "source: runc 1.1 libcontainer/standard_init_linux.go" in shown
        # each kind listed under the phase names its own source too (issue 12: every explanation)
        kinds = [k for k in tl.phase("security").counts if KIND_SOURCES.get(k)]
        assert kinds and any(f"{k}: {KIND_SOURCES[k]}" in shown for k in kinds)
        await pilot.press("s")
        assert "only with --security-opt no-new-privileges" in str(explain.render())


async def test_the_view_is_free_while_the_probes_detach() -> None:
    """Detaching takes seconds (an RCU grace period per tracepoint): once the container is removed
    the story is final and a new Run may start; the status says when the probes are detached, and
    stop() (the app's exit) waits for them."""
    import threading

    gate = threading.Event()

    class SlowSession(FakeSession):
        def stop(self) -> None:
            gate.wait(60)
            super().stop()

    src = FakeSource()
    src_prepare = src.prepare

    def prepare(*a: Any) -> MonitorRun:
        m = src_prepare(*a)
        m.sessions[:] = [SlowSession()]
        src.sessions[-2:] = m.sessions
        return m

    src.prepare = prepare  # type: ignore[method-assign,assignment]
    app = Host(src)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            view = app.query_one(ImageMonitorView)
            status = view.query_one("#im-status", Static)
            view.query_one("#im-image", Input).value = "127.0.0.1:5077/e-bb:1"
            view.query_one("#im-run", Button).press()
            await _wait(pilot, lambda: bool(src.runs) and not view.running)
            assert "detaching probes" in str(status.render())
            assert src.runs[0].stopped == 1  # container removed, story final
            assert src.sessions[0].stopped == 0  # still detaching
            # a second Run starts while the first's probes detach
            view.query_one("#im-run", Button).press()
            await _wait(pilot, lambda: len(src.monitor_runs) == 2)
            gate.set()
            await _wait(pilot, lambda: "probes detached" in str(status.render()))
            assert str(status.render()) == "done: exit code 0; probes detached"
            assert [s.stopped for s in src.sessions] == [1, 1]
            # each run released once; the first's detach thread and the second run finish in either order
            assert sorted(map(id, src.released)) == sorted(map(id, src.monitor_runs))
    finally:
        gate.set()


def test_stop_waits_for_the_background_detach() -> None:
    import threading

    gate = threading.Event()
    stopped: list[str] = []

    class SlowSession(FakeSession):
        def stop(self) -> None:
            gate.wait(60)
            stopped.append("session")

    run = MonitorRun(FakeRun(None), [SlowSession()])
    run.finish()
    assert stopped == []
    closer = threading.Thread(target=run.stop)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive()  # the app's exit waits for the probes
    gate.set()
    closer.join(30)
    assert stopped == ["session"] and not closer.is_alive()


async def test_a_phase_title_longer_than_its_column_ends_in_an_ellipsis() -> None:
    """At 120x40 in the app (beside the sidebar) the phase column is narrower than "mounts inside the
    container": it was cut without a mark ("mounts inside the contai"), so a cut title read as whole.
    This host has no sidebar: 95 columns leave the view the same room."""
    app = Host(FakeSource())
    async with app.run_test(size=(95, 40)) as pilot:
        await pilot.pause()
        view = app.query_one(ImageMonitorView)
        t = view.query_one("#im-phases", DataTable)
        names = [str(k.value) for k in t.rows]
        long = [n for n in names if len(phase_title(n)) > view._phase_width]
        assert long  # the case this test is about exists at this size
        for name in long:
            row = names.index(name)
            painted = t.render_line(row + 1 - int(t.scroll_y)).text  # + 1: the header
            title = painted.split("  ")[0].strip()
            assert title.endswith("…") and phase_title(name).startswith(title[:-1]), painted


async def test_an_image_name_that_looks_like_markup_is_shown_as_typed() -> None:
    # the key fuzz typed "U[/ti,j" and ran it: the status line parsed it as markup and the app stopped
    name = "U[/ti,j"
    src = FakeSource(fail=NotFoundError(f"the registry has no {name}", "check the repository and tag"))
    app = Host(src)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ImageMonitorView)
        view.query_one("#im-image", Input).value = name
        view.query_one("#im-run", Button).press()
        await _wait(pilot, lambda: f"no {name}" in str(view.query_one("#im-status", Static).render()))
        assert src.asked and src.asked[0][0] == name
        assert app.is_running
