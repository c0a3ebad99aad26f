from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui.events.model import Event, FreeArgs, RecordHeader
from beefine_tui.events.record import Recorder, RecordError, read_recording


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    rec = Recorder.open(path, RecordHeader(probes=["exec"]))
    events = [
        Event(
            ts=1, probe="exec", kind="exec", pid=5, comm="ls", args=FreeArgs(fields={"argv": ["ls", "-l"]})
        ),
        Event(ts=2, probe="exec", kind="exit", pid=5, container="abc", args=FreeArgs(fields={"code": 0})),
    ]
    rec.write(events)
    rec.close()
    header, it = read_recording(path)
    assert header.probes == ["exec"]
    assert list(it) == events
    lines = path.read_bytes().splitlines()
    assert lines[0].startswith(b'{"type":"header"')
    assert b'"probe":"exec"' in lines[1]


def test_corrupt_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    rec = Recorder.open(path, RecordHeader())
    rec.write([Event(ts=1, probe="p", kind="k")])
    rec.close()
    with path.open("ab") as f:
        f.write(b"{not json\n")
    _, it = read_recording(path)
    # line 1 the header, 2 the event, 3 the end marker, 4 the appended junk
    with pytest.raises(RecordError, match=r"line 4"):
        list(it)


@pytest.mark.parametrize("content", [b"", b"garbage\n", b'{"ts": 1}\n'])
def test_not_a_recording(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordError, match="line 1"):
        read_recording(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="cannot open"):
        read_recording(tmp_path / "nope.jsonl")
