"""The dashboard's figures: one row per running container and the daemon's facts.

Figures come from cgroup files and /proc (a few small reads per container), computed the way
`docker stats` computes them (docker/cli cli/command/container/stats_helpers.go):
- CPU % = (container CPU time delta / host CPU time delta) x online CPUs x 100, where host CPU time
  is the first line of /proc/stat summed over user..steal (moby daemon/stats/collector_unix.go);
- memory = usage - inactive file cache (v1: total_inactive_file; v2: inactive_file), % of the
  cgroup limit or of the host's memory when there is none;
- net I/O = bytes over every interface but lo in the container's network namespace;
- block I/O = blkio / io.stat bytes read and written; pids = pids.current.
The Docker API is asked once per refresh for the container list (one request), once per new
container for its pid, and every few seconds for the daemon's facts. When a container's process is
not visible here (remote daemon, other pid namespace) its row comes from the API's stats instead.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import msgspec

from beefine_tui.docker.cgroup_paths import container_id_from_cgroup
from beefine_tui.docker.cgroups import CgroupReader
from beefine_tui.docker.netinfo import net_io

CLK_TCK = os.sysconf("SC_CLK_TCK")


class DaemonFacts(msgspec.Struct, kw_only=True):
    host: str = ""
    version: str = ""
    api_version: str = ""
    storage_driver: str = ""
    cgroup_driver: str = ""
    cgroup_version: str = ""
    root_dir: str = ""
    kernel: str = ""
    cpus: int = 0
    mem_total: int = 0
    containers_running: int = 0
    containers_paused: int = 0
    containers_stopped: int = 0
    images: int = 0


class ContainerRow(msgspec.Struct, kw_only=True):
    id: str
    name: str
    image: str
    state: str
    pid: int = 0
    cpu_percent: float | None = None  # None until two samples exist
    cpu_ns: int | None = None  # cumulative CPU time (a counter: what Prometheus takes rates of)
    mem_bytes: int | None = None
    mem_limit: int | None = None
    mem_percent: float | None = None
    net_rx: int | None = None
    net_tx: int | None = None
    blk_read: int | None = None
    blk_write: int | None = None
    pids: int | None = None
    source: str = "cgroup"  # "cgroup" (files here) or "api" (docker stats endpoint)


class Totals(msgspec.Struct, kw_only=True):
    running: int = 0
    cpu_percent: float = 0.0
    mem_bytes: int = 0
    net_rx: int = 0
    net_tx: int = 0
    blk_read: int = 0
    blk_write: int = 0
    pids: int = 0


class Snapshot(msgspec.Struct, kw_only=True):
    ts: float  # time.time()
    daemon: DaemonFacts | None
    rows: list[ContainerRow]
    totals: Totals
    error: str = ""  # the daemon did not answer: rows are empty, the view keeps its last ones


def host_cpu_ns(proc: str = "/proc") -> int:
    """Host CPU time in ns as moby computes system_cpu_usage: first line of /proc/stat, 8 fields."""
    with open(f"{proc}/stat") as f:
        line = f.readline()
    fields = line.split()[1:9]
    return sum(int(x) for x in fields) * 1_000_000_000 // CLK_TCK


def host_mem_total(proc: str = "/proc") -> int:
    try:
        with open(f"{proc}/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_percent(cpu_delta: int, system_delta: int, ncpu: int) -> float | None:
    if system_delta <= 0 or cpu_delta < 0:
        return None
    return cpu_delta / system_delta * ncpu * 100.0


def daemon_facts(client: Any, host: str = "") -> DaemonFacts:
    info = client.info()
    try:
        ver = client.version()
    except Exception:
        ver = {}
    return DaemonFacts(
        host=host,
        version=str(info.get("ServerVersion") or ver.get("Version") or ""),
        api_version=str(ver.get("ApiVersion") or ""),
        storage_driver=str(info.get("Driver") or ""),
        cgroup_driver=str(info.get("CgroupDriver") or ""),
        cgroup_version=str(info.get("CgroupVersion") or ""),
        root_dir=str(info.get("DockerRootDir") or ""),
        kernel=str(info.get("KernelVersion") or ""),
        cpus=int(info.get("NCPU") or 0),
        mem_total=int(info.get("MemTotal") or 0),
        containers_running=int(info.get("ContainersRunning") or 0),
        containers_paused=int(info.get("ContainersPaused") or 0),
        containers_stopped=int(info.get("ContainersStopped") or 0),
        images=int(info.get("Images") or 0),
    )


class _Tracked:
    __slots__ = ("api_prev", "limit", "limit_at", "pid", "prev_cpu", "prev_sys", "reader")

    def __init__(self, pid: int, reader: CgroupReader | None) -> None:
        self.pid = pid
        self.reader = reader
        self.prev_cpu: int | None = None
        self.prev_sys: int | None = None
        self.api_prev: tuple[int, int] | None = None
        self.limit: int | None = None
        self.limit_at = 0.0  # when the memory limit was last read (it changes rarely)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


class StatsCollector:
    """Call `refresh()` from one thread at a time (a worker); it returns a plain Snapshot."""

    def __init__(self, client: Any, host: str = "", proc: str = "/proc", facts_every: float = 5.0) -> None:
        self.client = client
        self.host = host
        self.proc = proc
        self.facts_every = facts_every
        self._facts: DaemonFacts | None = None
        self._facts_at = 0.0
        self._tracked: dict[str, _Tracked] = {}
        self._mountinfo: str | None = None
        self._ncpu = os.sysconf("SC_NPROCESSORS_ONLN")
        self._mem_total = host_mem_total(proc)

    def _errors(self) -> tuple[type[BaseException], ...]:
        import docker.errors
        import requests

        return (docker.errors.DockerException, requests.RequestException, OSError)

    def _track(self, cid: str) -> _Tracked:
        t = self._tracked.get(cid)
        if t is not None and t.pid and self._pid_is(cid, t.pid):
            return t
        attrs = self.client.api.inspect_container(cid)
        pid = int((attrs.get("State") or {}).get("Pid") or 0)
        reader: CgroupReader | None = None
        if pid and self._pid_is(cid, pid):
            if self._mountinfo is None:
                with open(f"{self.proc}/self/mountinfo") as f:
                    self._mountinfo = f.read()
            try:
                reader = CgroupReader.for_pid(pid, self.proc, self._mountinfo).keep_open()
            except OSError:
                reader = None
        if t is not None:
            t.close()
        t = _Tracked(pid, reader)
        self._tracked[cid] = t
        return t

    def _pid_is(self, cid: str, pid: int) -> bool:
        """Is host pid `pid` (still) a process of container `cid`? False for a remote daemon."""
        try:
            with open(f"{self.proc}/{pid}/cgroup") as f:
                return container_id_from_cgroup(f.read()) == cid
        except OSError:
            return False

    def close(self) -> None:
        """Close the cgroup files kept open; the collector can be used again afterwards."""
        tracked, self._tracked = self._tracked, {}
        for t in tracked.values():
            t.close()

    def refresh(self) -> Snapshot:
        now = time.time()
        try:
            if self._facts is None or now - self._facts_at >= self.facts_every:
                self._facts = daemon_facts(self.client, self.host)
                self._facts_at = now
            summaries = self.client.api.containers(all=False)
        except self._errors() as e:
            self._facts = None
            self.close()
            return Snapshot(ts=now, daemon=None, rows=[], totals=Totals(), error=_describe(e))
        sys_ns = host_cpu_ns(self.proc)
        rows: list[ContainerRow] = []
        seen: set[str] = set()
        for s in summaries:
            cid = s["Id"]
            seen.add(cid)
            names = s.get("Names") or [""]
            row = ContainerRow(
                id=cid, name=names[0].lstrip("/"), image=s.get("Image", ""), state=s.get("State", "")
            )
            try:
                t = self._track(cid)
            except self._errors():
                continue  # gone between the list and the inspect
            row.pid = t.pid
            if t.reader is not None and self._fill_from_cgroup(row, t, sys_ns):
                rows.append(row)
                continue
            try:
                self._fill_from_api(row, t)
            except self._errors():
                continue
            rows.append(row)
        for cid in list(self._tracked):
            if cid not in seen:
                self._tracked.pop(cid).close()
        rows.sort(key=lambda r: r.name)
        return Snapshot(ts=now, daemon=self._facts, rows=rows, totals=totals(rows))

    def _fill_from_cgroup(self, row: ContainerRow, t: _Tracked, sys_ns: int) -> bool:
        assert t.reader is not None
        u = t.reader.stats_usage()
        if u.cpu_ns is None and u.memory_bytes is None:
            return False  # cgroup gone (container stopped between list and read)
        now = time.monotonic()
        if now - t.limit_at >= self.facts_every:
            t.limit, t.limit_at = t.reader.memory_limit(), now
        row.cpu_ns = u.cpu_ns
        if u.cpu_ns is not None:
            if t.prev_cpu is not None and t.prev_sys is not None:
                pct = cpu_percent(u.cpu_ns - t.prev_cpu, sys_ns - t.prev_sys, self._ncpu)
                row.cpu_percent = None if pct is None else round(pct, 2)
            t.prev_cpu, t.prev_sys = u.cpu_ns, sys_ns
        row.mem_bytes = u.memory_working_set
        row.mem_limit = t.limit or self._mem_total or None
        if row.mem_bytes is not None and row.mem_limit:
            row.mem_percent = round(100.0 * row.mem_bytes / row.mem_limit, 2)
        with contextlib.suppress(OSError):
            row.net_rx, row.net_tx = net_io(t.pid, self.proc)
        row.blk_read, row.blk_write = u.io_read_bytes, u.io_write_bytes
        row.pids = u.pids
        row.source = "cgroup"
        return True

    def _fill_from_api(self, row: ContainerRow, t: _Tracked) -> None:
        st = self.client.api.stats(row.id, stream=False)
        row.source = "api"
        cpu = st.get("cpu_stats") or {}
        pre = st.get("precpu_stats") or {}
        total = (cpu.get("cpu_usage") or {}).get("total_usage")
        system = cpu.get("system_cpu_usage")
        ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
        row.cpu_ns = total
        if total is not None and system is not None:
            prev = t.api_prev or (
                ((pre.get("cpu_usage") or {}).get("total_usage")),
                pre.get("system_cpu_usage"),
            )
            if prev[0] is not None and prev[1] is not None:
                pct = cpu_percent(total - prev[0], system - prev[1], ncpu)
                row.cpu_percent = None if pct is None else round(pct, 2)
            t.api_prev = (total, system)
        mem = st.get("memory_stats") or {}
        usage = mem.get("usage")
        mstat = mem.get("stats") or {}
        inactive = mstat.get("total_inactive_file", mstat.get("inactive_file"))
        if usage is not None:
            row.mem_bytes = usage - inactive if inactive is not None and inactive < usage else usage
        row.mem_limit = mem.get("limit")
        if row.mem_bytes is not None and row.mem_limit:
            row.mem_percent = round(100.0 * row.mem_bytes / row.mem_limit, 2)
        nets = st.get("networks") or {}
        row.net_rx = sum(int(n.get("rx_bytes") or 0) for n in nets.values())
        row.net_tx = sum(int(n.get("tx_bytes") or 0) for n in nets.values())
        rd = wr = 0
        for e in (st.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
            op = str(e.get("op", "")).lower()
            if op == "read":
                rd += int(e.get("value") or 0)
            elif op == "write":
                wr += int(e.get("value") or 0)
        row.blk_read, row.blk_write = rd, wr
        row.pids = (st.get("pids_stats") or {}).get("current")


def totals(rows: list[ContainerRow]) -> Totals:
    t = Totals(running=sum(1 for r in rows if r.state == "running"))
    for r in rows:
        t.cpu_percent += r.cpu_percent or 0.0
        t.mem_bytes += r.mem_bytes or 0
        t.net_rx += r.net_rx or 0
        t.net_tx += r.net_tx or 0
        t.blk_read += r.blk_read or 0
        t.blk_write += r.blk_write or 0
        t.pids += r.pids or 0
    t.cpu_percent = round(t.cpu_percent, 2)
    return t


def _describe(e: BaseException) -> str:
    msg = str(e).strip() or type(e).__name__
    return f"the Docker daemon does not answer: {msg[:200]}"


def human_bytes(n: int | None) -> str:
    """1.5MiB style, like docker stats (binary units for memory)."""
    return _human(n, 1024, ("B", "KiB", "MiB", "GiB", "TiB"))


def human_si(n: int | None) -> str:
    """1.2kB style, like docker stats for net and block I/O (decimal units)."""
    return _human(n, 1000, ("B", "kB", "MB", "GB", "TB"))


def _human(n: int | None, base: int, units: tuple[str, ...]) -> str:
    if n is None:
        return "-"
    f = float(n)
    for unit in units[:-1]:
        if abs(f) < base:
            return f"{f:.0f}{unit}" if unit == "B" else f"{f:.1f}{unit}"
        f /= base
    return f"{f:.1f}{units[-1]}"
