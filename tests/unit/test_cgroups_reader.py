"""The cgroup reader on recorded trees: v1 recorded from a real lab container here, v2 written from the
kernel's cgroup-v2 documentation formats (Documentation/admin-guide/cgroup-v2.rst)."""

from __future__ import annotations

import json
from pathlib import Path

from beefine_tui.docker.cgroups import (
    CgroupReader,
    _blkio_v1,
    _io_stat_v2,
    parse_proc_cgroup,
)

FIX = Path(__file__).parent / "fixtures"
V1_ID = "b270cdc60a32ea1367948822f19216474d92a6570909655c81187da5f66485ba"
V2_ID = "3f0c1e2d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"


def reader(name: str) -> CgroupReader:
    d = FIX / name
    cg = parse_proc_cgroup((d / "proc_cgroup").read_text())
    return CgroupReader.from_paths(cg, (d / "mountinfo").read_text(), root_prefix=str(d))


def test_parse_proc_cgroup_v1_hybrid() -> None:
    cg = parse_proc_cgroup((FIX / "cgroup_v1" / "proc_cgroup").read_text())
    assert cg["memory"] == f"/docker/{V1_ID}"
    assert cg["cpuacct"] == f"/docker/{V1_ID}"
    assert cg["systemd"] == f"/docker/{V1_ID}"  # name=systemd
    assert cg[""] == f"/docker/{V1_ID}"  # the (empty) v2 hierarchy of a hybrid host


def test_v1_paths_and_limits_match_docker_hostconfig() -> None:
    r = reader("cgroup_v1")
    assert r.version == 1
    assert r.path == f"/docker/{V1_ID}"
    assert r.dirs["memory"].endswith(f"/sys/fs/cgroup/memory/docker/{V1_ID}")
    hc = json.loads((FIX / "cgroup_v1" / "docker_hostconfig.json").read_text())
    lim = r.limits()
    assert lim.memory_bytes == hc["Memory"]
    # recorded after `update MemorySwap=-1`: the daemon stored -1, runc left memsw at 2x the old memory
    assert lim.memory_swap_bytes == 134217728
    assert lim.cpus == hc["NanoCpus"] / 1e9
    assert lim.cpu_quota_us == 25000 and lim.cpu_period_us == 100000
    assert lim.cpu_shares == 1024
    assert lim.pids_max == hc["PidsLimit"]
    assert lim.cpuset_cpus == "0-1"


def test_v1_usage() -> None:
    u = reader("cgroup_v1").usage()
    assert u.memory_bytes == 991232
    assert u.memory_inactive_file == 360448
    assert u.memory_working_set == 991232 - 360448
    assert u.cpu_ns == 109377583
    assert u.pids == 1
    assert (u.io_read_bytes, u.io_write_bytes) == (0, 0)
    assert u.frozen is False


def test_v2_limits_and_usage() -> None:
    r = reader("cgroup_v2")
    assert r.version == 2
    assert r.path == f"/system.slice/docker-{V2_ID}.scope"
    lim = r.limits()
    assert lim.memory_bytes == 134217728
    assert lim.memory_swap_bytes is None  # "max"
    assert (lim.cpu_quota_us, lim.cpu_period_us, lim.cpus) == (150000, 100000, 1.5)
    assert lim.cpu_weight == 100 and lim.cpu_shares is None
    assert lim.pids_max == 64
    u = r.usage()
    assert u.cpu_ns == 2_500_000_000
    assert u.memory_bytes == 52428800
    assert u.memory_working_set == 52428800 - 4194304
    assert u.memory_max_bytes == 60817408
    assert u.pids == 5
    assert u.io_read_bytes == 1459200 + 90430464
    assert u.io_write_bytes == 314773504 + 299008000
    assert u.throttled_periods == 3 and u.throttled_ns == 120_000_000
    assert u.frozen is False


def test_v2_unlimited(tmp_path: Path) -> None:
    d = tmp_path / "cg"
    d.mkdir()
    (d / "memory.max").write_text("max\n")
    (d / "cpu.max").write_text("max 100000\n")
    (d / "pids.max").write_text("max\n")
    lim = CgroupReader(2, {"unified": str(d)}).limits()
    assert lim.memory_bytes is None and lim.cpus is None and lim.cpu_quota_us is None
    assert lim.cpu_period_us == 100000 and lim.pids_max is None


def test_v1_unlimited_memory_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "cpu.cfs_quota_us").write_text("-1\n")
    r = CgroupReader(1, {"memory": str(tmp_path), "cpu": str(tmp_path)})
    lim = r.limits()
    assert lim.memory_bytes is None and lim.cpu_quota_us is None and lim.cpus is None


def test_missing_cgroup_reads_as_none(tmp_path: Path) -> None:
    r = CgroupReader(1, {"memory": str(tmp_path / "gone"), "cpuacct": str(tmp_path / "gone")})
    assert not r.exists()
    u = r.usage()
    assert u.cpu_ns is None and u.memory_bytes is None


def test_blkio_v1_format() -> None:
    # Documentation/admin-guide/cgroup-v1/blkio-controller.rst: "MAJ:MIN Op bytes", then Total
    text = (
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\n"
        "8:16 Read 100\nTotal 12388\n"
    )
    assert _blkio_v1(text) == (4196, 8192)
    assert _blkio_v1(None) == (None, None)


def test_io_stat_v2_empty() -> None:
    assert _io_stat_v2("") == (0, 0)


def test_for_container_path_without_process() -> None:
    d = FIX / "cgroup_v1"
    r = CgroupReader.for_container_path(f"/docker/{V1_ID}", (d / "mountinfo").read_text(), str(d))
    assert r.version == 1
    assert r.limits().pids_max == 30


def test_keep_open_rereads_and_survives_removal(tmp_path: Path) -> None:
    d = tmp_path / "cg"
    d.mkdir()
    (d / "memory.current").write_text("100\n")
    (d / "memory.stat").write_text("inactive_file 10\n")
    (d / "memory.max").write_text("max\n")
    r = CgroupReader(2, {"unified": str(d)}).keep_open()
    assert r.stats_usage().memory_working_set == 90
    (d / "memory.current").write_text("250\n")  # same inode, new content: pread(0) sees it
    assert r.stats_usage().memory_bytes == 250
    assert r.memory_limit() is None
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    # still-open fds of removed files read their last content on a regular fs; on cgroupfs they fail.
    # Either way no exception, and close() is idempotent.
    r.stats_usage()
    r.close()
    r.close()
    assert r.stats_usage().memory_bytes is None  # back to open-per-read: the file is gone


def test_stats_usage_v1_fixture() -> None:
    u = reader("cgroup_v1").stats_usage()
    assert (u.cpu_ns, u.memory_working_set, u.pids) == (109377583, 991232 - 360448, 1)
    assert reader("cgroup_v1").memory_limit() == 33554432


def test_v1_dirs_list_every_mounted_hierarchy() -> None:
    """devices (and any controller, named hierarchies too) is listed, from the recorded lab container."""
    r = reader("cgroup_v1")
    cg = parse_proc_cgroup((FIX / "cgroup_v1" / "proc_cgroup").read_text())
    assert "devices" in r.dirs
    assert set(r.dirs) == {c for c in cg if c}


# A systemd host on cgroup v1: co-mounted controllers and options beside them
SYSTEMD_V1_MOUNTINFO = "\n".join(
    f"{30 + i} 25 0:{40 + i} / /sys/fs/cgroup/{mnt} rw,nosuid - cgroup cgroup {opts}"
    for i, (mnt, opts) in enumerate(
        [
            ("systemd", "rw,xattr,name=systemd"),
            ("cpu,cpuacct", "rw,cpu,cpuacct"),
            ("net_cls,net_prio", "rw,net_cls,net_prio"),
            ("memory", "rw,memory"),
            ("devices", "rw,devices"),
            ("hugetlb", "rw,hugetlb"),
            ("rdma", "rw,rdma"),
            ("misc", "rw,misc"),
            ("cpuset", "rw,cpuset,clone_children"),
            ("pids", "rw,release_agent=/x,pids"),
        ]
    )
)


def test_v1_dirs_with_co_mounted_controllers() -> None:
    path = f"/docker/{V1_ID}"
    proc_cgroup = "\n".join(
        f"{i}:{c}:{path}"
        for i, c in enumerate(
            [
                "name=systemd",
                "cpu,cpuacct",
                "net_cls,net_prio",
                "memory",
                "devices",
                "hugetlb",
                "rdma",
                "misc",
                "cpuset",
                "pids",
            ],
            start=1,
        )
    )
    r = CgroupReader.from_paths(parse_proc_cgroup(proc_cgroup), SYSTEMD_V1_MOUNTINFO)
    assert r.version == 1
    assert r.dirs["cpuacct"] == r.dirs["cpu"] == f"/sys/fs/cgroup/cpu,cpuacct{path}"
    assert r.dirs["systemd"] == f"/sys/fs/cgroup/systemd{path}"
    assert set(r.dirs) == {
        "systemd", "cpu", "cpuacct", "net_cls", "net_prio", "memory", "devices", "hugetlb", "rdma", "misc",
        "cpuset", "pids",
    }  # fmt: skip
