"""The syscalls probe's view: the tail and, beside it, the strace -c like table, fed from recorded
events (no BPF): counts, errors and time per syscall, sorting keys, the man-page line of the selected
row, and a snapshot."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from textual.widgets import DataTable, Input, Static

from beefine_tui.probes.base import Target
from beefine_tui.screens import probe_view
from beefine_tui.screens.probe_view import ProbeView, split_probes
from beefine_tui.widgets.syscall_table import SyscallTable
from tests.tui.conftest import MakeApp, wait_until
from tests.tui.events_fixture import mount_events, syscall_events


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The container is resolved through Docker in the app; the fake session needs only a target."""
    monkeypatch.setattr(probe_view, "resolve_target", lambda _ctx, name: Target(container_name=name))


def _cells(table: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def _open(app: Any, pilot: Any) -> tuple[ProbeView, SyscallTable]:
    """The full-size view (`probe:syscalls`): it asks for a container, then tails it."""
    await wait_until(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")), tries=2000)
    await pilot.pause()
    view = app.shell.open_view("probe:syscalls")
    assert isinstance(view, ProbeView) and view.container_required and not view.autostart
    await wait_until(pilot, lambda: view.is_mounted and bool(view.query(SyscallTable)), tries=2000)
    view.query_one("#container", Input).value = "web"
    view.start()
    table = view.query_one(SyscallTable)
    await wait_until(pilot, lambda: table.summary.calls == 12, tries=2000)
    table.redraw()  # what the 1 s tick does
    await pilot.pause()
    return view, table


def test_the_split_pane_tails_every_syscall() -> None:
    assert split_probes()[0] == "syscalls"


async def test_table_counts_errors_and_sorts(make_app: MakeApp) -> None:
    app = make_app(syscall_events())
    async with app.run_test(size=(160, 40)) as pilot:
        view, table = await _open(app, pilot)
        dt = table.query_one(DataTable)
        rows = _cells(dt)
        # by share of the time, largest first: the sleeps
        assert [r[0] for r in rows] == ["clock_nanosleep", "futex", "newfstatat", "read"]
        by_name = {r[0]: r for r in rows}
        assert by_name["read"][1:3] == ["4", ""]
        assert by_name["newfstatat"][1:3] == ["4", "4"]
        assert by_name["clock_nanosleep"][1] == "2" and by_name["clock_nanosleep"][5] == "20000"
        assert len(view.event_log.lines()) == 12  # the tail shows every call
        dt.focus()
        await pilot.press("s")  # next column: total seconds, largest first
        await pilot.pause()
        assert table.sorter is not None and table.sorter.column == "total"
        assert _cells(dt)[0][0] == "clock_nanosleep"
        await pilot.press("S")  # reversed: smallest total first
        await pilot.pause()
        assert [r[0] for r in _cells(dt)] == ["read", "newfstatat", "futex", "clock_nanosleep"]
        assert "seconds ▲" in str(table.query_one(".syscall-head", Static).render())
        note = str(table.query_one(".syscall-note", Static).render())
        assert note.startswith("clock_nanosleep:") and "(clock_nanosleep(2))" in note
        assert view.has_class("-stacked") is False  # 160 columns: the table is beside the log


async def test_narrow_view_stacks_the_table_under_the_log(make_app: MakeApp) -> None:
    app = make_app(syscall_events())
    async with app.run_test(size=(100, 40)) as pilot:
        view, _table = await _open(app, pilot)
        await wait_until(pilot, lambda: view.has_class("-stacked"))


def test_snapshot(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app(syscall_events())

    async def run_before(pilot: Any) -> None:
        view, table = await _open(app, pilot)
        view.strip.refresh_counts()
        table.query_one(DataTable).focus()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 40), run_before=run_before)


class _Recorder:
    def __init__(self) -> None:
        self.asked = 0

    def request(self) -> None:
        self.asked += 1


async def test_f_asks_the_flight_recorder_for_a_dump(make_app: MakeApp) -> None:
    app = make_app(syscall_events())
    notes: list[str] = []
    async with app.run_test(size=(160, 40)) as pilot:
        view, table = await _open(app, pilot)
        original = app.notify

        def notify(message: str, **kw: Any) -> None:
            notes.append(message)
            original(message, **kw)

        app.notify = notify  # type: ignore[method-assign]
        table.query_one(DataTable).focus()
        await pilot.press("f")  # the fake session has no recorder: said, not silent
        await wait_until(pilot, lambda: any("no flight recorder" in n for n in notes))
        rec = _Recorder()
        view.session.periodic_for = lambda probe: rec if probe == "syscalls" else None
        await pilot.press("f")
        await wait_until(pilot, lambda: rec.asked == 1)
        # a dump's calls are shown in the log but not counted twice in the table
        dumped = syscall_events()[:3]
        view.bus.publish(
            [msgspec.structs.replace(e, args={**e.args.as_dict(), "flight": True}) for e in dumped]
        )
        await wait_until(pilot, lambda: len(view.event_log.lines()) == 15)
        assert table.summary.calls == 12


async def test_other_probe_views_have_no_flight_key(make_app: MakeApp) -> None:
    app = make_app([])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")), tries=2000)
        view = app.shell.open_view("trace-exec")
        await wait_until(pilot, lambda: view.is_mounted, tries=2000)
        assert isinstance(view, ProbeView)
        assert view.check_action("flight_dump", ()) is False


async def test_split_pane_lines_name_their_probe_and_slash_keeps_one(make_app: MakeApp) -> None:
    """ctrl+t mixes probes in one log: each line says which probe saw it, `/ probe=NAME` keeps one."""
    mixed = sorted(syscall_events() + mount_events(3), key=lambda e: e.ts)
    app = make_app(mixed)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")), tries=2000)
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: bool(app.shell.query("#split ProbeView")), tries=2000)
        view = app.shell.query_one("#split ProbeView", ProbeView)
        assert "mounts" in view.probes and "syscalls" in view.probes
        view.query_one("#container", Input).value = "web"
        view.start()
        await wait_until(pilot, lambda: len(view.event_log.lines()) == 15, tries=2000)
        lines = view.event_log.lines()
        assert sum(line.split()[1] == "syscalls" for line in lines) == 12, lines
        assert sum(line.split()[1] == "mounts" for line in lines) == 3, lines
        view.event_log.log_widget.focus()
        await pilot.press("slash", *"probe=mounts", "enter")
        await wait_until(pilot, lambda: len(view.event_log.lines()) == 3)
        assert all(line.split()[1] == "mounts" and "mount proc on" in line for line in view.event_log.lines())
