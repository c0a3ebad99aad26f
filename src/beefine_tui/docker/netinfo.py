"""A container's network namespace seen from the host, without entering it and without a subprocess.

- /proc/<pid>/net/* shows the network namespace of <pid> (proc(5)): dev (counters), route (IPv4
  routes), if_inet6 (IPv6 addresses), fib_trie (IPv4 local addresses), tcp/tcp6/udp/udp6/unix (sockets).
- /proc/<pid>/root/sys/class/net/<if>/ is the container's own sysfs, mounted inside its network
  namespace, so it lists its devices with ifindex and iflink. For a veth, iflink is the ifindex of
  the peer; the host end is the host device whose ifindex equals it and whose iflink points back
  (Documentation/ABI/testing/sysfs-class-net).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

import msgspec

from beefine_tui.docker.procfs import read_text

# include/net/tcp_states.h
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}


class Interface(msgspec.Struct, kw_only=True):
    name: str
    ifindex: int | None = None
    iflink: int | None = None
    mac: str = ""
    mtu: int | None = None
    state: str = ""
    addresses: list[str] = msgspec.field(default_factory=list)  # "172.17.0.2/16"
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    host_peer: str | None = None  # the host veth it pairs with
    host_peer_ifindex: int | None = None


class Route(msgspec.Struct, kw_only=True):
    destination: str  # "0.0.0.0/0"
    gateway: str
    interface: str
    metric: int = 0


class SocketInfo(msgspec.Struct, kw_only=True):
    proto: str  # tcp, tcp6, udp, udp6, unix
    local: str
    remote: str
    state: str
    inode: int
    pids: list[int] = msgspec.field(default_factory=list)  # host pids holding it


class NetInfo(msgspec.Struct, kw_only=True):
    interfaces: list[Interface] = msgspec.field(default_factory=list)
    routes: list[Route] = msgspec.field(default_factory=list)
    sockets: list[SocketInfo] = msgspec.field(default_factory=list)
    note: str = ""


def parse_net_dev(text: str) -> dict[str, tuple[int, int, int, int]]:
    """/proc/net/dev -> {ifname: (rx_bytes, rx_packets, tx_bytes, tx_packets)}."""
    out: dict[str, tuple[int, int, int, int]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        f = rest.split()
        if len(f) < 10:
            continue
        out[name.strip()] = (int(f[0]), int(f[1]), int(f[8]), int(f[9]))
    return out


def _hex_ipv4(h: str) -> str:
    return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(h, 16)))


def _hex_ipv6(h: str) -> str:
    raw = bytes.fromhex(h)
    # /proc prints the address as four host-order (little-endian here) 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def parse_routes(text: str) -> list[Route]:
    """/proc/net/route (IPv4 main table), addresses as little-endian hex."""
    out: list[Route] = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        dest, gw, mask = _hex_ipv4(f[1]), _hex_ipv4(f[2]), _hex_ipv4(f[7])
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
        out.append(Route(destination=f"{dest}/{prefix}", gateway=gw, interface=f[0], metric=int(f[6])))
    return out


def parse_fib_trie_locals(text: str) -> list[str]:
    """IPv4 addresses assigned locally: leaves followed by "/32 host LOCAL" in the Local table."""
    out: list[str] = []
    last_leaf = ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|--"):
            last_leaf = s[3:].strip()
        elif s.startswith("/32 host LOCAL") and last_leaf and last_leaf not in out:
            out.append(last_leaf)
    return out


def parse_if_inet6(text: str) -> list[tuple[str, str]]:
    """/proc/net/if_inet6 -> [(ifname, "addr/prefix")]."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6:
            continue
        addr = ipaddress.IPv6Address(bytes.fromhex(f[0]))
        out.append((f[5], f"{addr}/{int(f[2], 16)}"))
    return out


def parse_inet_sockets(text: str, proto: str) -> list[SocketInfo]:
    out: list[SocketInfo] = []
    v6 = proto.endswith("6")
    conv = _hex_ipv6 if v6 else _hex_ipv4
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10:
            continue
        la, lp = f[1].split(":")
        ra, rp = f[2].split(":")
        st = int(f[3], 16)
        if proto.startswith("udp"):
            state = "UNCONN" if st == 7 else TCP_STATES.get(st, str(st))
        else:
            state = TCP_STATES.get(st, str(st))
        fmt = "[{}]:{}" if v6 else "{}:{}"
        out.append(
            SocketInfo(
                proto=proto,
                local=fmt.format(conv(la), int(lp, 16)),
                remote=fmt.format(conv(ra), int(rp, 16)),
                state=state,
                inode=int(f[9]),
            )
        )
    return out


def parse_unix_sockets(text: str) -> list[SocketInfo]:
    # Num RefCount Protocol Flags Type St Inode Path
    out: list[SocketInfo] = []
    states = {1: "UNCONNECTED", 2: "CONNECTING", 3: "CONNECTED", 4: "DISCONNECTING"}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 7:
            continue
        flags = int(f[3], 16)
        st = int(f[5], 16)
        state = "LISTEN" if flags & 0x10000 else states.get(st, str(st))
        out.append(
            SocketInfo(
                proto="unix", local=f[7] if len(f) > 7 else "", remote="", state=state, inode=int(f[6])
            )
        )
    return out


def socket_owners(pids: list[int], proc: str = "/proc") -> dict[int, list[int]]:
    """socket inode -> host pids that hold it open (via /proc/<pid>/fd/* -> "socket:[inode]")."""
    out: dict[int, list[int]] = {}
    for pid in pids:
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                out.setdefault(int(link[8:-1]), []).append(pid)
    return out


def _sysfs_ifaces(net_dir: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    try:
        names = os.listdir(net_dir)
    except OSError:
        return out
    for name in names:
        d = os.path.join(net_dir, name)
        vals: dict[str, str] = {}
        for attr in ("ifindex", "iflink", "address", "mtu", "operstate"):
            v = read_text(os.path.join(d, attr))
            if v is not None:
                vals[attr] = v.strip()
        out[name] = vals
    return out


def host_interfaces(sys_net: str = "/sys/class/net") -> dict[int, tuple[str, int | None]]:
    """ifindex -> (name, iflink) for the host's network namespace."""
    out: dict[int, tuple[str, int | None]] = {}
    for name, vals in _sysfs_ifaces(sys_net).items():
        if vals.get("ifindex", "").isdigit():
            il = vals.get("iflink", "")
            out[int(vals["ifindex"])] = (name, int(il) if il.isdigit() else None)
    return out


def _address_owner(addr: str, routes: list[Route]) -> str | None:
    ip = ipaddress.IPv4Address(addr)
    if ip.is_loopback:
        return "lo"
    best: tuple[int, str] | None = None
    for r in routes:
        net = ipaddress.IPv4Network(r.destination, strict=False)
        if r.gateway == "0.0.0.0" and ip in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, r.interface)
    return best[1] if best else None


def read_netinfo(
    pid: int,
    proc: str = "/proc",
    pids_in_container: list[int] | None = None,
    host_sys_net: str = "/sys/class/net",
    same_netns_as_host: bool = False,
) -> NetInfo:
    info = NetInfo()
    dev = parse_net_dev(read_text(f"{proc}/{pid}/net/dev") or "")
    routes = parse_routes(read_text(f"{proc}/{pid}/net/route") or "")
    info.routes = routes
    # prefix lengths for v4 addresses: from the on-link route that contains them
    prefix_of: dict[str, int] = {}
    locals4 = parse_fib_trie_locals(read_text(f"{proc}/{pid}/net/fib_trie") or "")
    owners: dict[str, list[str]] = {}
    for a in locals4:
        owner = _address_owner(a, routes)
        if owner is None:
            continue
        plen = 8 if owner == "lo" else 32
        for r in routes:
            net = ipaddress.IPv4Network(r.destination, strict=False)
            if r.interface == owner and r.gateway == "0.0.0.0" and ipaddress.IPv4Address(a) in net:
                plen = net.prefixlen
        prefix_of[a] = plen
        owners.setdefault(owner, []).append(f"{a}/{plen}")
    for ifname, addr6 in parse_if_inet6(read_text(f"{proc}/{pid}/net/if_inet6") or ""):
        owners.setdefault(ifname, []).append(addr6)
    sysfs = {} if same_netns_as_host else _sysfs_ifaces(f"{proc}/{pid}/root/sys/class/net")
    host = host_interfaces(host_sys_net)
    for name in sorted(set(dev) | set(sysfs)):
        vals = sysfs.get(name, {})
        rx_b, rx_p, tx_b, tx_p = dev.get(name, (0, 0, 0, 0))
        ifindex = int(vals["ifindex"]) if vals.get("ifindex", "").isdigit() else None
        iflink = int(vals["iflink"]) if vals.get("iflink", "").isdigit() else None
        iface = Interface(
            name=name,
            ifindex=ifindex,
            iflink=iflink,
            mac=vals.get("address", ""),
            mtu=int(vals["mtu"]) if vals.get("mtu", "").isdigit() else None,
            state=vals.get("operstate", ""),
            addresses=owners.get(name, []),
            rx_bytes=rx_b,
            tx_bytes=tx_b,
            rx_packets=rx_p,
            tx_packets=tx_p,
        )
        if iflink is not None and ifindex is not None and iflink != ifindex and iflink in host:
            hname, hlink = host[iflink]
            if hlink == ifindex:  # the host end points back at us: a veth pair
                iface.host_peer, iface.host_peer_ifindex = hname, iflink
        info.interfaces.append(iface)
    if not sysfs and not same_netns_as_host:
        info.note = "no sysfs inside the container: veth peer and ifindex unknown"
    socks: list[SocketInfo] = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        socks += parse_inet_sockets(read_text(f"{proc}/{pid}/net/{proto}") or "", proto)
    socks += parse_unix_sockets(read_text(f"{proc}/{pid}/net/unix") or "")
    if pids_in_container:
        own = socket_owners(pids_in_container, proc)
        for s in socks:
            s.pids = own.get(s.inode, [])
        # unix sockets are listed host-wide (not per netns): keep only the container's own
        socks = [s for s in socks if s.proto != "unix" or s.pids]
    info.sockets = socks
    return info


def net_io(pid: int, proc: str = "/proc") -> tuple[int, int]:
    """(rx_bytes, tx_bytes) over every interface but lo in <pid>'s network namespace."""
    rx = tx = 0
    for name, (rb, _, tb, _) in parse_net_dev(read_text(f"{proc}/{pid}/net/dev") or "").items():
        if name != "lo":
            rx += rb
            tx += tb
    return rx, tx
