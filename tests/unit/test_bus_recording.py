"""BusRecording: what a live view's bus carried between start and stop, written by its own thread,
read back whole; loss when the writer falls behind is counted, never silent; a failing disk ends the
recording as incomplete without raising into the view."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from beefine_tui.errors import UsageError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, Event, FreeArgs, RecordHeader
from beefine_tui.events.record import BusRecording, read_recording


def ev(i: int, probe: str = "exec") -> Event:
    return Event(
        ts=i,
        probe=probe,
        kind="exec",
        pid=i,
        comm="sh",
        args=FreeArgs(fields={"n": i}, line=f"exec {i}"),
    )


def test_records_what_the_bus_carried_between_start_and_stop(tmp_path: Path) -> None:
    bus = Bus()
    bus.publish([ev(-1)])  # before the recording: not in it
    path = tmp_path / "r.jsonl"
    rec = BusRecording(bus, path, RecordHeader(probes=["exec"]))
    sent = [ev(i) for i in range(5000)]
    for i in range(0, len(sent), 100):
        bus.publish(sent[i : i + 100])
    rec.stop()
    assert rec.stopped and rec.count == len(sent) and not rec.error
    bus.publish([ev(99999)])  # after: not in it, and the bus has no subscriber left for it
    assert not any(name.startswith("record") for name in bus.subscribers())
    header, events = read_recording(path)
    assert header.probes == ["exec"]
    assert list(events) == sent
    assert events.complete


def test_a_writer_that_falls_behind_records_how_many_were_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BusRecording, "CAPACITY", 50)
    bus = Bus()
    path = tmp_path / "r.jsonl"
    rec = BusRecording(bus, path, RecordHeader(probes=["exec"]))
    hold = threading.Event()
    write = rec.recorder.write

    def slow_write(events: list[Event]) -> None:
        hold.wait(5)
        write(events)

    monkeypatch.setattr(rec.recorder, "write", slow_write)
    time.sleep(0.3)  # the writer is now waiting in slow_write (or about to)
    sent = [ev(i) for i in range(1000)]
    for i in range(0, len(sent), 10):
        bus.publish(sent[i : i + 10])
    hold.set()
    rec.stop()
    _, events = read_recording(path)
    got = list(events)
    kept = [e for e in got if e.kind != LOST]
    lost = sum(int(e.args["count"]) for e in got if e.kind == LOST)
    assert lost > 0
    assert len(kept) + lost == len(sent), "every event is either recorded or counted as lost"
    assert events.complete


def test_a_full_disk_ends_the_recording_incomplete_without_raising(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is missing")
    errors: list[str] = []
    rec = BusRecording(Bus(), "/dev/full", RecordHeader(), force=True, on_error=errors.append)
    rec.stop()
    assert rec.stopped and rec.error
    assert errors and "INCOMPLETE" in errors[0]


def test_an_existing_file_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("keep me")
    bus = Bus()
    with pytest.raises(UsageError):
        BusRecording(bus, path, RecordHeader())
    assert path.read_text() == "keep me"
    assert not list(bus.subscribers())
