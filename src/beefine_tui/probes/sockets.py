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

import msgspec

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext, record_event
from beefine_tui.probes.flags import (
    ADDRESS_FAMILIES,
    AF_INET,
    AF_INET6,
    EPOLL_FLAGS,
    IP_PROTOCOLS,
    SOCK_FLAGS,
    SOCKET_TYPES,
    address_family,
    decode_sockaddr,
    epoll_flags,
    errno_name,
    ip_protocol,
    sock_flags,
    socket_type,
)

_SYSCALLS = ("socket", "bind", "connect", "listen", "accept", "accept4", "epoll_create", "epoll_create1")
# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    KindNote(
        "socket",
        "socket(): a communication endpoint of one family (AF_INET, AF_UNIX, AF_NETLINK...), returned as "
        "an fd. dockerd talks to the kernel through AF_NETLINK sockets when it wires a container's network.",
        source="socket(2); socket(7); netlink(7)",
    ),
    KindNote(
        "bind",
        "bind(): a socket gets its local address: an IP and port, a unix socket path, a netlink port.",
        source="bind(2); ip(7), unix(7), netlink(7) addresses",
    ),
    # moby distribution/pull_v2.go: one HTTP connection per blob fetch (plus the manifest requests).
    KindNote(
        "connect",
        "dockerd opens a TCP connection to the registry to fetch a manifest or a blob.",
        source="moby 20.10 distribution/pull_v2.go (one HTTP connection per blob fetch); connect(2)",
    ),
    KindNote(
        "listen",
        "listen(): a stream socket starts accepting connections, queueing up to `backlog` of them.",
        source="listen(2)",
    ),
    KindNote(
        "accept",
        "accept(): the next connection waiting on a listening socket, as a new socket fd.",
        source="accept(2), accept4(2)",
    ),
    KindNote(
        "epoll_create",
        "epoll_create(): an epoll instance, the kernel's list of fds to wait on together. Go programs "
        "(dockerd, containerd, runc) make one at start for their network poller.",
        source="epoll_create(2); epoll(7)",
    ),
)

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
    explains=EXPLAINS,
    story=StorySlot(slot=0),
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


AF_NETLINK = 16  # include/linux/socket.h: how dockerd talks to the kernel about links and routes
_FAMILY_NUMBERS = {name: n for n, name in ADDRESS_FAMILIES.items()}
_TYPE_NUMBERS = {name: n for n, name in SOCKET_TYPES.items()} | {name: m for m, name in SOCK_FLAGS}
_PROTO_NUMBERS = {name: n for n, name in IP_PROTOCOLS.items()}


def _v1_number(value: Any, table: dict[str, int]) -> int:
    """A schema-1 name ("AF_INET", "SOCK_STREAM|SOCK_CLOEXEC", "IPPROTO_TCP", "0x10") back to its number."""
    if isinstance(value, int):
        return value
    total = 0
    for part in str(value).split("|"):
        part = part.strip()
        if part in table:
            total |= table[part]
        elif part:
            total |= int(part, 0)  # a number shown as such (an unknown family, leftover bits in hex)
    return total


class SocketArgs(Args, frozen=True, kw_only=True, gc=False, tag="socket"):
    """socket(2): the family, type (with SOCK_NONBLOCK/SOCK_CLOEXEC bits) and protocol asked for."""

    kinds = ("socket",)
    family: int
    type: int
    protocol: int = 0
    ret: int = 0

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> SocketArgs:
        return cls(
            family=_v1_number(args["family"], _FAMILY_NUMBERS),
            type=_v1_number(args["type"], _TYPE_NUMBERS),
            protocol=_v1_number(args.get("protocol", 0), _PROTO_NUMBERS),
            ret=int(args.get("ret", 0)),
        )

    def names(self) -> dict[str, Any]:
        return {
            **super().names(),
            "family": address_family(self.family),
            "type": socket_type(self.type),
            "protocol": protocol_name(self.family, self.protocol),
        }

    def describe(self, ev: Event) -> str:
        return f"{address_family(self.family)} {socket_type(self.type)}" + _result(self.ret)


# untagged itself (tag=False), which also drops the inherited tag_field: subclasses name "t" again
class _Peer(Args, frozen=True, kw_only=True, gc=False, tag=False):
    """A struct sockaddr as read from the caller's memory; `family` None: nothing could be read."""

    family: int | None = None
    addr: str | None = None
    port: int | None = None
    path: str | None = None  # AF_UNIX; "@name" for an abstract name, "" for an unnamed socket
    scope_id: int | None = None

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> _Peer:
        fields = {k: v for k, v in args.items() if k in cls.__struct_fields__}
        fam = args.get("family")
        fields["family"] = None if fam in (None, "?") else _v1_number(fam, _FAMILY_NUMBERS)
        if "flags" in fields:
            fields["flags"] = _v1_number(fields["flags"], {n: m for m, n in SOCK_FLAGS})
        return msgspec.convert(fields, cls)

    def names(self) -> dict[str, Any]:
        out = super().names()
        if self.family is not None:
            out["family"] = address_family(self.family)
        return out

    def where(self) -> str:
        """ "127.0.0.1:8080", "[::1]:443", "/run/x.sock", or the family name."""
        if self.path is not None:
            return self.path or "(unnamed)"
        if self.addr is not None:
            return f"[{self.addr}]:{self.port}" if ":" in self.addr else f"{self.addr}:{self.port}"
        return address_family(self.family) if self.family is not None else "?"


class SockAddrArgs(_Peer, frozen=True, kw_only=True, gc=False, tag_field="t", tag="sockaddr"):
    """bind(2) and connect(2): the socket and the address given (addrlen as passed)."""

    kinds = ("bind", "connect")
    fd: int
    addrlen: int | None = None  # None: the engine does not read it (bpftrace)
    ret: int = 0

    def names(self) -> dict[str, Any]:
        return {"family": "?", **super().names()}

    def describe(self, ev: Event) -> str:
        return f"fd {self.fd} {self.where()}" + (f" -> {errno_name(self.ret)}" if self.ret < 0 else "")


class AcceptArgs(_Peer, frozen=True, kw_only=True, gc=False, tag_field="t", tag="accept"):
    """accept(2)/accept4(2): the listening fd, the new fd (`ret`) and the peer's address when asked
    for; `flags` only for accept4."""

    kinds = ("accept",)
    fd: int
    ret: int = 0
    flags: int | None = None

    def names(self) -> dict[str, Any]:
        out = super().names()
        if self.flags is not None:
            out.update(flags=sock_flags(self.flags), syscall="accept4")
        return out

    def describe(self, ev: Event) -> str:
        text = f"fd {self.fd}" + _result(self.ret)
        if self.family is not None and self.path != "":  # an unnamed unix peer has no address to show
            text += f" from {self.where()}"
        return text


class ListenArgs(Args, frozen=True, kw_only=True, gc=False, tag="listen"):
    kinds = ("listen",)
    fd: int
    backlog: int
    ret: int = 0

    def describe(self, ev: Event) -> str:
        return f"fd {self.fd} backlog {self.backlog}" + (
            f" -> {errno_name(self.ret)}" if self.ret < 0 else ""
        )


class EpollCreateArgs(Args, frozen=True, kw_only=True, gc=False, tag="epoll_create"):
    """epoll_create1(flags), or epoll_create(size) (`size` set, no flags)."""

    kinds = ("epoll_create",)
    flags: int = 0
    size: int | None = None  # None: epoll_create1, or not known (bpftrace)
    ret: int = 0

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> EpollCreateArgs:
        flags = args.get("flags_raw", args.get("flags", 0))
        return cls(
            flags=_v1_number(flags, {n: m for m, n in EPOLL_FLAGS}),
            size=args.get("size"),
            ret=int(args.get("ret", 0)),
        )

    def names(self) -> dict[str, Any]:
        return {**super().names(), "flags": epoll_flags(self.flags)}

    def describe(self, ev: Event) -> str:
        what = f"size {self.size}" if self.size is not None else epoll_flags(self.flags)
        return what + _result(self.ret)


def _result(ret: int) -> str:
    return f" -> fd {ret}" if ret >= 0 else f" -> {errno_name(ret)}"


def peer_fields(raw_addr: bytes, addr_read: int, addrlen: int) -> dict[str, Any]:
    """The sockaddr copied by the BPF side as _Peer fields (raw family number, address, port or path)."""
    if not addr_read:
        return {}
    n = min(addrlen, addr_read) if addrlen > 0 else None
    raw = raw_addr[:addr_read]
    sa = decode_sockaddr(raw, n)
    out: dict[str, Any] = {k: sa[k] for k in ("addr", "port", "path", "scope_id") if k in sa}
    cut = raw[:n] if n is not None else raw
    if len(cut) >= 2:
        out["family"] = struct.unpack_from("=H", cut)[0]
    elif not cut:
        out["family"] = 0  # AF_UNSPEC: an empty address
    return out


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (ts, kind, pid, tid, _p, comm_b, ret, fd, a1, a2, a3, addrlen, addr_read, _ua, _ul, addr_b) = (
        REC.unpack_from(raw)
    )
    kname = KIND_NAMES.get(kind)
    if kname is None:
        return None
    args: Args
    if kind == K_SOCKET:
        args = SocketArgs(family=a1, type=a2 & 0xFFFFFFFF, protocol=a3, ret=ret)
    elif kind in (K_BIND, K_CONNECT):
        args = SockAddrArgs(fd=fd, addrlen=addrlen, ret=ret, **peer_fields(addr_b, addr_read, addrlen))
    elif kind == K_LISTEN:
        args = ListenArgs(fd=fd, backlog=a1, ret=ret)
    elif kind == K_ACCEPT:
        peer = peer_fields(addr_b, addr_read, addrlen) if ret >= 0 else {}
        args = AcceptArgs(fd=fd, ret=ret, flags=a1 & 0xFFFFFFFF if a2 else None, **peer)
    else:  # K_EPOLL
        args = EpollCreateArgs(flags=a1 & 0xFFFFFFFF if a2 else 0, size=None if a2 else a1, ret=ret)
    return record_event(ctx, SPEC.name, kname, args, ts=ts, pid=pid, tid=tid, comm=comm_b)


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
