"""Dashboard in the real shell, on recorded snapshots and a fake docker.actions: sorting (s/S, header
click), Enter opens the Container monitor, l streams logs into a bounded window, K/R/D ask first and
only then act, t opens the split pane filled in with the container, x says why no shell can open here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from textual.widgets import Button, DataTable, Input, Log

from beefine_tui.screens.confirm import Confirm
from beefine_tui.screens.dashboard import ContainerLogs, DashboardView
from beefine_tui.screens.probe_view import ProbeView
from tests.tui.conftest import MakeApp
from tests.tui.conftest import wait_long as wait_until
from tests.tui.test_dashboard import Recorded, row, snap


class FakeStream:
    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self.closed = threading.Event()

    def lines(self) -> Iterator[str]:
        yield from self._lines
        self.closed.wait(10)  # following: blocks until the window closes

    def close(self) -> None:
        self.closed.set()


class FakeActions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.streams: list[FakeStream] = []

    def stop(self, client: Any, ref: str) -> str:
        self.calls.append(("stop", ref))
        return f"stopped {ref[:12]}"

    def restart(self, client: Any, ref: str) -> str:
        self.calls.append(("restart", ref))
        return f"restarted {ref[:12]}"

    def remove(self, client: Any, ref: str) -> str:
        self.calls.append(("remove", ref))
        return f"removed {ref[:12]}"

    def LogStream(self, client: Any, ref: str) -> FakeStream:
        s = FakeStream([f"line {i} of {ref[:4]}" for i in range(3000)])
        self.streams.append(s)
        return s

    def shell_command(self, host: str | None, ref: str) -> list[str]:
        return ["docker", "exec", "-it", ref, "sh"]


ROWS = [row(1, 12.5, 11 << 20), row(2, 80.0, 5 << 20), row(3, 0.4, 40 << 20)]


async def open_dashboard(app: Any, pilot: Any) -> tuple[DashboardView, FakeActions]:
    await wait_until(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")))
    view = app.shell.open_view(
        "dashboard", factory=lambda: DashboardView(collector=Recorded([snap(ROWS, 1.0)]), interval=3600)
    )
    assert isinstance(view, DashboardView)
    view.actions = FakeActions()
    await wait_until(pilot, lambda: view.refreshes >= 1)
    view.query_one(DataTable).focus()
    await pilot.pause()
    return view, view.actions


def names(view: DashboardView) -> list[str]:
    t: DataTable[str] = view.query_one(DataTable)
    return [str(t.get_row_at(i)[0]) for i in range(t.row_count)]


def app_with_client(make_app: MakeApp) -> Any:
    app = make_app()
    app.ctx.docker_client = lambda: object()  # type: ignore[method-assign,assignment,return-value]
    return app


async def test_sort_keys_and_header_click(make_app: MakeApp) -> None:
    app = app_with_client(make_app)
    async with app.run_test(size=(120, 40)) as pilot:
        view, _ = await open_dashboard(app, pilot)
        assert names(view) == ["web2", "web1", "web3"]  # busiest CPU first
        await pilot.press("S")
        assert names(view) == ["web3", "web1", "web2"]
        await pilot.press("s")  # memory, largest first
        assert names(view) == ["web3", "web1", "web2"]
        await pilot.press("s")  # name
        assert names(view) == ["web1", "web2", "web3"]
        t: DataTable[str] = view.query_one(DataTable)
        cpu = t.columns["cpu"]  # type: ignore[index]
        t.post_message(DataTable.HeaderSelected(t, cpu.key, 2, cpu.label))
        await pilot.pause()
        assert names(view) == ["web2", "web1", "web3"]


async def test_enter_opens_the_container_monitor(make_app: MakeApp) -> None:
    app = app_with_client(make_app)
    async with app.run_test(size=(120, 40)) as pilot:
        _view, _ = await open_dashboard(app, pilot)
        await pilot.press("enter")  # on web2, the first row
        cid = ROWS[1].id
        await wait_until(pilot, lambda: any(k.endswith(cid[:12]) for k in app.shell._views))
        from beefine_tui.screens.container_monitor import ContainerMonitorView

        monitor = next(v for k, v in app.shell._views.items() if k.endswith(cid[:12]))
        assert isinstance(monitor, ContainerMonitorView)


async def test_stop_restart_remove_ask_first(make_app: MakeApp) -> None:
    app = app_with_client(make_app)
    async with app.run_test(size=(120, 40)) as pilot:
        _view, actions = await open_dashboard(app, pilot)
        await pilot.press("K")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "Stop web2" in str(app.screen.query_one("Static").render())
        await pilot.press("escape")  # cancelled: nothing done
        await wait_until(pilot, lambda: not isinstance(app.screen, Confirm))
        await pilot.pause(0.1)
        assert actions.calls == []
        for key, verb in (("K", "stop"), ("R", "restart"), ("D", "remove")):
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
            app.screen.query_one("#yes", Button).press()

            def called(done: tuple[str, str] = (verb, ROWS[1].id)) -> bool:
                return done in actions.calls

            await wait_until(pilot, called)
        assert [c[0] for c in actions.calls] == ["stop", "restart", "remove"]


async def test_logs_stream_into_a_bounded_window_and_stop_on_close(make_app: MakeApp) -> None:
    app = app_with_client(make_app)
    async with app.run_test(size=(120, 40)) as pilot:
        _view, actions = await open_dashboard(app, pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, ContainerLogs))
        log = app.screen.query_one(Log)
        await wait_until(pilot, lambda: log.line_count >= 2000)
        assert log.line_count == 2000  # bounded: the oldest of 3000 fell off
        assert log.lines[-1] == f"line 2999 of {ROWS[1].id[:4]}"
        await pilot.press("escape")
        await wait_until(pilot, lambda: actions.streams[0].closed.is_set())


async def test_t_opens_the_split_pane_filled_in(make_app: MakeApp) -> None:
    app = app_with_client(make_app)
    async with app.run_test(size=(120, 40)) as pilot:
        _view, _ = await open_dashboard(app, pilot)
        await pilot.press("t")
        await wait_until(pilot, lambda: bool(app.shell.query("#split ProbeView")))
        pane = app.shell.query_one("#split ProbeView", ProbeView)
        await wait_until(pilot, lambda: pane.query_one("#container", Input).value == "web2")
        # it started: the fake context records what it was asked, or the view says why it could not
        await wait_until(
            pilot, lambda: bool(app.ctx.started_with) or pane.strip.state in ("starting", "error")
        )


async def test_x_without_a_terminal_says_so(make_app: MakeApp) -> None:
    app = app_with_client(make_app)
    notes: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        _view, _ = await open_dashboard(app, pilot)
        original = app.notify

        def spy(message: str, **kw: Any) -> None:
            notes.append(str(message))
            original(message, **kw)

        app.notify = spy
        await pilot.press("x")
        await wait_until(pilot, lambda: bool(notes))
    assert "cannot open a shell here" in notes[0]
