"""xdp: packets and bytes per protocol on one interface, and sampled packet headers (XDP, BCC)."""

from __future__ import annotations

from beefine_tui import privileges
from beefine_tui.probes.base import Availability, KindNote, ProbeOptions, ProbeSpec, StorySlot
from beefine_tui.probes.bcc_probe import BCC_MISSING, bcc_found
from beefine_tui.probes.xdp_runner import SOURCE, XdpCount, XdpCountsArgs, XdpPacketArgs, XdpRunner
from beefine_tui.probes.xdp_runner import render as _render

# the event structs, for views that may not import the runner itself
__all__ = ["SPEC", "XdpCount", "XdpCountsArgs", "XdpPacketArgs", "available", "make_runner", "render"]

# What each kind means, with the primary source it was checked against (story/explanations.py).
EXPLAINS = (
    # kernel net/core/dev.c do_xdp_generic (generic XDP runs in the core receive path, after the driver)
    KindNote(
        "xdp_counts",
        "Packets counted by an XDP program on the interface the registry traffic crosses (lo for a "
        "registry on this machine). In generic (SKB) mode XDP runs in the core receive path after the "
        "driver, and sees incoming packets only; on lo every packet sent is also received once.",
        source="kernel net/core/dev.c do_xdp_generic, netif_receive_generic_xdp; bpf-helpers(7)",
    ),
    KindNote(
        "xdp_packet",
        "One sampled packet header seen by XDP on that interface.",
        source="kernel net/core/dev.c do_xdp_generic; bpf-helpers(7) (BPF_MAP_TYPE_RINGBUF output)",
    ),
)

SPEC = ProbeSpec(
    name="xdp",
    group="network",
    engine="xdp",
    description="per-protocol packet/byte counts and sampled headers on one interface (XDP, generic mode)",
    teaches=(
        "What arrives on a container's network interface (its veth, or the docker0 bridge): "
        "ARP, then the TCP handshake or UDP, seen by an XDP program that only looks and lets every "
        "packet pass. In generic (SKB) mode, used here, XDP runs in the core receive path after the "
        "driver has built the packet, and sees incoming packets only, never outgoing ones."
    ),
    source=SOURCE,
    columns=("ts", "kind", "text"),
    kinds=("xdp_counts", "xdp_packet"),
    tracepoints=(),
    explains=EXPLAINS,
    story=StorySlot(slot=2),
)


def available() -> Availability:
    if not bcc_found():
        return BCC_MISSING
    why = privileges.xdp_refusal()
    if why:
        return Availability(False, why + ": run it with sudo")
    return Availability(True)


def render(options: ProbeOptions) -> str:
    return _render(options)


def make_runner(options: ProbeOptions) -> XdpRunner:
    return XdpRunner(options)
