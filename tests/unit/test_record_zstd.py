"""Recordings named *.zst are written with zstd and read back by content (replay, diff, export, the
replay screen's index), with the same handling as gzip: a file cut by a full disk or a kill reads up
to the cut and says it is incomplete; corrupt data is a clear error, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

from beefine_tui.cli import main
from beefine_tui.events.model import Event, RecordHeader
from beefine_tui.events.record import ZSTD_MAGIC, Recorder, RecordError, read_recording
from beefine_tui.replay import ReplayIndex, open_recording
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


def test_zst_name_writes_zstd_that_reads_back(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    raw = p.read_bytes()
    assert raw[:4] == ZSTD_MAGIC
    plain = zstandard.ZstdDecompressor().stream_reader(raw).read()
    assert len(plain.splitlines()) == 1 + len(EVENTS) + 1  # header, events, end marker
    _, events = read_recording(p)
    assert list(events) == EVENTS and events.complete
    assert (p.stat().st_mode & 0o777) == 0o600


@pytest.mark.skipif(shutil.which("zstdcat") is None, reason="zstd's command-line tools are not installed")
def test_standard_tools_read_it_line_by_line(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    out = subprocess.run(["zstdcat", str(p)], capture_output=True, check=True).stdout
    assert out.splitlines()[1].startswith(b'{"ts":0,"probe":"exec"')


def test_zstd_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    q = tmp_path / "renamed.jsonl"
    q.write_bytes(p.read_bytes())
    _, events = read_recording(q)
    assert list(events) == EVENTS


@pytest.mark.parametrize("keep", [0.5, 0.8])
def test_cut_zstd_reads_up_to_the_cut(tmp_path: Path, keep: float) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    raw = p.read_bytes()
    p.write_bytes(raw[: int(len(raw) * keep)])
    _, events = read_recording(p)
    got = list(events)
    assert events.complete is False and "compressed data ends in the middle" in events.problem
    assert got == EVENTS[: len(got)]  # a prefix, in order, nothing invented
    assert len(got) >= 20  # each batch is flushed whole: at least the first batch survives half the file
    index = ReplayIndex.load(p)  # the replay screen reads it the same way
    assert index.count == len(got) and not index.complete


def test_zstd_cut_in_its_frame_end_is_incomplete(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    p.write_bytes(p.read_bytes()[:-3])  # the last block's end is gone: the trailer line with it
    _, events = read_recording(p)
    list(events)
    assert events.complete is False


def test_zstd_cut_inside_the_header(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    p.write_bytes(p.read_bytes()[:8])
    with pytest.raises(RecordError, match="line 1: the compressed data is cut or corrupt"):
        read_recording(p)


def test_corrupt_zstd_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 16] = b"\xff" * 16
    p.write_bytes(bytes(raw))
    with pytest.raises(RecordError, match=r"corrupt|not a valid event"):
        list(read_recording(p)[1])


def test_replay_export_and_diff_read_zstd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    assert main(["replay", str(p), "--print"]) == 0
    assert f"# {len(EVENTS)} events\n" in capsys.readouterr().out
    assert main(["export", str(p), "--csv", "--pid", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 5
    # a real trace, recompressed with zstd, diffs against itself as the gzip original does
    fixture = Path(__file__).parent / "fixtures" / "story" / "run_default.jsonl.gz"
    header, events = open_recording(fixture)  # schema 1: written back as schema 2
    z = tmp_path / "trace.jsonl.zst"
    rec = Recorder.open(z, header)
    rec.write(list(events))
    rec.close()
    assert main(["diff", str(fixture), str(z)]) == 0
    assert "details: no difference" in capsys.readouterr().out


def test_cut_zstd_through_replay_says_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.jsonl.zst"
    record(p)
    p.write_bytes(p.read_bytes()[:-30])
    assert main(["replay", str(p), "--print"]) == 0
    cap = capsys.readouterr()
    assert "INCOMPLETE" in cap.out and "is incomplete" in cap.err and "Traceback" not in cap.err


def test_zstd_recording_on_a_full_disk_reads_up_to_its_last_whole_batch(tmp_path: Path) -> None:
    p = tmp_path / "full.jsonl.zst"
    disk = FillsUp(open(p, "wb", buffering=0), room=500)  # header + 2 batches fit  # noqa: SIM115 - unbuffered, as create_output
    zw = zstandard.ZstdCompressor(level=3).stream_writer(disk, closefd=False)  # type: ignore[arg-type]
    rec = Recorder(zw, RecordHeader(probes=["exec"]), name=str(p), raw=disk)  # type: ignore[arg-type]
    for b in range(5):
        rec.write(EVENTS[b * 20 : (b + 1) * 20])
    rec.close()
    assert not rec.complete and rec.unwritten > 0 and rec.count % 20 == 0 and rec.count >= 20
    _, events = read_recording(p)
    got = list(events)
    assert got == EVENTS[: rec.count]  # exactly what the recorder says it wrote, nothing after
    assert events.complete is False


def test_a_zstd_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    # 32 MiB of one "line" compresses to a few KiB: refused at the line bound, not held whole
    p = tmp_path / "bomb.jsonl.zst"
    header = b'{"type":"header","schema":1}\n'
    cctx = zstandard.ZstdCompressor(level=3)
    with p.open("wb") as f, cctx.stream_writer(f) as w:
        w.write(header)
        for _ in range(32):
            w.write(b"a" * (1 << 20))
    assert p.stat().st_size < 1 << 20
    _, events = read_recording(p)
    with pytest.raises(RecordError, match="longer than 1 MiB"):
        list(events)
