"""Your programs, with fake runners (no BPF): a program loaded again shows each kernel event once
(the replaced runner, still stopping, saw the same execve); a file opened from disk is listed by its
path, not as "pasted"; the editor keeps its room and the error line in view."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, TextArea

from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.model import Event, FreeArgs
from beefine_tui.probes import user_program
from beefine_tui.screens.user_programs import UserProgramsView
from tests.tui.conftest import MakeApp
from tests.tui.conftest import wait_long as wait_until

Sink = Callable[[Sequence[Event]], None]


class FakeRunner:
    probes = ("user:my-execs",)
    name = "my-execs"
    engine = "bcc"
    columns = ("pid", "filename")
    prog_ids = (99,)

    def __init__(self, text: str) -> None:
        self.text = text
        self.origin = "pasted"
        self.sink: Sink | None = None
        self.stopped = 0

    def start(self, sink: Sink) -> None:
        self.sink = sink

    def stop(self) -> None:
        self.stopped += 1


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> list[FakeRunner]:
    made: list[FakeRunner] = []

    def load(text: str, **kw: Any) -> FakeRunner:
        if "syntax error" in text:
            raise ProbeLoadError("the compiler rejected my-execs", "see the line", log="x", line=30)
        r = FakeRunner(text)
        made.append(r)
        return r

    monkeypatch.setattr(user_program, "load_user_program", load)
    return made


def execve(ts: int) -> Event:
    return Event(
        ts=ts,
        probe="user:my-execs",
        kind="events",
        pid=5,
        args=FreeArgs(fields={"pid": 5, "filename": "/bin/true"}),
    )


async def open_view(app: Any, pilot: Any) -> UserProgramsView:
    await wait_until(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")))
    view = app.shell.open_view("user-programs")
    assert isinstance(view, UserProgramsView)
    await wait_until(pilot, lambda: view.is_mounted)
    return view


async def test_reloading_shows_each_event_once(make_app: MakeApp, runners: list[FakeRunner]) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_view(app, pilot)
        view.action_load()
        await wait_until(pilot, lambda: len(view.loaded) == 1)
        view.action_load()  # the same program again: it replaces the first
        await wait_until(pilot, lambda: len(runners) == 2 and runners[1].sink is not None)
        await wait_until(pilot, lambda: view.loaded["user:my-execs"].runner is runners[1])
        old, new = runners
        ev = execve(5_000_000_000)
        assert old.sink is not None and new.sink is not None
        new.sink([ev])
        old.sink([ev])  # the old one, still stopping, caught the same execve
        out = view.query_one("#output", DataTable)
        await wait_until(pilot, lambda: out.row_count >= 1)
        await pilot.pause(0.3)
        assert out.row_count == 1
        assert old.stopped == 1 and new.stopped == 0


async def test_a_file_is_listed_by_its_path(
    make_app: MakeApp, runners: list[FakeRunner], tmp_path: Path
) -> None:
    src = tmp_path / "mine.c"
    src.write_text("// name: my-execs\nTRACEPOINT_PROBE(syscalls, sys_enter_execve) { return 0; }\n")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_view(app, pilot)
        view.query_one("#path", Input).value = str(src)
        view.action_open()
        area = view.query_one("#source", TextArea)
        await wait_until(pilot, lambda: area.text == src.read_text())
        view.action_load()
        await wait_until(pilot, lambda: len(view.loaded) == 1)
        table = view.query_one("#loaded", DataTable)
        assert str(table.get_row_at(0)[2]) == str(src)
        area.insert("// a change\n", (0, 0))
        view.action_load()
        await wait_until(
            pilot, lambda: len(runners) == 2 and view.loaded["user:my-execs"].runner is runners[1]
        )
        assert runners[1].origin == f"{src} (edited)"


async def test_editor_keeps_room_and_shows_the_error_line(
    make_app: MakeApp, runners: list[FakeRunner]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_view(app, pilot)
        area = view.query_one("#source", TextArea)
        area.text = "\n".join(f"// line {i}" for i in range(1, 60)) + "\nsyntax error\n"
        view.action_load()
        await wait_until(pilot, lambda: area.selected_text.startswith("// line 30"))
        await pilot.pause(0.2)
        assert area.size.height >= 8, area.size
        top = area.scroll_offset.y
        assert top <= 29 < top + area.size.height, (top, area.size.height)
