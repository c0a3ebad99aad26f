"""Is this process allowed to load BPF programs and talk to Docker? Answers without raising.

Beyond yes/no, each refusal names exactly what is missing: a non-root user given CAP_BPF and
CAP_PERFMON (the route the docs advertise) can load tracing programs, but cannot read a root-only
tracefs (BCC reads tracepoint ids there), cannot run bpftrace (0.17 checks for uid 0 itself) and
cannot load or attach XDP without CAP_NET_ADMIN.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from beefine_tui.errors import NotRootError

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39

CAP_NAMES = {
    CAP_NET_ADMIN: "CAP_NET_ADMIN",
    CAP_SYS_ADMIN: "CAP_SYS_ADMIN",
    CAP_PERFMON: "CAP_PERFMON",
    CAP_BPF: "CAP_BPF",
}
TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
TRACEFS_EVENT_DIRS = tuple(os.path.join(root, "events") for root in TRACEFS_ROOTS)


def tracefs_root() -> Path | None:
    """The first of TRACEFS_ROOTS whose events/ this process can list, None when neither."""
    for root in TRACEFS_ROOTS:
        try:
            if Path(root, "events").is_dir():
                return Path(root)
        except OSError:
            continue
    return None


def effective_caps() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def has_cap(cap: int) -> bool:
    return bool(effective_caps() >> cap & 1)


def missing_caps(*caps: int, capeff: int | None = None) -> list[str]:
    """Names of the capabilities in `caps` this process lacks (none for root with a full set)."""
    eff = effective_caps() if capeff is None else capeff
    return [CAP_NAMES.get(c, f"capability {c}") for c in caps if not eff >> c & 1]


def can_load_bpf() -> bool:
    return os.geteuid() == 0 or has_cap(CAP_SYS_ADMIN) or (has_cap(CAP_BPF) and has_cap(CAP_PERFMON))


def bpf_refusal(what: str = "load eBPF programs", capeff: int | None = None, euid: int | None = None) -> str:
    """Why this process may not load tracing BPF programs, naming the missing capabilities; "" if it may."""
    uid = os.geteuid() if euid is None else euid
    eff = effective_caps() if capeff is None else capeff
    allowed = (
        can_load_bpf() if capeff is None and euid is None else uid == 0 or bool(eff >> CAP_SYS_ADMIN & 1)
    )
    if allowed or (capeff is not None and not missing_caps(CAP_BPF, CAP_PERFMON, capeff=eff)):
        return ""
    lacking = missing_caps(CAP_BPF, CAP_PERFMON, capeff=eff) or ["CAP_BPF", "CAP_PERFMON"]
    return (
        f"to {what}, Beefine TUI needs root or CAP_BPF and CAP_PERFMON; "
        f"uid {uid} lacks {' and '.join(lacking)}"
    )


def require_bpf(what: str = "load eBPF programs") -> None:
    why = bpf_refusal(what)
    if why:
        raise NotRootError(
            why[0].upper() + why[1:] + ".",
            "run it as: sudo beefine-tui ... (or grant the missing capabilities, e.g. "
            "setpriv --inh-caps +bpf,+perfmon --ambient-caps +bpf,+perfmon)",
        )


def bpftrace_refusal(euid: int | None = None) -> str:
    """bpftrace 0.17 refuses any uid but 0 itself ("only supports running as the root user"),
    whatever capabilities are held; "" for root."""
    uid = os.geteuid() if euid is None else euid
    if uid == 0:
        return ""
    return (
        f"bpftrace runs only as root (uid 0), whatever capabilities are held; this is uid {uid}: "
        "run with sudo"
    )


def xdp_refusal(capeff: int | None = None, euid: int | None = None) -> str:
    """XDP is a network program type: loading and attaching it needs CAP_NET_ADMIN besides CAP_BPF."""
    uid = os.geteuid() if euid is None else euid
    if uid == 0:
        return ""
    eff = effective_caps() if capeff is None else capeff
    lacking = []
    if not (eff >> CAP_BPF & 1 or eff >> CAP_SYS_ADMIN & 1):
        lacking.append("CAP_BPF")
    if not eff >> CAP_NET_ADMIN & 1:
        lacking.append("CAP_NET_ADMIN")
    if not lacking:
        return ""
    return (
        f"loading and attaching an XDP program needs root or CAP_BPF and CAP_NET_ADMIN; "
        f"uid {uid} lacks {' and '.join(lacking)}"
    )


def _tracefs_mounts(mountinfo: str) -> list[str]:
    points = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if sep and len(fields) >= 5 and right.split()[:1] == ["tracefs"]:
            points.append(fields[4])
    return points


def tracefs_problem(roots: tuple[str, ...] = TRACEFS_ROOTS, mountinfo: str | None = None) -> str:
    """ "" when tracepoint formats can be read; else whether tracefs is missing or only unreadable
    for this user (then which mount, its mode and owner), never one said as the other."""
    denied: list[str] = []
    for root in roots:
        events = Path(root, "events")
        try:
            if stat.S_ISDIR(os.stat(events).st_mode) and os.access(events, os.R_OK | os.X_OK):
                return ""
        except PermissionError:
            denied.append(root)
        except OSError:
            continue
        else:
            denied.append(root)
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo") as f:
                mountinfo = f.read()
        except OSError:
            mountinfo = ""
    mounted = [r for r in roots if r in _tracefs_mounts(mountinfo)] or denied
    if not mounted:
        return f"tracefs is not mounted: as root, mount -t tracefs nodev {roots[0]}"
    where = mounted[0]
    try:
        st = os.stat(where)
        how = f"mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"
    except OSError:
        how = "not readable"
    return (
        f"tracefs is mounted at {where} but uid {os.geteuid()} cannot read it ({how}); BCC and bpftrace "
        "read tracepoint ids there: run as root, or have root mount it with a group this user is in "
        f"(mount -o remount,gid=GID {where})"
    )


def permission_refusal(engine: str) -> str:
    """What this user lacks to run a probe of `engine` ("bcc", "bpftrace", "xdp"); "" when nothing.
    Only permissions: a missing tool or tracepoint is the probe's own availability check."""
    if engine == "bpftrace":
        return bpftrace_refusal()
    if engine == "xdp":
        return xdp_refusal()
    why = bpf_refusal("load this probe")
    if why or os.geteuid() == 0:
        return why
    problem = tracefs_problem()
    return problem if "cannot read" in problem else ""
