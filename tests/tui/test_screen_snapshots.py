"""Snapshots of the Load eBPF screens at 80x24, 120x40 and 200x60: the Trace syscalls picker (every
probe readable, on/off as text), Inspect network with counts, Your programs. Deterministic: fixed
events, frozen clock, nothing from this machine.

After an intended visual change:
    .venv/bin/python -m pytest tests/tui/test_screen_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest

from beefine_tui.events.model import Event
from beefine_tui.screens.probe_view import ProbeChoice, ProbeView
from beefine_tui.widgets.event_log import EventLog
from tests.tui.conftest import MakeApp
from tests.tui.conftest import wait_long as wait_until
from tests.tui.events_fixture import BASE_TS

SIZES = [(80, 24), (120, 40), (200, 60)]


async def shell_ready(pilot: Any) -> None:
    await wait_until(pilot, lambda: bool(pilot.app.screen_stack) and bool(pilot.app.shell.query("#tabs")))
    await pilot.pause()


def picker_text(choice: ProbeChoice) -> list[str]:
    return ["".join(seg.text for seg in choice.render_line(y)) for y in range(choice.size.height)]


async def test_picker_marks_on_and_off_in_text(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shell_ready(pilot)
        view = app.shell.open_view("trace-syscalls")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: bool(view.query(ProbeChoice)))
        choice = view.query_one(ProbeChoice)
        choice.select(choice.get_option_at_index(0).value)
        await pilot.pause()
        rows = picker_text(choice)
        assert rows[0].startswith("[x] ") and rows[1].startswith("[ ] ")
        assert "▐" not in "".join(rows)
        # every probe has a row on screen at 120x40
        assert choice.size.height >= choice.option_count


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_trace_syscalls_picker(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app()

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        view = app.shell.open_view("trace-syscalls")
        await wait_until(pilot, lambda: bool(view.query(ProbeChoice)))
        choice = view.query_one(ProbeChoice)
        choice.select(choice.get_option_at_index(0).value)
        choice.select(choice.get_option_at_index(2).value)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def xdp_counts(ts_ms: int, total: int) -> Event:
    from beefine_tui.probes.xdp_runner import COUNTER_SLOTS, counts_event

    share = {"total": total, "ipv4": total - 4, "ipv6": 2, "arp": 2, "udp": total - 10, "tcp": 6}
    sums = [(share.get(n, 0), share.get(n, 0) * 98) for n in COUNTER_SLOTS]
    return counts_event("bfx0a", 7, sums, ts=BASE_TS + ts_ms * 1_000_000)


def xdp_packet(i: int) -> Event:
    from beefine_tui.probes.xdp import XdpPacketArgs

    args = XdpPacketArgs(
        ifname="bfx0a",
        len=98,
        eth_src="02:42:0a:d5:01:02",
        eth_dst="02:42:0a:d5:01:01",
        eth_proto=0x0800,
        src="10.213.1.2",
        dst="10.213.1.1",
        l4=17,
        sport=40000 + i,
        dport=5353,
    )
    return Event(ts=BASE_TS + i * 10_000_000, probe="xdp", kind="xdp_packet", args=args)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_inspect_network(
    snap_compare: Any, make_app: MakeApp, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from beefine_tui.screens import network_view

    monkeypatch.setattr(
        network_view,
        "list_interfaces",
        lambda ctx, host=None: [("bfx0a  veth up", "bfx0a"), ("lo  loopback up", "lo")],
    )
    app = make_app()

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        view = app.shell.open_view("network")
        assert isinstance(view, network_view.NetworkView)
        await wait_until(pilot, lambda: view.is_mounted)
        for n, total in enumerate((0, 120, 260, 300)):
            view._counts(xdp_counts(n * 1000, total))
        view.query_one(EventLog).add_events([xdp_packet(i) for i in range(30)])
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def fake_programs() -> list[Any]:
    from beefine_tui.probes import inventory as inv

    rows = []
    for i, (typ, name, runs) in enumerate(
        [
            ("tracepoint", "sys_enter_execve", 5),
            ("xdp", "beefine_xdp", 9000),
            ("cgroup_skb", "sd_fw_egress", None),
        ]
    ):
        rows.append(
            inv.ProgRow(
                prog=inv.ProgInfo(
                    id=40 + i, type=typ, name=name, run_cnt=runs, run_time_ns=(runs or 0) * 310
                ),
                owners=(1, 4242),
                owner_comms=("systemd", "beefine-tui-with-a-long-name"),
                ours=typ == "xdp",
            )
        )
    return rows


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_loaded_programs(
    snap_compare: Any, make_app: MakeApp, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from beefine_tui.probes import inventory as inv
    from beefine_tui.screens.programs_list import ProgramsListView

    monkeypatch.setattr(inv, "inventory", fake_programs)
    monkeypatch.setattr(inv, "counting", lambda: False)
    app = make_app()

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        view = app.shell.open_view("loaded-programs")
        assert isinstance(view, ProgramsListView)
        view.refresh_s = 3600.0
        await wait_until(pilot, lambda: len(view.rows) == 3 and not view._busy)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_your_programs(snap_compare: Any, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app()

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        app.shell.open_view("user-programs")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_helpers(
    snap_compare: Any, make_app: MakeApp, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from beefine_tui.screens import helpers_view

    helpers = [
        (
            "bpf_map_lookup_elem",
            "void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)",
            "Look up a key.",
        ),
        (
            "bpf_ktime_get_ns",
            "u64 bpf_ktime_get_ns(void)",
            "Time since boot in nanoseconds (CLOCK_MONOTONIC).",
        ),
        (
            "bpf_ringbuf_output",
            "long bpf_ringbuf_output(void *ringbuf, void *data, u64 size, u64 flags)",
            # long enough to be cut with an ellipsis at 80 and 120 columns, whole at 200
            "Copy data into a ring buffer. If BPF_RB_NO_WAKEUP is specified in flags, no notification of "
            "new data availability is sent.",
        ),
    ]
    monkeypatch.setattr(helpers_view, "program_types", lambda: ["tracepoint", "xdp"])
    monkeypatch.setattr(helpers_view, "helpers_for", lambda t: helpers)
    app = make_app()

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        view = app.shell.open_view("helpers")
        await wait_until(pilot, lambda: view.is_mounted and len(getattr(view, "helpers", [])) == 3)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_trace_exec_uses_the_room_at_200x60(snap_compare: Any, make_app: MakeApp) -> None:
    from tests.tui.events_fixture import exec_events, lost

    # recorded events delivered out of order: the log shows them in time order from 0
    events = exec_events(60)
    events = events[30:] + events[:30]
    app = make_app([*events, lost("exec", 3, "kernel")])

    async def run_before(pilot: Any) -> None:
        await shell_ready(pilot)
        view = app.shell.open_view("trace-exec")
        assert isinstance(view, ProbeView)
        await wait_until(pilot, lambda: view.is_mounted and view.event_log.total == 61)
        times = [float(line.split()[0]) for line in view.event_log.lines()]
        assert times == sorted(times) and times[0] >= 0
        view.strip.refresh_counts()
        view.event_log.log_widget.focus()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(200, 60), run_before=run_before)
