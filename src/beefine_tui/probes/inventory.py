"""Every BPF program loaded on this machine, like bpftop: what it is, where it is attached, who holds
it, and (while the kernel counts runs) how often it ran and for how long.

The kernel counts runs while any process holds a BPF_ENABLE_STATS fd (Linux 5.8+, what bpftop does)
or kernel.bpf_stats_enabled = 1. We hold an fd: when we exit, however (SIGKILL too), the kernel
stops counting by itself. Only kernels older than 5.8 get the sysctl, which we put back on stop.

Sources, all from bpftool's JSON output (`bpftool prog|link|perf|net show -j`) plus /proc:
- `prog show`: id, type, name, tag, loaded_at, uid, sizes, map_ids, run_time_ns/run_cnt (counting on).
- `link show`: bpf_link attachments (tracing, raw_tracepoint, xdp via link, cgroup, netns...).
- `perf show`: programs attached through perf events (BCC's tracepoints and kprobes), with the pid
  and fd that hold them, and the tracepoint name.
- `net show`: XDP and tc programs on interfaces.
- /proc/<pid>/fdinfo of `anon_inode:bpf-prog` and `anon_inode:bpf_link` fds: which processes hold a
  program (Debian's bpftool is built without the pid iterator, so `prog show` lists no pids here).

A program is freed when its last reference (fd, link, perf event, netlink XDP attachment) goes
(kernel/bpf/syscall.c, bpf_prog_put). So "unload" means: stop the Runner that owns it (ours), or,
for XDP attached through netlink by anyone, detach it from the interface (`detach_xdp`); the UI
asks for confirmation first. Nothing here imports bcc or textual.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from beefine_tui.errors import BeefineError, NotFoundError, UsageError
from beefine_tui.privileges import TRACEFS_EVENT_DIRS
from beefine_tui.probes import bpf_syscall

BPFTOOL_TIMEOUT_S = 10.0
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
STATS_FD_LINK = "anon_inode:bpf-stats"  # what /proc/<pid>/fd/N points to for a BPF_ENABLE_STATS fd
MAX_FDS_PER_PROCESS = 65_536  # bound on the /proc scan of one process


@dataclass(frozen=True)
class ProgInfo:
    id: int
    type: str
    name: str
    tag: str = ""
    loaded_at: int = 0  # seconds since the epoch
    uid: int = 0
    bytes_xlated: int = 0
    bytes_jited: int = 0
    jited: bool = False
    map_ids: tuple[int, ...] = ()
    run_time_ns: int | None = None  # only while counting is on, and bpftool leaves out zeros
    run_cnt: int | None = None
    pids: tuple[int, ...] = ()  # processes holding an fd to it (bpftool's, when it reports them)

    @classmethod
    def from_bpftool(cls, d: dict[str, Any]) -> ProgInfo:
        pids = tuple(int(p["pid"]) for p in d.get("pids", []) if isinstance(p, dict) and "pid" in p)
        return cls(
            id=int(d["id"]),
            type=str(d.get("type", "")),
            name=str(d.get("name", "")),
            tag=str(d.get("tag", "")),
            loaded_at=int(d.get("loaded_at", 0) or 0),
            uid=int(d.get("uid", 0) or 0),
            bytes_xlated=int(d.get("bytes_xlated", 0) or 0),
            bytes_jited=int(d.get("bytes_jited", 0) or 0),
            jited=bool(d.get("jited", False)),
            map_ids=tuple(int(m) for m in d.get("map_ids", []) or []),
            run_time_ns=int(d["run_time_ns"]) if "run_time_ns" in d else None,
            run_cnt=int(d["run_cnt"]) if "run_cnt" in d else None,
            pids=pids,
        )


@dataclass(frozen=True)
class Attachment:
    """Where a program is attached: `point` is a readable string ("tracepoint:sys_enter_execve",
    "xdp:lo (generic)", ...); `via` is how ("perf", "link", "net")."""

    prog_id: int
    point: str
    via: str
    pid: int | None = None  # the process holding the perf event / link fd, when known
    ifname: str | None = None  # XDP / tc
    mode: str | None = None  # XDP: generic, driver, offload
    link_id: int | None = None


@dataclass(frozen=True)
class ProgRow:
    prog: ProgInfo
    attach: tuple[Attachment, ...] = ()
    owners: tuple[int, ...] = ()  # pids holding it
    owner_comms: tuple[str, ...] = ()
    ours: bool = False  # held by this process or one of its children (e.g. our bpftrace)

    @property
    def attach_text(self) -> str:
        return ", ".join(a.point for a in self.attach) or "-"

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProgRow:
        """The inverse of to_json (an agent's `progs` reply), as far as to_json keeps."""
        prog = ProgInfo(
            id=int(d["id"]),
            type=str(d["type"]),
            name=str(d.get("name") or ""),
            tag=str(d.get("tag") or ""),
            loaded_at=int(d.get("loaded_at") or 0),
            uid=int(d.get("uid") or 0),
            bytes_xlated=int(d.get("bytes_xlated") or 0),
            bytes_jited=int(d.get("bytes_jited") or 0),
            jited=bool(d.get("jited")),
            map_ids=tuple(d.get("map_ids") or ()),
            run_time_ns=d.get("run_time_ns"),
            run_cnt=d.get("run_cnt"),
        )
        attach = tuple(Attachment(prog_id=prog.id, point=str(a), via="") for a in d.get("attach") or ())
        return cls(
            prog=prog,
            attach=attach,
            owners=tuple(d.get("pids") or ()),
            owner_comms=tuple(d.get("comms") or ()),
            ours=bool(d.get("ours")),
        )

    def to_json(self) -> dict[str, Any]:
        p = self.prog
        return {
            "id": p.id,
            "type": p.type,
            "name": p.name,
            "tag": p.tag,
            "loaded_at": p.loaded_at,
            "uid": p.uid,
            "bytes_xlated": p.bytes_xlated,
            "bytes_jited": p.bytes_jited,
            "jited": p.jited,
            "map_ids": list(p.map_ids),
            "run_time_ns": p.run_time_ns,
            "run_cnt": p.run_cnt,
            "attach": [a.point for a in self.attach],
            "pids": list(self.owners),
            "comms": list(self.owner_comms),
            "ours": self.ours,
        }


# --- bpftool --------------------------------------------------------------------------------------
def bpftool_path() -> str | None:
    return shutil.which("bpftool") or next(
        (p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if os.access(p, os.X_OK)), None
    )


def bpftool_json(*args: str) -> Any:
    """`bpftool <args> -j` parsed; BeefineError with bpftool's message when it fails."""
    exe = bpftool_path()
    if exe is None:
        raise NotFoundError("bpftool is not installed", "apt-get install bpftool (`make setup` does it)")
    try:
        proc = subprocess.run(
            [exe, *args, "-j"], capture_output=True, timeout=BPFTOOL_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as e:
        raise BeefineError(f"bpftool {' '.join(args)} did not answer within {BPFTOOL_TIMEOUT_S:.0f} s") from e
    except OSError as e:
        raise BeefineError(f"cannot run bpftool: {e}") from e
    out = proc.stdout.decode("utf-8", errors="replace").strip()
    if proc.returncode != 0:
        msg = out
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            msg = json.loads(out)["error"]
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        raise BeefineError(
            f"bpftool {' '.join(args)} failed: {msg or err or f'exit status {proc.returncode}'}",
            "it needs root: run with sudo",
        )
    if not out:
        return []
    try:
        return json.loads(out)
    except ValueError as e:
        raise BeefineError(f"bpftool {' '.join(args)} printed something that is not JSON") from e


def parse_progs(data: Any) -> list[ProgInfo]:
    return [ProgInfo.from_bpftool(d) for d in data or [] if isinstance(d, dict) and "id" in d]


def list_programs() -> list[ProgInfo]:
    return parse_progs(bpftool_json("prog", "show"))


def _ifname(ifindex: int) -> str:
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"if{ifindex}"


def parse_links(data: Any) -> list[Attachment]:
    """`bpftool link show -j` -> attachments. Field names differ per link type; unknown types still
    get a generic point ("<type> link <id>")."""
    out: list[Attachment] = []
    for d in data or []:
        if not isinstance(d, dict) or "prog_id" not in d:
            continue
        typ = str(d.get("type", "link"))
        pid = None
        pids = d.get("pids")
        if isinstance(pids, list) and pids and isinstance(pids[0], dict):
            pid = int(pids[0].get("pid", 0)) or None
        ifname = None
        if typ == "xdp" and "ifindex" in d:
            ifname = _ifname(int(d["ifindex"]))
            point = f"xdp:{ifname} (link)"
        elif "tp_name" in d:
            point = f"raw_tracepoint:{d['tp_name']}"
        elif typ == "tracing":
            target = d.get("target_name") or d.get("target_obj_id") or ""
            point = f"{d.get('attach_type', 'tracing')}:{target}".rstrip(":")
        elif typ == "cgroup":
            point = f"cgroup:{d.get('cgroup_id', '?')} {d.get('attach_type', '')}".strip()
        elif typ == "netns":
            point = f"netns:{d.get('netns_ino', '?')} {d.get('attach_type', '')}".strip()
        elif typ == "perf_event":
            point = f"perf_event:{d.get('event_type') or d.get('tp_name') or ''}".rstrip(":")
        else:
            point = f"{typ} link {d.get('id', '?')}"
        out.append(
            Attachment(
                int(d["prog_id"]), point, "link", pid=pid, ifname=ifname, link_id=int(d.get("id", 0)) or None
            )
        )
    return out


def list_links() -> list[Attachment]:
    return parse_links(bpftool_json("link", "show"))


_TP_CATEGORIES: dict[str, str] | None = None


def tracepoint_category(name: str) -> str | None:
    """ "syscalls" for "sys_enter_execve": bpftool names only the event; tracefs knows its category
    (read once per process; None when tracefs is not mounted or the name is ambiguous/unknown)."""
    global _TP_CATEGORIES
    if _TP_CATEGORIES is None:
        found: dict[str, str] = {}
        dup: set[str] = set()
        for base in TRACEFS_EVENT_DIRS:
            try:
                cats = os.listdir(base)
            except OSError:
                continue
            for cat in cats:
                try:
                    events = os.listdir(os.path.join(base, cat))
                except OSError:
                    continue
                for ev in events:
                    if ev in found and found[ev] != cat:
                        dup.add(ev)
                    found[ev] = cat
            break
        _TP_CATEGORIES = {k: v for k, v in found.items() if k not in dup}
    return _TP_CATEGORIES.get(name)


def parse_perf(data: Any, category: Any = None) -> list[Attachment]:
    """`bpftool perf show -j`: programs attached through perf events, with the holding pid.
    Tracepoints are named `tracepoint:<category>:<event>` when the category is known."""
    cat_of = category or tracepoint_category
    out: list[Attachment] = []
    for d in data or []:
        if not isinstance(d, dict) or "prog_id" not in d:
            continue
        fd_type = str(d.get("fd_type", "perf"))
        if "tracepoint" in d:
            tp = str(d["tracepoint"])
            cat = cat_of(tp) if fd_type in ("tracepoint", "raw_tracepoint") and ":" not in tp else None
            point = f"{fd_type}:{cat}:{tp}" if cat else f"{fd_type}:{tp}"
        elif "func" in d:
            point = f"{fd_type}:{d['func']}" + (f"+{d['offset']}" if d.get("offset") else "")
        elif "filename" in d:
            point = f"{fd_type}:{d['filename']}" + (f"+{d['offset']}" if d.get("offset") else "")
        else:
            point = fd_type
        out.append(Attachment(int(d["prog_id"]), point, "perf", pid=int(d.get("pid", 0)) or None))
    return out


def list_perf() -> list[Attachment]:
    return parse_perf(bpftool_json("perf", "show"))


def parse_net(data: Any) -> list[Attachment]:
    """`bpftool net show -j`: XDP (any mode) and tc programs per interface."""
    out: list[Attachment] = []
    for block in data or []:
        if not isinstance(block, dict):
            continue
        for x in block.get("xdp", []) or []:
            if not isinstance(x, dict):
                continue
            dev = str(x.get("devname") or f"if{x.get('ifindex', '?')}")
            entries = x.get("multi_attachments") or [x]
            for e in entries:
                if isinstance(e, dict) and "id" in e:
                    mode = str(e.get("mode", "")) or None
                    out.append(
                        Attachment(int(e["id"]), f"xdp:{dev} ({mode or '?'})", "net", ifname=dev, mode=mode)
                    )
        for t in block.get("tc", []) or []:
            if isinstance(t, dict) and "id" in t:
                dev = str(t.get("devname") or f"if{t.get('ifindex', '?')}")
                out.append(
                    Attachment(int(t["id"]), f"tc:{dev} {t.get('kind', '')}".strip(), "net", ifname=dev)
                )
    return out


def list_net() -> list[Attachment]:
    return parse_net(bpftool_json("net", "show"))


# --- who holds what -------------------------------------------------------------------------------
def _pids() -> Iterator[int]:
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                yield int(name)


def _fd_targets(pid: int) -> Iterator[tuple[str, str]]:
    """(fd, what it points to) for a process's open fds, at most MAX_FDS_PER_PROCESS of them; none when
    the process is gone or not ours to read."""
    base = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(base)
    except OSError:
        return
    for fd in fds[:MAX_FDS_PER_PROCESS]:
        try:
            yield fd, os.readlink(f"{base}/{fd}")
        except OSError:
            continue


def prog_ids_of_pid(pid: int) -> set[int]:
    """Programs this process holds an fd to (bpf-prog and bpf_link fds, from fdinfo)."""
    ids: set[int] = set()
    for fd, target in _fd_targets(pid):
        if target not in ("anon_inode:bpf-prog", "anon_inode:bpf_link"):
            continue
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
                        break
        except (OSError, ValueError):
            continue
    return ids


def holders(pids: Iterable[int] | None = None) -> dict[int, set[int]]:
    """prog_id -> pids holding an fd to it, from a scan of /proc (all processes by default)."""
    out: dict[int, set[int]] = {}
    for pid in pids if pids is not None else _pids():
        for pid_prog in prog_ids_of_pid(pid):
            out.setdefault(pid_prog, set()).add(pid)
    return out


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def is_ours(pid: int, me: int | None = None) -> bool:
    """`pid` is this process or one of its descendants (a bpftrace we started)."""
    me = os.getpid() if me is None else me
    seen = 0
    while pid > 1 and seen < 64:
        if pid == me:
            return True
        pid = _ppid(pid)
        seen += 1
    return False


def join_rows(
    progs: Sequence[ProgInfo],
    attachments: Sequence[Attachment],
    held: dict[int, set[int]],
    me: int | None = None,
    comm: Any = None,
) -> list[ProgRow]:
    """One row per program: its attachments, the pids holding it, and whether it is ours."""
    me = os.getpid() if me is None else me
    comm_of = comm or _comm
    by_prog: dict[int, list[Attachment]] = {}
    for a in attachments:
        by_prog.setdefault(a.prog_id, []).append(a)
    rows: list[ProgRow] = []
    for p in progs:
        atts = tuple(by_prog.get(p.id, ()))
        owners = set(held.get(p.id, set())) | set(p.pids) | {a.pid for a in atts if a.pid}
        ordered = tuple(sorted(owners))
        rows.append(
            ProgRow(
                prog=p,
                attach=atts,
                owners=ordered,
                owner_comms=tuple(comm_of(pid) for pid in ordered),
                ours=any(pid == me or is_ours(pid, me) for pid in ordered),
            )
        )
    return rows


def inventory() -> list[ProgRow]:
    """Everything, joined. Root needed (bpftool and other processes' fdinfo)."""
    progs = list_programs()
    atts = [*list_perf(), *list_links(), *list_net()]
    return join_rows(progs, atts, holders())


# --- run-time statistics (like bpftop) ------------------------------------------------------------
def stats_enabled() -> bool | None:
    """kernel.bpf_stats_enabled, None when the sysctl does not exist or cannot be read.

    It does not show BPF_ENABLE_STATS fds (ours or bpftop's): see `counting()` and `stats_holders()`."""
    try:
        with open(STATS_SYSCTL) as f:
            return f.read().strip() == "1"
    except OSError:
        return None


def set_stats(enabled: bool) -> bool | None:
    """Set kernel.bpf_stats_enabled; returns the previous value (to give to `restore_stats`)."""
    prev = stats_enabled()
    if prev is None:
        raise UsageError(
            "this kernel has no kernel.bpf_stats_enabled sysctl", "run counts need Linux 5.1 or newer"
        )
    if prev != enabled:
        try:
            with open(STATS_SYSCTL, "w") as f:
                f.write("1" if enabled else "0")
        except OSError as e:
            raise BeefineError(
                f"cannot set kernel.bpf_stats_enabled: {e.strerror or e}", "run as root"
            ) from e
    return prev


def enable_stats() -> bool | None:
    return set_stats(True)


def disable_stats() -> bool | None:
    return set_stats(False)


def restore_stats(previous: bool | None) -> None:
    if previous is not None and stats_enabled() != previous:
        with contextlib.suppress(BeefineError):
            set_stats(previous)


_held_lock = threading.Lock()
_held_fds = 0  # BPF_ENABLE_STATS fds held by StatsGuards of this process


def stats_held() -> bool:
    """This process holds a BPF_ENABLE_STATS fd (the sysctl stays 0 meanwhile)."""
    with _held_lock:
        return _held_fds > 0


def counting() -> bool:
    """The kernel counts runs as far as we know: we hold a stats fd or the sysctl is 1. (Another
    process's fd counts too but is not seen here: `stats_holders()` scans /proc for those.)"""
    return stats_held() or bool(stats_enabled())


def stats_holders(pids: Iterable[int] | None = None) -> list[int]:
    """Processes holding a BPF_ENABLE_STATS fd (bpftop, us), from a scan of /proc/<pid>/fd."""
    return [
        pid
        for pid in (pids if pids is not None else _pids())
        if any(target == STATS_FD_LINK for _fd, target in _fd_targets(pid))
    ]


def _take_stats_fd() -> int:
    return bpf_syscall.enable_stats_fd()


# fallback only when the kernel does not know the command (before 5.8), or we cannot issue it
_FALLBACK_ERRNOS = (errno.EINVAL, errno.ENOSYS)


class StatsGuard:
    """Run counting on while a screen shows rates; `stop()` (idempotent, AppContext.own-able) ends it.

    It holds a BPF_ENABLE_STATS fd: the kernel counts while any such fd is open and stops by itself
    when the last one closes, also when this process is SIGKILLed, and the sysctl is never touched.
    Only when the kernel refuses the command (EINVAL: older than 5.8) does it set
    kernel.bpf_stats_enabled = 1 and put the previous value back on stop; a SIGKILL leaves that
    on. `method` says which one is in use ("BPF_ENABLE_STATS fd" or "kernel.bpf_stats_enabled")."""

    METHOD_FD = "BPF_ENABLE_STATS fd"
    METHOD_SYSCTL = "kernel.bpf_stats_enabled"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prev: bool | None = None
        self._fd: int | None = None
        self._on = False
        self.method: str | None = None

    @property
    def on(self) -> bool:
        return self._on

    def start(self) -> StatsGuard:
        global _held_fds
        with self._lock:
            if self._on:
                return self
            try:
                fd = _take_stats_fd()
            except OSError as e:
                if e.errno not in _FALLBACK_ERRNOS:
                    raise BeefineError(
                        f"cannot turn on BPF run counts: bpf(BPF_ENABLE_STATS) failed: {e.strerror or e}",
                        "run as root (it needs CAP_SYS_ADMIN)" if e.errno == errno.EPERM else "",
                    ) from e
                self._prev = enable_stats()  # raises a clear error when the sysctl is missing too
                self.method = self.METHOD_SYSCTL
            else:
                self._fd = fd
                with _held_lock:
                    _held_fds += 1
                self.method = self.METHOD_FD
            self._on = True
            return self

    def stop(self) -> None:
        global _held_fds
        with self._lock:
            if not self._on:
                return
            self._on = False
            fd, self._fd = self._fd, None
            if fd is None:
                restore_stats(self._prev)
                return
            with _held_lock:
                _held_fds -= 1
            with contextlib.suppress(OSError):
                os.close(fd)

    def describe(self) -> str:
        """One line for the user: how counting is on and what happens if we die."""
        if self.method == self.METHOD_FD:
            return "Run counts on (BPF_ENABLE_STATS fd): off again when we stop, however we exit"
        if self.method == self.METHOD_SYSCTL:
            return (
                "Run counts on (kernel.bpf_stats_enabled = 1: this kernel is older than 5.8): "
                "restored when we stop, but a killed process leaves it on"
            )
        return "Run counts off"


@contextlib.contextmanager
def stats_on() -> Iterator[StatsGuard]:
    """Run counting on for the duration (see StatsGuard); it ends however the block exits."""
    guard = StatsGuard().start()
    try:
        yield guard
    finally:
        guard.stop()


@dataclass(frozen=True)
class Snapshot:
    ts_ns: int  # CLOCK_MONOTONIC
    rows: tuple[ProgRow, ...]

    def by_id(self) -> dict[int, ProgRow]:
        return {r.prog.id: r for r in self.rows}


def snapshot() -> Snapshot:
    return Snapshot(time.monotonic_ns(), tuple(inventory()))


@dataclass(frozen=True)
class Rate:
    prog_id: int
    runs_per_s: float
    run_ns_per_s: float  # ns of CPU spent in the program per wall second
    avg_ns: float | None  # per run over the interval, None when it did not run
    cpu_percent: float  # run_ns_per_s as a percentage of one CPU


def _or(v: int | None, default: int | None) -> int | None:
    return default if v is None else v


def rates(prev: Snapshot, cur: Snapshot, stats_on: bool = False) -> dict[int, Rate]:
    """Per-program deltas between two snapshots (programs present in both, with stats on).

    bpftool leaves out run_cnt/run_time_ns while they are 0; with `stats_on` (counting was on for
    the whole interval) a missing count means 0 runs instead of "unknown"."""
    dt = (cur.ts_ns - prev.ts_ns) / 1e9
    out: dict[int, Rate] = {}
    if dt <= 0:
        return out
    before = prev.by_id()
    for row in cur.rows:
        old = before.get(row.prog.id)
        if old is None:
            continue
        p, o = row.prog, old.prog
        default = 0 if stats_on else None
        cnt, ns = _or(p.run_cnt, default), _or(p.run_time_ns, default)
        ocnt, ons = _or(o.run_cnt, default), _or(o.run_time_ns, default)
        if cnt is None or ns is None or ocnt is None or ons is None:
            continue
        dcnt = max(cnt - ocnt, 0)
        dns = max(ns - ons, 0)
        out[p.id] = Rate(
            prog_id=p.id,
            runs_per_s=dcnt / dt,
            run_ns_per_s=dns / dt,
            avg_ns=(dns / dcnt) if dcnt else None,
            cpu_percent=100.0 * dns / (dt * 1e9),
        )
    return out


class Monitor:
    """What a bpftop-like view polls (from a worker thread): each `refresh()` returns the rows and
    the rates since the previous refresh (empty the first time, or while stats are off)."""

    def __init__(self) -> None:
        self._prev: Snapshot | None = None

    def refresh(self) -> tuple[list[ProgRow], dict[int, Rate]]:
        cur = snapshot()
        prev, self._prev = self._prev, cur
        on = counting()  # with our fd the sysctl stays 0: asking it alone would say "off"
        return list(cur.rows), (rates(prev, cur, stats_on=on) if prev is not None else {})


# --- unloading ------------------------------------------------------------------------------------
@dataclass
class XdpDetach:
    ifname: str
    detached: list[str] = field(default_factory=list)  # modes detached


def detach_xdp(ifname: str) -> XdpDetach:
    """Detach every netlink-attached XDP program from `ifname` (whoever attached it).

    XDP attached through a bpf_link cannot be detached this way: the link's owner must close it.
    """
    try:
        socket.if_nametoindex(ifname)
    except OSError as e:
        raise NotFoundError(f"no network interface named {ifname!r}", "see `ip link`") from e
    atts = [a for a in list_net() if a.ifname == ifname and a.point.startswith("xdp:")]
    links = [a for a in list_links() if a.ifname == ifname and a.point.startswith("xdp:")]
    result = XdpDetach(ifname)
    exe = bpftool_path()
    if exe is None:
        raise NotFoundError("bpftool is not installed", "apt-get install bpftool")
    link_progs = {a.prog_id for a in links}
    for a in atts:
        if a.prog_id in link_progs:
            continue
        mode = {"generic": "xdpgeneric", "driver": "xdpdrv", "offload": "xdpoffload"}.get(a.mode or "", "xdp")
        proc = subprocess.run(
            [exe, "net", "detach", mode, "dev", ifname],
            capture_output=True,
            timeout=BPFTOOL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise BeefineError(
                f"could not detach XDP ({mode}) from {ifname}: "
                + proc.stderr.decode("utf-8", errors="replace").strip(),
                "run as root",
            )
        result.detached.append(mode)
    if links and not result.detached:
        pids = sorted({a.pid for a in links if a.pid})
        raise BeefineError(
            f"the XDP program on {ifname} is attached through a bpf_link",
            "stop the process that holds it" + (f" (pid {', '.join(map(str, pids))})" if pids else ""),
        )
    return result


def program_ids(thing: Any) -> set[int]:
    """The BPF program ids a thing of ours holds: its `prog_ids` (a method on runners, an attribute or
    property elsewhere) and those of the runners it groups (a probe session)."""
    ids = getattr(thing, "prog_ids", ())
    out = set((ids() if callable(ids) else ids) or ())
    for r in getattr(thing, "runners", ()) or ():
        out |= program_ids(r)
    return out


def owner_of(prog_id: int, runners: Iterable[Any]) -> Any:
    """The runner or session (of ours) holding `prog_id`, or None: stop it to unload."""
    for r in runners:
        if prog_id in program_ids(r):
            return r
    return None
