"""The container monitor's report against independent tools, on real containers in the lab:
readlink and lsns for namespaces, docker top (+ exec events) for processes, docker inspect for limits,
/proc/<pid>/mountinfo for mounts, `ip -j link` for the veth pair."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from typing import Any

import pytest

from beefine_tui.cli import main
from beefine_tui.docker.inspect import ContainerReport, MonitorSampler, build_report, fill_live
from beefine_tui.docker.namespaces import NS_KINDS
from tests.lab_fixtures import run_sleeper

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_namespaces_equal_readlink_and_lsns(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c = run_sleeper(lab_client, lab, cleanup_containers)
    rep = build_report(lab_client, c.id)
    pid = c.attrs["State"]["Pid"]
    assert rep.pid == pid
    got = {n.kind: n.inode for n in rep.namespaces}
    assert list(got) == list(NS_KINDS)
    for kind in NS_KINDS:
        link = os.readlink(f"/proc/{pid}/ns/{kind}")
        assert link == f"{kind}:[{got[kind]}]"
    out = subprocess.run(
        ["lsns", "-J", "-p", str(pid)], capture_output=True, text=True, timeout=30, check=True
    )
    lsns = {row["type"]: int(row["ns"]) for row in json.loads(out.stdout)["namespaces"]}
    for kind, ino in lsns.items():
        assert got[kind] == ino, kind
    new = {n.kind for n in rep.namespaces if not n.shared_with_host}
    # Docker's defaults: new mnt, uts, ipc, pid, net; host's user and time (and cgroup on v1)
    assert {"mnt", "uts", "ipc", "pid", "net"} <= new
    assert "user" not in new and "time" not in new


def _lsns_members(inode: int) -> set[int]:
    """lsns given one namespace lists every process in it, one row each (lsns itself left out)."""
    with subprocess.Popen(["lsns", "-J", "-o", "PID", str(inode)], stdout=subprocess.PIPE, text=True) as proc:
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return {int(row["pid"]) for row in json.loads(out)["namespaces"]} - {proc.pid}


def test_namespace_counts_equal_lsns_also_when_shared_with_host(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    """pid_count is lsns's NPROCS for every kind, for the ones shared with the host too (user, time,
    cgroup on v1: about a hundred host processes, never 0). Processes come and go on a shared machine,
    so a reading counts only when lsns gives the same members just before and just after it."""
    c = run_sleeper(lab_client, lab, cleanup_containers)
    pid = c.attrs["State"]["Pid"]
    checked: dict[str, int] = {}
    for _attempt in range(30):
        rep = build_report(lab_client, c.id)
        checked.clear()
        stable = True
        for n in rep.namespaces:
            assert n.inode is not None
            before = _lsns_members(n.inode)
            fresh = next(x for x in build_report(lab_client, c.id).namespaces if x.kind == n.kind)
            after = _lsns_members(n.inode)
            if before != after:
                stable = False
                break
            assert fresh.pid_count == len(before), (n.kind, fresh.pid_count, len(before))
            assert set(fresh.pids) <= before and pid in before
            checked[n.kind] = fresh.pid_count
        if stable:
            break
    assert set(checked) == set(NS_KINDS), "the process list never held still long enough"
    shared = {n.kind for n in rep.namespaces if n.shared_with_host}
    assert {"user", "time"} <= shared
    for kind in shared:
        assert checked[kind] > 1, kind  # the host's processes, not 0
    assert checked["pid"] == 1  # sleep alone in its new pid namespace


def test_cgroup_dirs_are_every_hierarchy_of_proc_cgroup(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    """cgroup.dirs has one directory per hierarchy /proc/PID/cgroup lists (devices included), and
    each one is the cgroup the container's process is in: its cgroup.procs lists the pid."""
    c = run_sleeper(lab_client, lab, cleanup_containers)
    pid = c.attrs["State"]["Pid"]
    rep = build_report(lab_client, c.id)
    assert rep.cgroup is not None
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [ln.split(":", 2) for ln in f.read().splitlines()]
    if rep.cgroup.version == 2:
        assert list(rep.cgroup.dirs) == ["unified"]
        return
    hierarchies = {name.removeprefix("name=") for _, names, _ in lines if names for name in names.split(",")}
    assert "devices" in hierarchies
    assert set(rep.cgroup.dirs) == hierarchies
    for controller, d in rep.cgroup.dirs.items():
        assert c.id in d, (controller, d)
        with open(os.path.join(d, "cgroup.procs")) as f:
            assert str(pid) in f.read().split(), (controller, d)


def test_namespace_sharers_see_a_joined_container(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    a = run_sleeper(lab_client, lab, cleanup_containers)
    b = run_sleeper(lab_client, lab, cleanup_containers, network_mode=f"container:{a.id}")
    rep = build_report(lab_client, a.id)
    net = next(n for n in rep.namespaces if n.kind == "net")
    pid = next(n for n in rep.namespaces if n.kind == "pid")
    assert b.id in net.containers
    assert b.attrs["State"]["Pid"] in net.pids
    assert b.id not in pid.containers


def test_cgroup_limits_equal_docker_inspect(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c = run_sleeper(
        lab_client, lab, cleanup_containers, mem_limit="48m", nano_cpus=500_000_000, pids_limit=40
    )
    rep = build_report(lab_client, c.id)
    hc = c.attrs["HostConfig"]
    assert rep.cgroup is not None
    lim = rep.cgroup.limits
    assert lim.memory_bytes == hc["Memory"] == 48 << 20
    assert lim.cpus == hc["NanoCpus"] / 1e9
    assert lim.pids_max == hc["PidsLimit"] == 40
    assert c.id in rep.cgroup.path
    assert rep.cgroup.usage.pids == 1
    # the daemon's configuration, side by side
    assert rep.configured.memory == hc["Memory"] and rep.configured.pids_limit == 40


def test_mounts_equal_mountinfo_and_layers_map_to_image(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c = lab_client.containers.run(
        lab.images["layered"], ["sleep", "600"], detach=True, labels=cleanup_containers
    )
    c.reload()
    pid = c.attrs["State"]["Pid"]
    rep = build_report(lab_client, c.id)
    with open(f"/proc/{pid}/mountinfo") as f:
        raw = [line.split() for line in f.read().splitlines()]
    assert [(m.mount_id, m.mount_point) for m in rep.mounts] == [
        (int(r[0]), r[4].replace("\\040", " ")) for r in raw
    ]
    assert rep.mounts[0].mount_point == "/" and rep.mounts[0].fstype == "overlay"
    img = lab_client.images.get(lab.images["layered"])
    diff_ids = img.attrs["RootFS"]["Layers"]
    assert rep.image_diff_ids == diff_ids
    mapped = [la.diff_id for la in rep.layers if la.diff_id]
    assert sorted(mapped) == sorted(diff_ids)  # every image layer found in the overlay, nothing else
    assert [la.image_index for la in rep.layers if la.image_index] == list(range(len(diff_ids), 0, -1))
    assert rep.layers[0].role.startswith("upper") and rep.layers[1].cache_id.endswith("-init")


def test_veth_pairing_equals_ip_link(lab: Any, lab_client: Any, cleanup_containers: dict[str, str]) -> None:
    c = run_sleeper(lab_client, lab, cleanup_containers)
    pid = c.attrs["State"]["Pid"]
    rep = build_report(lab_client, c.id)
    assert rep.network is not None
    eth0 = next(i for i in rep.network.interfaces if i.name == "eth0")
    inside = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "ip", "-j", "link", "show", "eth0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    ilink = json.loads(inside.stdout)[0]
    assert eth0.ifindex == ilink["ifindex"]
    assert eth0.mac == ilink["address"]
    host = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, timeout=30).stdout)
    peer = next(h for h in host if h["ifindex"] == ilink["link_index"])
    assert eth0.host_peer == peer["ifname"]
    assert eth0.host_peer_ifindex == peer["ifindex"]
    assert peer.get("master") == lab.bridge
    ip = c.attrs["NetworkSettings"]["IPAddress"]
    assert any(a.startswith(ip + "/") for a in eth0.addresses)


def test_processes_equal_docker_top_plus_exec_events(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c = lab_client.containers.run(
        lab.images["small"], ["sh", "-c", "sleep 600 & sleep 601"], detach=True, labels=cleanup_containers
    )
    c.reload()
    time.sleep(0.3)  # let sh fork its children (not a timing assertion: the list is compared below)
    rep = build_report(lab_client, c.id)
    top = lab_client.api.top(c.id)
    col = top["Titles"].index("PID")
    assert sorted(p.pid for p in rep.processes) == sorted(int(r[col]) for r in top["Processes"])
    ns_pids = {p.ns_pid for p in rep.processes}
    assert 1 in ns_pids and len(ns_pids) == len(rep.processes)

    # a short-lived process started with docker exec, seen through the exec probe filtered to the container
    from beefine_tui.events.bus import Bus
    from beefine_tui.probes.attribution import target_for_container
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.probes.session import ProbeSession

    marker = f"beefine-{uuid.uuid4().hex[:8]}"
    bus = Bus()
    sub = bus.subscribe("test-inspect")
    session = ProbeSession(
        ["exec"], ProbeOptions(target=target_for_container(lab_client, c.id)), bus, strict=True
    )
    with session:
        c.exec_run(["sh", "-c", f"echo {marker} >/dev/null"])
        seen: list[Any] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen:
            seen = [
                e
                for e in sub.get(timeout=0.5)
                if e.kind == "exec" and any(marker in a for a in e.args.get("argv", []))
            ]
    assert len(seen) == 1
    ev = seen[0]
    assert ev.args["argv"][0] == "sh"
    assert ev.container == c.id
    with contextlib.suppress(Exception):
        sub.close()


def test_missing_container_is_a_clear_error(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["inspect", "no-such-container-beefine", "--docker-host", lab.docker_host])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no container 'no-such-container-beefine'" in err and "Traceback" not in err


def test_inspect_json_cli(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    c = run_sleeper(lab_client, lab, cleanup_containers)
    assert main(["inspect", c.name, "--json", "--docker-host", lab.docker_host]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["id"] == c.id and d["status"] == "running"
    assert {n["kind"] for n in d["namespaces"]} == set(NS_KINDS)
    assert d["processes"][0]["ns_pid"] == 1


def test_stopped_container_keeps_what_docker_knows(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c = run_sleeper(lab_client, lab, cleanup_containers, mem_limit="32m")
    live = build_report(lab_client, c.id)
    sampler = MonitorSampler(lab_client, c.id)
    before = sampler.sample()
    assert before.status == "running" and [p.ns_pid for p in before.processes] == [1]
    assert before.limits is not None and before.limits.memory_bytes == 32 << 20
    c.kill()
    c.wait(timeout=30)
    after = sampler.sample()  # the container exits while watched
    assert after.status == "exited" and after.pid == 0 and after.usage is None and after.processes == []
    rep = build_report(lab_client, c.id)
    assert rep.status == "exited" and rep.pid == 0
    assert rep.configured.memory == 32 << 20
    assert rep.namespaces == [] and rep.cgroup is None
    assert any("no process" in n for n in rep.notes)
    assert rep.layers and rep.layers[0].path == live.layers[0].path  # upper dir from GraphDriver
    # the layers still map to the image's, as they did through the live overlay mount
    assert [la.diff_id for la in rep.layers] == [la.diff_id for la in live.layers]
    assert rep.image_diff_ids and {la.diff_id for la in rep.layers if la.diff_id} == set(rep.image_diff_ids)
    # a report whose process vanished mid-read says so instead of failing
    p = subprocess.Popen(["true"])
    p.wait(timeout=10)
    gone = ContainerReport(id=c.id, name=c.name, image="", pid=p.pid)
    fill_live(gone)
    assert any("exited" in n for n in gone.notes)
    assert gone.processes == []


async def test_monitor_view_shows_a_short_exec_live(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    """The real view, headless, on a lab container: a `docker exec` that lasts a moment appears in the
    process table through the exec probe (polling alone could miss it), and stopping the view stops it."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from beefine_tui.appcontext import AppContext
    from beefine_tui.screens.container_monitor import ContainerMonitorView

    c = run_sleeper(lab_client, lab, cleanup_containers)
    marker = f"beefine-{uuid.uuid4().hex[:8]}"

    class Mon(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.ctx = AppContext(docker_host=lab.docker_host)

        def compose(self) -> ComposeResult:
            yield ContainerMonitorView(container=c.id)

    app = Mon()
    session = None
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            view = app.query_one(ContainerMonitorView)
            for _ in range(600):
                if view.session is not None:
                    break
                await pilot.pause(0.05)
            session = view.session
            assert session is not None and session.running
            c.exec_run(["sh", "-c", f"echo {marker} >/dev/null"])
            ps: DataTable[str] = view.query_one("#ps", DataTable)
            found: list[list[str]] = []
            for _ in range(400):
                await pilot.pause(0.05)
                found = [
                    [str(x) for x in ps.get_row(k)]
                    for k in ps.rows
                    if marker in str(ps.get_cell(k, "command"))
                ]
                if found:
                    break
            assert len(found) == 1 and found[0][4] in ("exec (event)", "exited (0)")
    finally:
        app.ctx.close()
    assert session is not None
    for _ in range(100):  # the view stops its session in a thread when it goes away
        if not session.running:
            break
        time.sleep(0.05)
    assert not session.running
