"""netlink probe decoder on real messages: the bytes the probe copied from `ip` (iproute2, sendmsg)
making a veth pair, moving one end into a namespace, renaming it eth0, addressing and routing it, and
deleting the pair (captured on this kernel; strace -e sendmsg decoded the same messages the same way:
nlmsg_len=92 RTM_NEWLINK EXCL|CREATE, IFLA_IFNAME "h12nc", IFLA_LINKINFO veth with the peer "h12nd")."""

from __future__ import annotations

import json
import struct

from beefine_tui.events.model import EventReader
from beefine_tui.probes import netlink as nl
from beefine_tui.probes.decode_context import DecodeContext

# ip link add h12nc type veth peer name h12nd
CREATE = bytes.fromhex(
    "5c0000001000050698ef106b00000000000000000000000000000000000000000a0003006831326e63000000300012000800"
    "0100766574682400020020000100000000000000000000000000000000000a0003006831326e64000000"
)
# ip link set h12nd netns h12nns2 (ifindex 2177, by an fd of the namespace)
MOVE = bytes.fromhex("280000001000050098ef106b000000000000000081080000000000000000000008001c0004000000")
# ip -n h12nns2 link set h12nd name eth0
RENAME = bytes.fromhex(
    "2c0000001000050098ef106b0000000000000000810800000000000000000000090003006574683000000000"
)
# ip -n h12nns2 addr add 10.99.0.2/24 dev eth0
ADDR = bytes.fromhex("280000001400050698ef106b000000000218000081080000080002000a630002080001000a630002")
# ip -n h12nns2 link set eth0 up
UP = bytes.fromhex("200000001000050098ef106b0000000000000000810800000100000001000000")
# ip -n h12nns2 route add default via 10.99.0.1 dev eth0
ROUTE = bytes.fromhex(
    "2c0000001800050698ef106b0000000002000000fe03000100000000080005000a6300010800040081080000"
)
# ip link del h12nc (ifindex 2178)
DELETE = bytes.fromhex("200000001100050098ef106b0000000000000000820800000000000000000000")


def rec(
    msg: bytes, *, kind: int = 2, ret: int | None = None, length: int | None = None, iovs: int = 1
) -> bytes:
    n = min(len(msg), nl.MSG_MAX)
    length = len(msg) if length is None else length
    return nl.REC.pack(
        5, kind, 4242, 4243, 0, b"ip", length if ret is None else ret, 3, length, n, iovs, msg[:n]
    )


def ev(msg: bytes, **kw: int) -> nl.Event:
    e = nl.decode(rec(msg, **kw), DecodeContext())
    assert e is not None
    return e


def test_veth_pair_created() -> None:
    e = ev(CREATE)
    assert e.kind == "rtm_newlink" and e.comm == "ip" and e.args["syscall"] == "sendmsg"
    assert e.args["ifname"] == "h12nc" and e.args["link_kind"] == "veth" and e.args["peer"] == "h12nd"
    assert e.args == nl.LinkArgs(
        type=16,
        nlmsg_flags=0x605,
        seq=0x6B10EF98,
        fd=3,
        sendmsg=True,
        len=92,
        ret=92,
        ifindex=0,
        ifname="h12nc",
        link_kind="veth",
        peer="h12nd",
    )
    assert (
        e.args.shown()["nlmsg_flags"] == "REQUEST|ACK|EXCL|CREATE" and e.args.shown()["type"] == "RTM_NEWLINK"
    )
    assert e.text == "RTM_NEWLINK h12nc type veth peer h12nd"
    assert "netns_fd" not in e.args and "ifname" in e.args  # `in`: the request set it


def test_move_rename_address_up_route_delete() -> None:
    assert ev(MOVE).text == "RTM_NEWLINK ifindex 2177 -> netns fd 4 (move)"
    assert ev(MOVE).args["netns_fd"] == 4
    move = ev(MOVE).args
    assert isinstance(move, nl.LinkArgs) and move.moves and move.sets_something
    assert ev(RENAME).text == "RTM_NEWLINK ifindex 2177 name eth0"
    a = ev(ADDR)
    assert a.kind == "rtm_newaddr" and a.text == "RTM_NEWADDR ifindex 2177 10.99.0.2/24"
    assert isinstance(a.args, nl.AddrArgs) and a.args.family == 2 and a.args.prefixlen == 24
    assert a.args["local"] == "10.99.0.2" and a.args.shown()["family"] == "AF_INET"
    assert ev(UP).text == "RTM_NEWLINK ifindex 2177 up" and ev(UP).args["up"] is True
    r = ev(ROUTE)
    assert r.kind == "rtm_newroute" and r.text == "RTM_NEWROUTE default via 10.99.0.1 dev ifindex 2177"
    assert r.args["table"] == 254  # RT_TABLE_MAIN
    assert isinstance(r.args, nl.RouteArgs) and r.args.dst_len == 0 and r.args.oif == 2177
    d = ev(DELETE, kind=1)
    assert d.kind == "rtm_dellink" and d.text == "RTM_DELLINK ifindex 2178" and d.args["syscall"] == "sendto"


def test_setlink_by_pid_and_master() -> None:
    # the same move as RTM_SETLINK with IFLA_NET_NS_PID, then the host end put on a bridge (IFLA_MASTER)
    body = struct.pack("=BxHiII", 0, 0, 37, 0, 0) + struct.pack("=HHI", 8, nl.IFLA_NET_NS_PID, 999)
    msg = struct.pack("=IHHII", 16 + len(body), 19, 5, 1, 0) + body
    assert ev(msg).text == "RTM_SETLINK ifindex 37 -> netns of pid 999 (move)"
    body = struct.pack("=BxHiII", 0, 0, 38, 0, 0) + struct.pack("=HHI", 8, nl.IFLA_MASTER, 3)
    msg = struct.pack("=IHHII", 16 + len(body), 19, 5, 1, 0) + body
    assert ev(msg).text == "RTM_SETLINK ifindex 38 master ifindex 3"


def test_failed_send_and_batch() -> None:
    e = ev(UP, ret=-105)
    assert e.args["error"] == "ENOBUFS" and e.text.endswith("-> ENOBUFS")
    b = ev(UP + DELETE)
    assert b.args["more_bytes"] == len(DELETE) and b.kind == "rtm_newlink"


def test_other_netlink_families_are_not_claimed() -> None:
    # nfnetlink's batch begin has type 16 (NFNL_MSG_BATCH_BEGIN) and a 4-byte nfgenmsg: too short
    batch = struct.pack("=IHHII", 20, 16, 1, 1, 0) + b"\x00\x00\x00\x0a"
    assert nl.decode(rec(batch), DecodeContext()) is None
    # an attribute chain that runs past the message is not rtnetlink
    bad = bytearray(UP + struct.pack("=HH", 40, 3))
    struct.pack_into("=I", bad, 0, len(bad))
    assert nl.decode(rec(bytes(bad)), DecodeContext()) is None
    # a reply (no NLM_F_REQUEST) is not a request
    reply = bytearray(UP)
    struct.pack_into("=H", reply, 6, 0)
    assert nl.decode(rec(bytes(reply)), DecodeContext()) is None
    assert nl.decode(rec(b"\x01\x02"), DecodeContext()) is None


def test_message_longer_than_the_copy() -> None:
    # a link message of 600 bytes: the name comes first and is decoded, the cut attribute is not
    pad = struct.pack("=HH", 4 + 540, 0xFF) + b"\0" * 540
    body = (
        struct.pack("=BxHiII", 0, 0, 7, 0, 0) + struct.pack("=HH", 9, nl.IFLA_IFNAME) + b"eth0\0\0\0\0" + pad
    )
    msg = struct.pack("=IHHII", 16 + len(body), 16, 5, 1, 0) + body
    assert len(msg) > nl.MSG_MAX
    e = ev(msg)
    assert e.args["truncated"] is True and e.args["ifname"] == "eth0"


def test_record_without_the_unused_tail() -> None:
    # the BPF side sends the 64-byte head and only the message bytes it copied
    short = rec(MOVE)[: 64 + len(MOVE)]
    e = nl.decode(short, DecodeContext())
    assert e is not None and e.text == "RTM_NEWLINK ifindex 2177 -> netns fd 4 (move)"


def test_mtu_only_is_not_a_step() -> None:
    body = struct.pack("=BxHiII", 0, 0, 3, 0, 0) + struct.pack("=HHI", 8, nl.IFLA_MTU, 1500)
    msg = struct.pack("=IHHII", 16 + len(body), 19, 5, 1, 0) + body
    a = ev(msg).args
    assert isinstance(a, nl.LinkArgs) and a.mtu == 1500 and not a.sets_something


def test_schema1_lines_upgrade() -> None:
    """v1 lines (names for the type, header flags, family and syscall) read as the structs decode makes."""
    reader = EventReader(schema=1)
    for msg, kw in ((CREATE, {}), (ADDR, {}), (ROUTE, {}), (DELETE, {"kind": 1}), (UP, {"ret": -105})):
        e = ev(msg, **kw)
        v1 = {k: v for k, v in e.args.shown().items() if v is not None and v is not False}
        v1.pop("sendmsg", None)  # schema 1 said it as "syscall"
        line = {"ts": 5, "probe": "netlink", "kind": e.kind, "args": v1, "text": e.text}
        assert reader.decode(json.dumps(line)).args == e.args, e.kind
    # the create as the schema-1 decoder wrote it
    old = {
        "type": "RTM_NEWLINK",
        "nlmsg_flags": "REQUEST|ACK|EXCL|CREATE",
        "seq": 0x6B10EF98,
        "ifindex": 0,
        "ifname": "h12nc",
        "link_kind": "veth",
        "peer": "h12nd",
        "fd": 3,
        "syscall": "sendmsg",
        "len": 92,
        "ret": 92,
    }
    line = {"ts": 5, "probe": "netlink", "kind": "rtm_newlink", "args": old, "text": ""}
    assert reader.decode(json.dumps(line)).args == ev(CREATE).args
