"""What this kernel can attach, from its config and bpftool's feature probe: the checks both the doctor
and the helpers catalog need (the catalog notes types that load but cannot attach here)."""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def path_state(path: Path) -> bool | None:
    """Does `path` exist? None when we may not look (tracefs is root-only)."""
    try:
        os.stat(path)
        return True
    except PermissionError:
        return None
    except OSError:
        return False


def parse_kconfig(text: str) -> dict[str, str]:
    """CONFIG_X=y lines of a kernel config; `# CONFIG_X is not set` becomes 'n'."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip('"')
            continue
        m = re.match(r"^# (CONFIG_\w+) is not set", line)
        if m:
            out[m.group(1)] = "n"
    return out


def check_kprobes(kconfig: dict[str, str] | None, kprobe_events: bool | None) -> Check:
    if kconfig is None and kprobe_events is None:
        return Check(
            "kprobes", "warn", "unknown: no kernel config and tracefs is root-only", "run the doctor as root"
        )
    if kconfig is not None:
        on = kconfig.get("CONFIG_KPROBES", "n") in ("y", "m")
        source = "kernel config"
    else:
        on, source = bool(kprobe_events), "kprobe_events in tracefs"
    if on:
        return Check("kprobes", "ok", f"available ({source}); optional, built-in probes use tracepoints")
    return Check(
        "kprobes",
        "warn",
        f"not available on this kernel ({source}: CONFIG_KPROBES off); built-in probes use tracepoints only; "
        "kprobe-based tools (stock bcc tools such as execsnoop) fail here",
        "nothing to do for Beefine; for stock bcc tools use a kernel with CONFIG_KPROBES=y",
    )


def check_fentry(features: dict[str, object] | None, have_bpftool: bool = True) -> Check:
    if features is None:
        fix = (
            "run the doctor as root: sudo beefine-tui doctor"
            if have_bpftool
            else "sudo apt-get install bpftool"
        )
        return Check("fentry", "warn", "unknown (bpftool feature probe did not run)", fix)
    prog_types = features.get("program_types")
    ok = isinstance(prog_types, dict) and bool(prog_types.get("have_tracing_prog_type"))
    if ok:
        return Check("fentry", "ok", "fentry/fexit (BPF tracing programs) available; optional")
    return Check(
        "fentry",
        "warn",
        "fentry/fexit not available on this kernel (tracing program type refused); optional, not used by "
        "built-in probes",
        "nothing to do for Beefine",
    )


def read_kconfig(release: str) -> dict[str, str] | None:
    try:
        with gzip.open("/proc/config.gz", "rt", errors="replace") as f:
            return parse_kconfig(f.read())
    except OSError:
        pass
    try:
        text = Path(f"/boot/config-{release}").read_text(errors="replace")
    except OSError:
        text = ""
    return parse_kconfig(text) if text else None
