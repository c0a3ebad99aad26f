"""The story engine: raw events in, the timeline of ONE container's creation out. Pure and incremental.

Feed it batches (`feed`) as they arrive and ask for `timeline()` whenever the screen wants it; give it
what is learnt along the way (the container id, its overlay mount id, the image's layers...) with
`update_hints`. Events are kept (bounded) and the timeline is recomputed from them, so a hint that
arrives late (the container id is only known after `create`) still attributes earlier events.

Attribution (nothing to filter on before the container exists):
- a process whose exec argv names the container id (containerd-shim-runc-v2 -id <id>, runc ... <id>)
  is ours, and so is every process it forks (runc init, runc:[0:PARENT]/[1:CHILD]/[2:INIT], the
  entrypoint and its children): the pid tree of the shim that serves this id;
- dockerd serves everyone, so its own events are ours only by content: overlay mounts of this
  container's mount id, files under its id, connections to the image's registry while we pull;
- dockerd's `docker-untar` helpers are ours when the layer directory they unpack is one of this
  image's layers (known after the pull) or, before that is known, while our pull runs;
- events the probes already attributed (`container` == id) are ours.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from beefine_tui.docker.events import (
    DOCKER_PROBE,
    BundleArgs,
    ContainerArgs,
    DockerArgs,
    DockerErrorArgs,
    ImageLayersArgs,
    PullStartArgs,
)
from beefine_tui.events.model import LOST, STATUS, Args, Event
from beefine_tui.probes.files import MknodArgs, OpenArgs, SetxattrArgs
from beefine_tui.probes.flags import (
    CLONE_NEWNET,
    MS_BIND,
    MS_RDONLY,
    MS_REMOUNT,
    PR_CAP_AMBIENT,
    PR_CAPBSET_DROP,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_SECCOMP,
    cap_list,
    errno_name,
    mount_flags,
    unshare_flags,
)
from beefine_tui.probes.mounts import MountArgs
from beefine_tui.probes.namespaces import CloneArgs, SetnsArgs, UnshareArgs
from beefine_tui.probes.netlink import AddrArgs, LinkArgs, RouteArgs
from beefine_tui.probes.security import CapsetArgs, PrctlArgs, SeccompArgs
from beefine_tui.probes.sockets import AF_NETLINK, AcceptArgs, SockAddrArgs, SocketArgs
from beefine_tui.probes.tcp import TcpStateArgs
from beefine_tui.probes.xdp import XdpCountsArgs
from beefine_tui.story.bundle import BundleSummary
from beefine_tui.story.explanations import explain_kind
from beefine_tui.story.overlay import LayerIndex, LayerRef, cache_id_of_dir, parse_overlay_data
from beefine_tui.story.phases import (
    ACTIVE,
    DONE,
    FAILED,
    MAX_LOSSES,
    PENDING,
    PHASES,
    SKIPPED,
    Loss,
    Phase,
    Timeline,
)

_LAYER_ID = re.compile(r"[0-9a-f]{12}")
# dockerd's transfer broadcaster hands a slow reader only the latest progress of a layer, so
# "Download complete" can be overtaken by "Extracting": any of these proves the blob was fetched.
_FETCH_STAGES = frozenset(
    {"Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"}
)
_EXTRACT_STAGES = frozenset({"Extracting", "Pull complete"})
MAX_PRE_HOOK = 256  # dockerd's rtnetlink requests kept aside until our hook says which are ours
MAX_EVENTS = 200_000  # kept for recomputation; beyond this, counted as ignored (bounded memory)

STAGE_COMMS = ("runc:[0:PARENT]", "runc:[1:CHILD]", "runc:[2:INIT]")
INIT_COMM = "runc:[2:INIT]"

# unshare flags runc:[1:CHILD] is expected to use for a default `docker run` (host user ns)
DEFAULT_NS_FLAGS = ("CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWPID", "CLONE_NEWNET")


@dataclass
class StoryHints:
    container_id: str | None = None
    image: str = ""
    registry: str = ""  # "host:port" the image is pulled from ("" when none / unknown)
    pulling: bool | None = None  # True: we pull; False: image was present (pull skipped)
    pull_skip_reason: str = ""
    mount_id: str | None = None  # overlay2 directory of the container (layerdb/mounts/<id>/mount-id)
    layers: LayerIndex | None = None  # layer store: link/cache-id -> diff-id/digests
    image_layer_dirs: frozenset[str] = frozenset()  # cache-ids of this image's layers
    manifest_digests: tuple[str, ...] = ()  # manifest layer digests (bottom first)
    bundle: BundleSummary | None = None
    error: str = ""  # Docker's error message when create/start failed
    run_tag: str = ""  # the `run` arg of the Docker events our runner emits (several traces, one bus)


@dataclass
class _Proc:
    ppid: int = 0
    comm: str = ""
    argv: tuple[str, ...] = ()
    ours: bool = False
    untar_dir: str | None = None  # cache-id of the layer a docker-untar helper unpacks
    stage: str = ""  # runc stage comm, once seen
    workload: bool = False  # the container's pid 1 (after exec) and its descendants
    hook: bool = False  # an OCI hook runc runs (Docker's libnetwork-setkey) and its children


# file events of dockerd/containerd that are ours by path (the -init layer, the bundle, their removal)
_FILE_KINDS = frozenset(
    {
        "open",
        "write",
        "read",
        "mkdir",
        "symlink",
        "link",
        "mknod",
        "unlink",
        "rmdir",
        "rename",
        "chmod",
        "chown",
    }
)
# a cgroup control file runc writes (devices.allow, memory.limit_in_bytes, pids.max, cgroup.procs):
# runc 1.1 opens them relative to an fd on /sys/fs/cgroup, so the path may start at the controller
_CGROUP_FILE = re.compile(r"/[a-z_]+\.[a-z_.]+$")


@dataclass
class _State:
    procs: dict[int, _Proc] = field(default_factory=dict)
    init_pid: int | None = None
    entry_exec: Event | None = None
    exec_failed: Event | None = None
    pivoted: bool = False
    pivoting: bool = False  # pivotRoot() opened the old and the new root: pivot_root comes next
    started: bool = False  # `runc start` ran: dockerd's and containerd's setup work is over
    hostname_set: bool = False
    exit_ev: Event | None = None
    init_exit_before_exec: Event | None = None
    pull_window: tuple[int, int] | None = None
    xdp_counts: list[Event] = field(default_factory=list)
    hook_pid: int | None = None  # the prestart hook runc runs, while it runs
    other_hooks: set[int] = field(default_factory=set)  # other containers' hooks running now
    netns_unattributed: int = 0  # dockerd netns work while another container's hook ran too
    fifo_open: Event | None = None  # [2:INIT]'s open of exec.fifo returned: `runc start` came
    start_api_ts: int | None = None  # our runner asked dockerd to start the container (ContainerStart)
    hook_seen: bool = False  # our prestart hook has run: dockerd's network setup for us is over after it
    pre_hook: list[Event] = field(default_factory=list)  # dockerd's rtnetlink requests before our hook
    pre_claimed: list[Event] = field(default_factory=list)  # those of them that made our veth pair
    moved_ifindex: int | None = None  # the link dockerd moved into our namespace during our hook
    chain: list[tuple[int, int, int, str]] = field(default_factory=list)  # (ts, pid, by pid, what)


def _skip_pending(tl: Timeline, names: Iterable[str], reason: str) -> None:
    """Phases that can no longer happen: those still pending are skipped, with the reason."""
    for name in names:
        p = tl.phase(name)
        if p.state == PENDING:
            p.state, p.reason = SKIPPED, reason


class StoryEngine:
    def __init__(self, hints: StoryHints | None = None, max_events: int = MAX_EVENTS) -> None:
        self.hints = hints or StoryHints()
        self.max_events = max_events
        self._events: list[Event] = []
        self._sorted = True
        self._overflow = 0
        self._lost = 0
        self._losses: list[Loss] = []  # at most MAX_LOSSES, placed in phases by timeline()
        self._cache: Timeline | None = None
        self._learned_mount_id: str | None = None

    # --- input ----------------------------------------------------------------------------------

    def feed(self, events: Iterable[Event]) -> None:
        for ev in events:
            if ev.kind == LOST:
                self._note_loss(ev)
                continue
            if ev.kind == STATUS:
                continue
            if ev.probe == DOCKER_PROBE:
                self._learn(ev)
            if len(self._events) >= self.max_events:
                self._overflow += 1
                continue
            if self._events and ev.ts < self._events[-1].ts:
                self._sorted = False
            self._events.append(ev)
            self._cache = None

    def _note_loss(self, ev: Event) -> None:
        a = ev.args
        n = int(a.get("count", 0))
        self._lost += n
        first, last = a.get("first_ts"), a.get("last_ts")
        if not isinstance(first, int) or not isinstance(last, int):
            first = last = None
        self._cache = None
        if len(self._losses) < MAX_LOSSES:
            self._losses.append(Loss(n, ev.probe, str(a.get("source", "?")), first, last))
            return
        # bounded: widen the last report instead (its time span then covers both)
        x = self._losses[-1]
        known = [t for t in (x.first_ts, x.last_ts, first, last) if t is not None]
        same = x.probe == ev.probe and x.source == a.get("source")
        self._losses[-1] = Loss(
            x.count + n,
            x.probe if same else "several",
            x.source if same else "several",
            min(known) if x.first_ts is not None and first is not None else None,
            max(known) if x.last_ts is not None and last is not None else None,
        )

    def _learn(self, ev: Event) -> None:
        """What the runner's own events say (a recording replays into the same story without the host's
        disk): the container id, the layer map, the bundle, that a pull happened, Docker's error."""
        h = self.hints
        a = ev.args
        if not isinstance(a, DockerArgs):
            return
        if h.run_tag and a.run and a.run != h.run_tag:
            return
        ch: dict[str, Any] = {}
        if a.run and not h.run_tag:
            ch["run_tag"] = a.run
        if isinstance(a, ContainerArgs) and ev.kind == "container_create" and h.container_id is None and a.id:
            ch["container_id"] = a.id
        elif isinstance(a, PullStartArgs) and h.pulling is None:
            ch["pulling"] = True
            first = a.image.split("/")[0]
            if not h.registry and "/" in a.image and ("." in first or ":" in first):
                ch["registry"] = first if ":" in first else f"{first}:443"
        elif isinstance(a, DockerErrorArgs) and not h.error:
            ch["error"] = a.message
        elif isinstance(a, BundleArgs) and h.bundle is None and a.summary:
            with contextlib.suppress(TypeError):
                ch["bundle"] = BundleSummary(**a.summary)
        elif isinstance(a, ImageLayersArgs):
            ch["image_layer_dirs"] = frozenset(h.image_layer_dirs | set(a.image_layer_dirs))
            if a.manifest_digests and not h.manifest_digests:
                ch["manifest_digests"] = tuple(a.manifest_digests)
            if a.mount_id and h.mount_id is None:
                ch["mount_id"] = a.mount_id
            # merge: the second report (after create) adds the container's init-layer link
            if a.layers or a.links:
                old = h.layers or LayerIndex()
                idx = LayerIndex(dict(old.by_cache_id), dict(old.links))
                for cid, info in a.layers.items():
                    if cid in idx.by_cache_id:
                        continue
                    idx.by_cache_id[cid] = LayerRef(
                        cid, str(info.get("diff_id", "")), tuple(info.get("digests") or ())
                    )
                idx.links.update(a.links)
                ch["layers"] = idx
        if ch:
            self.hints = replace(h, **ch)
            self._cache = None

    def update_hints(self, **changes: Any) -> None:
        self.hints = replace(self.hints, **changes)
        self._cache = None

    @property
    def event_count(self) -> int:
        return len(self._events)

    # --- output ---------------------------------------------------------------------------------

    def timeline(self) -> Timeline:
        if self._cache is not None:
            return self._cache
        if not self._sorted:
            self._events.sort(key=lambda e: e.ts)
            self._sorted = True
        tl = self._compute()
        if self.hints.mount_id is None and self._learned_mount_id is not None:
            # runc's bind of the rootfs named the overlay mount id: attribute dockerd's mount too
            self.hints = replace(self.hints, mount_id=self._learned_mount_id)
            tl = self._compute()
        self._cache = tl
        return tl

    def _compute(self) -> Timeline:
        h = self.hints
        st = _State()
        phases = {name: Phase(name) for name in PHASES}
        ignored = self._overflow
        st.pull_window = self._pull_window()
        for ev in self._events:
            name = self._classify(ev, st)
            if name is None:
                ignored += 1
                continue
            phases[name].add(ev, span=_spans(ev, name))
        if st.pre_claimed:
            # our veth pair, made before runc ran: the hook's material, not its time
            hook = phases["hook"]
            for ev in st.pre_claimed:
                hook.add(ev, span=False)
            hook.events.sort(key=lambda e: e.ts)
            ignored -= len(st.pre_claimed)
        tl = Timeline(
            container_id=h.container_id,
            phases=[phases[n] for n in PHASES],
            init_pid=st.init_pid,
            lost=self._lost,
            ignored=ignored,
            error=h.error,
        )
        starts = [p.start_ns for p in tl.phases if p.start_ns is not None]
        tl.t0 = min(starts) if starts else None  # the details' times are relative to it
        self._finish(tl, st)
        starts = [p.start_ns for p in tl.phases if p.start_ns is not None]
        tl.t0 = min(starts) if starts else None
        tl.place_losses(self._losses)
        return tl

    # --- attribution and phase of one event ------------------------------------------------------

    def _pull_window(self) -> tuple[int, int] | None:
        ts = [e.ts for e in self._events if e.probe == DOCKER_PROBE and e.kind.startswith("pull")]
        return (min(ts), max(ts)) if ts else None

    def _mentions_us(self, text: str) -> bool:
        h = self.hints
        if (h.container_id and h.container_id in text) or (h.mount_id and h.mount_id in text):
            return True
        # probes cut long strings: a path whose last part is 12+ hex chars starting our id is ours
        if not h.container_id:
            return False
        tail = text.rstrip("…/").rpartition("/")[2]
        return 12 <= len(tail) < 64 and h.container_id.startswith(tail)

    def _classify(self, ev: Event, st: _State) -> str | None:
        h = self.hints
        kind = ev.kind
        args = ev.args
        if ev.probe == DOCKER_PROBE:
            name = self._classify_docker(ev)
            if name is not None and kind == "container_start":
                st.start_api_ts = ev.ts
            return name
        proc = st.procs.setdefault(ev.pid, _Proc())
        if ev.comm:
            proc.comm = ev.comm
            if ev.comm in STAGE_COMMS and proc.ours:
                proc.stage = ev.comm
                if ev.comm == INIT_COMM:
                    st.init_pid = ev.pid

        if kind == "fork":
            if args.get("thread"):
                return None
            child = int(args.get("child_pid", 0))
            cp = st.procs.setdefault(child, _Proc())
            cp.ppid = ev.pid
            cp.comm = str(args.get("child_comm", proc.comm))
            cp.ours = cp.ours or proc.ours
            cp.untar_dir = cp.untar_dir or proc.untar_dir
            cp.workload = cp.workload or proc.workload
            cp.hook = cp.hook or proc.hook
            if proc.untar_dir is not None:
                return "unpack" if self._untar_is_ours(proc.untar_dir, ev.ts, st) else None
            if not proc.ours:
                return None
            if proc.hook:
                return "hook"
            if proc.stage and not proc.workload:
                st.chain.append((ev.ts, child, ev.pid, f"{proc.stage} clones"))
                return "namespaces"
            return self._after_exec(proc, st) if st.entry_exec else "runtime"

        if kind == "exec":
            argv = tuple(str(a) for a in args.get("argv") or ())
            filename = str(args.get("filename", ""))
            ret = int(args.get("ret", 0))
            prev_argv = proc.argv
            if prev_argv[:2] == ("runc", "init"):
                # runc init's second exec, of its cloned binary (by fd: /dev/fd/N or execveat)
                argv = ("runc", "init", *argv[2:]) if argv[:2] != ("runc", "init") else argv
            if ret >= 0:
                proc.argv = argv
            joined = " ".join((filename, *argv))
            if argv and argv[0] == "docker-untar" and len(argv) > 1:
                proc.untar_dir = untar_dir(argv)
                return "unpack" if self._untar_is_ours(proc.untar_dir, ev.ts, st) else None
            if self._mentions_us(joined) and not proc.ours:
                proc.ours = True
            if not proc.ours:
                if "libnetwork-setkey" in argv[:2]:
                    st.other_hooks.add(ev.pid)  # another container's hook: dockerd's netns work is shared
                return None
            if ret >= 0 and argv[:1] == ("runc",) and "start" in argv:
                st.started = True
            if ret >= 0 and st.entry_exec is None:
                label = _exec_label(filename, argv)
                if prev_argv[:2] == ("runc", "init"):
                    label = f"runc init again, from its sealed copy ({filename or 'by fd'})"
                st.chain.append((ev.ts, ev.pid, proc.ppid, label))
            parent = st.procs.get(proc.ppid)
            if proc.hook or (argv and "libnetwork-setkey" in argv[:2]):
                proc.hook = True  # moby daemon/oci_linux.go withLibnetwork: the prestart hook
                st.hook_pid = st.hook_pid or ev.pid
                st.hook_seen = True
                return "hook"
            if (
                parent is not None
                and parent.comm == "runc"
                and not proc.stage
                and ev.pid != st.init_pid
                and argv
                and argv[0] != "runc"
                and ret >= 0
            ):
                proc.hook = True  # any other OCI hook runc runs (config.json hooks)
                return "hook"
            if ev.pid == st.init_pid or proc.stage == INIT_COMM:
                if ret < 0:
                    st.exec_failed = st.exec_failed or ev
                    return "exec"
                if st.entry_exec is None:
                    st.entry_exec = ev
                    proc.workload = True
                    return "exec"
            if st.entry_exec is not None:
                return self._after_exec(proc, st)
            return "runtime"

        if proc.untar_dir is not None:
            if not self._untar_is_ours(proc.untar_dir, ev.ts, st):
                return None
            return "unpack"

        if kind == "exit":
            if not proc.ours:
                st.other_hooks.discard(ev.pid)
                return None
            if proc.hook:
                if ev.pid == st.hook_pid:
                    st.hook_pid = None
                return "hook"
            if ev.pid == st.init_pid:
                if st.entry_exec is not None:
                    st.exit_ev = ev
                    return "exit"
                st.init_exit_before_exec = ev
                return "exec"
            return self._after_exec(proc, st) if st.entry_exec else "runtime"

        if kind in ("cgroup_mkdir", "cgroup_attach"):
            path = str(args.get("path", ""))
            return "cgroup" if self._mentions_us(path) else None
        if kind == "cgroup_rmdir":
            return "teardown" if self._mentions_us(str(args.get("path", ""))) else None

        if kind == "xdp_counts":
            st.xdp_counts.append(ev)
        if kind in ("xdp_counts", "xdp_packet"):
            # packets on the interface the registry traffic crosses (lo for a local registry), while we pull
            return "pull" if self._in_pull(ev.ts, st) and self.hints.pulling else None

        if st.hook_pid is not None and not proc.ours and proc.comm == "dockerd" and _netns_work(kind, args):
            # while the hook waits, dockerd (libnetwork) enters the container's network namespace and
            # opens a netlink socket there to set up eth0; the netlink probe shows the requests themselves.
            # Attributed by time, so only while no other container's hook runs (the events do not
            # say which namespace); otherwise counted as not attributed, and the story says so.
            if st.other_hooks:
                st.netns_unattributed += 1
                return None
            if isinstance(args, LinkArgs) and st.moved_ifindex is None and args.moves:
                self._claim_veth(args.ifindex, st)
            return "hook"
        if (
            kind.startswith("rtm_")
            and st.moved_ifindex
            and st.hook_pid is None
            and proc.comm == "dockerd"
            and args.get("ifindex") == st.moved_ifindex
            and (st.exit_ev is not None or st.init_exit_before_exec is not None)
        ):
            # after the exit libnetwork takes eth0 down, names it back, moves it to the host and
            # deletes the pair (osl/namespace_linux.go RemoveInterface): our link, known by its index
            return "teardown"
        if (
            kind.startswith("rtm_")
            and proc.comm == "dockerd"
            and st.start_api_ts is not None
            and not st.hook_seen
        ):
            # libnetwork's bridge driver makes the veth pair (and puts the host end on the bridge) when
            # dockerd starts the container, before runc runs. Other containers' pairs may be made at
            # the same time: kept aside until our hook's move names our link (_claim_veth).
            if len(st.pre_hook) < MAX_PRE_HOOK:
                st.pre_hook.append(ev)
            return None
        if kind in ("connect", "socket", "tcp_state") and not proc.ours:
            return self._classify_pull_net(ev, st)

        if kind in _FILE_KINDS and not proc.ours:
            path = str(args.get("path", ""))
            if "GetImageBlob" in path and self._in_pull(ev.ts, st):
                return "pull"
            if self._mentions_us(path):
                if "config.json" in path:
                    return self._late("bundle", st)
                return self._late("bundle" if "io.containerd.runtime" in path else "rootfs", st)
            return None

        if kind == "mount" and not proc.ours:
            if str(args.get("fstype", "")) == "overlay" and self._mentions_us(str(args.get("target", ""))):
                return self._late("rootfs", st)
            return None
        if kind == "umount" and not proc.ours:
            return self._late("rootfs", st) if self._mentions_us(str(args.get("target", ""))) else None

        if not proc.ours:
            if h.container_id and ev.container == h.container_id:
                return "running" if st.entry_exec else "runtime"
            return None

        # --- our processes: runc, its stages, the init process, the workload ---------------------
        if proc.hook:
            return "hook" if st.entry_exec is None else self._after_exec(proc, st)
        if kind in ("open", "write", "read"):
            path = str(args.get("path", ""))
            if "config.json" in path and not proc.stage:
                return self._late("bundle", st)
            if (
                not proc.stage
                and proc.comm == "runc"  # not the shim's OOM watch (cgroup.event_control) at start
                and not st.started
                and self._mentions_us(path.rpartition("/")[0])
                and _CGROUP_FILE.search(path)
                and (kind == "write" or (isinstance(args, OpenArgs) and args.writes))
                and (path.startswith("/sys/fs/cgroup/") or not path.startswith("/"))
            ):
                # runc writes the limits (and cgroup.procs) into the container's cgroup
                return "cgroup"
        if st.entry_exec is not None:
            return self._after_exec(proc, st)
        if kind in ("clone", "clone3", "unshare", "setns"):
            makes_ns = isinstance(args, CloneArgs | UnshareArgs) and args.new_namespaces
            return "namespaces" if proc.stage or makes_ns else "runtime"
        if proc.stage != INIT_COMM:
            return "runtime"
        # runc:[2:INIT], before the entrypoint: rootfs_linux.go order, then standard_init_linux.go
        if kind == "pivot_root":
            st.pivoted = True
            return "pivot_root"
        if not st.pivoted and isinstance(args, OpenArgs) and args.path == "/" and args.flags & os.O_DIRECTORY:
            st.pivoting = True  # pivotRoot(): open the old root, then the new one, then pivot_root(2)
        if st.pivoting and not st.pivoted and kind not in ("mount", "umount"):
            return "pivot_root"
        if kind == "sethostname":
            st.hostname_set = True
            return "hostname"
        if kind in ("capset", "prctl", "seccomp"):
            return "security"
        if kind in ("mount", "umount"):
            src = str(args.get("source", ""))
            bind = isinstance(args, MountArgs) and args.flags & MS_BIND
            if not st.pivoted and bind and "/overlay2/" in src:
                self._learned_mount_id = cache_id_of_dir(src)
            if not st.pivoted:
                return "mounts"
            if st.hostname_set:
                return "security"  # readonlyPaths and maskedPaths (standard_init_linux.go Init)
            if str(args.get("target", "")) == ".":
                return "pivot_root"  # pivotRoot(): make the old root a slave, then detach it
            return "mounts"  # finalizeRootfs: read-only remounts (ro tmpfs, --read-only's /)
        if kind == "open" and st.pivoted and _is_fifo_open(args):
            # standard_init_linux.go: open(/proc/self/fd/<exec.fifo>, O_WRONLY) blocks until
            # `runc start` opens the fifo for reading; only then does [2:INIT] exec
            st.fifo_open = st.fifo_open or ev
            return "exec"
        if st.fifo_open is not None:
            return "exec"
        if st.pivoted and not st.hostname_set:
            return "pivot_root"  # the rest of prepareRootfs after pivotRoot (reOpenDevNull)
        return "security" if st.pivoted else "mounts"

    @staticmethod
    def _claim_veth(moved: int, st: _State) -> None:
        """The requests kept aside before our hook that made the pair whose end dockerd moved into our
        namespace (index `moved`). The kernel registers a veth's peer, then the device itself, under
        one rtnl lock (drivers/net/veth.c veth_newlink): the pair's indexes are `moved` and the next.
        The create request names no index: ours is the last one before the first request on the pair."""
        st.moved_ifindex = moved
        pair = (moved, moved + 1)
        touched = [e for e in st.pre_hook if e.args.get("ifindex") in pair]
        if not moved or not touched:
            return
        creates = [
            e
            for e in st.pre_hook
            if isinstance(e.args, LinkArgs) and e.args.link_kind == "veth" and e.ts <= touched[0].ts
        ]
        st.pre_claimed = sorted([*creates[-1:], *touched], key=lambda e: e.ts)

    @staticmethod
    def _after_exec(proc: _Proc, st: _State) -> str:
        """After the entrypoint's exec: the workload runs; runc/shim work after pid 1 exited is teardown
        (`runc delete`, runtime.md "delete")."""
        if proc.workload or st.exit_ev is None:
            return "running"
        return "teardown"

    @staticmethod
    def _late(name: str, st: _State) -> str:
        """dockerd's and containerd's work on the rootfs and the bundle ends when the container runs:
        what they do later (the umount of the rootfs, removing the bundle) is teardown, and writes to
        the container's files while it runs are part of running, so neither phase lasts until the end."""
        if st.exit_ev is not None or st.init_exit_before_exec is not None:
            return "teardown"
        return "running" if st.entry_exec is not None or st.started else name

    def _classify_docker(self, ev: Event) -> str | None:
        cid = ev.container
        run = ev.args.get("run")
        if run and self.hints.run_tag and run != self.hints.run_tag:
            return None  # another trace's Docker events on the same bus
        if ev.kind.startswith("pull"):
            return None if self.hints.pulling is False else "pull"
        if self.hints.container_id and cid and cid != self.hints.container_id:
            return None
        return {
            "container_create": "rootfs",
            "container_start": "runtime",
            "container_exit": "exit",
            "container_output": "exit",
            "bundle": "bundle",
            "error": "exec",
        }.get(ev.kind)

    def _in_pull(self, ts: int, st: _State) -> bool:
        if self.hints.pulling is False or st.pull_window is None:
            return False
        lo, hi = st.pull_window
        return lo - 50_000_000 <= ts <= hi + 50_000_000

    def _classify_pull_net(self, ev: Event, st: _State) -> str | None:
        if not self._in_pull(ev.ts, st):
            return None
        reg = self.hints.registry
        if not reg:
            return "pull" if ev.kind == "connect" else None
        host, _, port = reg.rpartition(":")
        a = ev.args
        if isinstance(a, SockAddrArgs | AcceptArgs):
            addr, p = a.addr or "", "" if a.port is None else str(a.port)
        elif isinstance(a, TcpStateArgs):
            addr, p = a.daddr, str(a.dport)
        else:  # a socket(2) call has no address yet
            return None
        if port and p != port:
            return None
        if host in ("localhost",):
            host = "127.0.0.1"
        host = host.strip("[]")
        return "pull" if (not addr or addr == host) else None

    def _untar_is_ours(self, cache_id: str, ts: int, st: _State) -> bool:
        h = self.hints
        if h.pulling is False:
            return False
        if h.image_layer_dirs:
            return cache_id in h.image_layer_dirs
        return self._in_pull(ts, st)

    # --- after the pass: states, reasons, details ------------------------------------------------

    def _finish(self, tl: Timeline, st: _State) -> None:
        h = self.hints
        P = tl.phase
        # pull / unpack
        if h.pulling is False:
            for name in ("pull", "unpack"):
                P(name).state = SKIPPED
                P(name).reason = h.pull_skip_reason or "the image was already present: nothing to pull"
        self._pull_details(P("pull"))
        if st.xdp_counts and st.pull_window is not None and h.pulling:
            P("pull").details["xdp"] = _xdp_delta(st.xdp_counts, st.pull_window)
        self._unpack_details(P("unpack"))
        pd = P("pull").details
        if h.pulling and P("unpack").state == PENDING and pd.get("result"):
            layers = pd.get("layers") or {}
            if "up to date" in pd["result"] or (layers and all(d["fetches"] == 0 for d in layers.values())):
                P("unpack").state = SKIPPED
                P("unpack").reason = "every layer was already on the daemon (" + pd["result"] + ")"
        failed = [e for e in P("pull").events if e.kind == "pull_done" and e.args.get("error")]
        if failed:
            P("pull").state = FAILED
            P("pull").reason = f"the pull failed: {failed[-1].args['error']}"
            _skip_pending(tl, PHASES[PHASES.index("pull") + 1 :], "the image could not be pulled")
        self._rootfs_details(P("rootfs"))
        # bundle
        b = P("bundle")
        if h.bundle is not None:
            b.details = {"config": h.bundle.to_dict(), "summary": h.bundle.lines()}
            if b.state == PENDING:
                b.state = DONE
        # namespaces
        ns = P("namespaces")
        unshares = [e for e in ns.events if isinstance(e.args, UnshareArgs)]
        if unshares:
            flags: list[str] = []
            for e in unshares:
                flags += [f for f in str(e.args.shown()["flags"]).split("|") if f]
            ns.details["unshare_flags"] = flags
            ns.details["by"] = sorted({e.comm for e in unshares})
        # mounts
        m = P("mounts")
        m.details["mounts"] = self._mount_lines([e for e in m.events if e.kind == "mount"])[:200]
        pivot_ts = next((e.ts for e in P("pivot_root").events if e.kind == "pivot_root"), None)
        if pivot_ts is not None:
            # rootfs_linux.go finalizeRootfs: after pivot_root, remount read-only what config.json
            # asks (a read-only tmpfs, and / itself with --read-only: readonly root)
            late = [e for e in m.events if e.kind == "mount" and e.ts > pivot_ts]
            if late:
                m.details["remounts_after_pivot"] = [self._mount_line(e) for e in late]
        # pivot_root / hostname
        pv = [e for e in P("pivot_root").events if e.kind == "pivot_root"]
        if pv:
            a = pv[0].args
            P("pivot_root").details = {"new_root": a.get("new_root"), "put_old": a.get("put_old")}
        hn = [e for e in P("hostname").events if e.kind == "sethostname"]
        if hn:
            P("hostname").details = {"hostname": hn[0].args.get("name")}
        # cgroup
        cg = P("cgroup")
        tree = [e for e in cg.events if e.kind in ("cgroup_mkdir", "cgroup_attach")]
        paths = sorted({str(e.args.get("path", "")) for e in tree})
        if paths:
            cg.details = {"paths": paths, "hierarchies": len({e.args.get("hierarchy") for e in tree})}
            attach = [e for e in tree if e.kind == "cgroup_attach"]
            if attach:
                cg.details["attached"] = {
                    "pid": attach[0].args.get("target_pid"),
                    "comm": attach[0].args.get("target_comm"),
                    "ms": _rel(attach[0].ts, tl.t0),
                }
        limit_files = [
            e
            for e in cg.events
            if e.kind == "open" and not str(e.args.get("path", "")).endswith("cgroup.procs")
        ]
        if limit_files:
            names = Counter(str(e.args.get("path", "")).rpartition("/")[2] for e in limit_files)
            cg.details["limits_written"] = dict(sorted(names.items()))
            ns_start = P("namespaces").start_ns
            late = [e for e in limit_files if ns_start is not None and e.ts > ns_start]
            if late:
                cg.details["limits_ms"] = _rel(late[0].ts, tl.t0)
        self._runtime_details(tl, st)
        self._hook_details(P("hook"))
        if st.netns_unattributed:
            P("hook").details["dockerd_netns_unattributed"] = st.netns_unattributed
        self._rootfs_init_layer(P("rootfs"))
        self._dev_details(P("mounts"))
        self._teardown_details(P("teardown"))
        if st.fifo_open is not None:
            sec_end = P("security").end_ns
            P("exec").details["exec_fifo"] = {
                "ready_ms": _rel(sec_end, tl.t0),
                "released_ms": _rel(st.fifo_open.ts, tl.t0),
            }
        # security
        sec = P("security")
        sec.details = self._security_details(sec)
        # exec
        ex = P("exec")
        if st.entry_exec is not None:
            ex.details |= {
                "filename": st.entry_exec.args.get("filename"),
                "argv": st.entry_exec.args.get("argv"),
                "pid_on_host": st.entry_exec.pid,
            }
        if st.exec_failed is not None or (st.entry_exec is None and (st.init_exit_before_exec or h.error)):
            ex.state = FAILED
            why = []
            if st.exec_failed is not None:
                a = st.exec_failed.args
                why.append(f"execve({a.get('filename')!r}) failed with {a.get('error') or a.get('ret')}")
            if st.init_exit_before_exec is not None:
                code = st.init_exit_before_exec.args.get("code")
                why.append(f"runc:[2:INIT] exited with code {code} before exec")
                ex.details["explanation"] = explain_kind("lookup_failed")
            if h.error:
                why.append(f"Docker: {h.error}")
            ex.reason = "; ".join(why)
            _skip_pending(tl, ("running", "exit"), "the entrypoint never ran")
        if P("hook").state == PENDING and P("pivot_root").state == DONE:
            P("hook").state = SKIPPED
            P("hook").reason = (
                "no prestart hook ran before pivot_root: Docker adds libnetwork-setkey only when the "
                "container gets a new network namespace (not with --network host or container:NAME; "
                "--network none still gets one, with only lo in it)"
            )
        # running / exit
        run = P("running")
        if st.entry_exec is not None:
            run.start_ns = st.entry_exec.ts if run.start_ns is None else min(run.start_ns, st.entry_exec.ts)
            end = st.exit_ev.ts if st.exit_ev is not None else None
            run.end_ns = end if end is not None else run.end_ns
            run.state = DONE if st.exit_ev is not None else ACTIVE
        docker_exit = [e for e in P("exit").events if e.kind == "container_exit"]
        if st.exit_ev is not None:
            code = st.exit_ev.args.get("code")
            tl.exit_code = int(code) if isinstance(code, int) else None
            P("exit").details = {
                "code": code,
                "signal": st.exit_ev.args.get("signal"),
                "status": st.exit_ev.args.get("status"),
            }
        printed = [e for e in P("exit").events if e.kind == "container_output"]
        if printed:
            P("exit").details["output"] = str(printed[-1].args.get("output", ""))
        if docker_exit and tl.exit_code is None:
            code = docker_exit[-1].args.get("code")
            tl.exit_code = int(code) if isinstance(code, int) else None
            P("exit").details.setdefault("code", code)

    def _runtime_details(self, tl: Timeline, st: _State) -> None:
        """The process chain (who made whom, with host pids) and how `runc init` was started twice."""
        rt = tl.phase("runtime")
        chain = [
            {"ms": _rel(ts, tl.t0), "pid": pid, "by": by, "what": what} for ts, pid, by, what in st.chain[:40]
        ]
        if chain:
            rt.details["chain"] = chain
        inits = [
            e
            for e in rt.events
            if e.kind == "exec" and tuple(e.args.get("argv") or ())[:2] == ("runc", "init")
        ]
        if inits:
            bind = any(
                e.kind == "mount" and str(e.args.get("source", "")) == "/proc/self/exe" for e in rt.events
            )
            rt.details["runc_init_execs"] = [str(e.args.get("filename") or "(by fd)") for e in inits]
            if len(inits) > 1:
                rt.details["clone_method"] = (
                    "a read-only bind mount of /proc/self/exe (cloned_binary.c try_bindfd)"
                    if bind
                    else "a sealed memfd copy (cloned_binary.c clone_binary)"
                )
        subreaper = [
            e.pid
            for e in rt.events
            if isinstance(e.args, PrctlArgs) and e.args.option == PR_SET_CHILD_SUBREAPER
        ]
        if subreaper:
            rt.details["subreapers"] = sorted(set(subreaper))
        if tl.init_pid is not None:
            rt.details["init_pid_on_host"] = tl.init_pid

    def _hook_details(self, p: Phase) -> None:
        execs = [e for e in p.events if e.kind == "exec"]
        if execs:
            p.details["hooks"] = [" ".join(str(a) for a in (e.args.get("argv") or ())[:2]) for e in execs]
            netns = [e for e in p.events if e.comm == "dockerd" and e.kind == "setns"]
            if netns:
                p.details["dockerd_netns"] = {
                    "setns": len(netns),
                    "netlink_sockets": sum(1 for e in p.events if e.comm == "dockerd" and e.kind == "socket"),
                }
            # dockerd's requests (runc's lo up is its own), without MTU settings (the bridge's, repeated)
            steps = [e for e in p.events if e.kind.startswith("rtm_") and e.comm == "dockerd" and _is_step(e)]
            if steps:
                p.details["network_setup"] = [netlink_step(e) for e in steps][:50]
            p.details["connects"] = sorted(
                {
                    str(e.args.get("path", ""))
                    for e in p.events
                    if e.kind == "connect" and "libnetwork" in str(e.args.get("path", ""))
                }
            )

    def _rootfs_init_layer(self, p: Phase) -> None:
        """What dockerd put in the container's -init layer (moby daemon/initlayer Setup)."""
        made: list[str] = []
        for e in p.events:
            path = str(e.args.get("path", ""))
            ok = int(e.args.get("ret", 0)) >= 0
            if "-init/merged/" not in path or not ok:
                continue
            if e.kind in ("mkdir", "symlink") or (isinstance(e.args, OpenArgs) and e.args.creates):
                made.append(path.partition("-init/merged")[2])
        if made:
            p.details["init_layer"] = list(dict.fromkeys(made))

    def _dev_details(self, p: Phase) -> None:
        """The /dev runc makes in its tmpfs (rootfs_linux.go createDevices, setupDevSymlinks, setupPtmx)."""
        nodes, links = [], []
        for e in p.events:
            if int(e.args.get("ret", 0)) < 0:
                continue
            path = str(e.args.get("path", ""))
            if "/dev/" not in path:
                continue
            name = "/dev/" + path.rpartition("/dev/")[2]
            if e.kind == "mknod":
                nodes.append(f"{name} {e.args.get('dev', '')}")
            elif e.kind == "symlink":
                links.append(f"{name} -> {e.args.get('target', '')}")
        if nodes or links:
            p.details["dev"] = {"nodes": nodes, "symlinks": links}

    def _teardown_details(self, p: Phase) -> None:
        d: dict[str, Any] = {}
        rm = [e for e in p.events if e.kind == "cgroup_rmdir"]
        if rm:
            d["cgroups_removed"] = len(rm)
        um = [
            f"{e.comm}: {e.args.get('target')}"
            for e in p.events
            if e.kind == "umount" and int(e.args.get("ret", 0)) >= 0
        ]
        if um:
            d["umounts"] = um
        runs = [e for e in p.events if e.kind == "exec"]
        if runs:
            d["commands"] = [
                _exec_label(str(e.args.get("filename", "")), tuple(e.args.get("argv") or ())) for e in runs
            ]
        steps = [e for e in p.events if e.kind.startswith("rtm_")]
        if steps:
            d["network_teardown"] = [netlink_step(e, "teardown") for e in steps][:20]
        if d:
            p.details.update(d)

    def _pull_details(self, p: Phase) -> None:
        layers: dict[str, dict[str, Any]] = {}
        result = ""
        for e in p.events:
            if e.probe != DOCKER_PROBE or e.kind != "pull_status":
                continue
            lid = str(e.args.get("id", ""))
            status = str(e.args.get("status", ""))
            if status.startswith("Status:"):
                result = status.removeprefix("Status:").strip()
            if not status or not _LAYER_ID.fullmatch(lid):
                continue  # "Pulling from repo" (id = tag), "Digest: ...", "Status: ..." are not layers
            d = layers.setdefault(lid, {"fetches": 0, "extracts": 0, "status": ""})
            d["status"] = status
            # one pull fetches and extracts a layer at most once; the flags are counts for the renderer
            if status in _FETCH_STAGES:
                d["fetches"] = 1
            if status in _EXTRACT_STAGES:
                d["extracts"] = 1
            if e.args.get("total"):
                d["bytes"] = e.args.get("total")
        for lid, d in layers.items():
            full = [dg for dg in self.hints.manifest_digests if dg.removeprefix("sha256:").startswith(lid)]
            if full:
                d["digest"] = full[0]
        conns = [e for e in p.events if e.kind == "connect"]

        p.details = {
            "layers": layers,
            "connections": len(conns),
            "registry": self.hints.registry,
            "result": result,
        }
        if self.hints.manifest_digests:
            p.details["manifest_layers"] = list(self.hints.manifest_digests)

    def _unpack_details(self, p: Phase) -> None:
        # what each layer's tree is made of, from the files probe's kinds (successful calls only)
        tree_counts = ("dirs", "symlinks", "hardlinks", "whiteouts", "opaque_dirs", "renames", "removals")
        kind_count = {
            "mkdir": "dirs",
            "symlink": "symlinks",
            "link": "hardlinks",
            "rename": "renames",
            "unlink": "removals",
            "rmdir": "removals",
        }
        whiteout_paths_max = 20
        per: dict[str, dict[str, Any]] = {}
        pid_dir: dict[int, str] = {}
        for e in p.events:
            if e.kind == "exec":
                argv = e.args.get("argv") or []
                if len(argv) > 1:
                    pid_dir[e.pid] = untar_dir([str(a) for a in argv])
        for e in p.events:
            d = pid_dir.get(e.pid)
            if d is None:
                continue
            rec = per.setdefault(d, {"files": 0, "bytes": 0, "helpers": 0, **dict.fromkeys(tree_counts, 0)})
            kind, a = e.kind, e.args
            ok = int(a.get("ret", 0)) >= 0
            if kind == "exec":
                rec["helpers"] += 1
            elif isinstance(a, UnshareArgs) and ok:
                # pkg/chrootarchive chroot_linux.go: its own mount namespace, then pivot_root
                rec["unshare"] = unshare_flags(a.flags)
            elif kind == "pivot_root" and ok:
                rec["pivot_root"] = str(a.get("new_root", ""))
            elif isinstance(a, OpenArgs) and a.creates and ok:
                rec["files"] += 1
            elif kind == "write":
                rec["bytes"] += int(a.get("bytes", 0))
            elif not ok:
                continue
            elif isinstance(a, MknodArgs) and a.whiteout:
                # overlay2 unpacks a tar's .wh.<name> as a char device 0:0 named <name>
                rec["whiteouts"] += 1
                shown = rec.setdefault("whiteout_paths", [])
                if len(shown) < whiteout_paths_max:
                    shown.append(str(a.get("path", "")))
            elif isinstance(a, SetxattrArgs) and a.opaque:
                rec["opaque_dirs"] += 1  # a tar's .wh..wh..opq: the directory hides the lower layers'
            elif kind in kind_count:
                rec[kind_count[kind]] += 1
        idx = self.hints.layers
        for d, rec in per.items():
            if idx is not None:
                ref = idx.resolve(d)
                rec["diff_id"] = ref.diff_id
                rec["digest"] = ref.digests[0] if ref.digests else ""
        p.details = {"layers": per}

    def _rootfs_details(self, p: Phase) -> None:
        mounts = [e for e in p.events if e.kind == "mount" and e.args.get("fstype") == "overlay"]
        if not mounts:
            return
        # the container's own merged mount (not the -init one made while creating)
        main = [e for e in mounts if "-init" not in str(e.args.get("target", ""))] or mounts
        ov = parse_overlay_data(str(main[-1].args.get("data", "")))
        lower = list(ov.lowerdir)
        idx = self.hints.layers
        resolved = []
        for entry in lower:
            if idx is not None:
                ref = idx.resolve(entry)
                resolved.append({"lowerdir": entry, "layer": ref.label, "cache_id": ref.cache_id})
            else:
                resolved.append({"lowerdir": entry, "layer": "", "cache_id": ""})
        p.details = {
            "target": main[-1].args.get("target"),
            "lowerdir": resolved,
            "upperdir": ov.upperdir,
            "workdir": ov.workdir,
            "options": list(ov.other),
            "data_truncated": ov.truncated,
        }

    def _mount_lines(self, mounts: list[Event]) -> list[str]:
        """runc mounts through /proc/self/fd/N (rootfs_linux.go: the destination is opened inside the
        rootfs first), so the kernel never sees the destination: name it from config.json's mounts,
        which runc applies in order. MS_REMOUNT lines remount the entry before (read-only); on cgroup v1
        the "cgroup" entry becomes a tmpfs plus one bind per controller (rootfs_linux.go mountCgroupV1)."""
        b = self.hints.bundle
        wanted = list(b.mounts) if b is not None else []
        out: list[str] = []
        i = 0
        for e in mounts:
            line = self._mount_line(e)
            a = e.args
            if not isinstance(a, MountArgs):
                out.append(line)
                continue
            if not a.target.startswith("/proc/self/fd/") or a.flags & MS_REMOUNT or not wanted:
                out.append(line)
                continue
            if a.flags & MS_BIND and a.source.startswith("/sys/fs/cgroup/"):
                out.append(line + "  (= a controller under /sys/fs/cgroup)")
                continue
            fstype = a.fstype or ("bind" if a.flags & MS_BIND else "")

            def fits(w: dict[str, str], fstype: str = fstype) -> bool:
                t = w["type"]
                return t == fstype or (t == "cgroup" and fstype in ("tmpfs", "cgroup", "cgroup2"))

            j = next((k for k in range(i, len(wanted)) if fits(wanted[k])), None)
            if j is not None:
                line += f"  (= {wanted[j]['destination']})"
                i = j + 1
            out.append(line)
        return out

    def _mount_line(self, e: Event) -> str:
        a = e.args
        if not isinstance(a, MountArgs):
            return e.text
        kind = a.fstype or ("bind" if a.flags & MS_BIND else "propagation/remount")
        line = f"{kind} {a.source} -> {a.target} [{mount_flags(a.flags)}]"
        return line + (f" {a.data}" if a.data else "")

    def _security_details(self, sec: Phase) -> dict[str, Any]:
        """What this run did, in the order it did it: which path runc took depends on whether
        prctl(PR_SET_NO_NEW_PRIVS) happened (standard_init_linux.go Init)."""
        d: dict[str, Any] = {}
        nnp_ts = seccomp_ts = drop_ts = None
        drops = ambient = 0
        masks: list[str] = []
        for e in sec.events:
            a = e.args
            ret = int(a.get("ret", 0))
            if ret < 0 and e.kind != "mount":
                continue
            opt = a.option if isinstance(a, PrctlArgs) else None
            if isinstance(a, CapsetArgs):
                d["capabilities"] = cap_list(a.effective or a.permitted)
            elif opt == PR_SET_NO_NEW_PRIVS:
                d["no_new_privs"] = True
                nnp_ts = nnp_ts or e.ts
            elif (isinstance(a, SeccompArgs) and a.loads_filter) or opt == PR_SET_SECCOMP:
                d["seccomp_loaded"] = True
                d["seccomp_via"] = (
                    "prctl(PR_SET_SECCOMP)" if e.kind == "prctl" else "seccomp(SET_MODE_FILTER)"
                )
                seccomp_ts = seccomp_ts or e.ts
            elif opt == PR_CAPBSET_DROP:
                drops += 1
                drop_ts = drop_ts or e.ts
            elif opt == PR_CAP_AMBIENT:
                ambient += 1
            elif opt == PR_SET_KEEPCAPS:
                d["keepcaps"] = True
            elif e.kind == "mount":
                masks.append(mask_label(a))
        d["no_new_privs"] = bool(d.get("no_new_privs"))
        d["bounding_drops"] = drops
        d["ambient_calls"] = ambient
        if seccomp_ts is not None and drop_ts is not None:
            d["seccomp_before_cap_drop"] = seccomp_ts < drop_ts
        if d.get("seccomp_loaded"):
            if d["no_new_privs"]:
                d["path"] = (
                    "no_new_privs was set (configured): capabilities were dropped first and the seccomp "
                    "filter loaded last, just before exec"
                )
            else:
                d["path"] = (
                    "no_new_privs was not set (not configured): the seccomp filter was loaded while still "
                    "privileged, before the capabilities were dropped"
                )
        if masks:
            d["readonly_or_masked"] = masks
        b = self.hints.bundle
        if b is not None:
            d.setdefault("capabilities_in_config", [c.removeprefix("CAP_") for c in b.capabilities])
            d["no_new_privileges_in_config"] = b.no_new_privileges
            d["seccomp_in_config"] = b.seccomp_default_action or "none"
        return d


def mask_label(a: Args) -> str:
    """Names one of runc's hardening mounts for what it is (rootfs_linux.go readonlyPath, maskPath)."""
    if not isinstance(a, MountArgs):
        return str(a.get("target", ""))
    src, target, flags = a.source, a.target, a.flags
    err = errno_name(a.ret) if a.ret < 0 else ""
    if src == "/dev/null" and flags & MS_BIND:
        what = "masked: /dev/null bound over the file"
    elif a.fstype == "tmpfs" and flags & MS_RDONLY:
        what = "masked: read-only tmpfs over the directory"
    elif flags & MS_REMOUNT and flags & MS_RDONLY:
        what = "read-only path: remounted MS_BIND|MS_REMOUNT|MS_RDONLY"
    elif flags & MS_BIND and src == target:
        what = "read-only path: bound onto itself"
    else:
        what = f"mount [{mount_flags(flags)}]"
    if err:
        what += f" ({err}: absent here, skipped)" if err in ("ENOENT", "ENOTDIR") else f" ({err})"
    return f"{target}: {what}"


def _rel(ts: int | None, t0: int | None) -> float | None:
    return None if ts is None or t0 is None else round((ts - t0) / 1e6, 3)


def _spans(ev: Event, phase: str) -> bool:
    """Whether an event marks its phase's span. Our runner's bundle event comes when it read the file,
    not when containerd wrote it; libseccomp's probing of the kernel (failed seccomp() calls and GET_*
    queries, made when runc init starts) is not the loading of the filter, which comes much later."""
    if ev.probe == DOCKER_PROBE and ev.kind in ("bundle", "container_output", "container_exit"):
        return False
    if phase == "security" and ev.kind == "seccomp":
        return isinstance(ev.args, SeccompArgs) and ev.args.loads_filter
    return True


def _is_step(e: Event) -> bool:
    if e.kind != "rtm_setlink" and e.kind != "rtm_newlink":
        return True
    return isinstance(e.args, LinkArgs) and e.args.sets_something


def netlink_step(e: Event, phase: str = "hook") -> str:
    """One rtnetlink request of dockerd's, said as the step of the container's network it is (libnetwork
    drivers/bridge/bridge.go createEndpoint; osl/interface_linux.go AddInterface, configureInterface;
    osl/namespace_linux.go SetGateway)."""
    a = e.args
    what = e.text
    if not isinstance(a, LinkArgs | AddrArgs | RouteArgs):
        why = "link settings"
    elif isinstance(a, LinkArgs) and a.link_kind == "veth":
        why = f"veth pair made in the host: {a.ifname} stays, {a.peer} is the container's end"
    elif isinstance(a, LinkArgs) and a.moves:
        why = (
            "moved back to the host's network namespace"
            if phase == "teardown"
            else ("the container's end moved into its network namespace")
        )
    elif isinstance(a, LinkArgs) and a.master:
        why = "the host end put on the bridge"
    elif isinstance(a, LinkArgs) and a.ifname == "eth0":
        why = "renamed eth0 inside the container"
    elif isinstance(a, LinkArgs) and a.ifname:
        why = "renamed back to its name in the host"
    elif isinstance(a, LinkArgs) and a.mac is not None:
        why = "its MAC address"
    elif isinstance(a, LinkArgs) and a.up is not None:
        if a.ifindex == 1:
            why = "lo up (ifindex 1: the loopback a new network namespace starts with, down)"
        else:
            why = "link up" if a.up else "link down"
    elif e.kind == "rtm_newaddr":
        why = "the container's address"
    elif isinstance(a, RouteArgs) and e.kind == "rtm_newroute":
        why = "the container's default route" if not a.dst_len else "a route in the container"
    elif e.kind == "rtm_dellink":
        why = "deleted: its veth peer in the host goes with it"
    else:
        why = "link settings"
    return f"{what}: {why}"


def _netns_work(kind: str, args: Args) -> bool:
    if kind.startswith("rtm_"):
        return True  # rtnetlink requests (netlink probe): the veth moved in, named eth0, addressed
    if isinstance(args, SetnsArgs):
        return bool(args.nstype & CLONE_NEWNET)
    return isinstance(args, SocketArgs | SockAddrArgs) and args.family == AF_NETLINK


def _is_fifo_open(args: Args) -> bool:
    return isinstance(args, OpenArgs) and args.path.startswith("/proc/self/fd/") and args.writes


def _exec_label(filename: str, argv: tuple[str, ...]) -> str:
    """A short name for one exec of the runtime chain (the shim's `start` and server, runc's
    create/start/delete, runc init from its own binary or from the cloned copy)."""
    if argv[:2] == ("runc", "init"):
        return f"runc init (runc re-executes {filename or 'itself'})"
    base = (argv[0] if argv else filename).rpartition("/")[2]
    if base == "runc":
        verb = next((a for a in argv[1:] if a in ("create", "start", "delete", "kill", "state")), "")
        return f"runc {verb}".strip()
    if base.startswith("containerd-shim"):
        last = argv[-1] if argv else ""
        return f"{base} {last if last in ('start', 'delete') else 'server'}"
    return " ".join(argv[:3]) or filename


def _xdp_delta(counts: list[Event], window: tuple[int, int]) -> dict[str, Any]:
    """TCP packets/bytes XDP counted over the pull: cumulative counters read at the last report before
    the pull and the first report after it (reports are periodic)."""
    lo, hi = window
    before = [e for e in counts if e.ts <= lo]
    after = [e for e in counts if e.ts >= hi]
    end = after[0] if after else counts[-1]

    def tcp(e: Event | None) -> tuple[int, int]:
        if e is None or not isinstance(e.args, XdpCountsArgs):
            return 0, 0
        t = e.args.count("tcp")
        return t.packets, t.bytes

    p0, b0 = tcp(before[-1] if before else None)
    p1, b1 = tcp(end)
    return {"ifname": end.args.get("ifname"), "tcp_packets": p1 - p0, "tcp_bytes": b1 - b0}


def untar_dir(argv: list[str] | tuple[str, ...]) -> str:
    """The layer directory (cache-id) a `docker-untar DEST ROOT` helper unpacks into
    (moby pkg/chrootarchive/archive_unix.go: reexec.Command("docker-untar", dest, root))."""
    for a in argv[1:]:
        cid = cache_id_of_dir(a)
        if cid:
            return cid
    return argv[-1]


def shared_counts(a: Timeline, b: Timeline) -> Counter[str]:
    """How many events two stories share, per phase (for checking two concurrent containers)."""
    c: Counter[str] = Counter()
    for pa in a.phases:
        ids = {(e.ts, e.pid, e.kind) for e in pa.events}
        pb = b.phase(pa.name)
        n = sum(1 for e in pb.events if (e.ts, e.pid, e.kind) in ids)
        if n:
            c[pa.name] = n
    return c


__all__ = ["DEFAULT_NS_FLAGS", "DOCKER_PROBE", "StoryEngine", "StoryHints", "shared_counts"]
_ = (FAILED, SKIPPED)
