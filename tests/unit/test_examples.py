"""The shipped examples (`sudo make examples`: real `trace --lab --fresh` recordings of the lab images):
each opens with no root, replays headless, and tells the whole story, every phase of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui.cli import main
from beefine_tui.events.record import encode_event, read_recording
from beefine_tui.replay import TRACE, ReplayIndex
from beefine_tui.story.diff import load_trace
from beefine_tui.story.phases import DONE, PHASES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.jsonl*"))
MAX_TOTAL_BYTES = 1 << 20  # small enough to ship in the repository and a wheel


def test_the_lab_images_are_shipped_small() -> None:
    assert {p.name for p in FILES} >= {"small.jsonl.gz", "layered.jsonl.gz"}
    assert sum(p.stat().st_size for p in FILES) < MAX_TOTAL_BYTES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_is_a_whole_trace_with_every_phase(path: Path) -> None:
    header, events = read_recording(path)
    assert header.command[1:2] == ["trace"] and "--lab" in header.command and "--fresh" in header.command
    n = sum(1 for _ in events)
    assert events.complete, events.problem
    story = load_trace(path)
    assert story.events == n
    assert [p.name for p in story.timeline.phases if p.state == DONE] == list(PHASES)
    assert story.timeline.exit_code == 0 or story.timeline.phase("exit").details.get("code") == 0
    index = ReplayIndex.load(path)
    assert index.origin == TRACE and index.count == n
    assert sorted(name for name, _, _ in index.phases) == sorted(PHASES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_replays_headless(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(path), "--print", "--json"]) == 0
    out, err = capsys.readouterr()
    _, events = read_recording(path)
    assert out.splitlines() == [encode_event(e).decode() for e in events]
    assert "incomplete" not in err.lower()
