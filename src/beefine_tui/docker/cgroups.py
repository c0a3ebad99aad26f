"""Read a container's cgroup: where it is, its limits and its usage, on cgroup v1 and v2.

Cheap by design: a refresh reads a handful of small files and starts no process. Paths come from
/proc/<pid>/cgroup (or, for a container without a process, from the daemon's cgroup parent and id).

File formats: kernel Documentation/admin-guide/cgroup-v1/{memory,cpuacct,blkio-controller,pids}.rst
and Documentation/admin-guide/cgroup-v2.rst (memory.current, memory.max, memory.stat, cpu.max,
cpu.weight, cpu.stat, pids.max, pids.current, io.stat).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

import msgspec

CgroupVersion = Literal[1, 2]

# Options a v1 cgroup mount shows beside its controllers (kernel/cgroup/cgroup-v1.c,
# cgroup1_show_options), plus the generic rw/ro: every other super option names a controller,
# so devices, net_cls, perf_event, hugetlb, rdma, misc... are all found, not only a known few.
_V1_MOUNT_OPTIONS = frozenset(
    ("rw", "ro", "noprefix", "xattr", "cpuset_v2_mode", "favordynmods", "clone_children", "none", "all")
)
# v1 memory.limit_in_bytes reads as PAGE_COUNTER_MAX * page size (about 2^63) when unlimited
_V1_UNLIMITED = 1 << 62


class CgroupLimits(msgspec.Struct, kw_only=True):
    memory_bytes: int | None = None  # None: unlimited
    memory_swap_bytes: int | None = None  # v1: memory+swap limit; v2: swap alone
    cpu_quota_us: int | None = None  # None: no quota
    cpu_period_us: int | None = None
    cpus: float | None = None  # quota / period, what `--cpus` sets
    cpu_shares: int | None = None  # v1 cpu.shares (1024 = default)
    cpu_weight: int | None = None  # v2 cpu.weight (100 = default)
    pids_max: int | None = None  # None: unlimited
    cpuset_cpus: str = ""


class CgroupUsage(msgspec.Struct, kw_only=True):
    cpu_ns: int | None = None  # cumulative CPU time of every task in the cgroup
    memory_bytes: int | None = None  # usage as the kernel counts it (includes page cache)
    memory_inactive_file: int | None = None
    memory_working_set: int | None = None  # what `docker stats` shows: usage - inactive file
    memory_max_bytes: int | None = None  # v1 max_usage_in_bytes / v2 memory.peak when present
    pids: int | None = None
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    throttled_periods: int | None = None
    throttled_ns: int | None = None
    frozen: bool | None = None


class CgroupInfo(msgspec.Struct, kw_only=True):
    version: int
    path: str  # path inside the hierarchy, e.g. /docker/<id>
    dirs: dict[str, str]  # controller ("memory"... or "unified") -> directory read
    limits: CgroupLimits
    usage: CgroupUsage


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup -> {controller: path}; the v2 line (hierarchy 0, no controllers) is "" ."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            out[""] = path
            continue
        for c in controllers.split(","):
            out[c.removeprefix("name=")] = path
    return out


def _cgroup_mounts(mountinfo: str) -> tuple[dict[str, str], str | None]:
    """(v1 controller -> mount point, cgroup2 mount point) from a mountinfo text."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        rparts = right.split()
        if len(fields) < 5 or len(rparts) < 3:
            continue
        fstype, super_opts = rparts[0], rparts[2]
        mnt = fields[4]
        if fstype == "cgroup2" and v2 is None:
            v2 = mnt
        elif fstype == "cgroup":
            for opt in super_opts.split(","):
                if opt.startswith("name="):
                    v1.setdefault(opt.removeprefix("name="), mnt)
                elif opt and "=" not in opt and opt not in _V1_MOUNT_OPTIONS:
                    v1.setdefault(opt, mnt)
    return v1, v2


class CgroupReader:
    """Reads one cgroup's files. Build with `for_pid` (live) or directly over a directory tree (tests)."""

    def __init__(self, version: CgroupVersion, dirs: dict[str, str], path: str = "") -> None:
        self.version = version
        self.dirs = dirs
        self.path = path
        # keep_open(): files stay open and are re-read with pread(fd, 0), which regenerates a cgroup
        # (seq_file) file's content and costs a quarter of open+read+close for memory.stat
        self._fds: dict[str, int] | None = None

    def keep_open(self) -> CgroupReader:
        """Keep each file open after its first read (for readers polled every second); call close()."""
        if self._fds is None:
            self._fds = {}
        return self

    def close(self) -> None:
        fds, self._fds = self._fds, None
        for fd in (fds or {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def for_pid(cls, pid: int, proc: str = "/proc", mountinfo: str | None = None) -> CgroupReader:
        with open(f"{proc}/{pid}/cgroup") as f:
            cg = parse_proc_cgroup(f.read())
        if mountinfo is None:
            with open(f"{proc}/self/mountinfo") as f:
                mountinfo = f.read()
        return cls.from_paths(cg, mountinfo)

    @classmethod
    def from_paths(cls, cg: dict[str, str], mountinfo: str, root_prefix: str = "") -> CgroupReader:
        v1_mounts, v2_mount = _cgroup_mounts(mountinfo)
        if "memory" in cg and "memory" in v1_mounts:
            # every hierarchy /proc/<pid>/cgroup lists that is mounted here, named ones too
            dirs = {c: root_prefix + v1_mounts[c] + path for c, path in cg.items() if c and c in v1_mounts}
            return cls(1, dirs, cg["memory"])
        path = cg.get("", "/")
        base = v2_mount or "/sys/fs/cgroup"
        return cls(2, {"unified": root_prefix + base + path}, path)

    @classmethod
    def for_container_path(
        cls, path: str, mountinfo: str | None = None, root_prefix: str = ""
    ) -> CgroupReader:
        """For a cgroup path known without a process (e.g. /docker/<id> from the daemon's parent)."""
        if mountinfo is None:
            with open("/proc/self/mountinfo") as f:
                mountinfo = f.read()
        v1_mounts, _ = _cgroup_mounts(mountinfo)
        cg = {c: path for c in v1_mounts} if "memory" in v1_mounts else {"": path}
        return cls.from_paths(cg, mountinfo, root_prefix)

    # ---- low-level file access ------------------------------------------------------------
    def _file(self, controller: str, name: str) -> str | None:
        d = self.dirs.get("unified" if self.version == 2 else controller)
        if d is None:
            return None
        path = os.path.join(d, name)
        if self._fds is None:
            try:
                with open(path) as f:
                    return f.read()
            except OSError:
                return None
        try:
            fd = self._fds.get(path)
            if fd is None:
                fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            return os.pread(fd, 1 << 16, 0).decode("ascii", "replace")
        except OSError:  # the cgroup went away: forget the fd, read nothing
            fd = self._fds.pop(path, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            return None

    def _int(self, controller: str, name: str) -> int | None:
        s = self._file(controller, name)
        if s is None:
            return None
        s = s.strip()
        if s == "max":
            return None
        try:
            return int(s)
        except ValueError:
            return None

    def _kv(self, controller: str, name: str) -> dict[str, int]:
        s = self._file(controller, name)
        out: dict[str, int] = {}
        if s is None:
            return out
        for line in s.splitlines():
            k, _, v = line.partition(" ")
            try:
                out[k] = int(v)
            except ValueError:
                continue
        return out

    def exists(self) -> bool:
        return any(Path(d).is_dir() for d in self.dirs.values())

    # ---- limits ---------------------------------------------------------------------------
    def limits(self) -> CgroupLimits:
        return self._limits_v1() if self.version == 1 else self._limits_v2()

    def _limits_v1(self) -> CgroupLimits:
        mem = self._int("memory", "memory.limit_in_bytes")
        memsw = self._int("memory", "memory.memsw.limit_in_bytes")
        quota = self._int("cpu", "cpu.cfs_quota_us")
        period = self._int("cpu", "cpu.cfs_period_us")
        if quota is not None and quota < 0:
            quota = None  # -1 = no quota
        pids = self._int("pids", "pids.max")
        cpuset = (self._file("cpuset", "cpuset.cpus") or "").strip()
        return CgroupLimits(
            memory_bytes=None if mem is None or mem >= _V1_UNLIMITED else mem,
            memory_swap_bytes=None if memsw is None or memsw >= _V1_UNLIMITED else memsw,
            cpu_quota_us=quota,
            cpu_period_us=period,
            cpus=round(quota / period, 3) if quota and period else None,
            cpu_shares=self._int("cpu", "cpu.shares"),
            pids_max=pids,
            cpuset_cpus=cpuset,
        )

    def _limits_v2(self) -> CgroupLimits:
        quota: int | None = None
        period: int | None = None
        cpu_max = self._file("cpu", "cpu.max")
        if cpu_max:  # "$MAX $PERIOD", MAX may be "max"
            q, _, p = cpu_max.strip().partition(" ")
            period = int(p) if p.isdigit() else None
            quota = int(q) if q.isdigit() else None
        cpuset = (self._file("cpuset", "cpuset.cpus") or "").strip()
        return CgroupLimits(
            memory_bytes=self._int("memory", "memory.max"),
            memory_swap_bytes=self._int("memory", "memory.swap.max"),
            cpu_quota_us=quota,
            cpu_period_us=period,
            cpus=round(quota / period, 3) if quota and period else None,
            cpu_weight=self._int("cpu", "cpu.weight"),
            pids_max=self._int("pids", "pids.max"),
            cpuset_cpus=cpuset,
        )

    # ---- usage ----------------------------------------------------------------------------
    def usage(self) -> CgroupUsage:
        return self._usage_v1() if self.version == 1 else self._usage_v2()

    def stats_usage(self) -> CgroupUsage:
        """Only what the dashboard needs (CPU, memory, I/O, pids): five files instead of ten."""
        if self.version == 1:
            mem = self._int("memory", "memory.usage_in_bytes")
            stat = self._kv("memory", "memory.stat")
            inactive = stat.get("total_inactive_file", stat.get("inactive_file"))
            rd, wr = _blkio_v1(self._file("blkio", "blkio.throttle.io_service_bytes_recursive"))
            cpu = self._int("cpuacct", "cpuacct.usage")
        else:
            mem = self._int("memory", "memory.current")
            inactive = self._kv("memory", "memory.stat").get("inactive_file")
            rd, wr = _io_stat_v2(self._file("io", "io.stat"))
            usec = self._kv("cpu", "cpu.stat").get("usage_usec")
            cpu = None if usec is None else usec * 1000
        return CgroupUsage(
            cpu_ns=cpu,
            memory_bytes=mem,
            memory_inactive_file=inactive,
            memory_working_set=_working_set(mem, inactive),
            pids=self._int("pids", "pids.current"),
            io_read_bytes=rd,
            io_write_bytes=wr,
        )

    def memory_limit(self) -> int | None:
        if self.version == 1:
            v = self._int("memory", "memory.limit_in_bytes")
            return None if v is None or v >= _V1_UNLIMITED else v
        return self._int("memory", "memory.max")

    def _usage_v1(self) -> CgroupUsage:
        mem = self._int("memory", "memory.usage_in_bytes")
        stat = self._kv("memory", "memory.stat")
        inactive = stat.get("total_inactive_file", stat.get("inactive_file"))
        rd, wr = _blkio_v1(self._file("blkio", "blkio.throttle.io_service_bytes_recursive"))
        cpu_stat = self._kv("cpu", "cpu.stat")
        freezer = self._file("freezer", "freezer.state")
        return CgroupUsage(
            cpu_ns=self._int("cpuacct", "cpuacct.usage"),
            memory_bytes=mem,
            memory_inactive_file=inactive,
            memory_working_set=_working_set(mem, inactive),
            memory_max_bytes=self._int("memory", "memory.max_usage_in_bytes"),
            pids=self._int("pids", "pids.current"),
            io_read_bytes=rd,
            io_write_bytes=wr,
            throttled_periods=cpu_stat.get("nr_throttled"),
            throttled_ns=cpu_stat.get("throttled_time"),
            frozen=None if freezer is None else freezer.strip() != "THAWED",
        )

    def _usage_v2(self) -> CgroupUsage:
        mem = self._int("memory", "memory.current")
        stat = self._kv("memory", "memory.stat")
        inactive = stat.get("inactive_file")
        cpu_stat = self._kv("cpu", "cpu.stat")
        usec = cpu_stat.get("usage_usec")
        rd, wr = _io_stat_v2(self._file("io", "io.stat"))
        events = self._kv("cgroup", "cgroup.events")
        throttled_usec = cpu_stat.get("throttled_usec")
        return CgroupUsage(
            cpu_ns=None if usec is None else usec * 1000,
            memory_bytes=mem,
            memory_inactive_file=inactive,
            memory_working_set=_working_set(mem, inactive),
            memory_max_bytes=self._int("memory", "memory.peak"),
            pids=self._int("pids", "pids.current"),
            io_read_bytes=rd,
            io_write_bytes=wr,
            throttled_periods=cpu_stat.get("nr_throttled"),
            throttled_ns=None if throttled_usec is None else throttled_usec * 1000,
            frozen=None if "frozen" not in events else bool(events["frozen"]),
        )

    def info(self) -> CgroupInfo:
        return CgroupInfo(
            version=self.version,
            path=self.path,
            dirs=dict(self.dirs),
            limits=self.limits(),
            usage=self.usage(),
        )


def _working_set(usage: int | None, inactive: int | None) -> int | None:
    # docker CLI calculateMemUsageUnixNoCache: usage minus inactive file cache, when smaller
    if usage is None:
        return None
    if inactive is not None and inactive < usage:
        return usage - inactive
    return usage


def _blkio_v1(text: str | None) -> tuple[int | None, int | None]:
    """blkio.throttle.io_service_bytes_recursive: "MAJ:MIN Op bytes" lines, then "Total N"."""
    if text is None:
        return None, None
    rd = wr = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        op = parts[1].lower()
        try:
            n = int(parts[2])
        except ValueError:
            continue
        if op == "read":
            rd += n
        elif op == "write":
            wr += n
    return rd, wr


def _io_stat_v2(text: str | None) -> tuple[int | None, int | None]:
    """io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device."""
    if text is None:
        return None, None
    rd = wr = 0
    for line in text.splitlines():
        for kv in line.split()[1:]:
            k, _, v = kv.partition("=")
            if k == "rbytes" and v.isdigit():
                rd += int(v)
            elif k == "wbytes" and v.isdigit():
                wr += int(v)
    return rd, wr
