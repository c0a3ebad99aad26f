"""What a user's program says about itself in its first lines, and which engine it is written for.

// name: execsnoop-lite
// description: every execve on the host: pid, comm and filename
// columns: a, b, c      (bpftrace: names of tab-separated printf values)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_META = re.compile(r"^\s*//\s*(name|description|columns)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_BCC_HINT = re.compile(r"\b(TRACEPOINT_PROBE|RAW_TRACEPOINT_PROBE|KFUNC_PROBE|BPF_[A-Z_]+\s*\(|bpf_\w+\s*\()")
_BPFTRACE_HINT = re.compile(
    r"^\s*(BEGIN|END|(tracepoint|t|kprobe|k|kretprobe|kr|uprobe|u|uretprobe|ur|usdt|U|profile|p|interval|i|"
    r"software|s|hardware|h|kfunc|f|kretfunc|fr|rawtracepoint|rt|watchpoint|w|iter|it)\s*:)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ProgramMeta:
    name: str
    description: str = ""
    columns: tuple[str, ...] = ()  # bpftrace: names of tab-separated printf values


def sanitize_name(raw: str, default: str = "program") -> str:
    """A probe-name-safe version of `raw` (letters, digits, _ . -), never empty."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw.strip()).strip("-.")[:64]
    return s or default


def parse_metadata(text: str, default_name: str) -> ProgramMeta:
    """`// name:`, `// description:` and `// columns:` comments among the first 40 lines."""
    found: dict[str, str] = {}
    for line in text.splitlines()[:40]:
        m = _META.match(line)
        if m and m.group(1).lower() not in found:
            found[m.group(1).lower()] = m.group(2)
    cols = tuple(c for c in re.split(r"[\s,]+", found.get("columns", "")) if c)
    return ProgramMeta(
        name=sanitize_name(found.get("name", ""), sanitize_name(default_name)),
        description=found.get("description", ""),
        columns=cols,
    )


def detect_engine(text: str) -> str:
    """ "bpftrace" when the text looks like bpftrace probes (`tracepoint:...`, BEGIN), else "bcc"."""
    # BCC's own macros and helpers decide first; `#include` alone does not (bpftrace has it too)
    if _BCC_HINT.search(text):
        return "bcc"
    return "bpftrace" if _BPFTRACE_HINT.search(text) else "bcc"
