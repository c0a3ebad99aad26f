"""Processes of one pid namespace, read from /proc: host pid, namespace pid, ppid, command, user,
state, CPU and memory. No subprocess; one pass over /proc per refresh.

Formats: proc(5) (/proc/<pid>/stat fields 14-15 utime/stime and 22 starttime in clock ticks;
/proc/<pid>/status NSpid lists the pid in each nested pid namespace, innermost last).
"""

from __future__ import annotations

import os
import time

import msgspec

from beefine_tui.docker.namespaces import all_pids

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

STATE_NAMES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk sleep",
    "Z": "zombie",
    "T": "stopped",
    "t": "tracing stop",
    "X": "dead",
    "I": "idle",
    "P": "parked",
}


class ProcInfo(msgspec.Struct, kw_only=True):
    pid: int  # host pid
    ns_pid: int  # pid inside the container's pid namespace (last NSpid field)
    ppid: int  # host ppid
    ns_ppid: int | None = None  # the parent's pid inside, when the parent is inside too
    comm: str = ""
    cmdline: list[str] = msgspec.field(default_factory=list)
    uid: int = 0
    user: str = ""
    state: str = ""
    threads: int = 1
    cpu_ticks: int = 0  # utime + stime, clock ticks
    cpu_percent: float | None = None  # since the previous sample (of one core)
    rss_bytes: int = 0
    start_ticks: int = 0  # since boot


def read_text(path: str) -> str | None:
    """A /proc (or /sys) file's text, or None when it is gone or unreadable: a process can end
    between listing and reading, and that is not an error for a monitor."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def parse_stat(text: str) -> tuple[str, str, int, int, int, int, int]:
    """/proc/<pid>/stat -> (comm, state, ppid, utime+stime, num_threads, starttime, rss_pages).

    comm is in parentheses and may contain spaces or ')', so split at the LAST ')'.
    """
    lp, rp = text.find("("), text.rfind(")")
    comm = text[lp + 1 : rp]
    rest = text[rp + 2 :].split()
    # rest[0] is field 3 (state)
    state = rest[0]
    ppid = int(rest[1])
    utime, stime = int(rest[11]), int(rest[12])
    threads = int(rest[17])
    start = int(rest[19])
    rss = int(rest[21])
    return comm, state, ppid, utime + stime, threads, start, rss


def parse_status(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def parse_passwd(text: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            out.setdefault(int(parts[2]), parts[0])
    return out


class ProcessLister:
    """Lists the processes of one pid namespace; keeps the previous sample to compute CPU %.

    `pidns_ino` is the inode of /proc/<pid>/ns/pid of any process in the container. Names of
    users come from the container's own /etc/passwd (read through /proc/<pid>/root once), since
    uids inside mean what the image says they mean.
    """

    def __init__(self, pidns_ino: int, proc: str = "/proc", root_pid: int | None = None) -> None:
        self.pidns_ino = pidns_ino
        self.proc = proc
        self._prev: dict[tuple[int, int], int] = {}  # (pid, start) -> cpu ticks
        self._prev_t: float | None = None
        self._users: dict[int, str] | None = None
        self._root_pid = root_pid

    def _user(self, uid: int) -> str:
        if self._users is None:
            self._users = {}
            if self._root_pid is not None:
                text = read_text(f"{self.proc}/{self._root_pid}/root/etc/passwd")
                if text:
                    self._users = parse_passwd(text)
        return self._users.get(uid, str(uid))

    def _in_ns(self, pid: int) -> bool:
        try:
            link = os.readlink(f"{self.proc}/{pid}/ns/pid")
        except OSError:
            return False
        return link == f"pid:[{self.pidns_ino}]"

    def read_one(self, pid: int) -> ProcInfo | None:
        stat = read_text(f"{self.proc}/{pid}/stat")
        status = read_text(f"{self.proc}/{pid}/status")
        if stat is None or status is None:
            return None
        try:
            comm, state, ppid, ticks, threads, start, rss = parse_stat(stat)
        except (ValueError, IndexError):
            return None
        st = parse_status(status)
        nspid = st.get("NSpid", str(pid)).split()
        uid = int(st.get("Uid", "0").split()[0] or 0)
        raw = read_text(f"{self.proc}/{pid}/cmdline") or ""
        argv = [a for a in raw.split("\0") if a] if raw else []
        return ProcInfo(
            pid=pid,
            ns_pid=int(nspid[-1]) if nspid else pid,
            ppid=ppid,
            comm=comm,
            cmdline=argv,
            uid=uid,
            user=self._user(uid),
            state=STATE_NAMES.get(state, state),
            threads=threads,
            cpu_ticks=ticks,
            rss_bytes=rss * PAGE_SIZE,
            start_ticks=start,
        )

    def list(self, pids: list[int] | None = None) -> list[ProcInfo]:
        now = time.monotonic()
        candidates = all_pids(self.proc) if pids is None else pids
        procs: list[ProcInfo] = []
        for pid in candidates:
            if not self._in_ns(pid):
                continue
            p = self.read_one(pid)
            if p is not None:
                procs.append(p)
        by_host = {p.pid: p for p in procs}
        dt = None if self._prev_t is None else now - self._prev_t
        prev = self._prev
        self._prev = {}
        for p in procs:
            parent = by_host.get(p.ppid)
            p.ns_ppid = parent.ns_pid if parent else (0 if p.ns_pid == 1 else None)
            key = (p.pid, p.start_ticks)
            self._prev[key] = p.cpu_ticks
            if dt and dt > 0 and key in prev:
                p.cpu_percent = round(100.0 * (p.cpu_ticks - prev[key]) / CLK_TCK / dt, 1)
        self._prev_t = now
        procs.sort(key=lambda p: p.ns_pid)
        return procs
