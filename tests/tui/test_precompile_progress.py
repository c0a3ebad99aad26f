"""Compiling probes in the background, seen from the UI (fakes: no BPF). At the app's start the
story's programs are compiled on the precompile thread; the header says "compiling probes n/m" and
the Image monitor says it too, while the UI keeps answering keys and views open and run; once done
both lines go back, each program compiled once though the Image monitor asked again. Not root: no
precompiler, nothing said."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Input, Static

from beefine_tui import appcontext
from beefine_tui.app import BeefineApp
from beefine_tui.probes.bcc_program import BccProgram
from beefine_tui.probes.program_cache import CachedProgram, ProgramCache
from beefine_tui.screens.image_monitor import ImageMonitorView
from tests.tui.conftest import FakeContext, FrozenClock, wait_until

STORY = [
    BccProgram(probe=n, text=f"/* {n} */", cflags=("-DLINEAGE_ROOT=1",)) for n in ("exec", "fork", "files")
]


class GatedCompile:
    """Stands for bcc_runner.precompile: into the cache, once `gate` opens; counts each compile."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.compiled: list[str] = []
        self.threads: set[str] = set()

    def __call__(self, prog: BccProgram, cache: ProgramCache) -> str:
        key = (prog.probe, prog.text, tuple(prog.cflags))
        if not cache.begin_build(key):
            return "already"
        entry = None
        try:
            self.threads.add(threading.current_thread().name)
            self.gate.wait(60)
            self.compiled.append(prog.probe)
            entry = CachedProgram(key, prog.probe, set(), ())
            return "compiled"
        finally:
            cache.end_build(key, entry)


class StoryContext(FakeContext):
    def _story_programs(self) -> list[BccProgram]:
        return list(STORY)  # the real one asks the Docker daemon for dockerd's pid


@pytest.fixture
def no_exec_program(monkeypatch: pytest.MonkeyPatch) -> None:
    # Trace exec's own program (asked for at the start too) depends on this machine's BPF support
    monkeypatch.setattr(appcontext, "bcc_programs", lambda names, options: [])


def app_for(ctx: FakeContext) -> BeefineApp:
    return BeefineApp(ctx, clock=FrozenClock())


@pytest.mark.usefixtures("no_exec_program")
async def test_progress_shows_and_the_app_works_while_compiling() -> None:
    ctx = StoryContext()
    fake = GatedCompile()
    cache = ctx.keep_programs(compile=fake)
    app = app_for(ctx)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: "compiling probes 1/3 (exec)" in app.sub_title)
            # the UI answers while the compile is held: a view opens, takes keys, shows the progress
            view = app.shell.open_view("image-monitor")
            assert isinstance(view, ImageMonitorView)
            await wait_until(pilot, lambda: bool(view.query("#im-compile")))
            note = view.query_one("#im-compile", Static)
            await wait_until(pilot, lambda: note.display and "compiling probes 1/3" in str(note.render()))
            box = view.query_one("#im-image", Input)
            await wait_until(pilot, lambda: app.focused is box)
            await pilot.press("b", "b")
            assert box.value == "bb"
            # a live view starts and shows its events meanwhile
            app.shell.open_view("trace-exec")
            await wait_until(pilot, lambda: bool(ctx.sessions))
            assert fake.compiled == []  # all of that happened with the first compile still held
            fake.gate.set()
            await wait_until(
                pilot, lambda: not app.sub_title.endswith(")") and "compiling" not in app.sub_title
            )
            app.shell.open_view("image-monitor")
            await wait_until(pilot, lambda: not note.display)
            assert {e.key[0] for e in cache.idle()} == {"exec", "fork", "files"}
        assert fake.compiled == ["exec", "fork", "files"]  # once each: the monitor's request added none
        assert fake.threads == {"beefine-precompile"}
        assert cache.closed and cache.idle() == []  # the app's exit freed them
    finally:
        fake.gate.set()
        ctx.close()
    assert not any(t.name == "beefine-precompile" and t.is_alive() for t in threading.enumerate())


async def test_not_root_compiles_nothing_and_says_nothing() -> None:
    ctx = StoryContext(bpf_allowed=False)
    fake = GatedCompile()
    ctx.keep_programs(compile=fake)
    app = app_for(ctx)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            app.shell.open_view("image-monitor")
            await wait_until(pilot, lambda: bool(app.shell.query("#im-compile")))
            await pilot.pause(1.2)  # a few of the header's ticks
            assert "compiling" not in app.sub_title
            assert not app.shell.query_one("#im-compile", Static).display
    finally:
        fake.gate.set()
        ctx.close()
    assert ctx.precompiler is None and fake.compiled == []
