"""tcp probe decoder on hand-built records (bpf/tcp.bpf.c's struct tcp_rec)."""

from __future__ import annotations

import socket

from beefine_tui.events.model import EventReader
from beefine_tui.probes import tcp
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.decode_context import DecodeContext
from tests.probe_checks import assert_each_tracepoint_handled

NO_PID = 0x7FFFFFF0


def rec(
    old: int,
    new: int,
    *,
    family: int = socket.AF_INET,
    saddr: str = "127.0.0.1",
    daddr: str = "127.0.0.1",
    sport: int = 40000,
    dport: int = 8080,
    owner_known: int = 1,
    kind: int = 1,
    pid: int = NO_PID,
) -> bytes:
    s4 = d4 = b"\0" * 4
    s6 = d6 = b"\0" * 16
    if family == socket.AF_INET:
        s4, d4 = socket.inet_aton(saddr), socket.inet_aton(daddr)
    else:
        s6, d6 = socket.inet_pton(socket.AF_INET6, saddr), socket.inet_pton(socket.AF_INET6, daddr)
    return tcp.REC.pack(
        11,
        kind,
        pid,
        pid,
        0,
        b"curl",
        0xFFFF888100001234,
        old,
        new,
        sport,
        dport,
        family,
        6,
        owner_known,
        0,
        s4,
        d4,
        s6,
        d6,
    )


def test_v4_connect() -> None:
    ev = tcp.decode(rec(7, 2, sport=0), DecodeContext())
    assert ev is not None and ev.kind == "tcp_state" and ev.probe == "tcp"
    assert ev.args == tcp.TcpStateArgs(
        family=socket.AF_INET,
        saddr="127.0.0.1",
        sport=0,
        daddr="127.0.0.1",
        dport=8080,
        oldstate=7,
        newstate=2,
        sock=0xFFFF888100001234,
    )
    shown = ev.args.shown()
    assert (shown["family"], shown["oldstate"], shown["newstate"]) == ("AF_INET", "TCP_CLOSE", "TCP_SYN_SENT")
    assert shown["sock"] == "0xffff888100001234"
    assert ev.text == "127.0.0.1:0 -> 127.0.0.1:8080 CLOSE -> SYN_SENT"
    assert ev.comm == "curl" and ev.pid == NO_PID


def test_v6_established_unknown_owner() -> None:
    ev = tcp.decode(
        rec(2, 1, family=socket.AF_INET6, saddr="fe80::1", daddr="2001:db8::2", owner_known=0),
        DecodeContext(),
    )
    assert ev is not None
    assert ev.args.shown()["family"] == "AF_INET6"
    assert ev.args["saddr"] == "fe80::1" and ev.args["daddr"] == "2001:db8::2"
    assert ev.args.shown()["newstate"] == "TCP_ESTABLISHED" and ev.args["owner_known"] is False
    assert ev.text == "[fe80::1]:40000 -> [2001:db8::2]:8080 SYN_SENT -> ESTABLISHED"


def test_all_states_named() -> None:
    for n in range(1, 13):
        ev = tcp.decode(rec(n, n), DecodeContext())
        assert ev is not None and not ev.args.shown()["newstate"].startswith("TCP_STATE_")


def test_pid_zero_softirq() -> None:
    ev = tcp.decode(rec(3, 1, pid=0, owner_known=0), DecodeContext())
    assert ev is not None and ev.pid == 0 and ev.ppid == 0 and ev.container is None


def test_unknown_kind_and_render() -> None:
    assert tcp.decode(rec(1, 2, kind=5), DecodeContext()) is None
    text = tcp.render(ProbeOptions())
    assert "TRACEPOINT_PROBE(sock, inet_sock_set_state)" in text and "lru_hash" in text


def test_every_listed_tracepoint_has_a_handler() -> None:
    assert_each_tracepoint_handled(tcp.SPEC, tcp.render)


def test_parse_listening_keeps_only_listen_sockets() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:4771 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5123 1\n"
        "   1: 0100007F:8AE2 0100007F:4771 01 00000000:00000000 00:00000000 00000000     0        0 6001 1\n"
    )
    assert tcp.parse_listening(table) == {5123: 0x4771}
    v6 = (
        "  sl  local_address                         remote_address                        st ...\n"
        "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 777 1\n"
    )
    assert tcp.parse_listening(v6) == {777: 8080}
    assert tcp.parse_listening("header only\n") == {}


def test_schema1_line_upgrades() -> None:
    """A v1 tcp_state line (states and family by name, socket address in hex) reads as the struct."""
    line = (
        '{"ts":1,"probe":"tcp","kind":"tcp_state","pid":9,"tid":9,"comm":"curl","args":{"family":"AF_INET",'
        '"saddr":"127.0.0.1","sport":0,"daddr":"127.0.0.1","dport":8080,"oldstate":"TCP_CLOSE",'
        '"newstate":"TCP_SYN_SENT","sock":"0xffff888100001234","owner_known":false},'
        '"text":"127.0.0.1:0 -> 127.0.0.1:8080 CLOSE -> SYN_SENT"}'
    )
    ev = EventReader(schema=1).decode(line)
    assert ev.args == tcp.TcpStateArgs(
        family=socket.AF_INET,
        saddr="127.0.0.1",
        sport=0,
        daddr="127.0.0.1",
        dport=8080,
        oldstate=7,
        newstate=2,
        sock=0xFFFF888100001234,
        owner_known=False,
    )
    assert ev.text == "127.0.0.1:0 -> 127.0.0.1:8080 CLOSE -> SYN_SENT"
