"""bt-tcp: every TCP state change (sock:inet_sock_set_state), filtered by network namespace
(bpftrace/tcp.bt)."""

from __future__ import annotations

from beefine_tui.events.model import Event
from beefine_tui.probes import flags
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec
from beefine_tui.probes.bpftrace_runner import (
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    event_from_record,
    render_builtin,
    split_record,
    to_int,
)

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
)


def decode(line: str) -> Event | None:
    rec = split_record(line)
    if rec is None or rec.kind != "tcp_state" or len(rec.fields) != 8:
        return None
    f = rec.fields
    fam, sport, dport = to_int(f[0]), to_int(f[1]), to_int(f[2])
    old, new, netns = to_int(f[5]), to_int(f[6]), to_int(f[7])
    args = {
        "family": flags.address_family(fam),
        "saddr": f[3],
        "sport": sport,
        "daddr": f[4],
        "dport": dport,
        "oldstate": flags.tcp_state(old),
        "newstate": flags.tcp_state(new),
        "netns": netns,
    }
    text = f"{f[3]}:{sport} -> {f[4]}:{dport} {args['oldstate']} -> {args['newstate']}"
    return event_from_record(SPEC.name, rec, "tcp_state", args, text)


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
