"""Loaded programs view: refreshing by hand (r) does not start a second automatic refresh chain; at any
moment at most one automatic refresh is pending. No BPF: the inventory is faked."""

from __future__ import annotations

import pytest
from textual.timer import Timer

from beefine_tui.probes import inventory as inv
from beefine_tui.screens.programs_list import ProgramsListView
from tests.tui.conftest import MakeApp, wait_until


async def test_manual_refreshes_leave_one_pending_timer(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def fake_inventory() -> list[inv.ProgRow]:
        calls.append(1)
        return []

    monkeypatch.setattr(inv, "inventory", fake_inventory)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("loaded-programs")
        assert isinstance(view, ProgramsListView)
        view.refresh_s = 3600.0  # automatic refreshes never fire during the test: only `r` refreshes
        armed: list[Timer] = []
        original = view.set_timer

        def spy(*args: object, **kwargs: object) -> Timer:
            t = original(*args, **kwargs)  # type: ignore[arg-type]
            armed.append(t)
            return t

        monkeypatch.setattr(view, "set_timer", spy)
        await wait_until(pilot, lambda: len(calls) >= 1 and not view._busy)
        for n in range(3):
            before = len(calls)
            view.query_one("#progs").focus()
            await pilot.press("r")
            await wait_until(pilot, lambda b=before: len(calls) > b and not view._busy)  # type: ignore[misc]
            await wait_until(pilot, lambda k=n: len(armed) > k)  # type: ignore[misc]
        pending = [t for t in armed if t._task is not None]
        assert len(armed) >= 3 and len(pending) == 1, (armed, pending)


async def test_u_unloads_the_session_holding_the_selected_program(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a probe session as the real app owns one: its runners expose prog_ids() as a method (this crashed
    # the app once: `'method' object is not iterable`)
    class Runner:
        def prog_ids(self) -> set[int]:
            return {77}

    class Session:
        def __init__(self) -> None:
            self.runners = [Runner()]
            self.stopped = 0

        def stop(self) -> None:
            self.stopped += 1

    row = inv.ProgRow(prog=inv.ProgInfo(id=77, type="tracepoint", name="sched_process_exec"), ours=True)
    monkeypatch.setattr(inv, "inventory", lambda: [row])
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        session = Session()
        app.ctx.own(session)
        view = app.shell.open_view("loaded-programs")
        assert isinstance(view, ProgramsListView)
        # no automatic refresh meanwhile: on a loaded machine it rewrote the notice before it was read
        view.refresh_s = 3600.0
        await wait_until(pilot, lambda: 77 in view.rows)
        view.query_one("#progs").focus()
        await pilot.press("u")
        await wait_until(pilot, lambda: session.stopped == 1)
        assert "Unloading program 77" in str(view.query_one(".notice").render())
        assert session not in app.ctx.owned()
