"""`replay` (and `tui --replay`) against every bad kind of file: each refused with a clear message and
its exit code, nothing read without a bound (peak memory checked for /dev/zero and a 200 MB line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui.events.model import Event, RecordHeader, StatusArgs
from beefine_tui.events.record import Recorder, read_recording
from tests.badinput.conftest import assert_clear, cli_inproc, cli_sub

# a bounded read of a 200 MB line stays far below this; reading it whole took 434 MB
MEMORY_CEILING_KIB = 150 * 1024


def make_recording(path: Path, n: int = 3) -> list[Event]:
    events = [Event(ts=1_000 + i, probe="exec", kind="exec", pid=100 + i, comm="sh") for i in range(n)]
    rec = Recorder.open(path, RecordHeader(probes=["exec"]))
    rec.write(events)
    rec.close()
    return events


def header_line() -> bytes:
    from beefine_tui.events.record import encode_header

    return encode_header(RecordHeader(probes=["exec"])) + b"\n"


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = cli_inproc(capsys, "replay", str(tmp_path / "nope.jsonl"), "--print")
    assert_clear(r, 2, "no such recording")


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "e.jsonl").write_bytes(b"")
    assert_clear(cli_inproc(capsys, "replay", str(tmp_path / "e.jsonl"), "--print"), 1, "line 1", "empty")


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_clear(cli_inproc(capsys, "replay", str(tmp_path), "--print"), 2, "is a directory")


def test_fifo_is_refused_without_waiting_for_a_writer(fifo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_clear(cli_inproc(capsys, "replay", str(fifo), "--print"), 2, "fifo")


def test_dev_null(capsys: pytest.CaptureFixture[str]) -> None:
    assert_clear(cli_inproc(capsys, "replay", "/dev/null", "--print"), 2, "character device")


def test_dev_zero_is_refused_before_any_read() -> None:
    r = cli_sub("replay", "/dev/zero", "--print", timeout=60)
    assert_clear(r, 2, "/dev/zero", "character device")
    assert r.max_rss_kib < MEMORY_CEILING_KIB  # it reached 3.8 GB in 8 s


def test_symlink_to_dev_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "z.jsonl").symlink_to("/dev/zero")
    assert_clear(cli_inproc(capsys, "replay", str(tmp_path / "z.jsonl"), "--print"), 2, "character device")


def test_huge_one_line_file_is_read_with_a_bound(sparse_200m: Path) -> None:
    r = cli_sub("replay", str(sparse_200m), "--print", timeout=60)
    assert_clear(r, 1, "line 1", "longer than 1 MiB")
    assert r.max_rss_kib < MEMORY_CEILING_KIB  # it took 434 MB


def test_huge_event_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.jsonl"
    p.write_bytes(header_line() + b"x" * (2 << 20) + b"\n")
    assert_clear(cli_inproc(capsys, "replay", str(p), "--print"), 1, "line 2 is longer than 1 MiB")


def test_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "b.jsonl"
    p.write_bytes(bytes(range(256)) * 64)
    assert_clear(cli_inproc(capsys, "replay", str(p), "--print"), 1, "line 1 is not a Beefine recording")


def test_non_utf8_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "l.jsonl"
    p.write_bytes(b'{"type":"header","host":"caf\xe9"}\n')
    assert_clear(cli_inproc(capsys, "replay", str(p), "--print"), 1, "line 1")


def test_header_that_is_a_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'[{"type":"header"}]\n')
    assert_clear(cli_inproc(capsys, "replay", str(p), "--print"), 1, "line 1 is not a Beefine recording")


def test_newer_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "n.jsonl"
    p.write_bytes(b'{"type":"header","schema":99}\n')
    assert_clear(cli_inproc(capsys, "replay", str(p), "--print"), 1, "schema 99 is newer")


def test_corrupt_line_reports_its_number_after_printing_what_came_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "c.jsonl"
    make_recording(p, 2)
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join([*lines[:2], b"{broken\n", *lines[2:]]))
    r = cli_inproc(capsys, "replay", str(p), "--print")
    assert_clear(r, 1, "line 3 is not a valid event")
    assert " 100 sh " in r.out and " 101 sh " not in r.out  # what came before the bad line was printed


def test_cut_last_line_is_reported_incomplete_not_as_corrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "cut.jsonl"
    make_recording(p, 3)
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join(lines[:3]) + lines[3][:20])  # the third event cut mid-way, no trailer
    r = cli_inproc(capsys, "replay", str(p), "--print")
    assert_clear(r, 0, "incomplete", "cut short")
    assert "# 2 events (INCOMPLETE" in r.out


def test_missing_trailer_is_reported_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "nt.jsonl"
    make_recording(p, 3)
    p.write_bytes(b"".join(p.read_bytes().splitlines(keepends=True)[:-1]))
    r = cli_inproc(capsys, "replay", str(p), "--print", "--json")
    assert_clear(r, 0, "incomplete", "no end marker")
    assert len(r.out.splitlines()) == 3


def test_trailer_counting_other_events_is_incomplete(tmp_path: Path) -> None:
    p = tmp_path / "tc.jsonl"
    make_recording(p, 3)
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join([lines[0], lines[1], lines[-1]]))  # two events dropped, trailer says 3
    _, events = read_recording(p)
    assert len(list(events)) == 1
    assert events.complete is False and "counts 3 events, 1 were read" in events.problem


def test_complete_recording_through_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "ok.jsonl"
    make_recording(p, 3)
    (tmp_path / "link.jsonl").symlink_to(p)
    r = cli_inproc(capsys, "replay", str(tmp_path / "link.jsonl"), "--print")
    assert r.rc == 0 and "# 3 events\n" in r.out and "incomplete" not in r.err.lower()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--json"], "--json needs --print"),
        (["--speed", "-1"], "--speed must be from 0.25 to 50"),
        (["--speed", "nan"], "--speed must be from 0.25 to 50"),
        (["--speed", "inf"], "--speed must be from 0.25 to 50"),
        (["--speed", "0.1"], "--speed must be from 0.25 to 50"),
        (["--speed", "100"], "--speed must be from 0.25 to 50"),
        (["--print", "--speed", "2"], "--speed applies to the TUI"),
        (["--speed", "fast"], "invalid float value"),
    ],
)
def test_bad_replay_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    p = tmp_path / "ok.jsonl"
    make_recording(p)
    assert_clear(cli_inproc(capsys, "replay", str(p), *extra), 2, words)


@pytest.mark.parametrize("target", ["/dev/zero", "dir", "missing"])
def test_tui_replay_checks_the_file_before_opening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    path = {"/dev/zero": "/dev/zero", "dir": str(tmp_path), "missing": str(tmp_path / "no.jsonl")}[target]
    r = cli_inproc(capsys, "tui", "--replay", path)
    assert_clear(r, 2, "cannot open recording")


def test_tui_replay_of_a_cut_recording_says_it_is_incomplete(tmp_path: Path) -> None:
    from beefine_tui.events.bus import Bus
    from beefine_tui.replay import Replayer, open_recording

    p = tmp_path / "cut.jsonl"
    make_recording(p, 3)
    p.write_bytes(b"".join(p.read_bytes().splitlines(keepends=True)[:-1]))  # no end marker
    _, events = open_recording(p)
    bus = Bus()
    sub = bus.subscribe("t")
    Replayer(events, bus, speed=0).run_sync()
    got: list[Event] = []
    while batch := sub.get(0):
        got.extend(batch)
    last = got[-1]
    assert last.args == StatusArgs(state="finished", error="the recording is incomplete: " + events.problem)
    assert [e.pid for e in got if e.kind == "exec"] == [100, 101, 102]
