"""sockets probe decoder on hand-built records (bpf/sockets.bpf.c's struct sock_rec)."""

from __future__ import annotations

import json
import socket
import struct

from beefine_tui.events.model import EventReader
from beefine_tui.probes import sockets as so
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.decode_context import DecodeContext
from tests.probe_checks import assert_each_tracepoint_handled

NO_PID = 0x7FFFFFF0


def sin(addr: str, port: int) -> bytes:
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(addr) + b"\0" * 8


def sin6(addr: str, port: int) -> bytes:
    return (
        struct.pack("=H", socket.AF_INET6)
        + struct.pack("!HI", port, 0)
        + socket.inet_pton(socket.AF_INET6, addr)
        + b"\0" * 4
    )


def sun(path: bytes) -> bytes:
    return struct.pack("=H", socket.AF_UNIX) + path


def rec(
    kind: int,
    *,
    ret: int = 0,
    fd: int = 0,
    a1: int = 0,
    a2: int = 0,
    a3: int = 0,
    addr: bytes = b"",
    addrlen: int | None = None,
) -> bytes:
    n = min(len(addr), 128)
    return so.REC.pack(
        3,
        kind,
        NO_PID,
        NO_PID,
        0,
        b"dockerd",
        ret,
        fd,
        a1,
        a2,
        a3,
        len(addr) if addrlen is None else addrlen,
        n,
        0,
        0,
        addr,
    )


def ctx() -> DecodeContext:
    return DecodeContext()


def test_socket() -> None:
    t = socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
    ev = so.decode(rec(1, a1=socket.AF_INET, a2=t, a3=6, ret=3), ctx())
    assert ev is not None and ev.kind == "socket" and ev.probe == "sockets"
    assert ev.args == so.SocketArgs(family=socket.AF_INET, type=t, protocol=6, ret=3)
    assert ev.args.shown() == {
        "family": "AF_INET",
        "type": "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC",
        "protocol": "IPPROTO_TCP",
        "ret": 3,
    }
    assert ev.text == "AF_INET SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC -> fd 3"
    ev = so.decode(rec(1, a1=socket.AF_UNIX, a2=socket.SOCK_DGRAM, ret=-97), ctx())
    assert ev is not None and ev.args.shown()["protocol"] == "0" and ev.args["error"] == "EAFNOSUPPORT"
    ev = so.decode(rec(1, a1=16, a2=3, a3=9, ret=4), ctx())  # netlink: protocol is not IPPROTO
    assert ev is not None and ev.args.shown()["family"] == "AF_NETLINK" and ev.args.shown()["protocol"] == "9"


def test_bind_connect_inet() -> None:
    ev = so.decode(rec(2, fd=3, addr=sin("127.0.0.1", 8080)), ctx())
    assert ev is not None and ev.kind == "bind"
    assert ev.args == so.SockAddrArgs(
        fd=3, family=socket.AF_INET, addr="127.0.0.1", port=8080, addrlen=16, ret=0
    )
    assert ev.args.shown()["family"] == "AF_INET"  # named for display (the raw number stays the field)
    assert ev.text == "fd 3 127.0.0.1:8080"
    ev = so.decode(rec(3, fd=4, addr=sin("127.0.0.1", 1), ret=-111), ctx())
    assert ev is not None and ev.kind == "connect" and ev.args["error"] == "ECONNREFUSED"
    assert ev.text.endswith("-> ECONNREFUSED")
    ev = so.decode(rec(3, fd=4, addr=sin6("::1", 443), ret=-115), ctx())
    assert ev is not None and ev.args["addr"] == "::1" and ev.args["port"] == 443
    assert ev.args["error"] == "EINPROGRESS"


def test_bind_unix_paths() -> None:
    path = b"/var/run/docker.sock"
    ev = so.decode(rec(2, fd=5, addr=sun(path + b"\0"), addrlen=2 + len(path) + 1), ctx())
    assert (
        ev is not None
        and ev.args["path"] == "/var/run/docker.sock"
        and ev.args.shown()["family"] == "AF_UNIX"
    )
    ev = so.decode(rec(3, fd=5, addr=sun(b"\0containerd-shim/abc"), addrlen=2 + 20), ctx())
    assert ev is not None and ev.args["path"] == "@containerd-shim/abc"
    full = b"p" * 108
    ev = so.decode(rec(2, fd=5, addr=sun(full), addrlen=110), ctx())
    assert ev is not None and ev.args["path"] == "p" * 108


def test_bind_without_address() -> None:
    ev = so.decode(rec(2, fd=5, addr=b"", addrlen=16, ret=-14), ctx())
    assert ev is not None and ev.args.shown()["family"] == "?" and ev.args["error"] == "EFAULT"
    assert isinstance(ev.args, so.SockAddrArgs) and ev.args.family is None  # nothing was read
    assert ev.text == "fd 5 ? -> EFAULT"


def test_listen_accept() -> None:
    ev = so.decode(rec(4, fd=3, a1=128), ctx())
    assert ev is not None and ev.kind == "listen" and ev.args == so.ListenArgs(fd=3, backlog=128, ret=0)
    assert ev.text == "fd 3 backlog 128"
    ev = so.decode(rec(5, fd=3, a1=socket.SOCK_CLOEXEC, a2=1, addr=sin("127.0.0.1", 50000), ret=6), ctx())
    assert ev is not None and ev.kind == "accept"
    assert ev.args == so.AcceptArgs(
        fd=3, ret=6, flags=socket.SOCK_CLOEXEC, family=socket.AF_INET, addr="127.0.0.1", port=50000
    )
    assert ev.args.shown()["flags"] == "SOCK_CLOEXEC" and ev.args["syscall"] == "accept4"
    assert "from 127.0.0.1:50000" in ev.text
    ev = so.decode(rec(5, fd=7, addr=sun(b""), addrlen=2, ret=8), ctx())  # unix peer without a name
    assert ev is not None and ev.args.shown()["family"] == "AF_UNIX" and ev.args["path"] == ""
    assert ev.text == "fd 7 -> fd 8"
    ev = so.decode(rec(5, fd=3, ret=-11), ctx())  # nonblocking accept with nothing pending
    assert ev is not None and ev.args == so.AcceptArgs(fd=3, ret=-11)
    assert ev.args["error"] == "EAGAIN" and ev.text == "fd 3 -> EAGAIN"


def test_epoll() -> None:
    ev = so.decode(rec(6, a1=0o2000000, a2=1, ret=7), ctx())
    assert ev is not None and ev.kind == "epoll_create"
    assert ev.args == so.EpollCreateArgs(flags=0o2000000, ret=7)
    assert ev.args.shown()["flags"] == "EPOLL_CLOEXEC" and ev.text == "EPOLL_CLOEXEC -> fd 7"
    ev = so.decode(rec(6, a1=10, a2=0, ret=8), ctx())
    assert ev is not None and ev.args == so.EpollCreateArgs(flags=0, size=10, ret=8)
    assert ev.args.shown()["flags"] == "0" and ev.text == "size 10 -> fd 8"


def test_unknown_and_render() -> None:
    assert so.decode(rec(77), ctx()) is None
    text = so.render(ProbeOptions())
    assert "sys_enter_accept4" in text and "sys_enter_epoll_create1" in text


def test_every_listed_tracepoint_has_a_handler() -> None:
    assert_each_tracepoint_handled(so.SPEC, so.render)


def test_schema1_lines_upgrade() -> None:
    """Real v1 lines (the story fixture's connect, and what v1 wrote for the other kinds) read as the
    structs the decoder makes now, with the same names shown."""
    reader = EventReader(schema=1)
    line = (
        '{"ts":1065435303473,"probe":"sockets","kind":"connect","pid":8391,"tid":8403,"ppid":0,'
        '"comm":"dockerd","container":null,"args":{"fd":20,"family":"AF_INET","addr":"127.0.0.1",'
        '"port":5077,"ret":-115,"error":"EINPROGRESS"},"text":""}'
    )
    ev = reader.decode(line)
    assert ev.args == so.SockAddrArgs(fd=20, family=socket.AF_INET, addr="127.0.0.1", port=5077, ret=-115)
    assert ev.args["error"] == "EINPROGRESS"
    v1 = {
        "socket": {
            "family": "AF_INET",
            "type": "SOCK_STREAM|SOCK_CLOEXEC",
            "protocol": "IPPROTO_TCP",
            "ret": 3,
        },
        "accept": {
            "fd": 3,
            "ret": 6,
            "flags": "SOCK_CLOEXEC",
            "syscall": "accept4",
            "family": "AF_UNIX",
            "path": "",
        },
        "epoll_create": {
            "flags": "EPOLL_CLOEXEC",
            "flags_raw": 0o2000000,
            "syscall": "epoll_create1",
            "ret": 7,
        },
        "bind": {"fd": 5, "family": "?", "addrlen": 16, "ret": -14, "error": "EFAULT"},
    }
    want = {
        "socket": so.SocketArgs(family=2, type=socket.SOCK_STREAM | socket.SOCK_CLOEXEC, protocol=6, ret=3),
        "accept": so.AcceptArgs(fd=3, ret=6, flags=socket.SOCK_CLOEXEC, family=1, path=""),
        "epoll_create": so.EpollCreateArgs(flags=0o2000000, ret=7),
        "bind": so.SockAddrArgs(fd=5, addrlen=16, ret=-14),
    }
    for kind, args in v1.items():
        rec = {"ts": 1, "probe": "sockets", "kind": kind, "args": args, "text": ""}
        assert reader.decode(json.dumps(rec)).args == want[kind], kind
