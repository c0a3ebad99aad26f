"""tcp probe: every TCP state change (sock:inet_sock_set_state), IPv4 and IPv6, with addresses, ports
and the old and new state by name.

This kernel has no kprobes, so this tracepoint stands in for kprobe:tcp_connect: a connect shows as
CLOSE -> SYN_SENT (in the caller's context) then SYN_SENT -> ESTABLISHED when the SYN-ACK arrives; the
server side's new connection appears as LISTEN -> SYN_RECV -> ESTABLISHED. Many transitions run in
softirq context, where the current task is a bystander; the BPF program (bpf/tcp.bpf.c) learns a
socket's owner only from transitions a syscall makes (connect, listen, close) and from the listener a
connection arrives on, and reports later transitions for that owner. With a filter set, sockets of
nobody traced are dropped; host-wide they are reported with pid 0 (owner_known false). The state
machine is RFC 793's, as the kernel names it in include/net/tcp_states.h.

A listener opened before the probe started made its CLOSE -> LISTEN before anyone watched, so at load
the socket table is read once (`existing_listeners`: /proc/<pid>/net/tcp{,6} per network namespace,
matched to the owning process through its socket fds) and the traced processes' listeners are seeded
into the program's `listeners` map: connections accepted by a container's long-running server count.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from beefine_tui.events.model import Args, Event
from beefine_tui.probes import own_pids
from beefine_tui.probes.attribution import descendants
from beefine_tui.probes.base import KindNote, ProbeOptions, ProbeSpec, Target
from beefine_tui.probes.bcc_probe import BccProbe
from beefine_tui.probes.decode_context import DecodeContext, record_event
from beefine_tui.probes.flags import ADDRESS_FAMILIES, AF_INET6, TCP_STATES, address_family, tcp_state

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    KindNote(
        "tcp_state",
        "A TCP connection changed state: SYN_SENT -> ESTABLISHED is a connection made, FIN_WAIT and "
        "CLOSE its end. The change runs where the packet was handled (often softirq), so the pid shown "
        "may not be the socket's owner.",
        source="tcp(7); kernel tracepoint sock:inet_sock_set_state (include/trace/events/sock.h)",
    ),
)

SPEC = ProbeSpec(
    name="tcp",
    group="network",
    engine="bcc",
    description="TCP state changes (SYN_SENT, ESTABLISHED, CLOSE...) with addresses and ports",
    teaches=(
        "A TCP connection's life as the kernel sees it: the handshake (SYN_SENT, ESTABLISHED), and the "
        "close (FIN_WAIT, TIME_WAIT, CLOSE), for connections made by the traced processes."
    ),
    source="tcp.bpf.c",
    columns=("ts", "pid", "comm", "kind", "text"),
    kinds=("tcp_state",),
    tracepoints=("sock:inet_sock_set_state",),
    explains=EXPLAINS,
)

K_STATE = 1

# struct tcp_rec (bpf/tcp.bpf.c): hdr {u64 ts; u32 kind, pid, tid, pad; char comm[16]}; u64 skaddr;
# s32 oldstate, newstate; u16 sport, dport, family, protocol; u32 owner_known, pad;
# u8 saddr[4], daddr[4], saddr_v6[16], daddr_v6[16]
inet_ntop = socket.inet_ntop
_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6
REC = struct.Struct("<QIIII16sQiiHHHHII4s4s16s16s")
assert REC.size == 112


_STATE_NUMBERS = {name: n for n, name in TCP_STATES.items()}
_FAMILY_NUMBERS = {name: n for n, name in ADDRESS_FAMILIES.items()}


class TcpStateArgs(Args, frozen=True, kw_only=True, gc=False, tag="tcp_state"):
    """One TCP state change of a socket: addresses as text, ports, states as the kernel numbers them
    (include/net/tcp_states.h). `sock` is the kernel's socket address (BCC), `netns` the network
    namespace inode (bpftrace); `owner_known` False: a host-wide event nobody traced owns (pid 0)."""

    kinds = ("tcp_state",)
    family: int
    saddr: str
    sport: int
    daddr: str
    dport: int
    oldstate: int
    newstate: int
    sock: int | None = None
    netns: int | None = None
    owner_known: bool = True

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> TcpStateArgs:
        """Schema 1 named the family and states, and wrote the socket address in hex."""

        def number(v: Any, table: dict[str, int]) -> int:
            return v if isinstance(v, int) else table.get(str(v)) or table.get(f"TCP_{v}") or int(str(v), 0)

        sock = args.get("sock")
        return cls(
            family=number(args["family"], _FAMILY_NUMBERS),
            saddr=str(args["saddr"]),
            sport=int(args["sport"]),
            daddr=str(args["daddr"]),
            dport=int(args["dport"]),
            oldstate=number(args["oldstate"], _STATE_NUMBERS),
            newstate=number(args["newstate"], _STATE_NUMBERS),
            sock=int(sock, 16) if isinstance(sock, str) else sock,
            netns=args.get("netns"),
            owner_known=bool(args.get("owner_known", True)),
        )

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "family": address_family(self.family),
            "oldstate": tcp_state(self.oldstate),
            "newstate": tcp_state(self.newstate),
        }
        if self.sock is not None:
            out["sock"] = f"{self.sock:#x}"
        return out

    def describe(self, ev: Event) -> str:
        if self.family == AF_INET6:
            src, dst = f"[{self.saddr}]:{self.sport}", f"[{self.daddr}]:{self.dport}"
        else:
            src, dst = f"{self.saddr}:{self.sport}", f"{self.daddr}:{self.dport}"
        old, new = tcp_state(self.oldstate), tcp_state(self.newstate)
        return f"{src} -> {dst} {old.removeprefix('TCP_')} -> {new.removeprefix('TCP_')}"


def decode(raw: bytes, ctx: DecodeContext) -> Event | None:
    (
        ts,
        kind,
        pid,
        tid,
        _p,
        comm_b,
        sk,
        old,
        new,
        sport,
        dport,
        family,
        _proto,
        owner_known,
        _p2,
        s4,
        d4,
        s6,
        d6,
    ) = REC.unpack_from(raw)
    if kind != K_STATE:
        return None
    if family == AF_INET6:
        saddr, daddr = inet_ntop(_AF_INET6, s6), inet_ntop(_AF_INET6, d6)
    else:
        saddr, daddr = inet_ntop(_AF_INET, s4), inet_ntop(_AF_INET, d4)
    args = TcpStateArgs(
        family=family,
        saddr=saddr,
        sport=sport,
        daddr=daddr,
        dport=dport,
        oldstate=old,
        newstate=new,
        sock=sk,
        owner_known=bool(owner_known),
    )
    return record_event(ctx, SPEC.name, "tcp_state", args, ts=ts, pid=pid, tid=tid, comm=comm_b)


# ---- listeners that existed before the probe started

TCP_LISTEN_HEX = "0A"  # the st column of /proc/net/tcp (include/net/tcp_states.h: TCP_LISTEN = 10)


@dataclass(frozen=True)
class Listener:
    family: int  # AF_INET or AF_INET6
    port: int
    pid: int
    comm: str


def parse_listening(text: str) -> dict[int, int]:
    """socket inode -> local port of the LISTEN sockets in a /proc/net/tcp or tcp6 table."""
    out: dict[int, int] = {}
    for line in text.splitlines()[1:]:
        cols = line.split()
        # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
        if len(cols) < 10 or cols[3] != TCP_LISTEN_HEX:
            continue
        with contextlib.suppress(ValueError, IndexError):
            out[int(cols[9])] = int(cols[1].rsplit(":", 1)[1], 16)
    return out


def _candidate_pids(target: Target) -> Iterator[int]:
    """Processes the target covers, now (a /proc scan: racy by nature, good for seeding)."""
    if target.is_host or target.pidns is not None or target.cgroup_id is not None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if target.pidns is not None:
                try:
                    st = os.stat(f"/proc/{pid}/ns/pid")
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) != target.pidns:
                    continue
            yield pid
        return
    pids = set(target.pids)
    if target.lineage_root is not None:
        pids.add(target.lineage_root)
        pids |= descendants(target.lineage_root)
    yield from sorted(pids)


def existing_listeners(target: Target) -> list[Listener]:
    """The TCP listeners the target's processes hold right now. Each network namespace's tables are
    read once (through the first process seen in it); a socket shared by several processes (a forking
    server) goes to the first one found, the lowest pid."""
    tables: dict[int, dict[int, tuple[int, int]]] = {}  # netns inode -> socket inode -> (family, port)
    found: dict[tuple[int, int], Listener] = {}
    for pid in _candidate_pids(target):
        try:
            netns = os.stat(f"/proc/{pid}/ns/net").st_ino
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        if netns not in tables:
            table: dict[int, tuple[int, int]] = {}
            for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{name}") as f:
                    table.update(
                        {ino: (int(family), port) for ino, port in parse_listening(f.read()).items()}
                    )
            tables[netns] = table
        table = tables[netns]
        if not table:
            continue
        comm = ""
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if not link.startswith("socket:["):
                continue
            hit = table.get(int(link[8:-1]))
            if hit is None or hit in found:
                continue
            if not comm:
                with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            found[hit] = Listener(hit[0], hit[1], pid, comm)
    return list(found.values())


def seed_listeners(bpf: Any, listeners: list[Listener]) -> None:
    """Write listeners into the program's `listeners` map (key family << 16 | port, as tcp.bpf.c)."""
    table = bpf[b"listeners"]
    for ln in listeners:
        leaf = table.Leaf()
        leaf.pid = ln.pid
        leaf.tid = ln.pid
        leaf.comm = ln.comm.encode()[:15]
        table[table.Key((ln.family << 16) | ln.port)] = leaf


def _seeder(options: ProbeOptions) -> Callable[[Any], None]:
    """After load: the target's listeners that exist already, so their connections are attributed."""
    return lambda bpf: seed_listeners(bpf, _not_ours(existing_listeners(options.target), options))


def _not_ours(listeners: list[Listener], options: ProbeOptions) -> list[Listener]:
    """Beefine's own listeners stay out like its other sockets (ProbeOptions.include_self), unless the
    target names our pid."""
    if options.include_self:
        return listeners
    t = options.target
    ours = own_pids.current() - set(t.pids) - ({t.lineage_root} if t.lineage_root is not None else set())
    return [ln for ln in listeners if ln.pid not in ours]


PROBE = BccProbe(SPEC, decode, setup=_seeder)
available, program, render, make_runner = PROBE.available, PROBE.program, PROBE.render, PROBE.make_runner
