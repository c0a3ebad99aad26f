"""The agent's `interfaces` and `start`'s `interface` on pipes (no BPF: the interface list is fixed and
the probe session a fake): the list comes back as the app's chooser reads it, `start` passes the
interface on to the probe, and an interface the host lacks is refused naming the real ones."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.events.bus import Bus
from beefine_tui.probes import xdp_runner
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.xdp_runner import InterfaceInfo
from tests.unit.test_agent_protocol import Harness

IFACES = [
    InterfaceInfo(name="lo", index=1, kind="loopback", operstate="UNKNOWN", has_xdp=False),
    InterfaceInfo(name="veth9", index=7, kind="veth", operstate="UP", has_xdp=True, xdp_prog_id=42, mac="aa"),
]


@pytest.fixture
def h(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harness, list[ProbeOptions]]]:
    monkeypatch.setattr(xdp_runner, "list_interfaces", lambda: list(IFACES))
    har = Harness()
    seen: list[ProbeOptions] = []
    start = har.agent._start_session
    assert start is not None

    def recording(names: Sequence[str], options: ProbeOptions, bus: Bus) -> Any:
        seen.append(options)
        return start(names, options, bus)

    har.agent._start_session = recording
    try:
        yield har, seen
    finally:
        if not har.inp.closed:
            har.close()


def test_interfaces_lists_the_hosts(h: tuple[Harness, list[ProbeOptions]]) -> None:
    har, _ = h
    har.cmd("hello", 0, protocol=P.PROTOCOL)
    hello = har.read()
    assert isinstance(hello, P.Reply) and "interfaces" in hello.result["capabilities"]
    har.cmd("interfaces", 1)
    m = har.read()
    assert isinstance(m, P.Reply) and m.id == 1
    assert [msgspec.convert(d, InterfaceInfo) for d in m.result] == IFACES


def test_start_takes_a_host_interface_and_refuses_others(
    h: tuple[Harness, list[ProbeOptions]],
) -> None:
    har, seen = h
    har.hello()
    har.cmd("start", 1, probes=["xdp"], interface="veth9")
    m = har.read()
    assert isinstance(m, P.Reply) and m.id == 1
    assert [o.interface for o in seen] == ["veth9"]
    har.cmd("stop", 2, stream=m.result["stream"])
    har.until(lambda x: isinstance(x, P.Reply) and x.id == 2)
    for bad, said in (("eth9", "no network interface named 'eth9'"), ("", "interface"), (3, "interface")):
        har.cmd("start", 3, probes=["xdp"], interface=bad)
        e = har.read()
        assert isinstance(e, P.Error) and e.code == P.BAD_ARGS and said in e.message, (bad, e)
        if bad == "eth9":
            assert "lo (loopback)" in e.hint and "veth9 (veth)" in e.hint  # the real ones
    assert len(seen) == 1  # nothing started for a refused one
