"""The Image monitor over --remote against a stand-in agent behind a stand-in ssh (tests/fake_agent.py),
whose `trace` streams a real recorded pull and run (tests/unit/fixtures/story/real_probes_pull_run):
the view says which host it runs on, lists the host's images, its phases appear live in the order the
recording tells them and end as the story of the same events computed apart; the pull's layers get
bars; a refused image is said; leaving the view mid-run stops the run on the host; with two hosts a
selector picks where the next run goes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Label, ProgressBar, Select, Static

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.remote_image import RemoteImageSource, RemoteTraceRun
from beefine_tui.app import BeefineApp
from beefine_tui.probes.catalog import all_probes
from beefine_tui.replay import open_recording
from beefine_tui.screens.image_monitor import ImageMonitorView
from beefine_tui.story.engine import StoryEngine, StoryHints
from beefine_tui.story.phases import PENDING, Timeline
from tests.fake_agent import TRACE_IMAGE, TRACE_RECORDING, install_fake_ssh
from tests.waiting import eventually


async def _until(cond: Callable[[], bool], what: str, timeout: float = 30) -> None:
    await eventually(cond, what, timeout)


@pytest.fixture
def agent_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    log = tmp_path / "agent.log"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    return log


@pytest.fixture
def ctx(agent_log: Path) -> Iterator[R.RemoteContext]:
    c = R.connect_remotes(["root@far:2222"])
    yield c
    c.close()


def _expected() -> Timeline:
    """The story of the recording's events, told here apart from any agent or view."""
    _, events = open_recording(TRACE_RECORDING)
    engine = StoryEngine(StoryHints(image=TRACE_IMAGE, pulling=True))
    engine.feed(list(events))
    return engine.timeline()


def _status(view: ImageMonitorView) -> str:
    return str(view.query_one("#im-status", Static).render())


async def _open(app: BeefineApp) -> ImageMonitorView:
    view = app.shell.open_view("image-monitor")
    assert isinstance(view, ImageMonitorView), view  # not "not available over --remote"
    await _until(lambda: view.is_mounted and bool(view.query("#im-phases")), "the view never mounted")
    return view


async def test_a_remote_run_tells_the_recorded_story_live_and_in_order(ctx: R.RemoteContext) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(160, 50)) as pilot:
        view = await _open(app)
        assert isinstance(view.source, RemoteImageSource)
        assert "runs on far:2222" in str(view.query_one("#im-where", Label).render())
        pick = view.query_one("#im-pick", Select)
        await _until(lambda: len(pick._options) > 1, "the host's images were never listed")
        assert [str(v) for _, v in pick._options[1:]] == [TRACE_IMAGE, "far-only:1"]

        pick.value = TRACE_IMAGE
        await pilot.pause()
        view.action_run()
        assert "on far:2222" in _status(view)
        # each time the view draws: which phases have begun, until the run is over
        seen: list[frozenset[str]] = []

        def sample() -> bool:
            run = view.run_obj
            if run is not None:
                begun = frozenset(p.name for p in run.timeline().phases if p.start_ns is not None)
                if not seen or seen[-1] != begun:
                    seen.append(begun)
            return not view.running and "exit code" in _status(view)

        await _until(sample, "the run never ended")
        run = view.run_obj
        assert isinstance(run, RemoteTraceRun)
        want = _expected()
        got = run.timeline()
        assert [(p.name, p.state, p.total) for p in got.phases] == [
            (p.name, p.state, p.total) for p in want.phases
        ]
        assert got.exit_code == want.exit_code == 0
        # live: the story grew over several draws, each a superset of the one before, and the phases
        # began in the order the story puts them (by their start)
        assert len(seen) >= 3, seen
        assert all(a <= b for a, b in itertools.pairwise(seen)), seen
        first_seen = [n for i, s in enumerate(seen) for n in sorted(s - (seen[i - 1] if i else set()))]
        by_start = [p.name for p in want.by_start() if p.start_ns is not None]
        assert sorted(first_seen) == sorted(by_start)
        rank = {n: i for i, s in enumerate(seen) for n in s - (seen[i - 1] if i else set())}
        starts = {p.name: p.start_ns for p in want.phases if p.start_ns is not None}
        for a in rank:
            for b in rank:
                if rank[a] < rank[b]:
                    assert starts[a] <= starts[b], (a, b, seen)
        # the table shows them in that order, the pull's layers had bars, and the end says where
        table = view.query_one("#im-phases", DataTable)
        rows = [
            str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value) for i in range(table.row_count)
        ]
        assert rows[: len(by_start)] == by_start
        assert view.query(ProgressBar), "no bar for the pulled layers"
        await _until(lambda: "the agent on far:2222 detaches its probes" in _status(view), _status(view))
        assert "traced on far" in _status(view)  # the host's notes, said at the end
        assert run not in ctx.owned()  # finished: the context keeps it no more


async def test_a_refused_image_is_said_and_nothing_runs(ctx: R.RemoteContext, agent_log: Path) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _open(app)
        await pilot.pause()
        view.query_one("#im-image").value = "nope:1"  # type: ignore[attr-defined]
        view.action_run()
        await _until(lambda: "no image nope:1 on far" in _status(view), "the refusal was not said")
        await _until(lambda: not view.running, "the view stayed running")
        assert not agent_log.exists()  # nothing was started on the host


async def test_leaving_the_view_mid_run_stops_it_on_the_host(ctx: R.RemoteContext, agent_log: Path) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await _open(app)
        view.query_one("#im-image").value = "hold"  # type: ignore[attr-defined]
        view.action_run()
        await _until(lambda: isinstance(view.run_obj, RemoteTraceRun), "the run never started")
        run = view.run_obj
        assert isinstance(run, RemoteTraceRun)
        await _until(lambda: run.timeline().phase("exec").state != PENDING, "the story never grew")
        assert agent_log.read_text().splitlines() == ["far: started 1"]
        await app.shell.close_active_tab()
        await _until(lambda: "far: removed 1 (stopped)" in agent_log.read_text(), "not stopped on the host")
        await _until(lambda: run.stopped and run not in ctx.owned(), "the run was kept")
        await pilot.pause()


async def test_two_hosts_a_selector_picks_where_the_run_goes(agent_log: Path) -> None:
    ctx = R.connect_remotes(["h1", "admin@h2:2200"])
    app = BeefineApp(ctx)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            view = await _open(app)
            hosts = view.query_one("#im-host", Select)
            assert hosts.value == "h1"
            pick = view.query_one("#im-pick", Select)
            await _until(lambda: "h1-only:1" in [str(v) for _, v in pick._options], "h1's images")
            hosts.value = "h2:2200"
            await _until(lambda: "h2-only:1" in [str(v) for _, v in pick._options], "h2's images")
            view.query_one("#im-image").value = TRACE_IMAGE  # type: ignore[attr-defined]
            view.action_run()
            assert "on h2:2200" in _status(view)
            await _until(lambda: not view.running and "exit code 0" in _status(view), _status(view))
            assert agent_log.read_text().splitlines()[0] == "h2: started 1"  # h1 ran nothing
            await pilot.pause()
    finally:
        ctx.close()
