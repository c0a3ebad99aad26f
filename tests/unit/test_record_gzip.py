"""Recordings named *.gz are written with gzip and read back transparently (replay, diff, export); a
gzip file cut by a full disk or a kill reads up to the cut and says it is incomplete."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from beefine_tui.cli import main
from beefine_tui.events.model import Event, RecordHeader
from beefine_tui.events.record import Recorder, RecordError, read_recording
from tests.full_disk import FillsUp

EVENTS = [
    Event(ts=b * 100 + i, probe="exec", kind="exec", pid=i, comm="sh") for b in range(5) for i in range(20)
]


def record(p: Path, batches: int = 5) -> None:
    r = Recorder.open(p, RecordHeader(probes=["exec"]))
    for b in range(batches):
        r.write(EVENTS[b * 20 : (b + 1) * 20])
    r.close()
    assert r.complete


def test_gz_name_writes_gzip_that_reads_back(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    raw = p.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert len(gzip.decompress(raw).splitlines()) == 1 + len(EVENTS) + 1  # header, events, end marker
    _, events = read_recording(p)
    assert list(events) == EVENTS and events.complete


def test_other_names_stay_plain(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    record(p)
    assert p.read_bytes().startswith(b'{"type":"header"')


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    q = tmp_path / "renamed.jsonl"
    q.write_bytes(p.read_bytes())
    _, events = read_recording(q)
    assert list(events) == EVENTS


@pytest.mark.parametrize("keep", [0.5, 0.8])
def test_cut_gzip_reads_up_to_the_cut(tmp_path: Path, keep: float) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    raw = p.read_bytes()
    p.write_bytes(raw[: int(len(raw) * keep)])
    _, events = read_recording(p)
    got = list(events)
    assert events.complete is False and "compressed data ends in the middle" in events.problem
    assert got == EVENTS[: len(got)]  # a prefix, in order, nothing invented
    assert len(got) >= 20  # each batch is flushed whole: at least the first batch survives half the file


def test_gzip_cut_in_its_own_trailer_is_incomplete(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    p.write_bytes(p.read_bytes()[:-4])  # the length field of the gzip trailer is gone
    _, events = read_recording(p)
    assert list(events) == EVENTS and events.complete is False


def test_gzip_cut_inside_the_header(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    p.write_bytes(p.read_bytes()[:12])
    with pytest.raises(RecordError, match="line 1: the compressed data is cut or corrupt"):
        read_recording(p)


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 16] = b"\xff" * 16
    p.write_bytes(bytes(raw))
    with pytest.raises(RecordError, match=r"corrupt|not a valid event"):
        list(read_recording(p)[1])


def test_replay_export_and_diff_read_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    assert main(["replay", str(p), "--print"]) == 0
    assert f"# {len(EVENTS)} events\n" in capsys.readouterr().out
    assert main(["export", str(p), "--csv", "--pid", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 5
    fixture = Path(__file__).parent / "fixtures" / "story" / "run_default.jsonl.gz"
    assert main(["diff", str(fixture), str(fixture)]) == 0  # the story fixtures are gzip files
    assert "details: no difference" in capsys.readouterr().out


def test_cut_gzip_through_replay_says_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.jsonl.gz"
    record(p)
    p.write_bytes(p.read_bytes()[:-30])
    assert main(["replay", str(p), "--print"]) == 0
    cap = capsys.readouterr()
    assert "INCOMPLETE" in cap.out and "is incomplete" in cap.err and "Traceback" not in cap.err


def test_gzip_recording_on_a_full_disk_reads_up_to_its_last_whole_batch(tmp_path: Path) -> None:
    p = tmp_path / "full.jsonl.gz"
    disk = FillsUp(open(p, "wb", buffering=0), room=400)  # noqa: SIM115 - unbuffered, as create_output
    gz = gzip.GzipFile(fileobj=disk, mode="wb", mtime=0)
    rec = Recorder(gz, RecordHeader(probes=["exec"]), name=str(p), raw=disk)  # type: ignore[arg-type]
    for b in range(5):
        rec.write(EVENTS[b * 20 : (b + 1) * 20])
    rec.close()
    assert not rec.complete and rec.unwritten > 0 and rec.count % 20 == 0 and rec.count >= 20
    _, events = read_recording(p)
    got = list(events)
    assert got == EVENTS[: rec.count]  # exactly what the recorder says it wrote, nothing after
    assert events.complete is False
