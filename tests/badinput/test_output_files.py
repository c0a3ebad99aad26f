"""Files we write for the user: --record (recordings hold every traced process's argv) and new-probe.
Never an existing file replaced without --force, never through a symlink, always 0600; a full disk
or a closed pipe stops the recorder, which counts what it could not write and leaves no trailer."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from beefine_tui.errors import UsageError
from beefine_tui.events.model import STATUS, Event, RecordHeader
from beefine_tui.events.record import Recorder, read_recording
from beefine_tui.userfiles import create_output
from tests.badinput.conftest import assert_clear, cli_inproc, listing
from tests.full_disk import FillsUp

C_SOURCE = "int main(void) { return 0; }\n"


def events(n: int, start: int = 0) -> list[Event]:
    return [Event(ts=start + i, probe="exec", kind="exec", pid=start + i) for i in range(n)]


def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    src = tmp_path / "prog.c"
    src.write_text(C_SOURCE)
    with pytest.raises(UsageError, match="already exists; not overwriting it") as e:
        Recorder.open(src, RecordHeader())
    assert "--force" in e.value.hint
    assert src.read_text() == C_SOURCE


@pytest.mark.parametrize("force", [False, True])
def test_symlink_is_never_followed(tmp_path: Path, force: bool) -> None:
    target = tmp_path / "precious.c"
    target.write_text(C_SOURCE)
    (tmp_path / "rec.jsonl").symlink_to(target)
    with pytest.raises(UsageError, match="is a symbolic link; not following it"):
        Recorder.open(tmp_path / "rec.jsonl", RecordHeader(), force=force)
    assert target.read_text() == C_SOURCE


def test_dangling_symlink_is_not_followed_to_create(tmp_path: Path) -> None:
    (tmp_path / "rec.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    with pytest.raises(UsageError, match="symbolic link"):
        Recorder.open(tmp_path / "rec.jsonl", RecordHeader())
    assert not (tmp_path / "elsewhere.jsonl").exists()


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        Recorder.open(tmp_path, RecordHeader(), force=True)


def test_missing_parent_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"its directory .* does not exist"):
        Recorder.open(tmp_path / "no" / "r.jsonl", RecordHeader())


def test_fifo_without_force_is_an_existing_file(fifo: Path) -> None:
    with pytest.raises(UsageError, match="already exists"):
        Recorder.open(fifo, RecordHeader())


def test_fifo_nobody_reads_fails_at_once(fifo: Path) -> None:
    with pytest.raises(UsageError, match="No such device or address") as e:
        Recorder.open(fifo, RecordHeader(), force=True)
    assert "nothing reads that fifo" in e.value.hint


def test_new_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        rec = Recorder.open(tmp_path / "r.jsonl", RecordHeader())
    finally:
        os.umask(old)
    rec.write(events(2))
    rec.close()
    assert stat.S_IMODE((tmp_path / "r.jsonl").stat().st_mode) == 0o600
    _, it = read_recording(tmp_path / "r.jsonl")
    assert list(it) == events(2) and it.complete and it.count == 2


def test_force_replaces_a_file_with_a_new_private_one(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text("old contents\n")
    old.chmod(0o644)
    ino = old.stat().st_ino
    with old.open() as holder:  # whoever had the old file open does not see the new recording
        rec = Recorder.open(old, RecordHeader(), force=True)
        rec.close()
        assert holder.read() == "old contents\n"
    st = old.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_ino != ino


def test_dev_full_stops_the_recorder_and_counts_what_was_lost() -> None:
    said: list[str] = []
    rec = Recorder.open("/dev/full", RecordHeader(), force=True, on_error=said.append)
    rec.write(events(5))
    rec.write(events(7, 100))
    rec.close()
    assert not rec.complete and rec.error == "No space left on device"
    assert (rec.count, rec.unwritten) == (0, 12)
    assert len(said) == 1 and "INCOMPLETE" in said[0]  # said once, not once per batch
    assert "12 not written" in rec.status_line()


def test_disk_full_midway_leaves_a_readable_recording_marked_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    out = FillsUp(create_output(path), room=2000)
    rec = Recorder(out, RecordHeader(), name=str(path))  # type: ignore[arg-type]
    written = 0
    for i in range(50):
        rec.write(events(3, i * 3))
        written += 3 if rec.complete else 0
    rec.close()
    assert not rec.complete and rec.count + rec.unwritten == 150
    _, it = read_recording(path)
    got = list(it)
    # exactly the batches counted as written are there, whole: the failed batch's part was cut off
    assert len(got) == rec.count == written
    assert it.complete is False and "no end marker" in it.problem
    assert not any(e.kind == STATUS for e in got)


def test_closed_pipe_stops_the_recorder(tmp_path: Path) -> None:
    r, w = os.pipe()
    os.close(r)
    rec = Recorder(os.fdopen(w, "wb"), RecordHeader(), name="a pipe")
    rec.write(events(3))
    rec.close()
    assert not rec.complete and rec.error == "Broken pipe" and rec.unwritten == 3


# ---------------------------------------------------------------------------------------- new-probe


def test_new_probe_keeps_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "myexec.c").write_text(C_SOURCE)
    before = listing(tmp_path)
    r = cli_inproc(capsys, "new-probe", "myexec", "--dir", str(tmp_path))
    assert_clear(r, 2, "already exists; not overwriting it")
    assert listing(tmp_path) == before and (tmp_path / "myexec.c").read_text() == C_SOURCE


@pytest.mark.parametrize("name", ["../evil", "a b", "", "x" * 65, "-rf", "é"])
def test_new_probe_bad_names(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    r = cli_inproc(capsys, "new-probe", name, "--dir", str(tmp_path))
    assert r.rc == 2 and "Traceback" not in r.err
    assert listing(tmp_path) == {}


def test_new_probe_dir_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    assert_clear(cli_inproc(capsys, "new-probe", "p", "--dir", str(tmp_path / "f")), 2, "is not a directory")


def test_new_probe_dir_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = cli_inproc(capsys, "new-probe", "p", "--dir", str(tmp_path / "none"))
    assert_clear(r, 2, "does not exist")


def test_new_probe_never_writes_through_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere.c"
    (tmp_path / "p.c").symlink_to(target)  # dangling: O_EXCL must refuse it rather than create the target
    r = cli_inproc(capsys, "new-probe", "p", "--dir", str(tmp_path))
    assert_clear(r, 2, "already exists; not overwriting it")
    assert not target.exists()
