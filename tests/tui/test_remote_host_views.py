"""Helper functions, Loaded programs and Inspect network over --remote, against the stand-in agent
behind a stand-in ssh (tests/fake_agent.py): the lists are the host's (its agent's `helpers`,
`progs`, `progs_stats`, `interfaces`), `u` unloads a program this app had the agent load and refuses
any other with the reason, `c` shows the run counts the agent measured there, and XDP attaches to
the host's interface."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Select, Static

from beefine_tui.agent import remote_context as R
from beefine_tui.app import BeefineApp
from beefine_tui.probes.catalog import all_probes
from beefine_tui.screens.helpers_view import HelpersView
from beefine_tui.screens.programs_list import ProgramsListView
from tests.fake_agent import fake_helpers, install_fake_ssh
from tests.waiting import eventually


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[R.RemoteContext]:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    c = R.connect_remotes(["root@far:2222"])
    yield c
    c.close()


def _notice(view: HelpersView | ProgramsListView) -> str:
    return str(view.query_one(".notice", Static).render()) if view.is_mounted else ""


async def test_helpers_are_the_hosts_kernels(ctx: R.RemoteContext) -> None:
    kh, _docs = fake_helpers()
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("helpers")
        assert isinstance(view, HelpersView)
        await eventually(lambda: view.prog_type is not None and bool(view.helpers), "no helpers came")
        sel = view.query_one("#ptype", Select)
        options = {o[1] for o in sel._options if isinstance(o[1], str)}
        assert options == set(kh.types)  # the host's types, not this machine's
        sel.value = "xdp"
        await eventually(lambda: "helpers for xdp on far:2222's kernel" in _notice(view), _notice(view))
        assert "generic mode only" in _notice(view)  # the host's attach note
        assert [n for n, _s, _d in view.helpers] == list(kh.by_type["xdp"])
        # the host's docs of its helpers travel with them
        assert any(n == "bpf_xdp_adjust_head" and "xdp_md" in sig for n, sig, _d in view.helpers)
        await pilot.pause()


def _ids(view: ProgramsListView) -> set[int]:
    return set(view.rows)


async def test_loaded_programs_are_the_hosts_and_u_unloads_only_the_agents(ctx: R.RemoteContext) -> None:
    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("loaded-programs")
        assert isinstance(view, ProgramsListView)
        await eventually(lambda: 7 in _ids(view), "the host's programs never showed")
        assert view.rows[7].name == "far_sd_fw" and view.rows[7].owner == "1/systemd"
        assert "on far:2222" in _notice(view)
        table = view.query_one(DataTable)

        # someone else's program: refused, with why
        table.focus()
        table.move_cursor(row=table.get_row_index("7"))
        await pilot.press("u")
        await eventually(lambda: "not loaded by this app's agent" in _notice(view), _notice(view))

        # a program the agent loaded for this app: listed as the agent's, and `u` unloads it there
        source = "// name: mine\nint f(void *c) { return 0; }\n"
        prog = await asyncio.to_thread(ctx.start_user_program, source)
        assert isinstance(prog, R.RemoteProgram) and prog.prog_ids == (901,)
        await pilot.press("r")
        await eventually(lambda: 901 in _ids(view), "the agent's program never showed")
        assert view.rows[901].ours
        table.move_cursor(row=table.get_row_index("901"))
        await pilot.press("u")
        await eventually(lambda: prog.stopped and prog.program is None, "u did not unload it")
        assert "Unloading program 901" in _notice(view)
        await pilot.press("r")
        await eventually(lambda: 901 not in _ids(view), "the agent still lists it: not unloaded there")

        # run counts: measured by the agent during each refresh
        await pilot.press("c")
        await eventually(lambda: "Run counts on at far:2222" in _notice(view), _notice(view))
        await pilot.press("r")
        await eventually(lambda: str(table.get_cell("7", "runs/s")) == "70", "the agent's rates never showed")
        assert str(table.get_cell("7", "avg ns")) == "50"
        await pilot.press("c")
        await eventually(lambda: "Run counts off" in _notice(view), _notice(view))


async def test_network_lists_the_hosts_interfaces_and_counts_there(ctx: R.RemoteContext) -> None:
    """Inspect network over --remote: the chooser lists the host's interfaces (its agent's
    `interfaces`), Start asks the agent for the xdp probe on the one chosen, and its counts fill the
    table; an interface the host does not have is refused with the agent's reason."""
    from beefine_tui.screens.network_view import NetworkView

    app = BeefineApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("network")
        assert isinstance(view, NetworkView)
        sel = await _select_of(view)
        await eventually(
            lambda: {o[1] for o in sel._options if isinstance(o[1], str)} == {"lo", "eth-far"}, "ifaces"
        )
        sel.value = "eth-far"
        view.start()
        await eventually(lambda: view.session is not None, "the xdp stream never started")
        assert view.session.options.get("interface") == "eth-far" and view.session.names == ("xdp",)
        table = view.query_one("#protocols", DataTable)
        await eventually(
            lambda: "total" in table.rows and str(table.get_cell("total", "packets")) != "10", "no counts"
        )
        assert str(table.get_cell("total", "pkt/s")) == "20"  # 10 more every 0.5 s, by the agent's clock
        view.stop_view()
        await eventually(lambda: view.session is None and view.session is None, "not stopped")

        # the stand-in agent refuses an interface it does not have, as the real one does
        with pytest.raises(Exception, match="no network interface named 'eth0'"):
            from beefine_tui.probes.base import ProbeOptions

            await asyncio.to_thread(ctx.start_probes, ["xdp"], ProbeOptions(interface="eth0"))
        await pilot.pause()


async def _select_of(view: Any) -> Select[str]:
    await eventually(lambda: view.is_mounted and bool(view.query("#iface")), "the view never mounted")
    sel: Select[str] = view.query_one("#iface", Select)
    return sel
