"""`export` against bad files and options: a clear message and exit code, never a traceback; a big
recording is streamed (peak memory checked against reading it whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui.events.model import Event, FreeArgs, RecordHeader
from beefine_tui.events.record import Recorder
from tests.badinput.conftest import assert_clear, cli_inproc, cli_sub

# 300k events (74 MB) exported: 26 MiB peak; holding them all (list(read_recording)) took 239 MiB
MEMORY_CEILING_KIB = 100 * 1024


def make(p: Path, n: int = 3) -> Path:
    r = Recorder.open(p, RecordHeader(probes=["exec"]))
    r.write([Event(ts=i + 1, probe="exec", kind="exec", pid=100 + i, comm="sh") for i in range(n)])
    r.close()
    return p


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_clear(cli_inproc(capsys, "export", str(tmp_path / "no.jsonl"), "--csv"), 2, "no such recording")


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_clear(cli_inproc(capsys, "export", str(tmp_path), "--csv"), 2, "is a directory")


def test_dev_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert_clear(cli_inproc(capsys, "export", "/dev/zero", "--jsonl"), 2, "character device")


def test_not_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    assert_clear(cli_inproc(capsys, "export", str(p), "--csv"), 1, "line 1 is not a Beefine recording")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ([], "one of the arguments --csv --jsonl is required"),
        (["--csv", "--jsonl"], "not allowed with argument"),
        (["--csv", "--pid", "x"], "invalid int value"),
        (["--csv", "--pid", "-1"], "--pid must be a process id"),
        (["--csv", "--probe", ","], "--probe needs at least one name"),
        (["--csv", "--kind", ""], "--kind needs at least one name"),
        (["--csv", "--container", ""], "--container needs an id"),
        (["--csv", "--grep", ""], "--grep needs some text"),
    ],
)
def test_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    p = make(tmp_path / "ok.jsonl")
    assert_clear(cli_inproc(capsys, "export", str(p), *extra), 2, words)


def test_corrupt_line_stops_with_its_number_after_what_came_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = make(tmp_path / "c.jsonl", 2)
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join([*lines[:2], b"{broken\n", *lines[2:]]))
    r = cli_inproc(capsys, "export", str(p), "--csv")
    assert_clear(r, 1, "line 3 is not a valid event")
    assert r.out.splitlines()[1].startswith("1,exec,exec,100,") and len(r.out.splitlines()) == 2


def test_cut_recording_exports_up_to_the_cut(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = make(tmp_path / "cut.jsonl", 3)
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join(lines[:3]) + lines[3][:20])
    r = cli_inproc(capsys, "export", str(p), "--jsonl")
    assert_clear(r, 0, "incomplete", "cut short", "2 events exported")
    assert len(r.out.splitlines()) == 2


def test_big_recording_is_streamed(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    r = Recorder.open(p, RecordHeader(probes=["files"]))
    for b in range(30):
        r.write(
            [Event(ts=b * 10_000 + i, probe="files", kind="open", pid=i, comm="cat",
                   args=FreeArgs(fields={"path": f"/some/rather/long/path/{i}" * 4, "flags": "O_RDONLY"}))
             for i in range(10_000)]
        )  # fmt: skip
    r.close()
    res = cli_sub("export", str(p), "--csv", "--pid", "7")  # its peak is its own VmHWM
    assert res.rc == 0 and len(res.out.splitlines()) == 31, res.err
    assert res.max_rss_kib < MEMORY_CEILING_KIB, res.max_rss_kib
