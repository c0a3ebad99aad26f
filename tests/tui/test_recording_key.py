"""ctrl+r in a live view records what its bus carries from now on, in the recording format: the strip
shows it, a second ctrl+r closes the file with its trailer, and the file replays as it was seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui.replay import open_recording
from beefine_tui.screens.probe_view import ProbeView, recording_name
from beefine_tui.widgets.status_strip import StatusStrip
from tests.tui.conftest import MakeApp, wait_until
from tests.tui.events_fixture import exec_events


async def test_ctrl_r_records_then_stops(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before, during, after = exec_events(5), exec_events(20, start=5), exec_events(3, start=25)
    app = make_app(before)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.session is not None)  # the fake session published `before`
        await wait_until(pilot, lambda: len(view.event_log.lines()) >= len(before))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: view.recording is not None)
        view.bus.publish(during)
        strip = view.query_one(StatusStrip)
        await wait_until(pilot, lambda: "REC 20" in strip.render_text().plain)
        await pilot.press("ctrl+r")
        files = list(tmp_path.glob("beefine-trace-exec-*.jsonl"))
        assert len(files) == 1
        notice = view.query_one(".notice")
        await wait_until(pilot, lambda: "Recorded 20 events" in str(notice.render()))
        assert "REC" not in strip.render_text().plain
        view.bus.publish(after)
        await pilot.pause(0.3)
    header, events = open_recording(files[0])
    assert header.probes == ["exec"]
    assert list(events) == during
    assert events.complete


async def test_a_recording_that_cannot_be_made_says_why(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "beefine_tui.screens.probe_view.recording_name", lambda title, now=None: "taken.jsonl"
    )
    (tmp_path / "taken.jsonl").write_text("the user's file")
    app = make_app(exec_events(3))
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.session is not None)
        await pilot.press("ctrl+r")
        notice = view.query_one(".notice")
        await wait_until(pilot, lambda: "Cannot record" in str(notice.render()))
        assert view.recording is None
    assert (tmp_path / "taken.jsonl").read_text() == "the user's file"


def test_recording_names_say_the_view_and_sort_by_time() -> None:
    assert recording_name("Trace exec", 0).startswith("beefine-trace-exec-19")
    assert recording_name("Probe files [web]", 0).startswith("beefine-probe-files-web-")
    assert recording_name("///", 0).startswith("beefine-view-")
