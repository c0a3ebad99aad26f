"""tcp probe: every TCP state change (sock:inet_sock_set_state), IPv4 and IPv6, with addresses, ports
and the old and new state by name.

This kernel has no kprobes, so this tracepoint stands in for kprobe:tcp_connect: a connect shows as
CLOSE -> SYN_SENT (in the caller's context) then SYN_SENT -> ESTABLISHED when the SYN-ACK arrives; the
server side's new connection appears as LISTEN -> SYN_RECV -> ESTABLISHED. Many transitions run in
softirq context, where the current task is a bystander; the BPF program (bpf/tcp.bpf.c) learns a
socket's owner only from transitions a syscall makes (connect, listen, close) and from the listener a
connection arrives on, and reports later transitions for that owner. With a filter set, sockets of
nobody traced are dropped; host-wide they are reported with pid 0 (owner_known false). The state
machine is RFC 793's, as the kernel names it in include/net/tcp_states.h.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes.base import ProbeSpec
from beefine_tui.probes.bcc_runner import (
    BccProbe,
    DecodeContext,
)
from beefine_tui.probes.flags import AF_INET6, address_family, cstr, tcp_state

SPEC = ProbeSpec(
    name="tcp",
    group="network",
    engine="bcc",
    description="TCP state changes (SYN_SENT, ESTABLISHED, CLOSE...) with addresses and ports",
    teaches=(
        "A TCP connection's life as the kernel sees it: the handshake (SYN_SENT, ESTABLISHED), and the "
        "close (FIN_WAIT, TIME_WAIT, CLOSE), for connections made by the traced processes."
    ),
    source="tcp.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("tcp_state",),
    tracepoints=("sock:inet_sock_set_state",),
)

K_STATE = 1

# struct tcp_rec (bpf/tcp.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; u64 skaddr;
# s32 oldstate, newstate; u16 sport, dport, family, protocol; u32 owner_known, pad;
# u8 saddr[4], daddr[4], saddr_v6[16], daddr_v6[16]
inet_ntop = socket.inet_ntop
_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6
REC = struct.Struct("<QIIII16sQiiHHHHII4s4s16s16s")
assert REC.size == 112


def _short(state: str) -> str:
    return state.removeprefix("TCP_")


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (
        ts,
        kind,
        pid,
        tid,
        _p,
        comm_b,
        sk,
        old,
        new,
        sport,
        dport,
        family,
        _proto,
        owner_known,
        _p2,
        s4,
        d4,
        s6,
        d6,
    ) = REC.unpack_from(raw)
    if kind != K_STATE:
        return None
    if family == AF_INET6:
        saddr, daddr = inet_ntop(_AF_INET6, s6), inet_ntop(_AF_INET6, d6)
        src, dst = f"[{saddr}]:{sport}", f"[{daddr}]:{dport}"
    else:
        saddr, daddr = inet_ntop(_AF_INET, s4), inet_ntop(_AF_INET, d4)
        src, dst = f"{saddr}:{sport}", f"{daddr}:{dport}"
    args: dict[str, Any] = {
        "family": address_family(family),
        "saddr": saddr,
        "sport": sport,
        "daddr": daddr,
        "dport": dport,
        "oldstate": tcp_state(old),
        "newstate": tcp_state(new),
        "sock": f"{sk:#x}",
    }
    if not owner_known:
        args["owner_known"] = False
    text = f"{src} -> {dst} {_short(args['oldstate'])} -> {_short(args['newstate'])}"
    return Event(
        ts=ts,
        probe=SPEC.name,
        kind="tcp_state",
        pid=pid,
        tid=tid,
        comm=cstr(comm_b, False),
        args=args,
        text=text,
    )


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
