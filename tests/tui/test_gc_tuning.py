"""The real app (`beefine-tui`) tunes the garbage collector and the GIL's switch interval once it is
up; tests' apps leave them alone (freezing in a test process would keep other tests' objects alive).
Both are faked here, so this process's settings are not touched."""

from __future__ import annotations

from typing import Any

import pytest

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
    else:
        assert fake.calls == []
        assert intervals == []
