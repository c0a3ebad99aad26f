"""Dashboard arithmetic as docker stats does it, and the collector on a fake client and fake /proc."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from beefine_tui.docker.stats import (
    ContainerRow,
    StatsCollector,
    cpu_percent,
    host_cpu_ns,
    human_bytes,
    human_si,
    totals,
)

CID = "c" * 64


def test_cpu_percent_formula() -> None:
    # half a CPU-second used while the host (2 CPUs) accumulated 2 CPU-seconds: 50 % of one core
    assert cpu_percent(500_000_000, 2_000_000_000, 2) == 50.0
    assert cpu_percent(1, 0, 2) is None
    assert cpu_percent(-1, 10, 2) is None


def test_host_cpu_ns_sums_first_eight_fields(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu  100 0 50 800 10 0 5 5 7 7\ncpu0 1 2 3\n")
    import os

    assert host_cpu_ns(str(tmp_path)) == 970 * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def test_human_units() -> None:
    assert human_bytes(316 * 1024) == "316.0KiB"
    assert human_bytes(64 << 20) == "64.0MiB"
    assert human_bytes(None) == "-"
    assert human_si(1156) == "1.2kB"
    assert human_si(0) == "0B"


def test_totals() -> None:
    rows = [
        ContainerRow(id="a", name="a", image="i", state="running", cpu_percent=1.5, mem_bytes=10, pids=2),
        ContainerRow(id="b", name="b", image="i", state="running", cpu_percent=None, mem_bytes=None, pids=3),
    ]
    t = totals(rows)
    assert (t.running, t.cpu_percent, t.mem_bytes, t.pids) == (2, 1.5, 10, 5)


class FakeAPI:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.down = False

    def containers(self, all: bool = False) -> list[dict[str, Any]]:
        if self.down:
            import requests

            raise requests.ConnectionError("connection refused")
        return [{"Id": CID, "Names": ["/web"], "Image": "img", "State": "running"}]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return {"State": {"Pid": self.pid}}


class FakeClient:
    def __init__(self, pid: int) -> None:
        self.api = FakeAPI(pid)

    def info(self) -> dict[str, Any]:
        return {
            "ServerVersion": "20.10",
            "Driver": "overlay2",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "1",
            "DockerRootDir": "/var/lib/docker",
            "ContainersRunning": 1,
            "Images": 2,
        }

    def version(self) -> dict[str, Any]:
        return {"ApiVersion": "1.41"}


def fake_host(tmp: Path, cpu_ns: int, host_ticks: int) -> str:
    proc = tmp / "proc"
    (proc / "self").mkdir(parents=True, exist_ok=True)
    (proc / "77" / "net").mkdir(parents=True, exist_ok=True)
    sysfs = tmp / "sys"
    (proc / "self" / "mountinfo").write_text(
        f"35 31 0:32 / {sysfs}/memory rw - cgroup cgroup rw,memory\n"
        f"33 31 0:30 / {sysfs}/cpuacct rw - cgroup cgroup rw,cpuacct\n"
        f"39 31 0:36 / {sysfs}/pids rw - cgroup cgroup rw,pids\n"
    )
    (proc / "77" / "cgroup").write_text(
        f"4:memory:/docker/{CID}\n2:cpuacct:/docker/{CID}\n8:pids:/docker/{CID}\n"
    )
    (proc / "stat").write_text(f"cpu  {host_ticks} 0 0 0 0 0 0 0 0 0\n")
    (proc / "meminfo").write_text("MemTotal:       1000000 kB\n")
    (proc / "77" / "net" / "dev").write_text(
        "h1\nh2\n    lo:  999 9 0 0 0 0 0 0  999 9 0 0 0 0 0 0\n"
        "  eth0:  1000 10 0 0 0 0 0 0  2000 20 0 0 0 0 0 0\n"
    )
    for c in ("memory", "cpuacct", "pids"):
        (sysfs / c / "docker" / CID).mkdir(parents=True, exist_ok=True)
    d = sysfs / "memory" / "docker" / CID
    (d / "memory.usage_in_bytes").write_text("3000000\n")
    (d / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (d / "memory.stat").write_text("total_inactive_file 1000000\n")
    (sysfs / "cpuacct" / "docker" / CID / "cpuacct.usage").write_text(f"{cpu_ns}\n")
    (sysfs / "pids" / "docker" / CID / "pids.current").write_text("4\n")
    return str(proc)


def test_collector_from_cgroup_files(tmp_path: Path) -> None:
    import os

    tck = os.sysconf("SC_CLK_TCK")
    proc = fake_host(tmp_path, cpu_ns=0, host_ticks=1000)
    col = StatsCollector(FakeClient(77), proc=proc)
    col._ncpu = 2
    first = col.refresh()
    assert first.rows[0].cpu_percent is None
    # the host gains 2 s of CPU time (both CPUs busy 1 s), the container 0.5 s: 50 %
    fake_host(tmp_path, cpu_ns=500_000_000, host_ticks=1000 + 2 * tck)
    snap = col.refresh()
    row = snap.rows[0]
    assert row.name == "web" and row.source == "cgroup"
    assert row.cpu_percent == 50.0
    assert row.mem_bytes == 2_000_000  # usage - inactive file
    assert row.mem_limit == 1_024_000_000  # no cgroup limit: host memory
    assert (row.net_rx, row.net_tx) == (1000, 2000)  # lo excluded
    assert row.pids == 4
    assert snap.daemon is not None and snap.daemon.storage_driver == "overlay2"


def test_collector_reports_daemon_down_then_recovers(tmp_path: Path) -> None:
    proc = fake_host(tmp_path, cpu_ns=0, host_ticks=1000)
    client = FakeClient(77)
    col = StatsCollector(client, proc=proc)
    assert col.refresh().rows
    client.api.down = True
    snap = col.refresh()
    assert snap.rows == [] and "does not answer" in snap.error and snap.daemon is None
    client.api.down = False
    again = col.refresh()
    assert again.error == "" and again.rows[0].name == "web"


class RemoteAPI(FakeAPI):
    """A daemon whose container processes are not visible here: rows come from its stats endpoint."""

    def stats(self, cid: str, stream: bool = False) -> dict[str, Any]:
        import json

        stats: dict[str, Any] = json.loads(
            (Path(__file__).parent / "fixtures" / "docker_stats_v1.json").read_text()
        )
        return stats


def test_api_fallback_when_the_process_is_not_ours(tmp_path: Path) -> None:
    proc = fake_host(tmp_path, cpu_ns=0, host_ticks=1000)
    client = FakeClient(4242)  # no /proc/4242 here
    client.api = RemoteAPI(4242)
    row = StatsCollector(client, proc=proc).refresh().rows[0]
    assert row.source == "api"
    # recorded from `docker stats` of a busy loop: (258806485630 - 257808405445) / (5129080000000 -
    # 5127060000000) x 2 CPUs x 100
    assert row.cpu_percent == 98.82
    assert row.mem_bytes == 331776 and row.mem_limit == 25276063744
    assert (row.net_rx, row.net_tx, row.pids) == (1006, 0, 1)
    assert (row.blk_read, row.blk_write) == (0, 0)


def test_cli_refuses_bad_input_before_any_daemon(capsys: Any) -> None:
    from beefine_tui.cli import main

    assert main(["stats", "--watch", "0", "--docker-host", "unix:///nonexistent/beefine.sock"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["inspect", " ", "--docker-host", "unix:///nonexistent/beefine.sock"]) == 2
    assert "no container given" in capsys.readouterr().err
    rc = main(["inspect", "web", "--docker-host", "unix:///nonexistent/beefine.sock"])
    err = capsys.readouterr().err
    assert rc == 69 and "no Docker socket at /nonexistent/beefine.sock" in err and "Traceback" not in err
