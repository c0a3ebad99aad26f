"""Loss by phase: a recording whose stream carries `lost` reports replays into the same story, and the
story says how many events were lost while each phase ran (render and the JSON summary), the total
exact. The recording is the real-probes fixture with loss markers written in by the Recorder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from beefine_tui.events.model import Event, lost_event
from beefine_tui.events.record import Recorder, read_recording
from beefine_tui.story.engine import StoryEngine
from beefine_tui.story.phases import MAX_LOSSES
from beefine_tui.story.render import timeline_lines

FIXTURE = Path(__file__).parent / "fixtures" / "story" / "real_probes_pull_run.jsonl.gz"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    d = tmp_path_factory.mktemp("rec")
    src = d / "src.jsonl"
    src.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    _header, it = read_recording(src)
    return src, list(it)


def story(events: list[Event]) -> StoryEngine:
    eng = StoryEngine()
    eng.feed(events)
    return eng


def with_losses(tmp: Path, events: list[Event], losses: list[Event]) -> list[Event]:
    """The events and the loss reports, in ts order, through a real recording file and back."""
    header, _ = read_recording(tmp / "src.jsonl")
    path = tmp / "lossy.jsonl"
    rec = Recorder.open(path, header, force=True)
    rec.write(sorted([*events, *losses], key=lambda e: e.ts))
    rec.close()
    _, it = read_recording(path)
    return list(it)


def test_loss_is_placed_in_the_phases_it_overlaps(recording: tuple[Path, list[Event]]) -> None:
    src, events = recording
    plain = story(events).timeline()
    mounts, hostname = plain.phase("mounts"), plain.phase("hostname")
    assert mounts.start_ns is not None and mounts.end_ns is not None and hostname.start_ns is not None
    mid = (mounts.start_ns + mounts.end_ns) // 2
    # only inside mounts' span; over the end of the story; and an old-style report with no times
    inside = [p.name for p in plain.phases if p.start_ns is not None and p.start_ns <= mid <= (p.end_ns or 0)]
    late = max(p.end_ns or 0 for p in plain.phases) + 10**9
    losses = [
        lost_event("mounts", 5, "kernel", ts=mid + 1, window=(mid, mid)),
        lost_event("files", 3, "bus", ts=late, window=(late, late)),
        lost_event("exec", 2, "kernel", ts=hostname.start_ns),
    ]
    got = story(with_losses(src.parent, events, losses)).timeline()

    assert got.lost == 10  # exact, whatever could be placed
    assert "mounts" in inside
    for p in got.phases:
        assert p.lost == (5 if p.name in inside else 0), p.name
    # the story itself is unchanged by the markers
    assert [(p.name, p.state, p.total, p.start_ns, p.end_ns) for p in got.phases] == [
        (p.name, p.state, p.total, p.start_ns, p.end_ns) for p in plain.phases
    ]
    assert [(x.count, x.probe, x.source, x.phases) for x in got.losses] == [
        (5, "mounts", "kernel", tuple(inside)),
        (2, "exec", "kernel", ()),
        (3, "files", "bus", ()),
    ]  # in the order they came

    summary = json.loads(json.dumps(got.summary(), default=str))
    assert summary["lost"] == 10
    assert summary["lost_by_phase"] == {n: 5 for n in inside}
    assert [x["phases"] for x in summary["losses"]] == [inside, [], []]
    assert summary["losses"][1]["first_ms"] is None
    rows = {r["phase"]: r for r in got.to_dicts()}
    assert rows["mounts"]["lost"] == 5 and rows["exec"]["lost"] == 0

    text = "\n".join(timeline_lines(got))
    assert "lost: 5 events while this phase ran" in text
    assert "warning: 10 events were lost" in text
    assert "5 (mounts, kernel) at " in text and "during " + ", ".join(inside) in text
    assert "3 (files, bus) at " in text and "outside every phase's span" in text
    assert "2 (exec, kernel) at a time the source does not know" in text


def test_no_loss_says_nothing(recording: tuple[Path, list[Event]]) -> None:
    tl = story(recording[1]).timeline()
    assert tl.lost == 0 and tl.losses == [] and all(p.lost == 0 for p in tl.phases)
    assert tl.summary()["lost_by_phase"] == {}
    assert "lost" not in "\n".join(timeline_lines(tl))


def test_loss_reports_are_bounded_and_the_total_stays_exact(recording: tuple[Path, list[Event]]) -> None:
    events = recording[1]
    eng = story(events)
    mounts = eng.timeline().phase("mounts")
    assert mounts.start_ns is not None
    n = MAX_LOSSES + 50
    eng.feed([lost_event("files", 1, "kernel", window=(mounts.start_ns, mounts.start_ns)) for _ in range(n)])
    tl = eng.timeline()
    assert tl.lost == n and len(tl.losses) == MAX_LOSSES
    assert sum(x.count for x in tl.losses) == n
    assert tl.phase("mounts").lost == n
