"""bt-tcp: every TCP state change (sock:inet_sock_set_state), filtered by network namespace
(bpftrace/tcp.bt)."""

from __future__ import annotations

from beefine_tui.events.model import Event
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec
from beefine_tui.probes.bpftrace_protocol import split_record, to_int
from beefine_tui.probes.bpftrace_runner import (
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    render_builtin,
)
from beefine_tui.probes.tcp import EXPLAINS, TcpStateArgs

SPEC = ProbeSpec(
    name="bt-tcp",
    group="network",
    engine="bpftrace",
    description="TCP state changes (SYN_SENT, ESTABLISHED, ...) with addresses and ports (bpftrace)",
    teaches=(
        "The TCP handshake and teardown as the kernel sees them. The tracepoint often fires in "
        "softirq context, so pid and comm are whoever was on the CPU, not always the socket's owner."
    ),
    source="tcp.bt",
    columns=("ts", "kind", "text"),
    kinds=("tcp_state",),
    tracepoints=("sock:inet_sock_set_state",),
    explains=EXPLAINS,
)


def decode(line: str) -> Event | None:
    rec = split_record(line)
    if rec is None or rec.kind != "tcp_state" or len(rec.fields) != 8:
        return None
    f = rec.fields
    args = TcpStateArgs(
        family=to_int(f[0]),
        saddr=f[3],
        sport=to_int(f[1]),
        daddr=f[4],
        dport=to_int(f[2]),
        oldstate=to_int(f[5]),
        newstate=to_int(f[6]),
        netns=to_int(f[7]),
    )
    return Event(
        ts=rec.ts,
        probe=SPEC.name,
        kind="tcp_state",
        pid=rec.pid,
        tid=rec.tid,
        ppid=rec.ppid,
        comm=rec.comm,
        args=args,
    )


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
