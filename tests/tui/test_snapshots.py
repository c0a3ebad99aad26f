"""Snapshots of the main screens at 80x24 and 120x40, the welcome at 200x60 too (fixed events, frozen
clock: deterministic).

After an intended visual change: .venv/bin/python -m pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest

from beefine_tui.errors import ProbeLoadError
from beefine_tui.screens.probe_view import ProbeView
from tests.tui.conftest import MakeApp, wait_until
from tests.tui.events_fixture import exec_events, lost

SIZES = [(80, 24), (120, 40)]


async def shell_ready(pilot: Any) -> None:
    await wait_until(pilot, lambda: bool(pilot.app.screen_stack) and bool(pilot.app.shell.query("#tabs")))
    await pilot.pause()


@pytest.mark.parametrize("size", [*SIZES, (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_welcome(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_trace_exec_live(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app([*exec_events(30), lost("exec", 3, "kernel")])

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.is_mounted and view.event_log.total == 31)
        view.strip.refresh_counts()
        view.event_log.log_widget.focus()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, press=["question_mark"])


def test_not_root_banner(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app(bpf_allowed=False)

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        app.shell.open_view("trace-exec")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_probe_error_modal(snap_compare: Any, make_app: MakeApp) -> None:
    log = "; e->pid = x;\n0: (85) call bpf_ringbuf_reserve#131\nR1 type=scalar expected=map_ptr\nprocessed 3"
    err = ProbeLoadError("the verifier rejected exec", "see the highlighted line", log=log, line=7)
    app = make_app(fail=err)

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        from beefine_tui.screens.errors import ErrorModal

        app.shell.open_view("trace-exec")
        screen = lambda: pilot.app.screen  # noqa: E731
        await wait_until(pilot, lambda: isinstance(screen(), ErrorModal) and bool(screen().query("Button")))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
