"""How the app ends: ctrl+c quits like ctrl+q (after cleanup), what outlives us (containers, the lab)
is removed before probes detach, and the exit still goes through Textual (whose own `_closed` flag
the app once shadowed, which dropped the exit message)."""

from __future__ import annotations

import os
import signal

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


async def test_a_signal_leaves_through_textual_exit_with_128_plus_signal() -> None:
    log: list[str] = []
    app = make_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        os.kill(os.getpid(), signal.SIGTERM)  # the app's handler runs (main thread, between bytecodes)
        for _ in range(50):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    assert app.exit_signal == signal.SIGTERM
    assert app.return_value == 128 + signal.SIGTERM
    assert app.outliving_gone.is_set()
    app.close_context()  # what the tui command does once the UI is gone: waits for the cleanup
    assert log.index("remove container-run") < log.index("lab down") < log.index("stop probes")
    # the handlers were given back: a later SIGTERM is not ours
    assert signal.getsignal(signal.SIGTERM) is not app._on_signal
