"""Recordings named *.gz or *.zst are written with gzip or zstd and read back by content (replay, diff,
export, the replay screen's index): a file cut by a full disk or a kill reads up to the cut and says it
is incomplete; corrupt data is a clear error, never a traceback. One test per behaviour, run for both
codecs; what only one codec has (gzip's trailer, zstd's frame end, zstdcat, a zstd bomb) is below."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


@dataclass(frozen=True)
class Codec:
    suffix: str
    magic: bytes
    decompress: Callable[[bytes], bytes]
    header_cut: int  # a length that ends inside the codec's own header
    writer: Callable[[IO[bytes]], Any]  # a compressing writer over a raw file
    full_disk_room: int  # bytes that hold the header and at least one whole batch, not all five


GZIP = Codec(
    ".gz",
    b"\x1f\x8b",
    gzip.decompress,
    12,
    lambda raw: gzip.GzipFile(fileobj=raw, mode="wb", mtime=0),
    400,
)
ZSTD = Codec(
    ".zst",
    ZSTD_MAGIC,
    lambda raw: zstandard.ZstdDecompressor().stream_reader(raw).read(),
    8,
    lambda raw: zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False),
    500,
)
CODECS = pytest.mark.parametrize("codec", [GZIP, ZSTD], ids=["gzip", "zstd"])


def record(p: Path, batches: int = 5) -> None:
    r = Recorder.open(p, RecordHeader(probes=["exec"]))
    for b in range(batches):
        r.write(EVENTS[b * 20 : (b + 1) * 20])
    r.close()
    assert r.complete


def recorded(tmp_path: Path, codec: Codec) -> Path:
    p = tmp_path / f"r.jsonl{codec.suffix}"
    record(p)
    return p


@CODECS
def test_the_name_chooses_the_codec_and_it_reads_back(tmp_path: Path, codec: Codec) -> None:
    p = recorded(tmp_path, codec)
    raw = p.read_bytes()
    assert raw.startswith(codec.magic)
    assert len(codec.decompress(raw).splitlines()) == 1 + len(EVENTS) + 1  # header, events, end marker
    _, events = read_recording(p)
    assert list(events) == EVENTS and events.complete
    assert (p.stat().st_mode & 0o777) == 0o600


def test_other_names_stay_plain(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    record(p)
    assert p.read_bytes().startswith(b'{"type":"header"')


@CODECS
def test_the_codec_is_recognised_by_content_not_name(tmp_path: Path, codec: Codec) -> None:
    q = tmp_path / "renamed.jsonl"
    q.write_bytes(recorded(tmp_path, codec).read_bytes())
    _, events = read_recording(q)
    assert list(events) == EVENTS


@CODECS
@pytest.mark.parametrize("keep", [0.5, 0.8])
def test_a_cut_file_reads_up_to_the_cut(tmp_path: Path, codec: Codec, keep: float) -> None:
    p = recorded(tmp_path, codec)
    raw = p.read_bytes()
    p.write_bytes(raw[: int(len(raw) * keep)])
    _, events = read_recording(p)
    got = list(events)
    assert events.complete is False and "compressed data ends in the middle" in events.problem
    assert got == EVENTS[: len(got)]  # a prefix, in order, nothing invented
    assert len(got) >= 20  # each batch is flushed whole: at least the first batch survives half the file
    index = ReplayIndex.load(p)  # the replay screen reads it the same way
    assert index.count == len(got) and not index.complete


@CODECS
def test_a_file_cut_inside_its_header_is_a_clear_error(tmp_path: Path, codec: Codec) -> None:
    p = recorded(tmp_path, codec)
    p.write_bytes(p.read_bytes()[: codec.header_cut])
    with pytest.raises(RecordError, match="line 1: the compressed data is cut or corrupt"):
        read_recording(p)


@CODECS
def test_corrupt_data_is_a_clear_error(tmp_path: Path, codec: Codec) -> None:
    p = recorded(tmp_path, codec)
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 16] = b"\xff" * 16
    p.write_bytes(bytes(raw))
    with pytest.raises(RecordError, match=r"corrupt|not a valid event"):
        list(read_recording(p)[1])


@CODECS
def test_replay_and_export_read_it(tmp_path: Path, codec: Codec, capsys: pytest.CaptureFixture[str]) -> None:
    p = recorded(tmp_path, codec)
    assert main(["replay", str(p), "--print"]) == 0
    assert f"# {len(EVENTS)} events\n" in capsys.readouterr().out
    assert main(["export", str(p), "--csv", "--pid", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 5


@CODECS
def test_a_cut_file_through_replay_says_incomplete(
    tmp_path: Path, codec: Codec, capsys: pytest.CaptureFixture[str]
) -> None:
    p = recorded(tmp_path, codec)
    p.write_bytes(p.read_bytes()[:-30])
    assert main(["replay", str(p), "--print"]) == 0
    cap = capsys.readouterr()
    assert "INCOMPLETE" in cap.out and "is incomplete" in cap.err and "Traceback" not in cap.err


@CODECS
def test_a_recording_on_a_full_disk_reads_up_to_its_last_whole_batch(tmp_path: Path, codec: Codec) -> None:
    p = tmp_path / f"full.jsonl{codec.suffix}"
    disk = FillsUp(open(p, "wb", buffering=0), room=codec.full_disk_room)  # noqa: SIM115 - unbuffered, as create_output
    rec = Recorder(codec.writer(disk), RecordHeader(probes=["exec"]), name=str(p), raw=disk)  # type: ignore[arg-type]
    for b in range(5):
        rec.write(EVENTS[b * 20 : (b + 1) * 20])
    rec.close()
    assert not rec.complete and rec.unwritten > 0 and rec.count % 20 == 0 and rec.count >= 20
    _, events = read_recording(p)
    got = list(events)
    assert got == EVENTS[: rec.count]  # exactly what the recorder says it wrote, nothing after
    assert events.complete is False


# ---- what one codec has and the other has not


def test_gzip_cut_in_its_own_trailer_is_incomplete(tmp_path: Path) -> None:
    p = recorded(tmp_path, GZIP)
    p.write_bytes(p.read_bytes()[:-4])  # the length field of the gzip trailer is gone
    _, events = read_recording(p)
    assert list(events) == EVENTS and events.complete is False


def test_zstd_cut_in_its_frame_end_is_incomplete(tmp_path: Path) -> None:
    p = recorded(tmp_path, ZSTD)
    p.write_bytes(p.read_bytes()[:-3])  # the last block's end is gone: the trailer line with it
    _, events = read_recording(p)
    list(events)
    assert events.complete is False


def test_diff_reads_gzip_and_zstd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = Path(__file__).parent / "fixtures" / "story" / "run_default.jsonl.gz"
    assert main(["diff", str(fixture), str(fixture)]) == 0  # the story fixtures are gzip files
    assert "details: no difference" in capsys.readouterr().out
    # a real trace, recompressed with zstd, diffs against the gzip original as against itself
    header, events = open_recording(fixture)  # schema 1: written back as schema 2
    z = tmp_path / "trace.jsonl.zst"
    rec = Recorder.open(z, header)
    rec.write(list(events))
    rec.close()
    assert main(["diff", str(fixture), str(z)]) == 0
    assert "details: no difference" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("zstdcat") is None, reason="zstd's command-line tools are not installed")
def test_standard_tools_read_zstd_line_by_line(tmp_path: Path) -> None:
    out = subprocess.run(["zstdcat", str(recorded(tmp_path, ZSTD))], capture_output=True, check=True).stdout
    assert out.splitlines()[1].startswith(b'{"ts":0,"probe":"exec"')


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
