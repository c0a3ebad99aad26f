"""XDP sample/counter decoding and interface listing, without root."""

from __future__ import annotations

import json
import socket

import pytest

from beefine_tui.errors import UsageError
from beefine_tui.events.model import EventReader
from beefine_tui.probes import xdp
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.xdp_runner import (
    COUNTER_SLOTS,
    SAMPLE_FORMAT,
    XdpCount,
    XdpCountsArgs,
    XdpPacketArgs,
    cflags,
    counts_event,
    decode_sample,
    parse_ip_link_json,
    tcp_flags_text,
)

MAC_A = bytes.fromhex("02fc00000001")
MAC_B = bytes.fromhex("0242ac110002")


def pack(eth: int, ipver: int, l4: int, src: bytes, dst: bytes, sport: int, dport: int, flags: int) -> bytes:
    return SAMPLE_FORMAT.pack(
        123,
        74,
        eth,
        ipver,
        l4,
        MAC_A,
        MAC_B,
        src.ljust(16, b"\0"),
        dst.ljust(16, b"\0"),
        sport,
        dport,
        flags,
        0,
        0,
    )


def test_sample_format_matches_the_c_struct() -> None:
    # struct sample in bpf/xdp.bpf.c: 8+4+2+1+1+6+6+16+16+2+2+1+3+4+8
    assert SAMPLE_FORMAT.size == 80


def test_tcp_syn_ack_over_ipv4() -> None:
    raw = pack(0x0800, 4, 6, socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"), 40000, 80, 0x12)
    ev = decode_sample(raw, "veth0")
    assert ev.kind == "xdp_packet" and ev.ts == 123 and ev.probe == "xdp"
    assert ev.args == XdpPacketArgs(
        ifname="veth0",
        len=74,
        eth_src="02:fc:00:00:00:01",
        eth_dst="02:42:ac:11:00:02",
        eth_proto=0x0800,
        src="10.0.0.1",
        dst="10.0.0.2",
        l4=6,
        sport=40000,
        dport=80,
        tcp_flags=0x12,
    )
    shown = ev.args.shown()
    assert (shown["l3"], shown["l4"], shown["tcp_flags"], shown["eth_proto"]) == (
        "ipv4",
        "tcp",
        "SYN|ACK",
        "0x0800",
    )
    assert ev.text == "tcp 10.0.0.1:40000 -> 10.0.0.2:80 74 B [SYN|ACK]"
    assert "[SYN|ACK]" in ev.text


def test_udp_over_ipv6_and_icmp_and_arp() -> None:
    s6 = socket.inet_pton(socket.AF_INET6, "fd00::1")
    d6 = socket.inet_pton(socket.AF_INET6, "fd00::2")
    ev = decode_sample(pack(0x86DD, 6, 17, s6, d6, 5353, 53, 0), "br0")
    assert ev.args["l3"] == "ipv6" and ev.args.shown()["l4"] == "udp" and ev.args["src"] == "fd00::1"
    assert ev.args["dport"] == 53 and "tcp_flags" not in ev.args
    icmp = decode_sample(pack(0x0800, 4, 1, b"\x7f\0\0\1", b"\x7f\0\0\1", 0, 0, 0), "lo")
    assert isinstance(icmp.args, XdpPacketArgs) and icmp.args.l4 == 1 and icmp.args["l4"] == "icmp"
    assert "sport" not in icmp.args
    arp = decode_sample(pack(0x0806, 0, 0, b"", b"", 0, 0, 0), "veth1")
    assert arp.args["l3"] == "arp" and "src" not in arp.args and "l4" not in arp.args
    assert arp.text == "arp 02:fc:00:00:00:01 -> 02:42:ac:11:00:02 74 B"


def test_tcp_flags_text() -> None:
    assert tcp_flags_text(0x02) == "SYN"
    assert tcp_flags_text(0x11) == "FIN|ACK"
    assert tcp_flags_text(0) == ""


def test_counts_event() -> None:
    sums = [(10, 1000), (8, 800), (0, 0), (2, 84), (0, 0), (3, 300), (5, 500), (0, 0), (0, 0)]
    ev = counts_event("veth0", 7, sums, ts=5)
    assert ev.kind == "xdp_counts" and ev.args["ifname"] == "veth0" and ev.args["ifindex"] == 7
    assert isinstance(ev.args, XdpCountsArgs)
    p = ev.args.protocols
    assert set(p) == set(COUNTER_SLOTS)
    assert p["udp"] == XdpCount(packets=5, bytes=500) and p["arp"].packets == 2
    assert ev.text.startswith("veth0: 10 packets, 1000 bytes")


def test_parse_ip_link_json() -> None:
    text = json.dumps(
        [
            {
                "ifindex": 1,
                "ifname": "lo",
                "operstate": "UNKNOWN",
                "link_type": "loopback",
                "address": "00:00",
            },
            {
                "ifindex": 9,
                "ifname": "veth1",
                "operstate": "UP",
                "link_type": "ether",
                "linkinfo": {"info_kind": "veth"},
                "xdp": {"mode": 2, "prog": {"id": 42, "name": "beefine_xdp"}},
            },
            {"ifindex": 3, "ifname": "docker0", "operstate": "DOWN", "linkinfo": {"info_kind": "bridge"}},
            {"ifindex": 2, "ifname": "eth0", "operstate": "UP", "link_type": "ether"},
        ]
    )
    found = {i.name: i for i in parse_ip_link_json(text)}
    assert found["lo"].kind == "loopback" and not found["lo"].has_xdp
    assert found["veth1"].kind == "veth" and found["veth1"].has_xdp and found["veth1"].xdp_prog_id == 42
    assert found["docker0"].kind == "bridge" and found["docker0"].operstate == "DOWN"
    assert found["eth0"].kind == "physical" and found["eth0"].index == 2
    assert parse_ip_link_json("not json") == []


def test_render_and_cflags() -> None:
    text = xdp.render(ProbeOptions(interface="veth1", sample_every=10))
    assert "-DSAMPLE_EVERY=10" in text.splitlines()[0] and "veth1" in text.splitlines()[0]
    assert "return XDP_PASS;" in text and "XDP_DROP" not in text
    assert cflags(ProbeOptions())[0] == "-DSAMPLE_EVERY=1"
    with pytest.raises(UsageError):
        cflags(ProbeOptions(sample_every=-3))
    assert xdp.SPEC.name == "xdp" and xdp.SPEC.kinds == ("xdp_counts", "xdp_packet")


def test_schema1_lines_upgrade() -> None:
    """v1 xdp lines (EtherType in hex, L4 and TCP flags by name, counters as dicts) read as the structs."""
    reader = EventReader(schema=1)
    packet = {
        "ifname": "veth0",
        "len": 74,
        "eth_src": "02:fc:00:00:00:01",
        "eth_dst": "02:42:ac:11:00:02",
        "eth_proto": "0x0800",
        "l3": "ipv4",
        "src": "10.0.0.1",
        "dst": "10.0.0.2",
        "l4": "tcp",
        "sport": 40000,
        "dport": 80,
        "tcp_flags": "SYN|ACK",
    }
    raw = pack(0x0800, 4, 6, socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"), 40000, 80, 0x12)
    line = {"ts": 1, "probe": "xdp", "kind": "xdp_packet", "args": packet, "text": ""}
    assert reader.decode(json.dumps(line)).args == decode_sample(raw, "veth0").args
    sums = [(10, 1000), (8, 800), (0, 0), (2, 84), (0, 0), (3, 300), (5, 500), (0, 0), (0, 0)]
    protocols = {n: {"packets": p, "bytes": b} for n, (p, b) in zip(COUNTER_SLOTS, sums, strict=True)}
    counts = {"ifname": "veth0", "ifindex": 7, "protocols": protocols}
    line = {"ts": 5, "probe": "xdp", "kind": "xdp_counts", "args": counts, "text": ""}
    assert reader.decode(json.dumps(line)).args == counts_event("veth0", 7, sums, ts=5).args
