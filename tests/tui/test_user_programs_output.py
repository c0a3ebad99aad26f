"""Your programs: a loaded program's output rows show time since its first event, like every other
live view (they showed the raw monotonic clock). No BPF: a fake runner, events published on the bus."""

from __future__ import annotations

from textual.widgets import DataTable

from beefine_tui.events.model import Event, FreeArgs
from beefine_tui.screens.user_programs import UserProgramsView
from tests.tui.conftest import MakeApp, wait_until


class FakeRunner:
    probes = ("user:hello",)
    name = "hello"
    engine = "bcc"
    origin = "test"
    columns: tuple[str, ...] = ("pid",)

    def stop(self) -> None:
        pass


async def test_output_times_are_relative_to_the_first_event(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("user-programs")
        assert isinstance(view, UserProgramsView)
        await wait_until(pilot, lambda: view.is_mounted)
        view._loaded(FakeRunner())
        t0 = 31_000_123_456_789
        app.ctx.bus.publish(
            [
                Event(ts=t0, probe="user:hello", kind="hello", pid=7, args=FreeArgs(fields={"pid": 7})),
                Event(
                    ts=t0 + 1_500_000,
                    probe="user:hello",
                    kind="hello",
                    pid=8,
                    args=FreeArgs(fields={"pid": 8}),
                ),
            ]
        )
        out = view.query_one("#output", DataTable)
        await wait_until(pilot, lambda: out.row_count == 2)
        times = [str(out.get_row_at(i)[0]) for i in range(2)]
        assert times == ["0.000000", "0.001500"]


async def test_column_names_from_a_script_are_shown_as_written(make_app: MakeApp) -> None:
    # a user's `// columns:` line is theirs: brackets in it are not markup (they stopped the app)
    class Bracketed(FakeRunner):
        columns = ("a[/b]", "[red]c")

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("user-programs")
        assert isinstance(view, UserProgramsView)
        await wait_until(pilot, lambda: view.is_mounted)
        view._loaded(Bracketed())
        app.ctx.bus.publish(
            [Event(ts=1, probe="user:hello", kind="hello", pid=7, args=FreeArgs(fields={"a[/b]": 7}))]
        )
        out = view.query_one("#output", DataTable)
        await wait_until(pilot, lambda: out.row_count == 1)
        assert [str(c.label) for c in out.ordered_columns] == ["time", "kind", "a[/b]", "[red]c"]
        assert "Output of hello: a[/b], [red]c" in str(view.query_one("#output-title").render())
        assert app.is_running
