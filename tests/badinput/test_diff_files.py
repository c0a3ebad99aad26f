"""`diff A B` against bad files: each refused with a clear message and its exit code, never a
traceback; whichever of A and B is bad is the one named."""

from __future__ import annotations

from pathlib import Path

import pytest

import beefine_tui.docker.events  # noqa: F401  (defines the docker kinds the upgrade makes)
from beefine_tui.events.model import Event, RecordHeader, upgrade_v1_args
from beefine_tui.events.record import Recorder
from tests.badinput.conftest import assert_clear, cli_inproc


def trace_recording(p: Path) -> Path:
    """The smallest trace recording: the runner's container_create names the container."""
    ev = Event(
        ts=1,
        probe="docker",
        kind="container_create",
        args=upgrade_v1_args("container_create", {"id": "c" * 64, "run": "r1"}, ""),
    )
    rec = Recorder.open(p, RecordHeader(probes=["exec"], command=["beefine-tui", "trace", "small"]))
    rec.write([ev, Event(ts=2, probe="exec", kind="exec", pid=5, comm="runc")])
    rec.close()
    return p


def probe_recording(p: Path) -> Path:
    rec = Recorder.open(p, RecordHeader(probes=["exec"], command=["beefine-tui", "probe", "run", "exec"]))
    rec.write([Event(ts=1, probe="exec", kind="exec", pid=5, comm="sh")])
    rec.close()
    return p


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    r = cli_inproc(capsys, "diff", str(ok), str(tmp_path / "nope.jsonl"))
    assert_clear(r, 2, "no such recording", "nope.jsonl")


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    assert_clear(cli_inproc(capsys, "diff", str(tmp_path), str(ok)), 2, "is a directory")


def test_dev_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    assert_clear(cli_inproc(capsys, "diff", str(ok), "/dev/zero"), 2, "character device")


def test_not_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    assert_clear(
        cli_inproc(capsys, "diff", str(bad), str(ok)), 1, "notes.txt: line 1 is not a Beefine recording"
    )


def test_corrupt_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    bad = tmp_path / "c.jsonl"
    lines = ok.read_bytes().splitlines(keepends=True)
    bad.write_bytes(b"".join([lines[0], b"{broken\n", *lines[1:]]))
    assert_clear(cli_inproc(capsys, "diff", str(ok), str(bad)), 1, "line 2 is not a valid event")


def test_a_probe_run_recording_is_not_a_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    pr = probe_recording(tmp_path / "probe.jsonl")
    r = cli_inproc(capsys, "diff", str(ok), str(pr))
    assert_clear(r, 2, "probe.jsonl is a recording of `probe run`", "not of a trace", "trace --record")
    assert r.out == ""  # nothing half-printed before the refusal


def test_a_cut_trace_recording_is_compared_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(ok.read_bytes().splitlines(keepends=True)[:-1]))  # no end marker
    r = cli_inproc(capsys, "diff", str(ok), str(cut))
    assert_clear(r, 0, "cut.jsonl is incomplete")
    assert "ok.jsonl is incomplete" not in r.err and "details: no difference" in r.out


def test_missing_second_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = trace_recording(tmp_path / "ok.jsonl")
    assert_clear(cli_inproc(capsys, "diff", str(ok)), 2, "required: B")
