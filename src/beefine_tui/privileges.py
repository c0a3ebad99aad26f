"""Is this process allowed to load BPF programs and talk to Docker? Answers without raising."""

from __future__ import annotations

import os

from beefine_tui.errors import NotRootError

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


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


def can_load_bpf() -> bool:
    return os.geteuid() == 0 or has_cap(CAP_SYS_ADMIN) or (has_cap(CAP_BPF) and has_cap(CAP_PERFMON))


def require_bpf(what: str = "load eBPF programs") -> None:
    if not can_load_bpf():
        raise NotRootError(
            f"Beefine TUI needs root (or CAP_BPF and CAP_PERFMON) to {what}.",
            "run it as: sudo beefine-tui ...",
        )
