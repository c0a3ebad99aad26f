"""The xdp probe on our own veth pair: counts, samples, refusal, errors, and what SIGKILL leaves."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from beefine_tui.errors import NotFoundError, ProbeLoadError
from beefine_tui.events.model import Event
from beefine_tui.probes import xdp
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.xdp_runner import XdpCountsArgs, XdpPacketArgs, XdpRunner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@dataclass(frozen=True)
class Pair:
    host: str  # our end, in the host namespace: XDP goes here (ingress)
    peer: str
    netns: str
    host_ip: str
    peer_ip: str


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=check)


def xdp_of(ifname: str) -> dict[str, object] | None:
    out = sh("ip", "-j", "-d", "link", "show", "dev", ifname, check=False).stdout
    items = json.loads(out or "[]")
    return items[0].get("xdp") if items else None


def loaded(prog_id: int) -> bool:
    return sh("bpftool", "prog", "show", "id", str(prog_id), check=False).returncode == 0


@contextlib.contextmanager
def veth_pair(tag: str, subnet: int) -> Iterator[Pair]:
    """A veth pair of the calling test's own, its peer in a netns of its own: XDP goes on our end,
    never on a shared interface. `tag` keeps two tests' names apart, `subnet` their addresses."""
    n = os.getpid() % 10000
    octet = os.getpid() % 250
    p = Pair(
        f"bf{tag}{n}a",
        f"bf{tag}{n}b",
        f"beefine-{tag}xdp-{os.getpid()}",
        f"10.{subnet}.{octet}.1",
        f"10.{subnet}.{octet}.2",
    )
    try:
        sh("ip", "netns", "add", p.netns)
        sh("ip", "link", "add", p.host, "type", "veth", "peer", "name", p.peer)
        sh("ip", "link", "set", p.peer, "netns", p.netns)
        sh("ip", "addr", "add", f"{p.host_ip}/30", "dev", p.host)
        sh("ip", "link", "set", p.host, "up")
        sh("ip", "netns", "exec", p.netns, "ip", "addr", "add", f"{p.peer_ip}/30", "dev", p.peer)
        sh("ip", "netns", "exec", p.netns, "ip", "link", "set", p.peer, "up")
        yield p
    finally:
        sh("ip", "link", "del", p.host, check=False)
        sh("ip", "netns", "del", p.netns, check=False)


@pytest.fixture
def pair() -> Iterator[Pair]:
    with veth_pair("x", 213) as p:
        yield p
    assert xdp_of(p.host) is None


def send_udp(p: Pair, port: int, count: int) -> None:
    """From inside the peer namespace to our end: the packets arrive on p.host's ingress."""
    code = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" + (
        f"for i in range({count}): s.sendto(b'beefine' * 8, ('{p.host_ip}', {port}))\n"
    )
    sh("ip", "netns", "exec", p.netns, sys.executable, "-c", code)


def wait_for(pred: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def last_counts(events: list[Event]) -> XdpCountsArgs:
    counts = [e.args for e in events if isinstance(e.args, XdpCountsArgs)]
    return counts[-1] if counts else XdpCountsArgs(ifname="")


def test_counts_and_samples_of_our_udp(pair: Pair) -> None:
    got: list[Event] = []
    port, sent = 40000 + os.getpid() % 20000, 50
    runner = xdp.make_runner(ProbeOptions(interface=pair.host, sample_every=1))
    runner.start(got.extend)
    try:
        assert runner.attach_mode == "link"
        prog_id = runner.prog_id
        assert prog_id is not None
        info = xdp_of(pair.host)
        assert info is not None and "beefine_xdp" in json.dumps(info)
        send_udp(pair, port, sent)
        assert wait_for(lambda: last_counts(got).count("udp").packets >= sent)
    finally:
        runner.stop()
        runner.stop()
    counts = last_counts(got)
    assert counts.count("udp").packets >= sent and counts.count("ipv4").packets >= sent
    assert counts.count("udp").bytes >= sent * (14 + 20 + 8 + 56)
    mine = [e for e in got if e.kind == "xdp_packet" and e.args.get("dport") == port]
    assert len(mine) == sent, "sample_every=1: every packet to our port is sampled"
    a = mine[0].args
    assert isinstance(a, XdpPacketArgs)
    assert (a.ifname, a.eth_proto, a.l4, a.src, a.dst) == (pair.host, 0x0800, 17, pair.peer_ip, pair.host_ip)
    assert a.shown()["l3"] == "ipv4" and a.shown()["l4"] == "udp"
    assert a.len == 14 + 20 + 8 + 56
    assert not [e for e in got if e.kind in ("lost", "status")]
    assert xdp_of(pair.host) is None, "detached after stop"
    assert wait_for(lambda: not loaded(prog_id)), "program unloaded after stop"


def test_sampling_one_in_n(pair: Pair) -> None:
    got: list[Event] = []
    port, sent = 40000 + os.getpid() % 20000, 40
    runner = xdp.make_runner(ProbeOptions(interface=pair.host, sample_every=4))
    runner.start(got.extend)
    try:
        send_udp(pair, port, sent)
        assert wait_for(lambda: last_counts(got).count("udp").packets >= sent)
    finally:
        runner.stop()
    mine = [e for e in got if e.kind == "xdp_packet" and e.args.get("dport") == port]
    # 1 in 4 of all packets (ARP included) is sampled: about 10 of ours, never all of them
    assert 5 <= len(mine) <= 15
    assert xdp_of(pair.host) is None


def test_unknown_interface_lists_real_ones() -> None:
    with pytest.raises(NotFoundError) as ei:
        xdp.make_runner(ProbeOptions(interface="nope-beefine0")).start(lambda b: None)
    assert "lo" in ei.value.hint


def test_refuses_an_interface_that_already_has_xdp(pair: Pair) -> None:
    first = XdpRunner(ProbeOptions(interface=pair.host))
    first.start(lambda b: None)
    try:
        before = xdp_of(pair.host)
        with pytest.raises(ProbeLoadError) as ei:
            XdpRunner(ProbeOptions(interface=pair.host)).start(lambda b: None)
        assert "already has an XDP program" in ei.value.message
        assert xdp_of(pair.host) == before, "the existing program is untouched"
    finally:
        first.stop()
    assert xdp_of(pair.host) is None


def test_detached_when_the_loop_raises(pair: Pair) -> None:
    got: list[Event] = []
    runner = XdpRunner(ProbeOptions(interface=pair.host))
    runner.start(got.extend)
    try:

        def boom(timeout: int = -1) -> None:
            raise RuntimeError("poll failed")

        runner._bpf.ring_buffer_poll = boom  # the loop's next poll raises
        assert wait_for(lambda: any(e.kind == "status" for e in got))
        # detached by the loop's finally, before anyone called stop()
        assert wait_for(lambda: xdp_of(pair.host) is None)
        (st,) = [e for e in got if e.kind == "status"]
        assert st.args["state"] == "failed" and "poll failed" in st.args["error"]
    finally:
        runner.stop()


ATTACH_AND_SLEEP = textwrap.dedent(
    """
    import sys, time
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.probes.xdp_runner import XdpRunner
    r = XdpRunner(ProbeOptions(interface=sys.argv[1]), prefer_link=sys.argv[2] == "link")
    r.start(lambda b: None)
    print(r.attach_mode, r.prog_id, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("mode", ["link", "netlink"])
def test_sigkill_of_the_attaching_process(pair: Pair, mode: str) -> None:
    """A BPF link dies with its process; a netlink attachment survives it (so the app detaches in
    a finally and on signals, and prefers links)."""
    child = subprocess.Popen(
        [sys.executable, "-c", ATTACH_AND_SLEEP, pair.host, mode], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line and line[0] == mode, line
        prog_id = int(line[1])
        assert xdp_of(pair.host) is not None
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        if mode == "link":
            assert wait_for(lambda: xdp_of(pair.host) is None), "a link is released with its process"
            assert wait_for(lambda: not loaded(prog_id))
        else:
            time.sleep(1.0)
            left = xdp_of(pair.host)
            assert left is not None and f'"id": {prog_id}' in json.dumps(left), (
                "netlink XDP outlives its process"
            )
            sh("ip", "link", "set", "dev", pair.host, "xdpgeneric", "off")  # our own veth: safe to clean
            assert xdp_of(pair.host) is None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
