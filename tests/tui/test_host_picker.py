"""Several --remote hosts: a host-wide view asks which host (HostPicker), every key of the picker does
what its line says, the tab is named after the host and its data come from that host's agent (the
stand-in agent behind a stand-in ssh, tests/fake_agent.py); one host asks nothing. Snapshots of the
picker at 80x24, 120x40 and 200x60 over a context with fixed hosts (nothing from this machine)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import OptionList, Select, TabbedContent

from beefine_tui.agent import remote_context as R
from beefine_tui.app import BeefineApp
from beefine_tui.errors import BeefineError
from beefine_tui.probes.catalog import all_probes
from beefine_tui.screens.helpers_view import HelpersView
from beefine_tui.screens.host_picker import HostPicker
from beefine_tui.screens.network_view import NetworkView
from beefine_tui.screens.probe_view import ProbeView
from beefine_tui.screens.programs_list import ProgramsListView
from beefine_tui.screens.shell import host_wide
from beefine_tui.screens.user_programs import UserProgramsView
from tests.fake_agent import install_fake_ssh
from tests.tui.conftest import FakeContext, FrozenClock, wait_long
from tests.waiting import eventually

SIZES = [(80, 24), (120, 40), (200, 60)]


# ---- a context with fixed hosts: the picker's keys and look, no agent needed


@dataclass
class _Status:
    state: str


@dataclass
class _Link:
    label: str
    status: _Status

    def client_or_raise(self) -> Any:
        # the views opened here ask nothing of a host: they say it is not connected
        raise BeefineError(f"{self.label}: not connected (a test host)")


class HostsContext(FakeContext):
    """Three hosts, the third one's connection lost."""

    HOSTS = ("h1", "db2.example:2222", "kube/node-3")

    def hosts(self) -> list[str]:
        return list(self.HOSTS)

    def host_link(self, host: str | None = None) -> Any:
        return _Link(str(host), _Status("lost" if host == "kube/node-3" else "up"))


def hosts_app() -> BeefineApp:
    return BeefineApp(HostsContext(), clock=FrozenClock())


async def _ready(pilot: Any) -> None:
    await wait_long(pilot, lambda: bool(pilot.app.screen_stack) and bool(pilot.app.shell.query("#tabs")))
    await pilot.pause()


async def _picker(pilot: Any, key: str = "helpers") -> HostPicker:
    picker = pilot.app.shell.open_view(key)
    assert isinstance(picker, HostPicker)
    await wait_long(pilot, lambda: pilot.app.screen is picker and picker.query(OptionList))
    await pilot.pause()
    return picker


def _tabs(app: BeefineApp) -> list[str]:
    return app.shell.open_tab_ids()


def test_which_views_ask() -> None:
    for key in (
        "helpers",
        "network",
        "loaded-programs",
        "user-programs",
        "trace-exec",
        "trace-syscalls",
        "probe:exec",
        "network:eth0",
    ):
        assert host_wide(key), key
    for key in ("dashboard", "container-syscalls", "probe:syscalls", "container-monitor", "compare"):
        assert not host_wide(key), key


@pytest.mark.parametrize(
    "keys, host",
    [
        (["2"], "db2.example:2222"),
        (["3"], "kube/node-3"),
        (["enter"], "h1"),
        (["j", "enter"], "db2.example:2222"),
        (["down", "down", "enter"], "kube/node-3"),
        (["G", "k", "enter"], "db2.example:2222"),
        (["G", "up", "enter"], "db2.example:2222"),
        (["G", "g", "enter"], "h1"),
        (["j", "j", "j", "enter"], "h1"),  # past the last: back to the first, as OptionList does
        (["9", "1"], "h1"),  # a number with no host does nothing
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
async def test_picker_keys_open_the_view_on_that_host(keys: list[str], host: str) -> None:
    app = hosts_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        picker = await _picker(pilot)
        for k in keys:
            await pilot.press(k)
        await wait_long(pilot, lambda: app.screen is not picker)
        await wait_long(pilot, lambda: len(_tabs(app)) == 2)
        view = app.shell.active_view()
        assert isinstance(view, HelpersView) and view.host == host
        tabs = app.shell.query_one("#tabs", TabbedContent)
        assert str(tabs.get_tab(_tabs(app)[1]).label) == f"Helper functions @{host}"


@pytest.mark.parametrize("key", ["escape", "q"])
async def test_esc_and_q_open_nothing(key: str) -> None:
    app = hosts_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        picker = await _picker(pilot, "trace-exec")
        await pilot.press(key)
        await wait_long(pilot, lambda: app.screen is not picker)
        await pilot.pause()
        assert _tabs(app) == ["tab-welcome"] and app.is_running


async def test_one_tab_per_host_and_again_focuses_it() -> None:
    app = hosts_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        for n in ("1", "2", "1"):
            await _picker(pilot, "trace-exec")
            await pilot.press(n)
            await wait_long(pilot, lambda: not isinstance(app.screen, HostPicker))
            await pilot.pause()
        assert _tabs(app) == ["tab-welcome", "tab-trace-exec-h1", "tab-trace-exec-db2-example-2222"]
        assert app.shell.query_one("#tabs", TabbedContent).active == "tab-trace-exec-h1"


async def test_the_picker_says_which_host_is_not_connected() -> None:
    app = hosts_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        picker = await _picker(pilot)
        ol = picker.query_one(OptionList)
        lines = [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]
        assert lines == ["1  h1", "2  db2.example:2222", "3  kube/node-3  (lost)"]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_picker_snapshot(snap_compare: Any, size: tuple[int, int]) -> None:
    app = hosts_app()

    async def run_before(pilot: Any) -> None:
        await _ready(pilot)
        await _picker(pilot, "loaded-programs")
        await pilot.press("j")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# ---- two real links to stand-in agents: each view reads the host it was opened on


@pytest.fixture
def two_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[R.RemoteContext]:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    c = R.connect_remotes(["h1", "admin@h2:2200"])
    yield c
    c.close()


async def _open_on(pilot: Any, key: str, number: str) -> Any:
    app = pilot.app
    picker = await _picker(pilot, key)
    before = set(_tabs(app))
    await pilot.press(number)
    opened = lambda: app.screen is not picker and len(set(_tabs(app)) - before) == 1  # noqa: E731
    await eventually(opened, f"{key} never opened")
    return app.shell.active_view()


async def test_each_host_wide_view_reads_the_host_it_was_opened_on(two_hosts: R.RemoteContext) -> None:
    app = BeefineApp(two_hosts)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        progs2 = await _open_on(pilot, "loaded-programs", "2")
        assert isinstance(progs2, ProgramsListView)
        await eventually(lambda: 7 in progs2.rows, "h2's programs never showed")
        assert progs2.rows[7].name == "h2_sd_fw"
        progs1 = await _open_on(pilot, "loaded-programs", "1")
        assert isinstance(progs1, ProgramsListView)
        await eventually(lambda: 7 in progs1.rows, "h1's programs never showed")
        assert progs1.rows[7].name == "h1_sd_fw"

        helpers = await _open_on(pilot, "helpers", "2")
        assert isinstance(helpers, HelpersView)
        await eventually(lambda: bool(helpers.helpers), "h2's helpers never came")
        assert helpers.source is not None and helpers.source.host == "h2:2200"

        net = await _open_on(pilot, "network", "2")
        assert isinstance(net, NetworkView)
        await eventually(lambda: bool(net.query("#iface")), "Inspect network never mounted")
        sel = net.query_one("#iface", Select)
        await eventually(
            lambda: {o[1] for o in sel._options if isinstance(o[1], str)} == {"lo", "eth-h2"}, "h2's"
        )
        sel.value = "eth-h2"
        net.start()
        await eventually(lambda: net.session is not None, "XDP never started on h2")
        assert net.session.link.label == "h2:2200" and net.session.options["interface"] == "eth-h2"

        trace = await _open_on(pilot, "trace-exec", "2")
        assert isinstance(trace, ProbeView)
        await eventually(lambda: any("h2-event-" in ln for ln in trace.event_log.lines()), "no h2 events")
        assert not any("h1-event-" in ln for ln in trace.event_log.lines())
        assert trace.session.link.label == "h2:2200" and trace.session.container is None

        mine = await _open_on(pilot, "user-programs", "2")
        assert isinstance(mine, UserProgramsView)
        await eventually(lambda: bool(mine.query("#source")), "Your programs never mounted")
        from textual.widgets import TextArea

        mine.query_one("#source", TextArea).text = "// name: there\nint f(void *ctx) { return 0; }\n"
        mine.action_load()
        await eventually(lambda: "user:there" in mine.loaded, "the program never loaded")
        prog = mine.loaded["user:there"].runner
        assert isinstance(prog, R.RemoteProgram) and prog.host == "h2:2200"
        # h2's Loaded programs lists it as its agent's; h1's does not
        progs2.action_refresh_now()
        await eventually(lambda: 901 in progs2.rows, "h2 does not list the program loaded there")
        progs1.action_refresh_now()
        await asyncio.sleep(0.5)
        assert 901 not in progs1.rows
        await pilot.pause()


async def test_xdp_on_a_named_interface_asks_the_host_too(two_hosts: R.RemoteContext) -> None:
    """`network:IFNAME` (the command line's --open, the palette) with several hosts: the picker asks,
    and XDP starts on that interface of the host chosen (it went to the first host unasked)."""
    app = BeefineApp(two_hosts)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        net = await _open_on(pilot, "network:eth-h2", "2")
        assert isinstance(net, NetworkView)
        await eventually(lambda: net.session is not None, "XDP never started on h2")
        assert net.session.link.label == "h2:2200" and net.session.options["interface"] == "eth-h2"
        assert "tab-network-h2-2200" in _tabs(app)  # its own tab, named after the host
