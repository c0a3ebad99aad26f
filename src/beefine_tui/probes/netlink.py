"""netlink probe: rtnetlink requests that create, move, rename, address and route network devices
(RTM_NEWLINK, RTM_SETLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE), decoded
from the message a process sends with sendto(2)/sendmsg(2) (netlink(7), rtnetlink(7)).

What a learner sees in a `docker run` with a bridge network: dockerd (libnetwork's bridge driver)
creates a veth pair and puts one end on docker0; when runc's prestart hook calls back, dockerd moves the
other end into the container's network namespace (IFLA_NET_NS_FD), renames it eth0, gives it its
address and the default route (libnetwork osl/interface_linux.go). No syscall tracepoint decodes these:
the changes are in the netlink message, so this probe reads it from user memory.

Only sends that name their AF_NETLINK destination are seen (what vishvananda/netlink, which libnetwork
uses, and iproute2 do): a netlink socket may also send with no address, or with write(2), and those are
not read. The send's return value is only the kernel taking the message: whether the change worked comes back
later in the ACK (NLMSG_ERROR), which this probe does not read.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

import msgspec

from beefine_tui.events.model import Args, Event
from beefine_tui.probes.base import KindNote, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext, record_event
from beefine_tui.probes.flags import cstr, errno_name

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    # libnetwork drivers/bridge/bridge.go createEndpoint; osl/interface_linux.go AddInterface
    KindNote(
        "rtm_newlink",
        "An rtnetlink request to make or change a network device. dockerd's bridge driver makes the "
        "container's veth pair with it (two linked devices: what enters one leaves the other) and later "
        "sets links up or down; runc's init brings up the new namespace's lo the same way.",
        source="rtnetlink(7) RTM_NEWLINK; netlink(7); libnetwork drivers/bridge/bridge.go "
        "createEndpoint (veth pair, netlink.LinkAdd); runc 1.1 libcontainer/network_linux.go (loopback up)",
    ),
    KindNote(
        "rtm_setlink",
        "An rtnetlink request to change an existing device: with IFLA_NET_NS_FD it moves the device into "
        "the network namespace that fd names (the container's end of the veth, moved in while runc's "
        "prestart hook waits); with IFLA_IFNAME it renames it (to eth0); with IFLA_MASTER it puts the "
        "host end on the bridge (docker0).",
        source="rtnetlink(7) RTM_SETLINK (IFLA_NET_NS_FD, IFLA_IFNAME, IFLA_MASTER); libnetwork "
        "osl/interface_linux.go AddInterface, configureInterface",
    ),
    KindNote(
        "rtm_dellink",
        "An rtnetlink request to delete a device. Deleting one end of a veth pair deletes the other: "
        "removing a container's network removes its eth0 with it.",
        source="rtnetlink(7) RTM_DELLINK; veth(4); libnetwork drivers/bridge/bridge.go deleteEndpoint",
    ),
    KindNote(
        "rtm_newaddr",
        "An rtnetlink request to add an IP address to a device: dockerd gives the container's eth0 the "
        "address IPAM chose on the bridge network's subnet, with its prefix length.",
        source="rtnetlink(7) RTM_NEWADDR; libnetwork osl/interface_linux.go setInterfaceIP",
    ),
    KindNote(
        "rtm_deladdr",
        "An rtnetlink request to remove an IP address from a device.",
        source="rtnetlink(7) RTM_DELADDR",
    ),
    KindNote(
        "rtm_newroute",
        "An rtnetlink request to add a route: dockerd sets the container's default route via the "
        "bridge's address (the gateway), out of eth0, in the container's network namespace.",
        source="rtnetlink(7) RTM_NEWROUTE; libnetwork osl/route_linux.go SetGateway",
    ),
    KindNote(
        "rtm_delroute",
        "An rtnetlink request to remove a route.",
        source="rtnetlink(7) RTM_DELROUTE; libnetwork osl/route_linux.go UnsetGateway",
    ),
)

SPEC = ProbeSpec(
    name="netlink",
    group="network",
    engine="bcc",
    description="rtnetlink requests: links made, moved between namespaces, renamed; addresses and routes",
    teaches=(
        "Where a container's eth0 comes from: dockerd makes a veth pair over rtnetlink, moves one end "
        "into the container's network namespace, renames it eth0, and sets its address and route."
    ),
    source="netlink.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=(
        "rtm_newlink",
        "rtm_setlink",
        "rtm_dellink",
        "rtm_newaddr",
        "rtm_deladdr",
        "rtm_newroute",
        "rtm_delroute",
    ),
    tracepoints=tuple(f"syscalls:sys_{d}_{n}" for n in ("sendto", "sendmsg") for d in ("enter", "exit")),
    explains=EXPLAINS,
    story=StorySlot(slot=1),
)

MSG_MAX = 512
# struct nl_rec (bpf/netlink.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; s64 ret;
# s32 fd; u32 len, msg_read, iovs; u8 msg[512]
REC = struct.Struct(f"<QIIII16sqiIII{MSG_MAX}s")
assert REC.size == 576
SYSCALLS = {1: "sendto", 2: "sendmsg"}

RTM_NAMES = {
    16: "RTM_NEWLINK",
    17: "RTM_DELLINK",
    19: "RTM_SETLINK",
    20: "RTM_NEWADDR",
    21: "RTM_DELADDR",
    24: "RTM_NEWROUTE",
    25: "RTM_DELROUTE",
}
_LINK_TYPES = (16, 17, 19)
_ADDR_TYPES = (20, 21)

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
IFINFOMSG = struct.Struct("=BxHiII")  # family, (pad), type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTATTR = struct.Struct("=HH")  # len, type

# linux/if_link.h, linux/if_addr.h, linux/rtnetlink.h, linux/veth.h
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_NET_NS_PID, IFLA_NET_NS_FD = 18, 19, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
IFF_UP = 1
_NLM_FLAGS = ((0x1, "REQUEST"), (0x4, "ACK"), (0x8, "ECHO"))
_NLM_NEW_FLAGS = ((0x100, "REPLACE"), (0x200, "EXCL"), (0x400, "CREATE"), (0x800, "APPEND"))
_FAMILIES = {0: "AF_UNSPEC", 2: "AF_INET", 7: "AF_BRIDGE", 10: "AF_INET6"}


def _align(n: int) -> int:
    return (n + 3) & ~3


def attributes(buf: bytes, start: int, end: int) -> tuple[list[tuple[int, bytes]], bool]:
    """The rtattrs in buf[start:end] -> ([(type, payload)], well formed). A chain that runs past `end`
    or has an attribute shorter than its header is not rtnetlink (or was cut): not well formed."""
    out: list[tuple[int, bytes]] = []
    pos = start
    while pos + RTATTR.size <= end:
        alen, atype = RTATTR.unpack_from(buf, pos)
        if alen < RTATTR.size or pos + alen > end:
            return out, False
        out.append((atype & 0x3FFF, buf[pos + RTATTR.size : pos + alen]))  # without NLA_F_NESTED/BYTEORDER
        pos += _align(alen)
    return out, True  # fewer than a header's bytes left: padding


def _u32(b: bytes) -> int | None:
    return struct.unpack_from("=I", b)[0] if len(b) >= 4 else None


def _s32(b: bytes) -> int | None:
    return struct.unpack_from("=i", b)[0] if len(b) >= 4 else None


def _name(b: bytes) -> str:
    return cstr(b, False)


def _ip(family: int, b: bytes) -> str | None:
    if family == socket.AF_INET and len(b) >= 4:
        return str(ipaddress.IPv4Address(b[:4]))
    if family == socket.AF_INET6 and len(b) >= 16:
        return str(ipaddress.IPv6Address(b[:16]))
    return None


def _flags(flags: int, table: tuple[tuple[int, str], ...]) -> list[str]:
    return [name for bit, name in table if flags & bit]


def _link(msg: bytes, end: int, out: dict[str, Any]) -> bool:
    if end < NLMSGHDR.size + IFINFOMSG.size:
        return False
    family, _type, index, flags, change = IFINFOMSG.unpack_from(msg, NLMSGHDR.size)
    if family not in (0, 7):  # links are AF_UNSPEC (AF_BRIDGE for bridge port settings)
        return False
    attrs, ok = attributes(msg, NLMSGHDR.size + IFINFOMSG.size, end)
    if not ok:
        return False
    out["ifindex"] = index
    if change & IFF_UP:
        out["up"] = bool(flags & IFF_UP)
    for atype, val in attrs:
        if atype == IFLA_IFNAME:
            out["ifname"] = _name(val)
        elif atype == IFLA_MTU and (v := _u32(val)) is not None:
            out["mtu"] = v
        elif atype == IFLA_ADDRESS and len(val) == 6:
            out["mac"] = ":".join(f"{x:02x}" for x in val)
        elif atype == IFLA_MASTER and (v := _u32(val)) is not None:
            out["master"] = v
        elif atype == IFLA_NET_NS_FD and (v := _s32(val)) is not None:
            out["netns_fd"] = v
        elif atype == IFLA_NET_NS_PID and (v := _u32(val)) is not None:
            out["netns_pid"] = v
        elif atype == IFLA_LINKINFO:
            _linkinfo(val, out)
    return True


def _linkinfo(val: bytes, out: dict[str, Any]) -> None:
    info, _ok = attributes(val, 0, len(val))
    kind = ""
    for atype, v in info:
        if atype == IFLA_INFO_KIND:
            kind = _name(v)
            out["link_kind"] = kind
        elif atype == IFLA_INFO_DATA and kind == "veth":
            for dtype, dv in attributes(v, 0, len(v))[0]:
                if dtype == VETH_INFO_PEER and len(dv) >= IFINFOMSG.size:
                    _peer(dv, out)


def _peer(dv: bytes, out: dict[str, Any]) -> None:
    """VETH_INFO_PEER: an ifinfomsg and the peer's own attributes (drivers/net/veth.c)."""
    for ptype, pv in attributes(dv, IFINFOMSG.size, len(dv))[0]:
        if ptype == IFLA_IFNAME:
            out["peer"] = _name(pv)
        elif ptype == IFLA_NET_NS_FD and (p := _s32(pv)) is not None:
            out["peer_netns_fd"] = p
        elif ptype == IFLA_NET_NS_PID and (p := _u32(pv)) is not None:
            out["peer_netns_pid"] = p


def _addr(msg: bytes, end: int, out: dict[str, Any]) -> bool:
    if end < NLMSGHDR.size + IFADDRMSG.size:
        return False
    family, prefixlen, _fl, _scope, index = IFADDRMSG.unpack_from(msg, NLMSGHDR.size)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return False
    attrs, ok = attributes(msg, NLMSGHDR.size + IFADDRMSG.size, end)
    if not ok:
        return False
    out.update(family=family, prefixlen=prefixlen, ifindex=index)
    for atype, val in attrs:
        if atype in (IFA_LOCAL, IFA_ADDRESS) and (ip := _ip(family, val)) is not None:
            out["local" if atype == IFA_LOCAL else "address"] = ip
        elif atype == IFA_LABEL:
            out["label"] = _name(val)
    return True


def _route(msg: bytes, end: int, out: dict[str, Any]) -> bool:
    if end < NLMSGHDR.size + RTMSG.size:
        return False
    family, dst_len, _src_len, _tos, table, _proto, _scope, _rtype, _fl = RTMSG.unpack_from(
        msg, NLMSGHDR.size
    )
    if family not in _FAMILIES:
        return False
    attrs, ok = attributes(msg, NLMSGHDR.size + RTMSG.size, end)
    if not ok:
        return False
    out.update(family=family, dst_len=dst_len, table=table)
    for atype, val in attrs:
        if atype == RTA_DST and (ip := _ip(family, val)) is not None:
            out["dst"] = ip
        elif atype == RTA_GATEWAY and (ip := _ip(family, val)) is not None:
            out["gateway"] = ip
        elif atype == RTA_OIF and (v := _u32(val)) is not None:
            out["oif"] = v
        elif atype == RTA_TABLE and (v := _u32(val)) is not None:
            out["table"] = v
    return True


def parse_message(msg: bytes, length: int) -> dict[str, Any] | None:
    """The first rtnetlink request in `msg` (the copied bytes of a message `length` long) as the raw
    fields of its struct (LinkArgs, AddrArgs, RouteArgs), or None when it is not a well-formed
    rtnetlink change (another netlink family's message with a type number rtnetlink also uses). A
    message longer than what was copied is checked as far as it was copied and says `truncated`."""
    if len(msg) < NLMSGHDR.size:
        return None
    nlen, ntype, nflags, seq, _pid = NLMSGHDR.unpack_from(msg)
    name = RTM_NAMES.get(ntype)
    if name is None or nlen < NLMSGHDR.size or nlen > max(length, len(msg)) or not nflags & 0x1:
        return None
    end = min(nlen, len(msg))
    out: dict[str, Any] = {"type": ntype, "nlmsg_flags": nflags, "seq": seq}
    if nlen > len(msg):
        out["truncated"] = True
        end = len(msg) & ~3  # the last attribute may be cut: only whole ones count
    if ntype in _LINK_TYPES:
        ok = _link(msg, end, out) if end == nlen else _link_cut(msg, end, out)
    elif ntype in _ADDR_TYPES:
        ok = _addr(msg, end, out)
    else:
        ok = _route(msg, end, out)
    if not ok:
        return None
    if nlen < length:
        out["more_bytes"] = length - nlen  # a batch: only the first message is decoded
    return out


def _link_cut(msg: bytes, end: int, out: dict[str, Any]) -> bool:
    """A link message cut at MSG_MAX: decode the attributes that were copied whole."""
    pos = NLMSGHDR.size + IFINFOMSG.size
    whole = pos
    while whole + RTATTR.size <= end:
        alen = RTATTR.unpack_from(msg, whole)[0]
        if alen < RTATTR.size or whole + alen > end:
            break
        whole += _align(alen)
    return _link(msg, min(whole, end), out)


_NEW_TYPES = (16, 20, 24)  # the requests that take NLM_F_CREATE/EXCL/REPLACE/APPEND
_TYPE_NUMBERS = {name: n for n, name in RTM_NAMES.items()}
_FLAG_NUMBERS = {name: bit for bit, name in (*_NLM_FLAGS, *_NLM_NEW_FLAGS)}
_FAMILY_NUMBERS = {name: n for n, name in _FAMILIES.items()}


def nlmsg_flags_text(ntype: int, nflags: int) -> str:
    """ "REQUEST|ACK|EXCL|CREATE": the header flags a learner meets (the NEW ones only on NEW requests)."""
    return "|".join(
        _flags(nflags, _NLM_FLAGS) + (_flags(nflags, _NLM_NEW_FLAGS) if ntype in _NEW_TYPES else [])
    )


# untagged itself (tag=False), which also drops the inherited tag_field: subclasses name "t" again
class _Request(Args, frozen=True, kw_only=True, gc=False, tag=False):
    """What every rtnetlink request carries: the netlink header (type, flags, seq as sent) and the send.

    Most fields are there only when the message had them (None otherwise), so `"name" in args` means
    "the request set it", as it did when args were a dict."""

    type: int  # nlmsg_type: RTM_NEWLINK (16)...
    nlmsg_flags: int = 0
    seq: int = 0
    fd: int = -1
    sendmsg: bool = False  # sent with sendmsg(2); else sendto(2)
    len: int = 0  # bytes the send was given (may hold several messages: see more_bytes)
    ret: int = 0
    iovs: int | None = None  # sendmsg with several iovecs: only the first was read
    truncated: bool = False  # the message was longer than the copy: decoded as far as it was copied
    more_bytes: int | None = None  # a batch: bytes after the first message, not decoded

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> _Request:
        """Schema 1 named the type, the header flags, the family and the syscall."""
        fields = {k: v for k, v in args.items() if k in cls.__struct_fields__}
        fields["type"] = _TYPE_NUMBERS[str(args["type"])]
        flags = str(args.get("nlmsg_flags", ""))
        fields["nlmsg_flags"] = sum(_FLAG_NUMBERS.get(f, 0) for f in flags.split("|") if f)
        fields["sendmsg"] = args.get("syscall") == "sendmsg"
        if isinstance(args.get("family"), str):
            fields["family"] = _FAMILY_NUMBERS[args["family"]]
        return msgspec.convert(fields, cls)

    def names(self) -> dict[str, Any]:
        out = super().names()
        out.update(
            type=RTM_NAMES.get(self.type, str(self.type)),
            nlmsg_flags=nlmsg_flags_text(self.type, self.nlmsg_flags),
            syscall="sendmsg" if self.sendmsg else "sendto",
        )
        family = getattr(self, "family", None)
        if family is not None:
            out["family"] = _FAMILIES.get(family, str(family))
        return out

    def request(self) -> list[str]:
        """What the request asks, in words, after its type."""
        return []

    def describe(self, ev: Event) -> str:
        """ "RTM_NEWLINK veth1a2b3c type veth peer veth9f8e7d", "RTM_SETLINK ifindex 37 -> netns fd 12
        (move)", "RTM_SETLINK ifindex 37 name eth0", "RTM_NEWADDR ifindex 37 172.17.0.2/16"."""
        text = " ".join([RTM_NAMES.get(self.type, "RTM_?"), *self.request()])
        return text + (f" -> {errno_name(self.ret)}" if self.ret < 0 else "")


class LinkArgs(_Request, frozen=True, kw_only=True, gc=False, tag_field="t", tag="rtm_link"):
    """RTM_NEWLINK/SETLINK/DELLINK: a device made, changed (moved to another namespace, renamed, put on
    a bridge, brought up) or deleted (linux/if_link.h attributes)."""

    kinds = ("rtm_newlink", "rtm_setlink", "rtm_dellink")
    ifindex: int = 0  # 0: the request names the device otherwise (a create names none)
    up: bool | None = None  # IFF_UP, when the request changes it
    ifname: str | None = None
    mtu: int | None = None
    mac: str | None = None
    master: int | None = None  # ifindex of the bridge; 0: taken off it
    netns_fd: int | None = None  # moved to the network namespace of this fd
    netns_pid: int | None = None  # ... or of this process
    link_kind: str | None = None  # "veth", "bridge"... as the request names it
    peer: str | None = None  # a veth's other end
    peer_netns_fd: int | None = None
    peer_netns_pid: int | None = None

    @property
    def moves(self) -> bool:
        """The request moves the device to another network namespace."""
        return self.netns_fd is not None or self.netns_pid is not None

    @property
    def sets_something(self) -> bool:
        """Made, moved, renamed, bridged, addressed or brought up/down (not only an MTU)."""
        return (
            self.moves
            or self.master is not None
            or self.ifname is not None
            or self.mac is not None
            or (self.link_kind is not None or self.up is not None)
        )

    def request(self) -> list[str]:
        parts: list[str] = []
        if self.ifindex:
            parts.append(f"ifindex {self.ifindex}")
        if self.ifname is not None:
            parts.append(("name " if self.ifindex else "") + self.ifname)
        if self.link_kind is not None:
            parts.append(f"type {self.link_kind}")
        if self.peer is not None:
            parts.append(f"peer {self.peer}")
        if self.master is not None:
            parts.append(f"master ifindex {self.master}" if self.master else "nomaster")
        if self.netns_fd is not None:
            parts.append(f"-> netns fd {self.netns_fd} (move)")
        if self.netns_pid is not None:
            parts.append(f"-> netns of pid {self.netns_pid} (move)")
        if self.mac is not None:
            parts.append(f"address {self.mac}")
        if self.mtu is not None:
            parts.append(f"mtu {self.mtu}")
        if self.up is not None:
            parts.append("up" if self.up else "down")
        return parts


class AddrArgs(_Request, frozen=True, kw_only=True, gc=False, tag_field="t", tag="rtm_addr"):
    """RTM_NEWADDR/DELADDR: an IP address on a device (linux/if_addr.h)."""

    kinds = ("rtm_newaddr", "rtm_deladdr")
    family: int
    prefixlen: int
    ifindex: int
    local: str | None = None
    address: str | None = None
    label: str | None = None

    def request(self) -> list[str]:
        ip = self.local or self.address
        return [f"ifindex {self.ifindex}", *([f"{ip}/{self.prefixlen}"] if ip else [])]


class RouteArgs(_Request, frozen=True, kw_only=True, gc=False, tag_field="t", tag="rtm_route"):
    """RTM_NEWROUTE/DELROUTE: a route (linux/rtnetlink.h); dst_len 0 is the default route."""

    kinds = ("rtm_newroute", "rtm_delroute")
    family: int
    dst_len: int
    table: int
    dst: str | None = None
    gateway: str | None = None
    oif: int | None = None

    def request(self) -> list[str]:
        parts = ["default" if not self.dst_len else f"{self.dst or '?'}/{self.dst_len}"]
        if self.gateway is not None:
            parts.append(f"via {self.gateway}")
        if self.oif is not None:
            parts.append(f"dev ifindex {self.oif}")
        return parts


def _struct(ntype: int) -> type[_Request]:
    return LinkArgs if ntype in _LINK_TYPES else AddrArgs if ntype in _ADDR_TYPES else RouteArgs


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    if len(raw) < REC.size:  # the BPF side sends only the message bytes it copied
        raw = bytes(raw).ljust(REC.size, b"\0")
    (ts, kind, pid, tid, _p, comm_b, ret, fd, length, msg_read, iovs, msg_b) = REC.unpack_from(raw)
    if kind not in SYSCALLS:
        return None
    fields = parse_message(msg_b[:msg_read], length)
    if fields is None:
        return None  # another netlink family's message: not ours to report
    ntype = fields["type"]
    args = _struct(ntype)(
        **fields, fd=fd, sendmsg=kind == 2, len=length, ret=ret, iovs=iovs if iovs > 1 else None
    )
    return record_event(ctx, SPEC.name, RTM_NAMES[ntype].lower(), args, ts=ts, pid=pid, tid=tid, comm=comm_b)


PROBE = BccProbe(SPEC, decode)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
