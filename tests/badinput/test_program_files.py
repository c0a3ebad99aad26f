"""Your programs' Open (the TUI's path box and load_user_program) against bad files: refused before
being read whole (a 200 MB file, /dev/zero, a fifo), binary or non-UTF-8 text named as such."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from textual.widgets import Input

from beefine_tui.errors import BeefineError, NotFoundError, UsageError
from beefine_tui.probes.user_program import MAX_SOURCE_BYTES, load_user_program
from beefine_tui.screens.errors import ErrorPanel
from beefine_tui.screens.user_programs import UserProgramsView, read_program
from tests.tui.conftest import MakeApp, wait_until

GOOD = "// name: ok\nTRACEPOINT_PROBE(syscalls, sys_enter_execve) { return 0; }\n"


@pytest.fixture(params=["read_program", "load_user_program"])
def opener(request: pytest.FixtureRequest) -> object:
    """Both ways a user's file is read: the TUI's Open, and loading a path."""
    return read_program if request.param == "read_program" else lambda p: load_user_program(Path(p))


def refused(opener: object, path: str | Path, kind: type[BeefineError] = UsageError) -> str:
    with pytest.raises(kind) as e:
        opener(str(path))  # type: ignore[operator]
    return e.value.message


def test_missing(opener: object, tmp_path: Path) -> None:
    assert "no such" in refused(opener, tmp_path / "nope.c", NotFoundError)


def test_directory(opener: object, tmp_path: Path) -> None:
    assert "is a directory" in refused(opener, tmp_path)


def test_fifo_without_a_writer_does_not_hang(opener: object, fifo: Path) -> None:
    assert "fifo" in refused(opener, fifo)


def test_dev_zero(opener: object) -> None:
    assert "character device" in refused(opener, "/dev/zero")


def test_symlink_to_dev_zero(opener: object, tmp_path: Path) -> None:
    (tmp_path / "z.c").symlink_to("/dev/zero")
    assert "character device" in refused(opener, tmp_path / "z.c")


def test_huge_file_is_refused_before_reading(opener: object, sparse_200m: Path) -> None:
    tracemalloc.start()
    try:
        msg = refused(opener, sparse_200m)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than 1 MiB" in msg
    assert peak < 8 << 20  # read_bytes() first held all 200 MB


def test_limit_is_exact(tmp_path: Path) -> None:
    at = tmp_path / "at.c"
    at.write_bytes(b"/" * MAX_SOURCE_BYTES)
    assert len(read_program(str(at))) == MAX_SOURCE_BYTES
    over = tmp_path / "over.c"
    over.write_bytes(b"/" * (MAX_SOURCE_BYTES + 1))
    assert "larger than 1 MiB" in refused(read_program, over)


def test_binary(opener: object, tmp_path: Path) -> None:
    p = tmp_path / "bin.c"
    p.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(64))
    assert "not UTF-8 text" in refused(opener, p)


def test_non_utf8_text_names_the_byte(opener: object, tmp_path: Path) -> None:
    p = tmp_path / "latin1.c"
    p.write_bytes("// café\n".encode("latin-1"))
    assert "not UTF-8 text (byte 6)" in refused(opener, p)


def test_a_good_file_still_opens(tmp_path: Path) -> None:
    p = tmp_path / "ok.c"
    p.write_text(GOOD)
    assert read_program(str(p)) == GOOD
    assert load_user_program(p).name == "ok"


async def test_tui_open_of_dev_zero_shows_the_reason(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("user-programs")
        assert isinstance(view, UserProgramsView)
        await wait_until(pilot, lambda: view.is_mounted)
        view.query_one("#path", Input).value = "/dev/zero"
        view.action_open()
        panel = view.query_one("#error", ErrorPanel)
        await wait_until(pilot, lambda: panel.has_class("-shown"))
        body = str(panel.query_one(".error--body").render())
        assert "/dev/zero is a character device" in body
        assert app.is_running
