"""The replay screen's engine (replay.py ReplayIndex, ReplayCursor, StoryAt): no Textual, no root."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui import replay
from beefine_tui.events.model import Event, FreeArgs, RecordHeader, lost_event
from beefine_tui.events.record import Recorder, read_recording
from beefine_tui.replay import PROBE, TAIL, TRACE, ReplayCursor, ReplayIndex, StoryAt, position_bar
from beefine_tui.story.diff import load_trace
from beefine_tui.story.engine import StoryEngine

FIXTURES = Path(__file__).parent / "fixtures" / "story"
TRACE_FILE = FIXTURES / "run_default.jsonl.gz"
T0 = 10_000_000_000


def ev(i: int, probe: str = "exec", kind: str = "exec", ts: int | None = None) -> Event:
    return Event(
        ts=T0 + i * 100_000_000 if ts is None else ts,
        probe=probe,
        kind=kind,
        pid=100 + i,
        args=FreeArgs(fields={}, line=f"e{i}"),
    )


def write(path: Path, events: list[Event], probes: list[str] | None = None, close: bool = True) -> Path:
    rec = Recorder.open(path, RecordHeader(probes=probes or ["exec"]))
    rec.write(events)
    if close:
        rec.close()
    else:
        rec._out.close()  # no trailer: as after a kill
    return path


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # chunk boundaries inside the few events of a test
    monkeypatch.setattr(replay, "CHUNK", 4)
    monkeypatch.setattr(replay, "CHUNK_CACHE", 2)


def test_index_gives_back_every_event_in_order_across_chunks(tmp_path: Path, small_chunks: None) -> None:
    events = [ev(i) for i in range(11)]
    idx = ReplayIndex.load(write(tmp_path / "r.jsonl", events))
    assert idx.count == 11 and idx.complete and idx.origin == PROBE
    assert idx.events(0, 11) == events
    assert idx.events(3, 9) == events[3:9]
    assert idx.events(9, 50) == events[9:]  # clamped
    assert idx.events(-5, 2) == events[:2]


def test_positions_are_in_time_order_as_batches_of_probes_interleave(
    tmp_path: Path, small_chunks: None
) -> None:
    # two probes' batches, written as their runners handed them over: the second batch is older
    late = [ev(i, probe="files", kind="open") for i in (5, 6, 7, 8, 9)]
    early = [ev(i) for i in (1, 2, 3, 4)]
    same = [ev(10, ts=T0 + 2 * 100_000_000)]  # the same instant as ev(2): after it, as in the file
    idx = ReplayIndex.load(write(tmp_path / "r.jsonl", late + early + same))
    assert [e.text for e in idx.events(0, 99)] == [
        "e1",
        "e2",
        "e10",
        "e3",
        "e4",
        "e5",
        "e6",
        "e7",
        "e8",
        "e9",
    ]
    assert idx.ts_at(3) == T0 + 2 * 100_000_000


def test_index_reads_gzip_and_matches_the_full_reader(tmp_path: Path, small_chunks: None) -> None:
    events = [ev(i) for i in range(9)]
    path = write(tmp_path / "r.jsonl.gz", events)
    _, rec = read_recording(path)
    assert ReplayIndex.load(path).events(0, 99) == list(rec)


def test_cut_recording_is_indexed_up_to_the_cut(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", [ev(i) for i in range(5)], close=False)
    with path.open("ab") as f:
        f.write(b'{"ts":1,"probe":"exe')  # the last line, cut mid-write
    idx = ReplayIndex.load(path)
    assert idx.count == 5
    assert not idx.complete and "cut short" in idx.problem


def test_losses_are_summed_up_to_a_position(tmp_path: Path) -> None:
    events = [
        ev(0),
        lost_event("exec", 3, "kernel", ts=T0 + 1),
        ev(2),
        lost_event("exec", 4, "bus", ts=T0 + 250_000_000),
    ]
    idx = ReplayIndex.load(write(tmp_path / "r.jsonl", events))
    assert [idx.lost_before(p) for p in range(5)] == [0, 0, 3, 3, 7]


def test_syscalls_recording_replays_as_the_tail_pane(tmp_path: Path) -> None:
    events = [ev(i, probe="syscalls", kind="syscall") for i in range(3)]
    assert ReplayIndex.load(write(tmp_path / "r.jsonl", events, ["syscalls"])).origin == TAIL


def test_play_moves_by_recorded_time_times_speed_and_stops_at_the_end(tmp_path: Path) -> None:
    # one event every 0.1 s of recorded time
    idx = ReplayIndex.load(write(tmp_path / "r.jsonl", [ev(i) for i in range(10)]))
    cur = ReplayCursor(idx, speed=1.0)
    assert not cur.advance(1.0)  # paused: nothing moves
    cur.play()
    cur.advance(0.0)
    assert cur.position == 1  # the first event is due at once
    cur.advance(0.25)
    assert cur.position == 3  # events at 0.1 and 0.2 s
    cur.faster(1)  # 2x
    cur.advance(0.1)  # 0.2 s more of recorded time: 0.45 s
    assert cur.position == 5
    cur.advance(100)
    assert cur.at_end and cur.position == 10 and not cur.playing
    cur.play()  # play at the end starts again
    assert cur.position == 0 and cur.playing


def test_speed_steps_stay_between_a_quarter_and_fifty(tmp_path: Path) -> None:
    cur = ReplayCursor(ReplayIndex.load(write(tmp_path / "r.jsonl", [ev(0)])), speed=3)
    assert cur.speed == 2.0  # the nearest step
    for _ in range(20):
        cur.faster(1)
    assert cur.speed == 50.0
    for _ in range(20):
        cur.faster(-1)
    assert cur.speed == 0.25


def test_step_seek_and_jump(tmp_path: Path) -> None:
    idx = ReplayIndex.load(write(tmp_path / "r.jsonl", [ev(i) for i in range(10)]))
    cur = ReplayCursor(idx)
    cur.play()
    cur.step(1)
    assert cur.position == 1 and not cur.playing  # a step pauses
    cur.step(-5)
    assert cur.position == 0
    cur.seek(99)
    assert cur.position == 10
    assert cur.jump("0.35") == "at 0.350 s" and cur.position == 4
    assert cur.jump("200ms") and cur.position == 3
    assert cur.jump("0.5s") and cur.position == 6
    assert cur.elapsed_s == pytest.approx(0.5)
    with pytest.raises(ValueError, match="neither a time"):
        cur.jump("mounts")  # no phases in a probe recording
    with pytest.raises(ValueError, match="0 or more"):
        cur.jump("-1")
    with pytest.raises(ValueError, match="type a time"):
        cur.jump("  ")


def test_window_appends_going_forward_and_resets_otherwise(tmp_path: Path) -> None:
    events = [ev(i) for i in range(10)]
    idx = ReplayIndex.load(write(tmp_path / "r.jsonl", events))
    assert idx.window(2, 5, limit=4) == (False, events[2:5])
    assert idx.window(2, 9, limit=4) == (True, events[5:9])  # a jump: only the new window
    assert idx.window(6, 3, limit=4) == (True, events[0:3])  # back


def test_trace_phases_in_order_and_stepping_through_them() -> None:
    idx = ReplayIndex.load(TRACE_FILE)
    assert idx.origin == TRACE
    final = load_trace(TRACE_FILE).timeline
    started = [p.name for p in final.by_start() if p.start_ns is not None]
    assert sorted(n for n, _, _ in idx.phases) == sorted(started)
    positions = [pos for _, _, pos in idx.phases]
    assert positions == sorted(positions)
    # each phase's position shows exactly the event its span starts with (running starts at a time
    # the engine derives, not at an event of its own)
    for name, _, pos in idx.phases:
        if name == "running":
            continue
        start = final.phase(name).start_ns
        assert idx.events(pos - 1, pos)[0].ts == start, name
    cur = ReplayCursor(idx)
    cur.seek(idx.start_position)
    seen = []
    while name := cur.step_phase(1):
        seen.append(name)
    assert len(seen) == len({pos for _, _, pos in idx.phases})  # phases that start on one event: one stop
    assert cur.step_phase(1) == ""
    assert cur.step_phase(-1) == seen[-2]
    assert cur.jump("mounts") == "phase mounts inside the container"
    assert idx.phase_at(cur.position) == "mounts"
    # a trace's times are its story table's: the exec phase's "at ms" reaches its first event
    at_ms = ((final.phase("exec").start_ns or 0) - (final.t0 or 0)) / 1e6
    cur.jump(f"{at_ms:.6f}ms")
    assert idx.phase_at(cur.position) == "exec"


def test_story_at_a_position_is_the_final_story_cut_there() -> None:
    idx = ReplayIndex.load(TRACE_FILE)
    story = StoryAt(idx)
    final = load_trace(TRACE_FILE).timeline
    assert story.at(idx.count).found() == final.found()
    assert story.at(0).found() == []
    pos = dict((n, p) for n, _, p in idx.phases)["mounts"]
    tl = story.at(pos)
    mounts = tl.phase("mounts")
    assert mounts.state == "active" and mounts.total == 1
    assert tl.phase("exec").state == "pending"
    # over by then: as in the final story, details and all
    assert tl.phase("rootfs").state == "done"
    assert tl.phase("rootfs").details == final.phase("rootfs").details
    assert tl.phase("pull").state == "pending"  # never started (the image was there): said at the end


def test_seeking_never_feeds_the_story_engine_again(monkeypatch: pytest.MonkeyPatch) -> None:
    idx = ReplayIndex.load(TRACE_FILE)  # the story is built here, once
    fed: list[int] = []
    monkeypatch.setattr(StoryEngine, "feed", lambda self, events: fed.append(1))
    story = StoryAt(idx)
    cur = ReplayCursor(idx)
    for target in (idx.count, 0, idx.count // 2, idx.count, 3):
        cur.seek(target)
        story.at(cur.position)
    assert fed == []


def test_position_bar_fills_and_marks_phases() -> None:
    assert position_bar(0, 100, 10) == "─" * 10
    assert position_bar(100, 100, 10) == "━" * 10
    half = position_bar(50, 100, 10, marks=[1, 81])
    assert half[:4] == "┃━━━" and half[4] == "╸" and half[8] == "│"
    assert position_bar(0, 0, 5) == "─" * 5
