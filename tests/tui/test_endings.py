"""How the app ends: ctrl+c quits like ctrl+q (after cleanup), what outlives us (containers, the lab)
is removed before probes detach, and the exit still goes through Textual (whose own `_closed` flag
the app once shadowed, which dropped the exit message)."""

from __future__ import annotations

import os
import signal

import pytest

from beefine_tui.app import BeefineApp
from tests.tui.conftest import FakeContext


class Recorded:
    def __init__(self, log: list[str], name: str, outliving: bool = False) -> None:
        self.log, self.name = log, name
        if outliving:
            self.remove_outliving = lambda: log.append(f"remove {name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def make_app(log: list[str]) -> BeefineApp:
    ctx = FakeContext()
    ctx.own(Recorded(log, "container-run", outliving=True))
    ctx.own(Recorded(log, "probes"))
    return BeefineApp(ctx, remove_outliving=lambda: log.append("lab down"))


async def test_ctrl_c_quits_after_removing_containers_and_lab_before_probes() -> None:
    log: list[str] = []
    app = make_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_value == 0
    assert not app.is_running
    # newest first for stop(); but the container and the lab go before any probe detaches
    assert log[:2] == ["remove container-run", "lab down"]
    assert log.index("lab down") < log.index("stop probes")
    assert "Press" not in "".join(str(n) for n in app._notifications)


async def test_a_signal_leaves_through_textual_exit_with_128_plus_signal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import beefine_tui.app as app_module

    forced: list[int] = []
    monkeypatch.setattr(app_module.os, "_exit", forced.append)  # never kill the test run
    log: list[str] = []
    app = make_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        os.kill(os.getpid(), signal.SIGTERM)  # the app's handler runs (main thread, between bytecodes)
        for _ in range(50):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    app.ui_exited.set()  # as the tui command does once app.run() returned: the watchdog stands down
    assert app.exit_signal == signal.SIGTERM
    assert forced == []
    assert app.return_value == 128 + signal.SIGTERM
    assert app.outliving_gone.is_set()
    app.close_context()  # what the tui command does once the UI is gone: waits for the cleanup
    assert log.index("remove container-run") < log.index("lab down") < log.index("stop probes")
    # the handlers were given back: a later SIGTERM is not ours
    assert signal.getsignal(signal.SIGTERM) is not app._on_signal


def test_the_watchdog_forces_an_exit_only_after_what_outlives_us_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dead terminal can keep the UI from exiting: the watchdog leaves then, but never before the
    containers and the lab are removed (it used to os._exit while they were still there)."""
    import threading

    import beefine_tui.app as app_module

    exits: list[int] = []
    monkeypatch.setattr(app_module, "SIGNAL_GRACE_S", 0.05)
    monkeypatch.setattr(app_module.os, "_exit", exits.append)
    app = BeefineApp(FakeContext())
    t = threading.Thread(target=app._watchdog, args=(signal.SIGHUP,))
    t.start()
    t.join(0.3)
    assert t.is_alive() and exits == []  # still removing: no forced exit
    app.outliving_gone.set()
    t.join(5)
    assert exits == [128 + signal.SIGHUP]


def test_the_watchdog_stands_down_when_the_ui_exited(monkeypatch: pytest.MonkeyPatch) -> None:
    import beefine_tui.app as app_module

    exits: list[int] = []
    monkeypatch.setattr(app_module.os, "_exit", exits.append)
    app = BeefineApp(FakeContext())
    app.outliving_gone.set()
    app.ui_exited.set()
    app._watchdog(signal.SIGTERM)
    assert exits == []


async def test_ctrl_c_in_a_text_box_quits_when_nothing_is_selected() -> None:
    """Text boxes bind ctrl+c to copy; with nothing selected they pass it on, and the app quits."""
    from textual.widgets import Input

    log: list[str] = []
    app = make_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        box = Input(value="typed", select_on_focus=False)
        await app.screen.mount(box)
        box.focus()
        await pilot.pause()
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_value == 0 and "stop probes" in log
