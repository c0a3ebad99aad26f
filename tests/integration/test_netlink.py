"""netlink probe on the real kernel. A traced child makes a veth pair with `ip`, moves one end into a
new network namespace, renames it eth0, addresses and routes it: exactly those requests arrive,
checked against `ip -j` in that namespace; the same work from this untraced process does not. Then a
real `docker run` on the lab's bridge network: dockerd's own requests (vishvananda/netlink, sendto)
make the veth pair, move the container's end in, name it eth0 and give it docker inspect's address and
gateway, checked against what the container itself reads in /sys/class/net/eth0 and `ip -j link` on
the host."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any

import pytest

from beefine_tui.docker.lab import LabInfo
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes import netlink
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.bcc_runner import BccRunner
from tests.integration.probe_harness import collect_until, prog_exists, run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def ip_json(*argv: str) -> Any:
    return json.loads(subprocess.run(["ip", "-j", *argv], check=True, capture_output=True, text=True).stdout)


def test_ip_makes_moves_and_configures_a_veth() -> None:
    tag = uuid.uuid4().hex[:6]
    host, peer, ns = f"bfn{tag}h", f"bfn{tag}p", f"bfn{tag}"
    noise = f"bfx{tag}h"
    code = f"""
import subprocess
def ip(*a):
    subprocess.run(["ip", *a], check=True)
ip("link", "add", {host!r}, "type", "veth", "peer", "name", {peer!r})
ip("link", "set", {peer!r}, "netns", {ns!r})
ip("-n", {ns!r}, "link", "set", {peer!r}, "name", "eth0")
ip("-n", {ns!r}, "addr", "add", "10.199.7.2/24", "dev", "eth0")
ip("-n", {ns!r}, "link", "set", "eth0", "up")
ip("-n", {ns!r}, "route", "add", "default", "via", "10.199.7.1", "dev", "eth0")
"""

    def outside() -> None:  # the same kind of work from this untraced process
        subprocess.run(["ip", "link", "add", noise, "type", "veth", "peer", "name", noise + "x"], check=True)

    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        events, _ = run_traced(
            netlink, code, lambda evs: any(e.kind == "rtm_newroute" for e in evs), during=outside
        )
        eth0 = ip_json("-n", ns, "link", "show", "eth0")[0]
        addr = ip_json("-n", ns, "addr", "show", "eth0")[0]["addr_info"]
    finally:
        subprocess.run(["ip", "link", "del", host], check=False)
        subprocess.run(["ip", "link", "del", noise], check=False)
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert all(e.comm == "ip" and e.args.get("ret", -1) > 0 for e in events), events
    assert not [e for e in events if noise in e.text], "the untraced process's veth was reported"
    kinds = [e.kind for e in events]
    assert kinds == ["rtm_newlink"] * 3 + ["rtm_newaddr", "rtm_newlink", "rtm_newroute"], events
    create, move, rename, newaddr, up, route = events
    assert (create.args["ifname"], create.args["link_kind"], create.args["peer"]) == (host, "veth", peer)
    index = eth0["ifindex"]  # moving a link keeps its index when the namespace has it free
    assert isinstance(move.args, netlink.LinkArgs) and move.args.netns_fd is not None
    assert move.args.ifindex == index and move.text.endswith("(move)")
    assert (rename.args["ifindex"], rename.args["ifname"]) == (index, "eth0")
    v4 = [a for a in addr if a["family"] == "inet"]
    assert (newaddr.args["ifindex"], newaddr.args["local"], newaddr.args["prefixlen"]) == (
        index, v4[0]["local"], v4[0]["prefixlen"],
    )  # fmt: skip
    assert isinstance(up.args, netlink.LinkArgs) and (up.args.ifindex, up.args.up) == (index, True)
    assert "UP" in eth0["flags"]
    assert (route.args["gateway"], route.args["oif"], route.args["dst_len"]) == ("10.199.7.1", index, 0)


def test_docker_run_veth_moved_and_named_eth0(lab: LabInfo, lab_client: Any, cleanup_containers: Any) -> None:
    bus = Bus()
    sub = bus.subscribe("test")
    runner = netlink.make_runner(ProbeOptions(target=Target(lineage_root=lab.dockerd_pid)))
    assert isinstance(runner, BccRunner)
    ids: set[int] = set()
    try:
        runner.start(bus.publish)
        ids = runner.prog_ids()
        c = lab_client.containers.run(
            lab.images["small"],
            ["sh", "-c", "cat /sys/class/net/eth0/ifindex /sys/class/net/eth0/iflink; sleep 60"],
            detach=True,
            labels=cleanup_containers,
        )
        end = time.monotonic() + 30
        while time.monotonic() < end and len(c.logs().split()) < 2:
            time.sleep(0.1)
        eth0_index, peer_index = (int(x) for x in c.logs().split()[:2])
        c.reload()
        net = c.attrs["NetworkSettings"]
        events = collect_until(sub, lambda evs: any(e.kind == "rtm_newroute" for e in evs), 20)
        time.sleep(0.5)  # the last of dockerd's requests for this container
        events += sub.get(0.2)
        host_end = [link for link in ip_json("link", "show") if link["ifindex"] == peer_index]
        c.remove(force=True)
    finally:
        runner.stop()
    assert not [i for i in ids if prog_exists(i)], "BPF programs left loaded after stop()"
    ours: list[Event] = [e for e in events if e.kind.startswith("rtm_")]
    # runc's init brings up lo itself (libcontainer network_linux.go, loopback): the rest is dockerd's
    lo = [e for e in ours if e.comm == "runc:[2:INIT]"]
    assert [(e.kind, e.args.get("ifindex"), e.args.get("up")) for e in lo] in ([], [("rtm_newlink", 1, True)])
    ours = [e for e in ours if e not in lo]
    assert ours and all(e.comm == "dockerd" for e in ours), ours
    assert host_end and host_end[0].get("master") == lab.bridge, host_end
    host_name = host_end[0]["ifname"]
    # the pair was made in the host: the host end by the name `ip link` shows now
    create = [e for e in ours if e.kind == "rtm_newlink" and e.args.get("link_kind") == "veth"]
    assert [e.args["ifname"] for e in create] == [host_name], ours
    peer_name = create[0].args["peer"]
    # the container's end moved into its namespace (by an fd of it), then named eth0
    moves = [e for e in ours if isinstance(e.args, netlink.LinkArgs) and e.args.netns_fd is not None]
    assert len(moves) == 1 and moves[0].ts > create[0].ts, ours
    renames = [e for e in ours if e.args.get("ifname") == "eth0"]
    assert renames and renames[0].ts > moves[0].ts and renames[0].args["ifindex"] == eth0_index, ours
    assert moves[0].args["ifindex"] == eth0_index, (moves, eth0_index, peer_name)
    # its address and the default route, as docker inspect reports them
    addrs = [e for e in ours if e.kind == "rtm_newaddr" and e.args.get("ifindex") == eth0_index]
    assert [
        (e.args["local"], e.args["prefixlen"]) for e in addrs if e.args.shown()["family"] == "AF_INET"
    ] == [(net["IPAddress"], net["IPPrefixLen"])], addrs
    routes = [e for e in ours if e.kind == "rtm_newroute" and e.args.get("gateway") == net["Gateway"]]
    assert routes and routes[0].args["dst_len"] == 0, ours
    # the host end went on the lab's bridge (IFLA_MASTER, the bridge's index)
    bridge_index = ip_json("link", "show", lab.bridge)[0]["ifindex"]
    assert any(e.args.get("master") == bridge_index for e in ours), ours
