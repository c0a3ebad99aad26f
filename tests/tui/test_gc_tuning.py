"""The real app (`beefine-tui`) tunes the garbage collector, the GIL's switch interval and Textual's
frame rate; tests' apps leave them alone (freezing in a test process would keep other tests' objects
alive). All are faked or restored here, so this process's settings are not touched."""

from __future__ import annotations

from typing import Any

import pytest
import textual.screen

import beefine_tui.app as app_module
from tests.tui.conftest import MakeApp, wait_until


class FakeGc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def get_threshold(self) -> tuple[int, int, int]:
        return (700, 10, 10)

    def set_threshold(self, *args: int) -> None:
        self.calls.append(("set_threshold", args))

    def collect(self) -> int:
        self.calls.append(("collect", ()))
        return 0

    def freeze(self) -> None:
        self.calls.append(("freeze", ()))


@pytest.mark.parametrize("tuning", [True, False])
async def test_gc_is_tuned_only_when_asked(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, tuning: bool
) -> None:
    fake = FakeGc()
    monkeypatch.setattr(app_module, "gc", fake)
    intervals: list[float] = []
    monkeypatch.delenv("TEXTUAL_FPS", raising=False)
    monkeypatch.setattr(textual.screen, "UPDATE_PERIOD", 1 / 60)  # Textual's; restored after the test
    monkeypatch.setattr(app_module.sys, "setswitchinterval", intervals.append)  # restored after the test
    app = make_app(gc_tuning=tuning)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        if tuning:
            await wait_until(pilot, lambda: ("freeze", ()) in fake.calls)
        else:
            await pilot.pause(0.1)
    if tuning:
        # collect before freezing, so nothing that is already garbage becomes immortal
        assert fake.calls == [
            ("set_threshold", (app_module.GC_YOUNG_THRESHOLD, 10, 10)),
            ("collect", ()),
            ("freeze", ()),
        ]
        assert intervals == [app_module.GIL_SWITCH_INTERVAL_S]
        assert textual.screen.UPDATE_PERIOD == 1 / app_module.UI_FPS
    else:
        assert fake.calls == []
        assert intervals == []
        assert textual.screen.UPDATE_PERIOD == 1 / 60


async def test_a_frame_rate_the_user_chose_is_kept(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "gc", FakeGc())
    monkeypatch.setattr(app_module.sys, "setswitchinterval", lambda s: None)
    monkeypatch.setenv("TEXTUAL_FPS", "30")  # Textual read it at import; the app must not override it
    monkeypatch.setattr(textual.screen, "UPDATE_PERIOD", 1 / 30)
    make_app(gc_tuning=True)
    assert textual.screen.UPDATE_PERIOD == 1 / 30
