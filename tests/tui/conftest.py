"""A deterministic app for TUI tests: no Docker, no BPF; probe sessions are fakes that publish fixed
events into the real bus, so the real pump, log and strip are exercised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from beefine_tui.app import BeefineApp
from beefine_tui.appcontext import AppContext
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event


class FrozenClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeSession:
    def __init__(self, names: Sequence[str], events: list[Event], ctx: AppContext, bus: Bus) -> None:
        self.names = tuple(names)
        self.events = events
        self.ctx = ctx
        self.bus = bus  # where the view that started it listens (its own bus, as in the real app)
        self.stopped = 0
        self.prog_ids: tuple[int, ...] = ()

    def start(self) -> None:
        self.bus.publish([ev for ev in self.events if ev.probe in self.names])

    def stop(self) -> None:
        self.stopped += 1


class FakeContext(AppContext):
    """AppContext whose start_probes publishes canned events instead of loading BPF."""

    def __init__(
        self, events: list[Event] | None = None, *, bpf_allowed: bool = True, fail: Exception | None = None
    ):
        super().__init__(docker_host=None, docker_error="tests run without Docker", bpf_allowed=bpf_allowed)
        self.events = events or []
        self.fail = fail
        self.sessions: list[FakeSession] = []
        self.started_with: list[tuple[tuple[str, ...], Any]] = []

    def check_available(self, names: Sequence[str]) -> None:
        pass  # the fake sessions run anywhere, root or not (`make unit` runs without root)

    def start_probes(self, names: Sequence[str], options: Any, bus: Bus | None = None) -> Any:
        self.started_with.append((tuple(names), options))
        if self.fail is not None:
            raise self.fail
        s = FakeSession(names, self.events, self, bus if bus is not None else self.bus)
        self.own(s)
        s.start()
        self.sessions.append(s)
        return s


MakeApp = Callable[..., BeefineApp]


@pytest.fixture(autouse=True)
def _cwd_is_scratch(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys that write files where the app was started (ctrl+r records, pressed by the key fuzz too)
    write into a scratch directory, never into the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def make_app() -> MakeApp:
    def make(events: list[Event] | None = None, **kw: Any) -> BeefineApp:
        ctx_kw = {k: kw.pop(k) for k in ("bpf_allowed", "fail") if k in kw}
        ctx = FakeContext(events, **ctx_kw)
        return BeefineApp(ctx, clock=FrozenClock(), **kw)

    return make


async def wait_until(pilot: Any, cond: Callable[[], bool], tries: int = 300) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition never became true")


async def wait_long(pilot: Any, cond: Callable[[], bool]) -> None:
    """Up to ~20 s: this machine is shared, a first refresh can take seconds."""
    await wait_until(pilot, cond, tries=2000)
