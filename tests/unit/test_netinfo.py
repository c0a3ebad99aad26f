"""Network namespace readers on /proc/<pid>/net files recorded from a lab container (plus a few
hand-made socket lines), and veth pairing on a fake sysfs."""

from __future__ import annotations

import shutil
from pathlib import Path

from beefine_tui.docker.netinfo import (
    parse_fib_trie_locals,
    parse_if_inet6,
    parse_inet_sockets,
    parse_net_dev,
    parse_routes,
    parse_unix_sockets,
    read_netinfo,
)

FIX = Path(__file__).parent / "fixtures" / "netns"


def test_routes() -> None:
    routes = parse_routes((FIX / "route").read_text())
    assert [(r.destination, r.gateway, r.interface) for r in routes] == [
        ("0.0.0.0/0", "172.31.251.1", "eth0"),
        ("172.31.251.0/24", "0.0.0.0", "eth0"),
    ]


def test_fib_trie_locals() -> None:
    assert parse_fib_trie_locals((FIX / "fib_trie").read_text()) == ["127.0.0.1", "172.31.251.2"]


def test_if_inet6() -> None:
    assert parse_if_inet6((FIX / "if_inet6").read_text()) == [
        ("lo", "::1/128"),
        ("eth0", "fe80::42:acff:fe1f:fb02/64"),
    ]


def test_net_dev() -> None:
    dev = parse_net_dev((FIX / "dev").read_text())
    assert dev["eth0"] == (1156, 14, 0, 0)
    assert dev["lo"] == (0, 0, 0, 0)


def test_tcp_sockets() -> None:
    socks = parse_inet_sockets((FIX / "tcp").read_text(), "tcp")
    assert [(s.local, s.remote, s.state, s.inode) for s in socks] == [
        ("127.0.0.1:3306", "0.0.0.0:0", "LISTEN", 5555),
        ("172.31.251.2:8080", "172.31.251.1:50000", "ESTABLISHED", 5556),
    ]
    six = parse_inet_sockets((FIX / "tcp6").read_text(), "tcp6")
    assert [(s.local, s.state) for s in six] == [("[::]:8080", "LISTEN")]
    udp = parse_inet_sockets((FIX / "udp").read_text(), "udp")
    assert [(s.local, s.state) for s in udp] == [("0.0.0.0:5353", "UNCONN")]


def test_unix_sockets() -> None:
    socks = parse_unix_sockets((FIX / "unix").read_text())
    assert [(s.local, s.state, s.inode) for s in socks] == [
        ("/run/app.sock", "LISTEN", 8888),
        ("", "CONNECTED", 8889),
    ]


def _sysfs(base: Path, name: str, ifindex: int, iflink: int, mac: str = "02:42:ac:1f:fb:02") -> None:
    d = base / name
    d.mkdir(parents=True)
    for attr, v in (
        ("ifindex", ifindex),
        ("iflink", iflink),
        ("address", mac),
        ("mtu", 1500),
        ("operstate", "up"),
    ):
        (d / attr).write_text(f"{v}\n")


def test_read_netinfo_pairs_veth(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    net = proc / "42" / "net"
    net.mkdir(parents=True)
    for f in FIX.iterdir():
        shutil.copy(f, net / f.name)
    inside = proc / "42" / "root" / "sys" / "class" / "net"
    _sysfs(inside, "eth0", 12, 13)
    _sysfs(inside, "lo", 1, 1)
    host = tmp_path / "hostnet"
    _sysfs(host, "veth7ba21df", 13, 12)
    _sysfs(host, "vethother", 14, 99)
    (proc / "42" / "fd").mkdir()
    (proc / "42" / "fd" / "3").symlink_to("socket:[5556]")
    info = read_netinfo(42, str(proc), pids_in_container=[42], host_sys_net=str(host))
    by = {i.name: i for i in info.interfaces}
    assert by["eth0"].host_peer == "veth7ba21df" and by["eth0"].host_peer_ifindex == 13
    assert by["eth0"].addresses == ["172.31.251.2/24", "fe80::42:acff:fe1f:fb02/64"]
    assert by["lo"].host_peer is None
    assert by["lo"].addresses == ["127.0.0.1/8", "::1/128"]
    est = [s for s in info.sockets if s.inode == 5556]
    assert est[0].pids == [42]
    # unix sockets nobody in the container holds are dropped
    assert not [s for s in info.sockets if s.proto == "unix"]


def test_veth_not_paired_when_peer_does_not_point_back(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "7" / "net").mkdir(parents=True)
    (proc / "7" / "net" / "dev").write_text((FIX / "dev").read_text())
    _sysfs(proc / "7" / "root" / "sys" / "class" / "net", "eth0", 12, 13)
    host = tmp_path / "hostnet"
    _sysfs(host, "vethX", 13, 77)  # ifindex 13 but its peer is someone else
    info = read_netinfo(7, str(proc), host_sys_net=str(host))
    assert {i.name: i.host_peer for i in info.interfaces}["eth0"] is None


def test_no_sysfs_is_said(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "7" / "net").mkdir(parents=True)
    (proc / "7" / "net" / "dev").write_text((FIX / "dev").read_text())
    info = read_netinfo(7, str(proc), host_sys_net=str(tmp_path / "none"))
    assert "veth peer" in info.note
    assert {i.name for i in info.interfaces} == {"eth0", "lo"}
