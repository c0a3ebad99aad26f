"""Helper functions and Loaded programs in the TUI over --remote, through a real sshd on 127.0.0.1 to an
agent on this same machine (so the host's kernel is this kernel):
- the Helper functions view lists exactly the program types and, per type, the helpers this process
  computes locally (the agent checked them by loading, on its side);
- the Loaded programs view lists a program this test loaded, with the id and the holder bpftool
  reports; `u` refuses it (the agent did not load it) and it stays loaded; a program the agent loaded
  for Your programs is listed as held by the agent's pid (its /proc fdinfo), and `u` unloads it
  there (bpftool no longer shows it);
- once the app is closed, the agent is gone and no program is held by it;
- Inspect network lists the host's interfaces and its agent attaches XDP to the one chosen."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.widgets import DataTable, Select

from beefine_tui.agent import remote_context as R
from beefine_tui.app import BeefineApp
from beefine_tui.probes import helpers_catalog as hc
from beefine_tui.probes.catalog import all_probes
from beefine_tui.probes.user_program import UserBccProgram
from beefine_tui.screens.helpers_view import HelpersView
from beefine_tui.screens.programs_list import ProgramsListView
from tests.integration.test_xdp import Pair, send_udp, sh, veth_pair, xdp_of
from tests.ssh_fixtures import Sshd
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]

# one run per execve, like tests/integration/test_inventory.py's, under names of this test's own
MINE = """// name: hv-here
BPF_ARRAY(hits, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_execve) { hits.increment(0); return 0; }
"""
THEIRS = """// name: hv-agent
BPF_ARRAY(hits, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_execve) { hits.increment(0); return 0; }
"""


async def _until(cond: Callable[[], bool], what: str, timeout: float = 240) -> None:
    await eventually(cond, what, timeout)


def bpftool_progs() -> dict[int, dict[str, Any]]:
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True, capture_output=True).stdout
    return {int(p["id"]): p for p in json.loads(out or b"[]")}


def held_by(pid: int) -> set[int]:
    """The program ids `pid` holds an fd to, read straight from the kernel's /proc/PID/fdinfo (bpftool
    here is built without its `pids` report)."""
    ids: set[int] = set()
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for f in fdinfo.iterdir() if fdinfo.exists() else ():
        try:
            text = f.read_text()
        except OSError:
            continue  # closed meanwhile
        ids |= {int(line.split()[1]) for line in text.splitlines() if line.startswith("prog_id:")}
    return ids


@pytest.fixture
def remote(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Iterator[R.RemoteContext]:
    all_probes()
    monkeypatch.setenv("BEEFINE_SSH", f"ssh -F {sshd.client_config('bfviews')}")
    monkeypatch.setenv(
        "BEEFINE_AGENT_COMMAND",
        # no Docker is asked: helpers and progs are the kernel's
        f"env BEEFINE_AGENT_TAG=views{os.getpid()} PYTHONPATH={REPO / 'src'} "
        f"DOCKER_HOST=unix:///nonexistent/docker.sock {sys.executable} -m beefine_tui agent",
    )
    ctx = R.connect_remotes([f"root@bfviews:{sshd.port}"])
    try:
        yield ctx
    finally:
        ctx.close()


def _shows(view: HelpersView, t: str, want: list[tuple[str, str, str]]) -> Callable[[], bool]:
    return lambda: view.prog_type == t and view.helpers == want


async def test_remote_helpers_are_this_kernels(remote: R.RemoteContext) -> None:
    kh, docs = hc.probe_kernel(), hc.load_docs()
    app = BeefineApp(remote)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("helpers")
        assert isinstance(view, HelpersView)
        await _until(lambda: bool(view.helpers), "the host's helpers never came")
        sel = view.query_one("#ptype", Select)
        assert {o[1] for o in sel._options if isinstance(o[1], str)} == set(kh.types)
        for t in ("xdp", "tracepoint", "socket_filter"):
            local = [(h.name, h.signature, h.description) for h in hc.helpers_for(t, kernel=kh, docs=docs)]
            sel.value = t
            await _until(_shows(view, t, local), f"{t}: not this kernel's helpers")
            assert view.attach_note == kh.attach_notes.get(t, "")
        await pilot.pause()


async def test_remote_loaded_programs_list_the_hosts_and_unload_the_agents(remote: R.RemoteContext) -> None:
    here = UserBccProgram(MINE, "hv.c")
    here.start(lambda batch: None)
    agent_pid = 0
    theirs: tuple[int, ...] = ()
    try:
        (mine,) = here.prog_ids
        assert mine in held_by(os.getpid()) and mine in bpftool_progs()
        link_client = remote.links[0].client
        assert link_client is not None
        agent_pid = int(link_client.hello["pid"])
        app = BeefineApp(remote)
        async with app.run_test(size=(160, 40)) as pilot:
            view = app.shell.open_view("loaded-programs")
            assert isinstance(view, ProgramsListView)
            await _until(lambda: mine in view.rows, "the program this test loaded is not listed")
            row = view.rows[mine]
            assert row.name == bpftool_progs()[mine]["name"]
            assert str(os.getpid()) in row.owner and not row.ours  # this test holds it, not the agent

            table = view.query_one(DataTable)
            table.focus()
            table.move_cursor(row=table.get_row_index(str(mine)))
            await pilot.press("u")
            await _until(
                lambda: "not loaded by this app's agent" in str(view.query_one(".notice").render()), "u"
            )
            assert mine in bpftool_progs()  # refused: still loaded

            prog = await asyncio.to_thread(remote.start_user_program, THEIRS, "hv-agent.c")
            theirs = tuple(prog.prog_ids)
            assert theirs and set(theirs) <= held_by(agent_pid) and set(theirs) <= set(bpftool_progs())
            view.action_refresh_now()
            await _until(lambda: all(i in view.rows for i in theirs), "the agent's program is not listed")
            assert all(view.rows[i].ours for i in theirs)
            table.move_cursor(row=table.get_row_index(str(theirs[0])))
            await pilot.press("u")
            await _until(
                lambda: not any(i in bpftool_progs() for i in theirs), "u did not unload it on the host"
            )
            view.action_refresh_now()
            await _until(lambda: not any(i in view.rows for i in theirs), "still listed after unloading")
            assert mine in view.rows
    finally:
        here.stop()
    # the app and its link are closed by the fixture; the agent must end and hold nothing
    remote.close()
    for _ in range(100):
        if not psutil.pid_exists(agent_pid):
            break
        await asyncio.sleep(0.1)
    assert not psutil.pid_exists(agent_pid)  # so it holds nothing any more
    left = bpftool_progs()
    assert mine not in left and not any(i in left for i in theirs)


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A veth pair of this test's own (the peer in a netns): XDP goes on our end, never on a shared one."""
    with veth_pair("r", 214) as p:
        yield p


def rx_packets(ifname: str) -> int:
    return int(
        json.loads(sh("ip", "-j", "-s", "link", "show", "dev", ifname).stdout)[0]["stats64"]["rx"]["packets"]
    )


async def test_remote_network_attaches_xdp_on_the_hosts_interface(
    remote: R.RemoteContext, pair: Pair
) -> None:
    """Inspect network over --remote: the chooser lists the host's interfaces (`ip link`'s names), Start
    has the host's agent attach XDP to our veth (`ip link` shows it, the agent holds the program), the
    packets the test sends are counted (no more than the interface received, `ip -s link`), and Stop
    detaches it there."""
    from beefine_tui.screens.network_view import NetworkView

    link_client = remote.links[0].client
    assert link_client is not None
    agent_pid = int(link_client.hello["pid"])
    app = BeefineApp(remote)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.shell.open_view("network")
        assert isinstance(view, NetworkView)
        await _until(lambda: view.is_mounted and bool(view.query("#iface")), "Inspect network never mounted")
        sel = view.query_one("#iface", Select)
        names = lambda: {o[1] for o in sel._options if isinstance(o[1], str)}  # noqa: E731
        await _until(lambda: pair.host in names(), "the host's interfaces never showed")
        assert "lo" in names()
        label = next(str(o[0]) for o in sel._options if o[1] == pair.host)
        assert "veth" in label  # the kind `ip -d link` gives it on the host
        rx0 = rx_packets(pair.host)
        sel.value = pair.host
        view.start()
        await _until(lambda: view.session is not None and xdp_of(pair.host) is not None, "XDP never attached")
        xdp = xdp_of(pair.host)
        assert xdp is not None and "beefine_xdp" in json.dumps(xdp)
        prog = xdp.get("prog")
        prog_id = int(prog["id"]) if isinstance(prog, dict) else 0
        assert prog_id and prog_id in held_by(agent_pid), "the host's agent must hold the XDP program"
        send_udp(pair, 9, 50)
        table = view.query_one("#protocols", DataTable)

        def total() -> int:
            return (
                int(str(table.get_cell("total", "packets")).replace(",", "")) if "total" in table.rows else 0
            )

        await _until(lambda: total() >= 50, "the packets sent were not counted")
        assert total() <= rx_packets(pair.host) - rx0  # XDP saw no more than the interface received
        view.stop_view()
        await _until(lambda: xdp_of(pair.host) is None, "Stop did not detach XDP on the host")
        await pilot.pause()
