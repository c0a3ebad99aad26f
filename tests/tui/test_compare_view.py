"""The Compare recordings view (no root, BPF or Docker): two trace recordings give the very lines
`beefine-tui diff A B` prints, in a log the keyboard moves; bad paths are a message, never a traceback;
`diff A B --tui` opens the app on it, compared.

Snapshots: .venv/bin/python -m pytest tests/tui/test_compare_view.py --snapshot-update
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input, Log, Static

from beefine_tui import cli
from beefine_tui.app import BeefineApp
from beefine_tui.commands import diff as diff_command
from beefine_tui.errors import UsageError
from beefine_tui.events.model import RecordHeader
from beefine_tui.events.record import Recorder, RecordError
from beefine_tui.screens.compare_view import CompareView
from beefine_tui.screens.errors import ErrorModal
from tests.tui.conftest import MakeApp, wait_until
from tests.tui.events_fixture import exec_events

ROOT = Path(__file__).resolve().parents[2]
STORY = ROOT / "tests" / "unit" / "fixtures" / "story"
DEFAULT = STORY / "run_default.jsonl.gz"
NO_NEW_PRIVS = STORY / "run_no_new_privs.jsonl.gz"
EXAMPLE = ROOT / "examples" / "small.jsonl.gz"
SIZES = [(80, 24), (120, 40), (200, 60)]


async def open_compare(pilot: Any, app: BeefineApp) -> CompareView:
    await wait_until(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")), tries=2000)
    app.shell.open_view("compare")
    await wait_until(pilot, lambda: bool(app.shell.query(CompareView)), tries=2000)
    view = app.shell.query_one(CompareView)
    await wait_until(pilot, lambda: view.is_mounted and bool(view.query(Log)))
    await pilot.pause()
    return view


async def compared(pilot: Any, view: CompareView) -> None:
    """Until the worker's answer is shown (a result or an error), up to ~20 s on a busy machine."""
    await wait_until(pilot, lambda: view.result is not None or bool(view.error), tries=2000)
    await pilot.pause()


def cli_lines(a: Path, b: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert cli.main(["diff", str(a), str(b)]) == 0
    return capsys.readouterr().out.splitlines()


def status(view: CompareView) -> str:
    return str(view.query_one("#cmp-status", Static).render())


@pytest.mark.parametrize("pair", [(DEFAULT, NO_NEW_PRIVS), (DEFAULT, EXAMPLE)], ids=["nnp", "example"])
async def test_two_paths_and_enter_show_what_the_cli_prints(
    make_app: MakeApp, capsys: pytest.CaptureFixture[str], pair: tuple[Path, Path]
) -> None:
    a, b = pair
    expected = cli_lines(a, b, capsys)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_compare(pilot, app)
        box_a, box_b = view.query_one("#cmp-a", Input), view.query_one("#cmp-b", Input)
        assert app.focused is box_a  # the first empty box
        box_a.value = str(a)
        await pilot.press("enter")  # B is still empty: Enter moves on to it
        assert app.focused is box_b and view.result is None
        box_b.value = str(b)
        await pilot.press("enter")
        await compared(pilot, view)
        log = view.query_one("#cmp-out", Log)
        assert view.error == "" and list(log.lines) == expected
        assert "phase" in expected[3] and any(line.startswith("event kinds") for line in expected)
        # the comparison has focus and the keys move in it, as in every log
        assert log.has_focus and log.max_scroll_y > 0
        await pilot.press("G")
        assert log.scroll_y == log.max_scroll_y
        await pilot.press("g")
        assert log.scroll_y == 0
        await pilot.press("j", "j", "k")
        assert log.scroll_y == 1
        await pilot.press("pagedown")
        assert log.scroll_y > 1
        # both fixtures have no end marker: said in the view, as the CLI says it on stderr
        assert "is incomplete" in status(view)


async def test_the_button_compares_and_an_empty_path_is_asked_for(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_compare(pilot, app)
        view.query_one("#cmp-a", Input).value = str(DEFAULT)
        await pilot.click("#cmp-run")
        await pilot.pause()
        assert "Give both recordings" in status(view) and view.result is None
        view.query_one("#cmp-b", Input).value = str(NO_NEW_PRIVS)
        view.query_one("#cmp-run", Button).press()
        await compared(pilot, view)
        assert "  no_new_privs: A false, B true" in view.query_one("#cmp-out", Log).lines


def _probe_recording(p: Path) -> Path:
    rec = Recorder.open(p, RecordHeader(probes=["exec"], command=["beefine-tui", "probe", "run", "exec"]))
    rec.write(exec_events(3))
    rec.close()
    return p


def _corrupt_gzip(p: Path) -> Path:
    data = DEFAULT.read_bytes()
    assert data[:2] == b"\x1f\x8b"  # gzip, as the name says
    # gzip's own header intact, garbage where the deflate stream starts
    p.write_bytes(data[:12] + b"\xff" * 4000)
    return p


@pytest.mark.parametrize(
    "make_bad, says",
    [
        (lambda d: d / "nothing-here.jsonl", "cannot open recording"),
        (lambda d: _probe_recording(d / "probe.jsonl"), "not of a trace"),
        (lambda d: _corrupt_gzip(d / "corrupt.jsonl.gz"), "corrupt"),
        (lambda d: (d / "empty.jsonl").write_bytes(b"") or d / "empty.jsonl", "the file is empty"),
        (lambda d: d, "cannot open recording"),  # a directory
    ],
    ids=["missing", "probe-run", "corrupt-gzip", "empty", "directory"],
)
async def test_a_bad_path_is_a_message_and_the_app_keeps_running(
    make_app: MakeApp, tmp_path: Path, make_bad: Any, says: str
) -> None:
    bad = make_bad(tmp_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_compare(pilot, app)
        # a good comparison first: a failure after it must not leave its lines under the message
        view.query_one("#cmp-a", Input).value = str(DEFAULT)
        view.query_one("#cmp-b", Input).value = str(NO_NEW_PRIVS)
        view.run_it()
        await compared(pilot, view)
        assert view.result is not None
        view.query_one("#cmp-b", Input).value = str(bad)
        view.run_it()
        await wait_until(pilot, lambda: bool(view.error), tries=2000)
        await pilot.pause()
        assert says in view.error and "Traceback" not in view.error and "Error:" not in view.error
        assert says in status(view)
        assert view.result is None and view.query_one("#cmp-out", Log).line_count == 0
        assert app.is_running and not isinstance(app.screen, ErrorModal) and app._exception is None


async def test_a_recording_cut_mid_stream_is_compared_up_to_the_cut_with_a_note(
    make_app: MakeApp, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.jsonl.gz"
    # as after a kill -9 while recording: the compressed stream ends part way (then garbage)
    cut.write_bytes(DEFAULT.read_bytes()[:2000] + b"\xff" * 4000)
    app = make_app(compare=(cut, DEFAULT))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            pilot, lambda: bool(app.screen_stack) and bool(app.shell.query(CompareView)), tries=2000
        )
        view = app.shell.query_one(CompareView)
        await compared(pilot, view)
        assert view.result is not None and view.error == ""
        assert "A is incomplete: its compressed data ends in the middle" in status(view)


# ---- diff A B --tui
async def test_the_app_opens_on_the_view_compared(
    make_app: MakeApp, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = cli_lines(DEFAULT, NO_NEW_PRIVS, capsys)
    app = make_app(compare=(DEFAULT, NO_NEW_PRIVS))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            pilot, lambda: bool(app.screen_stack) and bool(app.shell.query(CompareView)), tries=2000
        )
        view = app.shell.query_one(CompareView)
        await compared(pilot, view)
        assert view.query_one("#cmp-a", Input).value == str(DEFAULT)
        assert view.query_one("#cmp-b", Input).value == str(NO_NEW_PRIVS)
        assert list(view.query_one("#cmp-out", Log).lines) == expected
        assert app.shell.open_tab_ids()[-1] == "tab-compare"


def test_diff_tui_opens_the_app_with_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    from beefine_tui.commands import tui

    seen: list[argparse.Namespace] = []

    def fake_run(ns: argparse.Namespace) -> int:
        seen.append(ns)
        return 0

    monkeypatch.setattr(tui, "run", fake_run)
    assert cli.main(["diff", str(DEFAULT), str(NO_NEW_PRIVS), "--tui"]) == 0
    assert seen[0].compare == (DEFAULT, NO_NEW_PRIVS) and seen[0].replay is None


def test_diff_tui_refuses_json_and_a_missing_file_before_opening(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["diff", str(DEFAULT), str(NO_NEW_PRIVS), "--tui", "--json"])
    with pytest.raises(UsageError, match="--json"):
        diff_command.run(args)
    args = cli.build_parser().parse_args(["diff", str(DEFAULT), str(tmp_path / "none.jsonl"), "--tui"])
    with pytest.raises(RecordError, match=r"none\.jsonl"):
        diff_command.run(args)


# ---- snapshots
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_view_snapshot(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    # relative names (the tests run in a scratch directory): the same picture in every checkout
    a, b = Path(DEFAULT.name), Path(NO_NEW_PRIVS.name)
    shutil.copy(DEFAULT, a)
    shutil.copy(NO_NEW_PRIVS, b)
    app = make_app(compare=(a, b))

    async def run_before(pilot: Any) -> None:
        await wait_until(
            pilot, lambda: bool(app.screen_stack) and bool(app.shell.query(CompareView)), tries=2000
        )
        view = app.shell.query_one(CompareView)
        await compared(pilot, view)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
