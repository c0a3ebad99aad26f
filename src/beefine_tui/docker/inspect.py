"""Everything the container monitor shows about one container, read once into one struct.

`build_report` is what `beefine-tui inspect` prints (text or `--json`) and what the monitor view
renders, so both show the same thing. It asks the daemon once (inspect, image, info) and reads the
rest from /proc and the cgroup files of the container's init process. A stopped container has no
process: the report keeps what the daemon still knows and says what is missing and why.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec

from beefine_tui.docker.cgroups import CgroupInfo, CgroupLimits, CgroupReader, CgroupUsage
from beefine_tui.docker.mounts import MountEntry, OverlayLayer, overlay_layers, read_mountinfo, root_mount
from beefine_tui.docker.namespaces import NamespaceEntry, ns_inode, read_namespaces
from beefine_tui.docker.netinfo import NetInfo, read_netinfo
from beefine_tui.docker.procfs import ProcessLister, ProcInfo
from beefine_tui.docker.security import SecurityInfo, read_security
from beefine_tui.errors import DockerUnavailableError, NotFoundError, UsageError


class DockerLimits(msgspec.Struct, kw_only=True):
    """What was asked of Docker (HostConfig); 0 / None mean "not set"."""

    memory: int = 0
    memory_swap: int = 0
    nano_cpus: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    cpu_shares: int = 0
    pids_limit: int | None = None
    cpuset_cpus: str = ""


class DockerMount(msgspec.Struct, kw_only=True):
    type: str
    source: str
    destination: str
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    name: str = ""


class ContainerReport(msgspec.Struct, kw_only=True):
    id: str
    name: str
    image: str
    image_id: str = ""
    status: str = ""  # created, running, paused, restarting, exited, dead
    pid: int = 0  # host pid of the container's init, 0 when not running
    exit_code: int | None = None
    started_at: str = ""
    finished_at: str = ""
    hostname: str = ""
    command: list[str] = msgspec.field(default_factory=list)
    privileged: bool = False
    network_mode: str = ""
    cgroup_driver: str = ""
    cgroup_version: str = ""
    docker_root: str = ""
    pidns: tuple[int, int] | None = None  # (dev, inode) for probe filters
    configured: DockerLimits = msgspec.field(default_factory=DockerLimits)
    namespaces: list[NamespaceEntry] = msgspec.field(default_factory=list)
    cgroup: CgroupInfo | None = None
    mounts: list[MountEntry] = msgspec.field(default_factory=list)
    layers: list[OverlayLayer] = msgspec.field(default_factory=list)
    image_diff_ids: list[str] = msgspec.field(
        default_factory=list
    )  # image config rootfs.diff_ids, base first
    docker_mounts: list[DockerMount] = msgspec.field(default_factory=list)
    processes: list[ProcInfo] = msgspec.field(default_factory=list)
    network: NetInfo | None = None
    security: SecurityInfo | None = None
    notes: list[str] = msgspec.field(default_factory=list)  # what could not be read, and why


def docker_errors() -> tuple[type[BaseException], ...]:
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.RequestException)


def get_container_attrs(client: Any, ref: str) -> dict[str, Any]:
    """docker inspect of `ref` (name, id or id prefix), with our errors."""
    import docker.errors

    if not ref or not ref.strip():
        raise UsageError("no container given", "name a container: beefine-tui inspect NAME_OR_ID")
    try:
        attrs: dict[str, Any] = client.api.inspect_container(ref)
    except docker.errors.NotFound as e:
        raise NotFoundError(
            f"no container {ref!r} on this Docker daemon",
            "list containers with `docker ps -a` (or `beefine-tui stats`) and use a name or id from it",
        ) from e
    except docker.errors.APIError as e:
        raise UsageError(f"Docker refused to inspect {ref!r}: {e.explanation or e}") from e
    except docker_errors() as e:
        raise DockerUnavailableError(f"the Docker daemon did not answer: {type(e).__name__}: {e}") from e
    return attrs


def docker_limits(host_config: dict[str, Any]) -> DockerLimits:
    return DockerLimits(
        memory=host_config.get("Memory") or 0,
        memory_swap=host_config.get("MemorySwap") or 0,
        nano_cpus=host_config.get("NanoCpus") or 0,
        cpu_quota=host_config.get("CpuQuota") or 0,
        cpu_period=host_config.get("CpuPeriod") or 0,
        cpu_shares=host_config.get("CpuShares") or 0,
        pids_limit=host_config.get("PidsLimit") or None,
        cpuset_cpus=host_config.get("CpusetCpus") or "",
    )


def build_report(
    client: Any,
    ref: str,
    proc: str = "/proc",
    with_members: bool = True,
    info: dict[str, Any] | None = None,
) -> ContainerReport:
    attrs = get_container_attrs(client, ref)
    state = attrs.get("State") or {}
    cfg = attrs.get("Config") or {}
    hc = attrs.get("HostConfig") or {}
    if info is None:
        try:
            info = client.info()
        except docker_errors():
            info = {}
    info = info or {}
    rep = ContainerReport(
        id=attrs["Id"],
        name=(attrs.get("Name") or "").lstrip("/"),
        image=cfg.get("Image") or "",
        image_id=attrs.get("Image") or "",
        status=state.get("Status") or "",
        pid=int(state.get("Pid") or 0),
        exit_code=None if state.get("Running") else state.get("ExitCode"),
        started_at=state.get("StartedAt") or "",
        finished_at=state.get("FinishedAt") or "",
        hostname=cfg.get("Hostname") or "",
        command=list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or []),
        privileged=bool(hc.get("Privileged")),
        network_mode=hc.get("NetworkMode") or "",
        cgroup_driver=str(info.get("CgroupDriver") or ""),
        cgroup_version=str(info.get("CgroupVersion") or ""),
        docker_root=str(info.get("DockerRootDir") or ""),
        configured=docker_limits(hc),
    )
    for m in attrs.get("Mounts") or []:
        rep.docker_mounts.append(
            DockerMount(
                type=m.get("Type", ""),
                source=m.get("Source", ""),
                destination=m.get("Destination", ""),
                mode=m.get("Mode", ""),
                rw=bool(m.get("RW", True)),
                propagation=m.get("Propagation", ""),
                name=m.get("Name", ""),
            )
        )
    try:
        img = client.api.inspect_image(rep.image_id)
        rep.image_diff_ids = list((img.get("RootFS") or {}).get("Layers") or [])
    except docker_errors():
        rep.notes.append("image not found in the daemon (removed?): layer digests unknown")
    if rep.pid <= 0:
        rep.layers = layers_from_graphdriver(attrs)
        index_layers(rep.layers, rep.image_diff_ids)
        rep.notes.append(
            f"container is {rep.status or 'not running'}: no process, so namespaces, cgroup usage, "
            "mounts, processes, network and security cannot be read; showing what Docker still knows"
        )
        return rep
    fill_live(rep, proc=proc, with_members=with_members)
    return rep


def fill_live(rep: ContainerReport, proc: str = "/proc", with_members: bool = True) -> None:
    """Read the live parts from /proc and cgroup files; a part that fails becomes a note."""
    pid = rep.pid
    try:
        rep.namespaces = read_namespaces(pid, proc, with_members=with_members)
        ino = ns_inode(pid, "pid", proc)
        st = os.stat(f"{proc}/{pid}/ns/pid")
        rep.pidns = (st.st_dev, st.st_ino)
    except OSError as e:
        rep.notes.append(f"namespaces: {e}")
        ino = None
    try:
        rep.cgroup = CgroupReader.for_pid(pid, proc).info()
    except OSError as e:
        rep.notes.append(f"cgroup: {e}")
    try:
        rep.mounts = read_mountinfo(pid, proc)
        root = root_mount(rep.mounts)
        if root is not None and root.fstype == "overlay":
            rep.layers = overlay_layers(root)
            index_layers(rep.layers, rep.image_diff_ids)
    except OSError as e:
        rep.notes.append(f"mounts: {e}")
    pids: list[int] = []
    if ino is not None:
        lister = ProcessLister(ino, proc, root_pid=pid)
        rep.processes = lister.list()
        pids = [p.pid for p in rep.processes]
    try:
        rep.network = read_netinfo(
            pid,
            proc,
            pids_in_container=pids,
            same_netns_as_host=rep.network_mode == "host",
        )
    except OSError as e:
        rep.notes.append(f"network: {e}")
    try:
        rep.security = read_security(pid, proc)
    except OSError as e:
        rep.notes.append(f"security: {e}")
    if not rep.processes and not (rep.cgroup and rep.mounts):
        rep.notes.append("the container's process exited while it was being read")


def index_layers(layers: list[OverlayLayer], diff_ids: list[str]) -> None:
    pos = {d: i + 1 for i, d in enumerate(diff_ids)}
    for layer in layers:
        layer.image_index = pos.get(layer.diff_id)


def layers_from_graphdriver(attrs: dict[str, Any]) -> list[OverlayLayer]:
    """For a container without a process: the layer directories Docker reports (GraphDriver.Data),
    mapped to image layers the same way as a live overlay mount."""
    gd = (attrs.get("GraphDriver") or {}).get("Data") or {}
    if (attrs.get("GraphDriver") or {}).get("Name") != "overlay2" or not gd.get("UpperDir"):
        return []
    opts = f"lowerdir={gd.get('LowerDir') or ''},upperdir={gd['UpperDir']},workdir={gd.get('WorkDir') or ''}"
    fake = MountEntry(
        mount_id=0,
        parent_id=0,
        device="",
        root="/",
        mount_point="/",
        options="",
        propagation="",
        fstype="overlay",
        source="overlay",
        super_options=opts,
    )
    return overlay_layers(fake)


def encode_json(rep: ContainerReport) -> bytes:
    return msgspec.json.encode(rep)


class Sample(msgspec.Struct, kw_only=True):
    """One tick of the container monitor: state, cgroup usage and limits, processes."""

    ts: float  # time.monotonic()
    status: str
    pid: int
    usage: CgroupUsage | None = None
    limits: CgroupLimits | None = None
    processes: list[ProcInfo] = msgspec.field(default_factory=list)
    # the daemon's machine (docker info NCPU, MemTotal; 0: unknown): the charts' axes when the
    # container has no limit are that machine's, which over --remote is not the viewer's
    host_cpus: int = 0
    host_memory: int = 0


class MonitorSampler:
    """Cheap periodic reads for one container: one inspect (to see it pause or exit), cgroup files, /proc.

    Keeps its readers between ticks so CPU % per process has a previous sample."""

    def __init__(self, client: Any, container_id: str, proc: str = "/proc") -> None:
        self.client = client
        self.cid = container_id
        self.proc = proc
        self._pid = 0
        self._cg: CgroupReader | None = None
        self._lister: ProcessLister | None = None
        self._host: tuple[int, int] | None = None  # (cpus, memory) of the daemon's machine, asked once

    def _host_facts(self) -> tuple[int, int]:
        if self._host is None:
            try:
                info = self.client.info()
            except docker_errors():
                return 0, 0  # asked again next tick
            self._host = (int(info.get("NCPU") or 0), int(info.get("MemTotal") or 0))
        return self._host

    def sample(self) -> Sample:
        attrs = get_container_attrs(self.client, self.cid)
        state = attrs.get("State") or {}
        status = state.get("Status") or ""
        pid = int(state.get("Pid") or 0)
        cpus, memory = self._host_facts()
        s = Sample(ts=time.monotonic(), status=status, pid=pid, host_cpus=cpus, host_memory=memory)
        if pid <= 0:
            self._pid, self._cg, self._lister = 0, None, None
            return s
        if pid != self._pid:
            self._pid = pid
            try:
                self._cg = CgroupReader.for_pid(pid, self.proc)
                ino = ns_inode(pid, "pid", self.proc)
                self._lister = None if ino is None else ProcessLister(ino, self.proc, root_pid=pid)
            except OSError:
                self._pid, self._cg, self._lister = 0, None, None
                return s
        if self._cg is not None:
            s.usage = self._cg.usage()
            s.limits = self._cg.limits()
        if self._lister is not None:
            s.processes = self._lister.list()
        return s


class ContainerBrief(msgspec.Struct, kw_only=True):
    """One row of the Container monitor's picker: every container the daemon knows."""

    id: str
    name: str
    state: str = ""
    image: str = ""

    def label(self) -> str:
        return f"{self.name}  {self.id[:12]}  {self.state}"


def list_containers(client: Any) -> list[ContainerBrief]:
    """Every container, running or not (`docker ps -a`), for the picker."""
    try:
        listed = client.api.containers(all=True)
    except docker_errors() as e:
        raise DockerUnavailableError(f"the Docker daemon did not answer: {type(e).__name__}: {e}") from e
    return [
        ContainerBrief(
            id=c["Id"],
            name=(c.get("Names") or ["/?"])[0].lstrip("/"),
            state=c.get("State", "") or "",
            image=c.get("Image", "") or "",
        )
        for c in listed
    ]


def container_netinfo(client: Any, ref: str, proc: str = "/proc") -> NetInfo:
    """A running container's network read now, its init and its processes found from `ref` through
    the daemon and /proc (the agent's `netinfo`: a client's pids are never trusted)."""
    attrs = get_container_attrs(client, ref)
    pid = int((attrs.get("State") or {}).get("Pid") or 0)
    name = (attrs.get("Name") or ref).lstrip("/")
    if pid <= 0:
        raise NotFoundError(f"container {name} is not running: it has no network to read")
    ino = ns_inode(pid, "pid", proc)
    pids = [] if ino is None else [p.pid for p in ProcessLister(ino, proc, root_pid=pid).list()]
    host_netns = ((attrs.get("HostConfig") or {}).get("NetworkMode") or "") == "host"
    return read_netinfo(pid, proc, pids_in_container=pids, same_netns_as_host=host_netns)
