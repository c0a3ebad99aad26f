"""The sidebar's "Container syscalls" screen: the ctrl+t pane at full size, its container picked by
name with completion from the daemon in use (fakes: no Docker, no BPF)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input, TabbedContent

from beefine_tui.app import BeefineApp
from beefine_tui.probes.base import Target
from beefine_tui.screens import probe_view
from beefine_tui.screens.common import ContainerSuggester
from beefine_tui.screens.probe_view import ProbeView, split_probes
from beefine_tui.screens.shell import VIEWS_BY_KEY
from tests.tui.conftest import FakeContext, FrozenClock, wait_until
from tests.tui.events_fixture import syscall_events
from tests.tui.test_app import tree_line

LISTED = [
    {"Names": ["/web1"], "Id": "a" * 64, "State": "running"},
    {"Names": ["/worker"], "Id": "b" * 64, "State": "running"},
    {"Names": ["/web-old"], "Id": "c" * 64, "State": "exited"},  # not running: nothing to trace
]


class _Api:
    def __init__(self) -> None:
        self.calls = 0

    def containers(self, all: bool = False) -> list[dict[str, Any]]:
        self.calls += 1
        return LISTED


class _Client:
    def __init__(self) -> None:
        self.api = _Api()


class DockerFakeContext(FakeContext):
    def __init__(self, events: Any = None) -> None:
        super().__init__(events)
        self.docker_host = "unix:///fake/docker.sock"
        self.client = _Client()

    def docker_client(self) -> Any:
        return self.client


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_view, "resolve_target", lambda _ctx, name: Target(container_name=name))


async def test_sidebar_opens_the_split_panes_view_full_size() -> None:
    ctx = DockerFakeContext(syscall_events())
    app = BeefineApp(ctx, clock=FrozenClock())
    assert VIEWS_BY_KEY["container-syscalls"].label == "Container syscalls"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f1", "home")
        await pilot.press(*["down"] * tree_line("container-syscalls"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.shell.query_one(TabbedContent).active == "tab-container-syscalls")
        view = app.shell.query_one("#tab-container-syscalls ProbeView", ProbeView)
        assert view.probes == split_probes() and view.container_required and view.session is None
        box = view.query_one("#container", Input)
        box.focus()
        await pilot.press("w", "o")
        await wait_until(pilot, lambda: box._suggestion == "worker")
        await pilot.press("right")  # accepts the completion, as in a shell
        assert box.value == "worker"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(view.event_log.lines()) == 12, tries=2000)
        names, options = ctx.started_with[-1]
        assert names == split_probes() and options.target.container_name == "worker"


async def test_suggester_completes_running_containers_and_asks_the_daemon_sparingly() -> None:
    ctx = DockerFakeContext()
    s = ContainerSuggester(lambda: ctx, ttl=3600)
    assert await s.get_suggestion("we") == "web1"
    assert await s.get_suggestion("web-") is None  # exited: not offered
    assert await s.get_suggestion("web1") is None  # already whole
    assert await s.get_suggestion("aaaa") == "a" * 12  # a short id completes too
    assert await s.get_suggestion("") is None
    assert ctx.client.api.calls == 1  # one listing for all of these


async def test_suggester_without_a_daemon_completes_nothing() -> None:
    def broken() -> Any:
        raise RuntimeError("no daemon")

    assert await ContainerSuggester(lambda: FakeContext()).get_suggestion("we") is None  # docker_host None
    assert await ContainerSuggester(broken).get_suggestion("we") is None
