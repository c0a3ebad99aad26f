"""What bpftrace prints on stderr when a script does not load, turned into a readable ProbeLoadError
(the offending line and column where bpftrace names them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from beefine_tui.errors import ProbeLoadError

# bpftrace tries to raise RLIMIT_MEMLOCK to infinity and warns when it cannot (no CAP_SYS_RESOURCE,
# as in some VMs and containers). Kernels >= 5.11 account BPF memory to the memory cgroup instead,
# so the warning is harmless there; we drop it from the errors we show.
MEMLOCK_WARNING = re.compile(r"couldn't set RLIMIT_MEMLOCK")
# "path/x.bt:12:5-20: ERROR: message" (column range optional)
_ERROR_AT = re.compile(
    r"^(?P<file>[^:\n]*):(?P<line>\d+):(?P<col>\d+)(?:-(?P<col2>\d+))?: ERROR: (?P<msg>.*)$"
)
_ERROR = re.compile(r"^ERROR: (?P<msg>.*)$")


@dataclass(frozen=True)
class ScriptError:
    message: str
    line: int | None = None
    column: int | None = None


def parse_errors(stderr: str) -> list[ScriptError]:
    """Every ERROR bpftrace printed, with line and column where it gave one."""
    found: list[ScriptError] = []
    for raw in stderr.splitlines():
        if MEMLOCK_WARNING.search(raw):
            continue
        m = _ERROR_AT.match(raw)
        if m:
            found.append(ScriptError(m["msg"].strip(), int(m["line"]), int(m["col"])))
            continue
        m2 = _ERROR.match(raw.strip())
        if m2:
            found.append(ScriptError(m2["msg"].strip()))
    return found


def clean_stderr(stderr: str) -> str:
    return "\n".join(ln for ln in stderr.splitlines() if not MEMLOCK_WARNING.search(ln)).strip()


def load_error(name: str, stderr: str, rc: int | None) -> ProbeLoadError:
    errors = parse_errors(stderr)
    log = clean_stderr(stderr)
    if errors:
        first = errors[0]
        where = f" at line {first.line}, column {first.column}" if first.line is not None else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return ProbeLoadError(
            f"bpftrace could not load {name}{where}: {first.message}{more}",
            "the full bpftrace output is in the error log",
            log=log,
            line=first.line,
        )
    how = f"exited with status {rc}" if rc is not None else "did not attach"
    tail = log.splitlines()[-1] if log else "no output"
    return ProbeLoadError(f"bpftrace {how} while loading {name}: {tail}", log=log)
