"""bt-sockets: socket, bind, listen, accept, connect, epoll_create with decoded addresses
(bpftrace/sockets.bt)."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bpftrace_protocol import Record, event_from_record, split_record, to_int
from beefine_tui.probes.bpftrace_runner import (
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    render_builtin,
)
from beefine_tui.probes.sockets import (
    EXPLAINS,
    AcceptArgs,
    EpollCreateArgs,
    ListenArgs,
    SockAddrArgs,
    SocketArgs,
)

_SYSCALLS = ("socket", "bind", "listen", "accept", "accept4", "connect", "epoll_create", "epoll_create1")

SPEC = ProbeSpec(
    name="bt-sockets",
    group="network",
    engine="bpftrace",
    description="socket/bind/listen/accept/connect/epoll_create with addresses and results (bpftrace)",
    teaches=(
        "How processes talk: which sockets dockerd, containerd and the container open, the unix "
        "sockets they connect to (docker.sock, containerd.sock) and the ports they listen on."
    ),
    source="sockets.bt",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("socket", "bind", "listen", "accept", "connect", "epoll_create"),
    tracepoints=(
        *(f"syscalls:sys_{io}_{sc}" for sc in _SYSCALLS for io in ("enter", "exit")),
        "sched:sched_process_fork",
        "sched:sched_process_exit",
    ),
    explains=EXPLAINS,
    story=StorySlot(slot=0, rank=1),
)

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10


def _peer(family: int, port: int, where: str) -> dict[str, Any]:
    """The address fields of the shared structs: addr and port for inet, path for AF_UNIX."""
    if family in (AF_INET, AF_INET6):
        return {"family": family, "addr": where, "port": port}
    if family == AF_UNIX:
        return {"family": family, "path": where}
    return {"family": family}


def _event(rec: Record, args: Args) -> Event:
    return event_from_record(SPEC.name, rec, rec.kind, args)


def decode(line: str) -> Event | None:
    head = split_record(line)
    if head is None:
        return None
    k = head.kind
    if k == "socket" and len(head.fields) == 4:
        fam, typ, proto, ret = (to_int(x) for x in head.fields)
        return _event(head, SocketArgs(family=fam, type=typ & 0xFFFFFFFF, protocol=proto, ret=ret))
    if k in ("bind", "connect", "accept"):
        rec = split_record(line, 5)
        if rec is None:
            return None
        fd, ret, fam, port = (to_int(x) for x in rec.fields[:4])
        peer = _peer(fam, port, rec.fields[4]) if fam else {}
        if k == "accept":
            return _event(rec, AcceptArgs(fd=fd, ret=ret, **peer))  # accept4's flags are not printed
        return _event(rec, SockAddrArgs(fd=fd, ret=ret, **peer))
    if k == "listen" and len(head.fields) == 3:
        fd, backlog, ret = (to_int(x) for x in head.fields)
        return _event(head, ListenArgs(fd=fd, backlog=backlog, ret=ret))
    if k == "epoll_create" and len(head.fields) == 2:
        fl, ret = to_int(head.fields[0]), to_int(head.fields[1])
        return _event(head, EpollCreateArgs(flags=fl & 0xFFFFFFFF, ret=ret))
    return None


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
