"""XDP runner: attaches bpf/xdp.bpf.c to one interface in generic (SKB) mode, reads per-protocol
counters every ~0.5 s and header samples from a ring buffer, and always detaches.

Attachment: through a BPF link (bpf(BPF_LINK_CREATE, attach_type BPF_XDP)) when the kernel has
them (5.9+). A link lives as long as its file descriptor: if this process dies, even by SIGKILL,
the kernel detaches the program. The old netlink attachment (what `ip link set xdpgeneric` and
BCC's attach_xdp do) stays on the interface after the process is gone; it is only the fallback,
and then stop() and a finally: detach it, after checking the attached program is still ours.
We never replace or remove an XDP program that is not ours: an interface that already has one is
refused with a clear message.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as _errno
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from beefine_tui import privileges
from beefine_tui.errors import NotFoundError, ProbeLoadError, UsageError
from beefine_tui.events.model import Args, Event, lost_event, now_ns, status_event
from beefine_tui.probes import bpf_syscall
from beefine_tui.probes.base import ProbeOptions, Runner, Sink, import_bcc
from beefine_tui.probes.bcc_compile import COMPILE_LOCK
from beefine_tui.probes.fdinfo import prog_id_of_fd
from beefine_tui.resources import bpf_source

PROBE = "xdp"
SOURCE = "xdp.bpf.c"
FUNC = "beefine_xdp"
COUNTS_INTERVAL_S = 0.5
POLL_TIMEOUT_MS = 100
DEFAULT_SAMPLE_EVERY = 1
DEFAULT_RING_PAGES = 64

# slots of the `counts` per-CPU array, in bpf/xdp.bpf.c order (C_TOTAL ... C_IP_OTHER)
COUNTER_SLOTS = ("total", "ipv4", "ipv6", "arp", "other", "tcp", "udp", "icmp", "ip_other")

# struct sample in bpf/xdp.bpf.c
SAMPLE_FORMAT = struct.Struct("<QIHBB6s6s16s16sHHB3xIQ")
assert SAMPLE_FORMAT.size == 80

TCP_FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
L4_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
ETH_NAMES = {0x0800: "ipv4", 0x86DD: "ipv6", 0x0806: "arp"}

# bpf(2) constants (include/uapi/linux/bpf.h); the commands and syscall number live in bpf_syscall
_BPF_XDP = 37  # enum bpf_attach_type
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1


# --- interfaces ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InterfaceInfo:
    name: str
    index: int
    kind: str  # veth, bridge, loopback, dummy, physical, ...
    operstate: str  # UP, DOWN, UNKNOWN, LOWERLAYERDOWN
    has_xdp: bool
    xdp_prog_id: int | None = None
    mac: str = ""


def parse_ip_link_json(text: str) -> list[InterfaceInfo]:
    """Interfaces from `ip -j -d link show` output."""
    try:
        items = json.loads(text or "[]")
    except json.JSONDecodeError:
        return []
    out: list[InterfaceInfo] = []
    for it in items if isinstance(items, list) else []:
        if not isinstance(it, dict) or "ifname" not in it:
            continue
        info = it.get("linkinfo") or {}
        kind = info.get("info_kind") if isinstance(info, dict) else None
        if not kind:
            kind = "loopback" if it.get("link_type") == "loopback" else "physical"
        xdp = it.get("xdp")
        prog_id: int | None = None
        if isinstance(xdp, dict):
            prog = xdp.get("prog") or {}
            if isinstance(prog, dict) and "id" in prog:
                prog_id = int(prog["id"])
            else:
                for att in xdp.get("attached", []) or []:
                    if isinstance(att, dict) and "prog" in att:
                        prog_id = int(att["prog"].get("id", 0)) or None
        out.append(
            InterfaceInfo(
                name=str(it["ifname"]),
                index=int(it.get("ifindex", 0)),
                kind=str(kind),
                operstate=str(it.get("operstate", "UNKNOWN")),
                has_xdp=isinstance(xdp, dict),
                xdp_prog_id=prog_id,
                mac=str(it.get("address", "")),
            )
        )
    return out


def _list_from_sys() -> list[InterfaceInfo]:
    """Fallback without iproute2: /sys/class/net (no XDP information there)."""
    out: list[InterfaceInfo] = []
    base = Path("/sys/class/net")
    for d in sorted(base.iterdir()) if base.is_dir() else []:

        def read(name: str, d: Path = d) -> str:
            try:
                return (d / name).read_text().strip()
            except OSError:
                return ""

        uevent = read("uevent")
        kind = "physical"
        for line in uevent.splitlines():
            if line.startswith("DEVTYPE="):
                kind = line.split("=", 1)[1]
        if read("type") == "772":
            kind = "loopback"
        out.append(
            InterfaceInfo(
                name=d.name,
                index=int(read("ifindex") or 0),
                kind=kind,
                operstate=(read("operstate") or "unknown").upper(),
                has_xdp=False,
                mac=read("address"),
            )
        )
    return out


def list_interfaces() -> list[InterfaceInfo]:
    """Every interface of this network namespace, for the UI's chooser."""
    ip = shutil.which("ip")
    if ip:
        try:
            res = subprocess.run(
                [ip, "-j", "-d", "link", "show"], capture_output=True, text=True, timeout=10, check=False
            )
            found = parse_ip_link_json(res.stdout)
            if found:
                return found
        except (OSError, subprocess.TimeoutExpired):
            pass
    return _list_from_sys()


def interface(name: str) -> InterfaceInfo:
    """The interface called `name`, or a NotFoundError listing the real ones."""
    found = list_interfaces()
    for it in found:
        if it.name == name:
            return it
    real = ", ".join(f"{i.name} ({i.kind})" for i in found) or "none"
    raise NotFoundError(f"no network interface named {name!r}", f"interfaces here: {real}")


# --- decoding (pure) ----------------------------------------------------------------------------
def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw[:6])


def tcp_flags_text(bits: int) -> str:
    names = [n for i, n in enumerate(TCP_FLAG_NAMES) if bits >> i & 1]
    return "|".join(names)


inet_ntop = socket.inet_ntop
_L4_NUMBERS = {name: n for n, name in L4_NAMES.items()}


def tcp_flags_bits(text: str) -> int:
    """ "SYN|ACK" back to its bits (schema 1 stored the names)."""
    return sum(1 << TCP_FLAG_NAMES.index(n) for n in text.split("|") if n in TCP_FLAG_NAMES)


class XdpPacketArgs(Args, frozen=True, kw_only=True, gc=False, tag="xdp_packet"):
    """One sampled packet's headers as the XDP program copied them: Ethernet, then IPv4/IPv6 addresses
    (None for other frames), the L4 protocol number, ports for TCP/UDP and the TCP flag bits."""

    kinds = ("xdp_packet",)
    ifname: str
    len: int
    eth_src: str
    eth_dst: str
    eth_proto: int
    src: str | None = None
    dst: str | None = None
    l4: int | None = None  # IPPROTO_*: 6 tcp, 17 udp, 1 icmp, 58 icmpv6
    sport: int | None = None
    dport: int | None = None
    tcp_flags: int | None = None  # FIN=1, SYN=2, RST=4... (the TCP header's flag byte)

    @classmethod
    def from_v1(cls, args: dict[str, Any]) -> XdpPacketArgs:
        """Schema 1 named the EtherType in hex, the L4 protocol and the TCP flags."""
        fields = {k: v for k, v in args.items() if k in cls.__struct_fields__}
        fields["eth_proto"] = int(str(args["eth_proto"]), 16)
        if isinstance(args.get("l4"), str):
            fields["l4"] = _L4_NUMBERS.get(args["l4"]) or int(args["l4"])
        if isinstance(args.get("tcp_flags"), str):
            fields["tcp_flags"] = tcp_flags_bits(args["tcp_flags"])
        return msgspec.convert(fields, cls)

    def names(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "eth_proto": f"0x{self.eth_proto:04x}",
            "l3": ETH_NAMES.get(self.eth_proto, f"0x{self.eth_proto:04x}"),
        }
        if self.l4 is not None:
            out["l4"] = L4_NAMES.get(self.l4, str(self.l4))
        if self.tcp_flags is not None:
            out["tcp_flags"] = tcp_flags_text(self.tcp_flags)
        return out

    def describe(self, ev: Event) -> str:
        if self.src is None:
            l3 = ETH_NAMES.get(self.eth_proto, f"0x{self.eth_proto:04x}")
            return f"{l3} {self.eth_src} -> {self.eth_dst} {self.len} B"
        if self.sport is not None:
            where = f"{self.src}:{self.sport} -> {self.dst}:{self.dport}"
        else:
            where = f"{self.src} -> {self.dst}"
        l4 = L4_NAMES.get(self.l4, str(self.l4)) if self.l4 is not None else "?"
        flags = tcp_flags_text(self.tcp_flags) if self.tcp_flags else ""
        return f"{l4} {where} {self.len} B" + (f" [{flags}]" if flags else "")


class XdpCount(msgspec.Struct, frozen=True, gc=False):
    packets: int = 0
    bytes: int = 0


class XdpCountsArgs(Args, frozen=True, kw_only=True, gc=False, tag="xdp_counts"):
    """Cumulative packets and bytes per counter since the program was attached (COUNTER_SLOTS)."""

    kinds = ("xdp_counts",)
    ifname: str
    ifindex: int = 0
    protocols: dict[str, XdpCount] = {}

    def count(self, name: str) -> XdpCount:
        return self.protocols.get(name) or XdpCount()

    def describe(self, ev: Event) -> str:
        total = self.count("total")
        shown = ", ".join(f"{n} {c.packets}" for n, c in self.protocols.items() if n != "total" and c.packets)
        return f"{self.ifname}: {total.packets} packets, {total.bytes} bytes" + (
            f" ({shown})" if shown else ""
        )


def decode_sample(raw: bytes, ifname: str) -> Event:
    """One `struct sample` from the ring buffer as an `xdp_packet` event (SCHEMA.md)."""
    (ts, length, eth_proto, ipver, l4, esrc, edst, src, dst, sport, dport, flags, _p2, _p3) = (
        SAMPLE_FORMAT.unpack_from(raw)
    )
    ip: dict[str, Any] = {}
    if ipver == 4:
        ip.update(
            src=socket.inet_ntop(socket.AF_INET, src[:4]), dst=socket.inet_ntop(socket.AF_INET, dst[:4])
        )
    elif ipver == 6:
        ip.update(src=socket.inet_ntop(socket.AF_INET6, src), dst=socket.inet_ntop(socket.AF_INET6, dst))
    if ipver:
        ip["l4"] = l4
        if l4 in (6, 17):
            ip.update(sport=sport, dport=dport)
        if l4 == 6:
            ip["tcp_flags"] = flags
    args = XdpPacketArgs(
        ifname=ifname, len=length, eth_src=mac_text(esrc), eth_dst=mac_text(edst), eth_proto=eth_proto, **ip
    )
    return Event(ts=ts, probe=PROBE, kind="xdp_packet", args=args)


def counts_event(ifname: str, ifindex: int, sums: Sequence[tuple[int, int]], ts: int | None = None) -> Event:
    """Cumulative per-protocol counters as an `xdp_counts` event. `sums[i]` = (packets, bytes) of
    COUNTER_SLOTS[i]. "ipv4"/"ipv6" count every packet of that IP version; "tcp"/"udp"/"icmp" count
    L4 over either version; "other" is neither IP nor ARP; "ip_other" is IP with another L4."""
    protocols = {name: XdpCount(p, b) for name, (p, b) in zip(COUNTER_SLOTS, sums, strict=False)}
    return Event(
        ts=now_ns() if ts is None else ts,
        probe=PROBE,
        kind="xdp_counts",
        args=XdpCountsArgs(ifname=ifname, ifindex=ifindex, protocols=protocols),
    )


def render(options: ProbeOptions) -> str:
    every = options.sample_every or DEFAULT_SAMPLE_EVERY
    return (
        f"// beefine-tui: cflags -DSAMPLE_EVERY={every} -DRING_PAGES={ring_pages(options)}; "
        f"attach {FUNC} to {options.interface or '<interface>'} in generic (SKB) mode\n" + bpf_source(SOURCE)
    )


def ring_pages(options: ProbeOptions) -> int:
    """ProbeOptions.ring_pages when it is a power of two, else the default."""
    n = options.ring_pages
    return n if n > 0 and n & (n - 1) == 0 else DEFAULT_RING_PAGES


def cflags(options: ProbeOptions) -> list[str]:
    every = options.sample_every or DEFAULT_SAMPLE_EVERY
    if every < 1:
        raise UsageError(f"sample_every must be >= 1, not {every}")
    pages = ring_pages(options)
    return [f"-DSAMPLE_EVERY={every}", f"-DRING_PAGES={pages}"]


# --- attaching ----------------------------------------------------------------------------------
def bpf_link_create_xdp(prog_fd: int, ifindex: int, flags: int = XDP_FLAGS_SKB_MODE) -> int:
    """bpf(BPF_LINK_CREATE) for XDP; returns the link fd (O_CLOEXEC). Raises OSError(errno)."""
    # union bpf_attr.link_create: prog_fd, target_ifindex, attach_type, flags (4 x u32)
    attr = (ctypes.c_uint32 * 16)()
    attr[0], attr[1], attr[2], attr[3] = prog_fd, ifindex, _BPF_XDP, flags
    return bpf_syscall.bpf(bpf_syscall.BPF_LINK_CREATE, attr)


def _bpf_link_detach(link_fd: int) -> None:
    attr = (ctypes.c_uint32 * 16)()
    attr[0] = link_fd
    # best effort, as before: closing the link fd detaches it anyway
    with contextlib.suppress(OSError):
        bpf_syscall.bpf(bpf_syscall.BPF_LINK_DETACH, attr)


class XdpRunner(Runner):
    """The xdp probe on one interface. `attach_mode` after start: "link" or "netlink"."""

    def __init__(self, options: ProbeOptions, *, prefer_link: bool = True) -> None:
        super().__init__()
        self._stop_event.set()
        self._options = options
        self._prefer_link = prefer_link
        self._bpf: Any = None
        self._fn: Any = None
        self._link_fd: int | None = None
        self._netlink_ifname: str | None = None
        self._prog_id: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._detached = True
        self._sink: Sink | None = None
        self._pending: list[Event] = []
        self._lost_reported = 0
        self.iface: InterfaceInfo | None = None
        self.attach_mode: str | None = None
        self.error: str | None = None
        self.samples_seen = 0

    @property
    def probes(self) -> tuple[str, ...]:
        return (PROBE,)

    @property
    def prog_id(self) -> int | None:
        return self._prog_id

    def prog_ids(self) -> set[int]:
        """Like the other runners': the attached program, while attached."""
        return {self._prog_id} if self._prog_id is not None and not self._detached else set()

    def start(self, sink: Sink) -> None:
        privileges.require_bpf("attach an XDP program")
        name = self._options.interface
        if not name:
            real = ", ".join(i.name for i in list_interfaces())
            raise UsageError("the xdp probe needs an interface", f"choose one of: {real}")
        iface = interface(name)
        if iface.has_xdp:
            raise ProbeLoadError(
                f"{name} already has an XDP program attached"
                + (f" (prog id {iface.xdp_prog_id})" if iface.xdp_prog_id else ""),
                "Beefine never replaces an XDP program it did not attach. If it is a leftover of ours "
                f"(bpftool prog show id {iface.xdp_prog_id or 'N'} names it {FUNC}), remove it with: "
                f"ip link set dev {name} xdpgeneric off",
            )
        self.iface = iface
        BPF = import_bcc().BPF
        text = render(self._options).split("\n", 1)[1]
        try:
            with COMPILE_LOCK:  # one BCC compile per process at a time (see bcc_runner)
                self._bpf = BPF(text=text.encode(), cflags=cflags(self._options))
                self._fn = self._bpf.load_func(FUNC.encode(), BPF.XDP)
        except Exception as e:
            self._cleanup_bpf()
            raise ProbeLoadError(f"the XDP program did not compile or load: {e}", log=str(e)) from e
        self._prog_id = prog_id_of_fd(self._fn.fd)
        try:
            self._attach(iface)
        except BaseException:
            self._cleanup_bpf()
            raise
        self._sink = sink
        self._detached = False
        self._stop_event.clear()
        try:
            self._bpf[b"samples"].open_ring_buffer(self._on_sample)
        except Exception as e:
            self._detach()
            self._cleanup_bpf()
            raise ProbeLoadError(f"cannot open the XDP sample ring buffer: {e}") from e
        self._thread = threading.Thread(target=self._loop, name=f"xdp-{iface.name}", daemon=True)
        self._thread.start()

    def _attach(self, iface: InterfaceInfo) -> None:
        from bcc import BPF

        if self._prefer_link:
            try:
                self._link_fd = bpf_link_create_xdp(self._fn.fd, iface.index, XDP_FLAGS_SKB_MODE)
                self.attach_mode = "link"
                return
            except OSError as e:
                if e.errno == _errno.EBUSY:
                    raise ProbeLoadError(
                        f"{iface.name} already has an XDP program attached", "Beefine will not replace it"
                    ) from e
                # EINVAL/ENOSYS-like: no XDP links on this kernel; fall back to netlink below
        try:
            BPF.attach_xdp(iface.name, self._fn, XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST)
        except Exception as e:
            raise ProbeLoadError(f"cannot attach XDP to {iface.name}: {e}") from e
        self._netlink_ifname = iface.name
        self.attach_mode = "netlink"

    def _on_sample(self, _ctx: Any, data: Any, size: int) -> None:
        raw = ctypes.string_at(data, min(size, SAMPLE_FORMAT.size))
        self.samples_seen += 1
        if len(raw) == SAMPLE_FORMAT.size and self.iface is not None:
            self._pending.append(decode_sample(raw, self.iface.name))

    def _read_counts(self) -> tuple[list[tuple[int, int]], int]:
        table = self._bpf[b"counts"]
        sums: list[tuple[int, int]] = []
        for i in range(len(COUNTER_SLOTS)):
            per_cpu = table[ctypes.c_int(i)]
            sums.append((sum(int(c.packets) for c in per_cpu), sum(int(c.bytes) for c in per_cpu)))
        dropped = sum(int(v) for v in self._bpf[b"sampling"][ctypes.c_int(0)])
        return sums, dropped

    def _flush_counts(self) -> None:
        assert self.iface is not None
        sums, dropped = self._read_counts()
        self._pending.append(counts_event(self.iface.name, self.iface.index, sums))
        if dropped > self._lost_reported:
            self._pending.append(lost_event(PROBE, dropped - self._lost_reported, "kernel"))
            self._lost_reported = dropped

    def _emit(self) -> None:
        if self._pending and self._sink is not None:
            batch, self._pending = self._pending, []
            try:
                self._sink(batch)
            except Exception as e:
                self.error = f"sink failed: {type(e).__name__}: {e}"

    def _loop(self) -> None:
        last_counts = 0.0
        try:
            while not self._stop_event.is_set():
                self._bpf.ring_buffer_poll(POLL_TIMEOUT_MS)
                now = time.monotonic()
                if now - last_counts >= COUNTS_INTERVAL_S:
                    self._flush_counts()
                    last_counts = now
                if self._pending:  # one batch per poll (<= ~100 ms of samples)
                    self._emit()
            # final drain and final counters, so a short run still reports what it saw
            self._bpf.ring_buffer_consume()
            self._flush_counts()
            self._emit()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            self._pending.append(status_event(PROBE, "failed", self.error))
            self._emit()
        finally:
            # detach even when the loop raised: the interface must never keep our program
            self._detach()

    def _detach(self) -> None:
        with self._lock:
            if self._detached:
                return
            self._detached = True
            link_fd, self._link_fd = self._link_fd, None
            ifname, self._netlink_ifname = self._netlink_ifname, None
        if link_fd is not None:
            with contextlib.suppress(OSError):
                _bpf_link_detach(link_fd)
            with contextlib.suppress(OSError):
                os.close(link_fd)
        if ifname is not None:
            self._netlink_detach(ifname)

    def _netlink_detach(self, ifname: str) -> None:
        # only if what is attached is still our program (never someone else's)
        current = next((i for i in list_interfaces() if i.name == ifname), None)
        if current is None or not current.has_xdp:
            return
        if self._prog_id is not None and current.xdp_prog_id not in (None, self._prog_id):
            self.error = f"{ifname} now has another XDP program (id {current.xdp_prog_id}); left it alone"
            return
        from bcc import BPF

        try:
            BPF.remove_xdp(ifname, XDP_FLAGS_SKB_MODE)
        except Exception as e:
            self.error = f"could not detach XDP from {ifname}: {e}"

    def _cleanup_bpf(self) -> None:
        b, self._bpf = self._bpf, None
        if b is not None:
            with contextlib.suppress(Exception):
                b.cleanup()

    def stop(self) -> None:
        self._stop_event.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5.0)
        if t is None or not t.is_alive():
            self._detach()
            self._cleanup_bpf()
        else:  # the poller is stuck in C: detach anyway; the BPF object is freed at exit
            self._detach()
