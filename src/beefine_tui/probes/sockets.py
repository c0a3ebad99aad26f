"""sockets probe: socket(2), bind(2) and connect(2) with decoded addresses (IPv4, IPv6, unix paths
including abstract names), listen(2), accept(2)/accept4(2) with the peer's address, and
epoll_create(2)/epoll_create1(2).

What a learner sees in a `docker run`: the docker CLI connects to dockerd's unix socket
(/var/run/docker.sock), dockerd talks to containerd over its gRPC socket, the shim listens on its own
socket, and the container's processes make their own sockets inside its network namespace (moby
daemon/listeners, containerd runtime/v2/shim).
"""

from __future__ import annotations

import struct
from typing import Any

from beefine_tui.events.model import Event
from beefine_tui.probes.base import ProbeSpec
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import (
    AF_INET,
    AF_INET6,
    address_family,
    cstr,
    decode_sockaddr,
    epoll_flags,
    format_sockaddr,
    ip_protocol,
    ret_args,
    sock_flags,
    socket_type,
)

_SYSCALLS = ("socket", "bind", "connect", "listen", "accept", "accept4", "epoll_create", "epoll_create1")
SPEC = ProbeSpec(
    name="sockets",
    group="network",
    engine="bcc",
    description="socket, bind, connect, listen, accept with decoded addresses, and epoll_create",
    teaches=(
        "Docker is a set of daemons talking over sockets: the CLI connects to dockerd's unix socket, "
        "dockerd to containerd, and the container's own programs open sockets in their network namespace."
    ),
    source="sockets.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("socket", "bind", "connect", "listen", "accept", "epoll_create"),
    tracepoints=tuple(f"syscalls:sys_{d}_{n}" for n in _SYSCALLS for d in ("enter", "exit")),
)

K_SOCKET, K_BIND, K_CONNECT, K_LISTEN, K_ACCEPT, K_EPOLL = range(1, 7)
KIND_NAMES = {
    K_SOCKET: "socket",
    K_BIND: "bind",
    K_CONNECT: "connect",
    K_LISTEN: "listen",
    K_ACCEPT: "accept",
    K_EPOLL: "epoll_create",
}
ADDR_LEN = 128

# struct sock_rec (bpf/sockets.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; s64 ret;
# s32 fd, a1, a2, a3; u32 addrlen, addr_read; u64 uaddr, ulen; u8 addr[128]
REC = struct.Struct("<QIIII16sqiiiiIIQQ128s")
assert REC.size == 216


def protocol_name(family: int, protocol: int) -> str:
    """IPPROTO_* for internet sockets; 0 means "the default for the type"; else the number."""
    if family in (AF_INET, AF_INET6) and protocol:
        return ip_protocol(protocol)
    return str(protocol)


def _addr_args(raw_addr: bytes, addr_read: int, addrlen: int) -> dict[str, Any]:
    if not addr_read:
        return {}
    sa = decode_sockaddr(raw_addr[:addr_read], min(addrlen, addr_read) if addrlen > 0 else None)
    out: dict[str, Any] = {"family": sa.get("family", "?")}
    for key in ("addr", "port", "path", "scope_id"):
        if key in sa:
            out[key] = sa[key]
    return out


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (ts, kind, pid, tid, _p, comm_b, ret, fd, a1, a2, a3, addrlen, addr_read, _ua, _ul, addr_b) = (
        REC.unpack_from(raw)
    )
    kname = KIND_NAMES.get(kind)
    if kname is None:
        return None
    args: dict[str, Any]
    if kind == K_SOCKET:
        args = {
            "family": address_family(a1),
            "type": socket_type(a2),
            "protocol": protocol_name(a1, a3),
            **ret_args(ret),
        }
        text = f"socket {args['family']} {args['type']}" + (f" -> fd {ret}" if ret >= 0 else "")
    elif kind in (K_BIND, K_CONNECT):
        args = {"fd": fd, **_addr_args(addr_b, addr_read, addrlen), "addrlen": addrlen, **ret_args(ret)}
        args.setdefault("family", "?")
        text = f"{kname} fd {fd} {format_sockaddr(args)}"
    elif kind == K_LISTEN:
        args = {"fd": fd, "backlog": a1, **ret_args(ret)}
        text = f"listen fd {fd} backlog {a1}"
    elif kind == K_ACCEPT:
        args = {"fd": fd, **ret_args(ret)}
        if a2:
            args["flags"] = sock_flags(a1)
            args["syscall"] = "accept4"
        if ret >= 0:
            args.update(_addr_args(addr_b, addr_read, addrlen))
        text = f"accept fd {fd}" + (f" -> fd {ret}" if ret >= 0 else "")
        if "family" in args and args.get("path") != "":  # an unnamed unix peer has no address to show
            text += f" from {format_sockaddr(args)}"
    else:  # K_EPOLL
        if a2:
            args = {"flags": epoll_flags(a1), "flags_raw": a1, "syscall": "epoll_create1"}
        else:
            args = {"flags": "0", "flags_raw": 0, "size": a1, "syscall": "epoll_create"}
        args.update(ret_args(ret))
        text = "epoll_create" + (f" -> fd {ret}" if ret >= 0 else "")
    if "error" in args:
        text += f" -> {args['error']}"
    return Event(
        ts=ts,
        probe=SPEC.name,
        kind=kname,
        pid=pid,
        tid=tid,
        comm=cstr(comm_b, False),
        args=args,
        text=text,
    )


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
