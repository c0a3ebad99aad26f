"""Inspect network's figures against the kernel's own account: `ip -s link` RX deltas on our veth.

The chart once added the total, ipv4 and udp/icmp rows and showed three times the packet rate."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

import pytest

from beefine_tui.events.model import Event
from beefine_tui.probes import xdp
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.screens.network_view import ProtocolRates
from tests.integration.test_xdp import Pair, pair, send_udp, sh, wait_for  # noqa: F401 (pair: fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def rx_packets(ifname: str) -> int:
    out = json.loads(sh("ip", "-j", "-s", "link", "show", "dev", ifname).stdout)
    return int(out[0]["stats64"]["rx"]["packets"])


def test_packet_rate_matches_ip_s_link(pair: Pair) -> None:  # noqa: F811
    rates = ProtocolRates()
    pushed: list[tuple[int, float]] = []  # (ts, rate) as the chart receives them
    events: list[Event] = []
    lock = threading.Lock()

    def sink(batch: Sequence[Event]) -> None:
        with lock:
            for ev in batch:
                if ev.kind == "xdp_counts":
                    events.append(ev)
                    rate = rates.update(ev)
                    if rate is not None:
                        pushed.append((ev.ts, rate))

    def n_counts() -> int:
        with lock:
            return len(events)

    port, sent = 40000 + os.getpid() % 20000, 300
    runner = xdp.make_runner(ProbeOptions(interface=pair.host))
    runner.start(sink)
    try:
        assert wait_for(lambda: n_counts() >= 1)
        first = n_counts()
        rx_before = rx_packets(pair.host)
        send_udp(pair, port, sent)
        assert wait_for(lambda: rates.counts["udp"][0] >= sent)
        # let one more counts event close the interval, then read the kernel's figure
        seen = n_counts()
        assert wait_for(lambda: n_counts() > seen + 1)
        rx_after = rx_packets(pair.host)
    finally:
        runner.stop()
    with lock:
        window = events[first - 1 :]
        rated = [(ts, r) for ts, r in pushed if ts > window[0].ts]
    # what the chart showed, integrated over the interval: packets it claims arrived
    charted = 0.0
    prev_ts = window[0].ts
    for ts, rate in rated:
        charted += rate * (ts - prev_ts) / 1e9
        prev_ts = ts
    kernel = rx_after - rx_before
    assert kernel >= sent
    # the veth pair is ours and quiet: a stray IPv6 router solicitation may fall either side of a read
    assert abs(charted - kernel) <= 3, (charted, kernel)
    assert rates.counts["udp"][0] == sent, "udp has its own row, with exactly our packets"
    assert rates.counts["ipv4"][0] >= sent
    rows = {key: (label, pk) for key, label, pk, _by, _rate in rates.rows()}
    assert rows["udp"][1] == f"{sent:,}"
    assert rows["total"][0] == "all packets"
