"""`export`: filters, CSV and JSON-lines output that read back to the recorded events, and memory that
stays bounded whatever the recording's size."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from beefine_tui.cli import main
from beefine_tui.events.model import Event, FreeArgs, RecordHeader
from beefine_tui.events.record import Recorder, decode_event

EVENTS = [
    Event(ts=1, probe="exec", kind="exec", pid=10, comm="sh", container="abc123",
          args=FreeArgs(fields={"filename": "/bin/sh"}, line="exec /bin/sh")),
    Event(ts=2, probe="files", kind="open", pid=11, comm="cat",
          args=FreeArgs(fields={"path": "/etc/Passwd", "flags": "O_RDONLY"})),
    Event(ts=3, probe="exec", kind="exit", pid=10, comm="sh", container="abc123",
          args=FreeArgs(fields={"code": 0})),
    Event(ts=4, probe="mounts", kind="mount", pid=12, comm="runc:[2:INIT]", container="def456",
          args=FreeArgs(fields={"target": "/proc", "fstype": "proc"}, line='mount "proc" on /proc')),
]  # fmt: skip


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    p = tmp_path / "r.jsonl"
    r = Recorder.open(p, RecordHeader(probes=["exec", "files", "mounts"]))
    r.write(EVENTS)
    r.close()
    return p


def export(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["export", *argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def jsonl(out: str) -> list[Event]:
    return [decode_event(line) for line in out.splitlines()]


def test_jsonl_without_filters_is_every_event(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = export(capsys, str(rec), "--jsonl")
    assert rc == 0 and err == ""
    assert jsonl(out) == EVENTS  # the trailer is about the file, not exported


def test_csv_reads_back(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = export(capsys, str(rec), "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and len(rows) == len(EVENTS)
    for row, ev in zip(rows, EVENTS, strict=True):
        assert int(row["ts"]) == ev.ts and row["kind"] == ev.kind and row["comm"] == ev.comm
        assert json.loads(row["args"]) == ev.args.shown() and row["text"] == ev.text
        assert row["container"] == (ev.container or "")


@pytest.mark.parametrize(
    ("filters", "want"),
    [
        (["--probe", "exec"], [1, 3]),
        (["--probe", "files,mounts"], [2, 4]),
        (["--kind", "exit"], [3]),
        (["--container", "abc"], [1, 3]),
        (["--pid", "12"], [4]),
        (["--grep", "passwd"], [2]),  # in args, any case
        (["--grep", "RUNC:[2"], [4]),  # in comm
        (["--probe", "exec", "--kind", "exec", "--container", "abc123", "--pid", "10"], [1]),
        (["--probe", "exec", "--pid", "12"], []),
    ],
)
def test_filters(rec: Path, capsys: pytest.CaptureFixture[str], filters: list[str], want: list[int]) -> None:
    rc, out, _ = export(capsys, str(rec), "--jsonl", *filters)
    assert rc == 0 and [e.ts for e in jsonl(out)] == want
