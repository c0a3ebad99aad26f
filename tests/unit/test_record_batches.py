"""Recording.stamped_batches (what a replay index reads, a block at a time) says exactly what the line
by line reader says: the same lines, count, completeness and problem, whatever the file's state."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from beefine_tui.events import record
from beefine_tui.events.model import Event, FreeArgs, RecordHeader
from beefine_tui.events.record import Recorder, RecordError, read_recording


def make(path: Path, n: int = 40) -> Path:
    rec = Recorder.open(path, RecordHeader(probes=["p"]))
    for i in range(0, n, 7):  # several batches, as a live recording writes them
        rec.write(
            [
                Event(ts=i + j, probe="p", kind="k", pid=j, args=FreeArgs(fields={"i": i + j}))
                for j in range(7)
            ]
        )
    rec.close()
    return path


def by_lines(path: Path) -> tuple[list[bytes], int, bool | None, str]:
    _, rec = read_recording(path)
    lines = [line.rstrip(b"\n") for _, line in rec.stamped_lines()]
    return lines, rec.count, rec.complete, rec.problem


def by_blocks(path: Path) -> tuple[list[bytes], int, bool | None, str]:
    _, rec = read_recording(path)
    lines = [line for _, batch in rec.stamped_batches() for line in batch]
    return lines, rec.count, rec.complete, rec.problem


def cut_mid_line(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-40])


def no_trailer(p: Path) -> None:
    p.write_bytes(b"".join(p.read_bytes().splitlines(keepends=True)[:-1]))


def blank_and_joined(p: Path) -> None:
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join(lines[:5]) + b"\n  \n" + b"".join(lines[5:]) + b"".join(lines[1:4]))


def last_line_without_newline(p: Path) -> None:
    no_trailer(p)
    p.write_bytes(p.read_bytes().rstrip(b"\n"))


CASES: dict[str, Callable[[Path], None]] = {
    "whole": lambda p: None,
    "cut mid-line": cut_mid_line,
    "no trailer": no_trailer,
    "blank line, events after the trailer": blank_and_joined,
    "last line without newline": last_line_without_newline,
}


@pytest.mark.parametrize("block", [64, 1000, 1 << 20])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_blocks_read_what_lines_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, block: int, suffix: str
) -> None:
    monkeypatch.setattr(record, "READ_BLOCK", block)
    p = make(tmp_path / f"r{suffix}")
    if suffix == ".jsonl.gz" and case != "whole":
        plain = gzip.decompress(p.read_bytes())
        q = tmp_path / "plain.jsonl"
        q.write_bytes(plain)
        CASES[case](q)
        p.write_bytes(gzip.compress(q.read_bytes()))
    else:
        CASES[case](p)
    assert by_blocks(p) == by_lines(p)


def test_a_cut_gzip_stream_keeps_what_came_before_the_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "READ_BLOCK", 1000)
    p = make(tmp_path / "r.jsonl.gz", 400)
    p.write_bytes(p.read_bytes()[:-200])
    lines, count, complete, problem = by_blocks(p)
    ref = by_lines(p)
    assert complete is False and "ends in the middle" in problem and count > 0
    assert (
        lines == ref[0][: len(lines)] and count >= ref[1] - 10
    )  # the same events, give or take the cut batch


def test_a_corrupt_line_in_the_middle_is_refused_with_its_number(tmp_path: Path) -> None:
    p = make(tmp_path / "r.jsonl")
    lines = p.read_bytes().splitlines(keepends=True)
    lines[6] = b'{"ts": oops}\n'
    p.write_bytes(b"".join(lines))
    with pytest.raises(RecordError, match="line 7 is not a valid event"):
        by_blocks(p)
    with pytest.raises(RecordError, match="line 7 is not a valid event"):
        by_lines(p)
