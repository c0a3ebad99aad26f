"""bt-sockets: socket, bind, listen, accept, connect, epoll_create with decoded addresses
(bpftrace/sockets.bt)."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes import flags
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec
from beefine_tui.probes.bpftrace_runner import (
    BpftraceRunner,
    bpftrace_available,
    builtin_runner,
    event_from_record,
    render_builtin,
    ret_args,
    split_record,
    to_int,
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
)

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10


def _addr(family: int, port: int, where: str) -> dict[str, Any]:
    """SCHEMA: family, addr, port for inet; path for AF_UNIX."""
    out: dict[str, Any] = {"family": flags.address_family(family)}
    if family in (AF_INET, AF_INET6):
        out["addr"] = where
        out["port"] = port
    elif family == AF_UNIX:
        out["path"] = where
    return out


def _where(a: dict[str, Any]) -> str:
    if "addr" in a:
        return f"[{a['addr']}]:{a['port']}" if ":" in a["addr"] else f"{a['addr']}:{a['port']}"
    if "path" in a:
        return a["path"] or "(unnamed or abstract unix socket)"
    return str(a.get("family", "?"))


def decode(line: str) -> Event | None:
    head = split_record(line)
    if head is None:
        return None
    k = head.kind
    args: dict[str, Any]
    if k == "socket" and len(head.fields) == 4:
        fam, typ, proto, ret = (to_int(x) for x in head.fields)
        args = {
            "family": flags.address_family(fam),
            "type": flags.socket_type(typ),
            "protocol": flags.ip_protocol(proto) if proto else 0,
            **ret_args(ret),
        }
        return event_from_record(
            SPEC.name, head, k, args, f"socket({args['family']}, {args['type']}) = {ret}"
        )
    if k in ("bind", "connect", "accept"):
        rec = split_record(line, 5)
        if rec is None:
            return None
        fd, ret, fam, port = (to_int(x) for x in rec.fields[:4])
        args = {"fd": fd, **ret_args(ret)}
        if fam:
            args.update(_addr(fam, port, rec.fields[4]))
        where = _where(args) if fam else "?"
        if k == "accept":
            text = f"accept(fd {fd}) = {ret}" + (f" from {where}" if fam else "")
            text += f" {args['error']}" if ret < 0 else ""
        else:
            text = f"{k}(fd {fd}, {where}) = {ret}" + (f" {args['error']}" if ret < 0 else "")
        return event_from_record(SPEC.name, rec, k, args, text)
    if k == "listen" and len(head.fields) == 3:
        fd, backlog, ret = (to_int(x) for x in head.fields)
        args = {"fd": fd, "backlog": backlog, **ret_args(ret)}
        return event_from_record(SPEC.name, head, k, args, f"listen(fd {fd}, backlog {backlog}) = {ret}")
    if k == "epoll_create" and len(head.fields) == 2:
        fl, ret = to_int(head.fields[0]), to_int(head.fields[1])
        args = {"flags": flags.epoll_flags(fl), **ret_args(ret)}
        return event_from_record(SPEC.name, head, k, args, f"epoll_create({args['flags']}) = {ret}")
    return None


def available() -> Availability:
    return bpftrace_available(SPEC.tracepoints)


def render(options: ProbeOptions) -> str:
    return render_builtin(SPEC, options)


def make_runner(options: ProbeOptions) -> BpftraceRunner:
    return builtin_runner(SPEC, options, decode)
