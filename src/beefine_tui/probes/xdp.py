"""xdp: packets and bytes per protocol on one interface, and sampled packet headers (XDP, BCC)."""

from __future__ import annotations

from beefine_tui import privileges
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec
from beefine_tui.probes.xdp_runner import SOURCE, XdpRunner
from beefine_tui.probes.xdp_runner import render as _render

SPEC = ProbeSpec(
    name="xdp",
    group="network",
    engine="xdp",
    description="per-protocol packet/byte counts and sampled headers on one interface (XDP, generic mode)",
    teaches=(
        "What crosses a container's network interface (its veth, or the docker0 bridge): "
        "ARP, then the TCP handshake or UDP, seen by an XDP program that only looks and lets "
        "every packet pass."
    ),
    source=SOURCE,
    columns=("ts", "kind", "text"),
    kinds=("xdp_counts", "xdp_packet"),
    tracepoints=(),
)


def available() -> Availability:
    try:
        import bcc  # noqa: F401
    except ImportError:
        return Availability(False, "BCC's Python bindings are missing: install python3-bpfcc (`make setup`)")
    if not privileges.can_load_bpf():
        return Availability(False, "needs root (or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON): run with sudo")
    return Availability(True)


def render(options: ProbeOptions) -> str:
    return _render(options)


def make_runner(options: ProbeOptions) -> XdpRunner:
    return XdpRunner(options)
