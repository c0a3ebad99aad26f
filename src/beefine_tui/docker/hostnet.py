"""The host's side of a lab's network: which IPv4 networks are taken, a free /24 for a lab's bridge, and
the `ip` command to make and remove the bridge. Never touches docker0, iptables or ip_forward."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

from beefine_tui.errors import BeefineError

SUBNET_POOL = ipaddress.IPv4Network("172.29.0.0/16")  # one /24 per lab, chosen by name hash


def ip_binary() -> str:
    for cand in (shutil.which("ip"), "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"):
        if cand and os.path.exists(cand):
            return cand
    raise BeefineError("the `ip` command is missing", "install iproute2: sudo apt-get install iproute2")


def run_ip(*args: str) -> str:
    r = subprocess.run([ip_binary(), *args], capture_output=True, text=True, timeout=15)
    if r.returncode != 0:
        raise BeefineError(f"`ip {' '.join(args)}` failed: {r.stderr.strip()}")
    return r.stdout


def used_networks(route_json: str, addr_json: str) -> list[ipaddress.IPv4Network]:
    """IPv4 networks already in use on this machine, from `ip -j route show table all` and `ip -j addr`."""
    nets: list[ipaddress.IPv4Network] = []
    with contextlib.suppress(ValueError):
        for r in json.loads(route_json or "[]"):
            dst = r.get("dst", "")
            if dst in ("", "default") or ":" in dst:
                continue
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.IPv4Network(dst, strict=False))
    with contextlib.suppress(ValueError):
        for link in json.loads(addr_json or "[]"):
            for a in link.get("addr_info", []):
                if a.get("family") == "inet":
                    with contextlib.suppress(ValueError, KeyError):
                        nets.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    return nets


def pick_subnet(name: str, used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """A /24 from 172.29.0.0/16 overlapping nothing in `used`, starting from a hash of the name."""
    subnets = list(SUBNET_POOL.subnets(new_prefix=24))
    start = int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(subnets)
    for i in range(len(subnets)):
        cand = subnets[(start + i) % len(subnets)]
        if not any(cand.overlaps(u) for u in used):
            return cand
    raise BeefineError(
        f"no free /24 left in {SUBNET_POOL} for the lab's bridge",
        "stop some labs (`beefine-tui lab status`, `beefine-tui lab down --name N`)",
    )


def bridge_exists(bridge: str) -> bool:
    return Path("/sys/class/net", bridge).exists()


def delete_bridge(bridge: str) -> None:
    if not bridge or not bridge_exists(bridge):
        return
    brif = Path("/sys/class/net", bridge, "brif")
    with contextlib.suppress(OSError):
        for port in brif.iterdir():  # veths of containers that did not go away with their netns
            subprocess.run([ip_binary(), "link", "del", port.name], capture_output=True, timeout=15)
    run_ip("link", "del", bridge)
