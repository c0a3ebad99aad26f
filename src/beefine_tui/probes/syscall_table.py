"""Syscall numbers to names, and each syscall's argument names, from this machine, not a hand-kept list.

Numbers: the arch's uapi header installed by Debian's linux-libc-dev (a dependency of libc6-dev,
installed by `make setup`): /usr/include/<multiarch>/asm/unistd_64.h, `#define __NR_<name> <nr>`.
It is the kernel's own table for the distribution's kernel series (6.1 on bookworm): a syscall added
by a newer running kernel has no name there and shows as "syscall_<nr>" (the number is still right).
Not used: tracefs's events/syscalls/*/id (tracepoint ids, not syscall numbers) and the `format`
files' `__syscall_nr` (a field, with no value).

Argument names: tracefs's events/syscalls/sys_enter_<name>/format lists the running kernel's
arguments (after `__syscall_nr`), which gives each call's arity and names, as strace prints them.
"""

from __future__ import annotations

import functools
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

_DEFINE = re.compile(r"^#define\s+__NR_(\w+)\s+(\d+)\s*$", re.M)
_FIELD = re.compile(r"field:(?P<type>[^;]*?)\s*(?P<name>\w+);\s*offset:\d+;\s*size:\d+;")
# Debian's multiarch directory per machine (dpkg-architecture's DEB_HOST_MULTIARCH)
_MULTIARCH = {"x86_64": "x86_64-linux-gnu"}


@dataclass(frozen=True)
class SyscallTable:
    names: dict[int, str] = field(default_factory=dict)
    source: str = ""  # the file the numbers came from, "" when none was found

    def name(self, nr: int) -> str:
        return self.names.get(nr) or f"syscall_{nr}"

    def number(self, name: str) -> int | None:
        for nr, n in self.names.items():
            if n == name:
                return nr
        return None


def header_path(machine: str | None = None) -> Path | None:
    arch = _MULTIARCH.get(machine or platform.machine())
    return Path(f"/usr/include/{arch}/asm/unistd_64.h") if arch else None


def parse_unistd(text: str) -> dict[int, str]:
    """{nr: name} from the `#define __NR_<name> <nr>` lines of an asm/unistd_64.h."""
    return {int(nr): name for name, nr in _DEFINE.findall(text)}


@functools.lru_cache(maxsize=1)
def load() -> SyscallTable:
    """The table for this machine; empty (every name "syscall_<nr>") when the header is missing."""
    path = header_path()
    if path is None:
        return SyscallTable()
    try:
        names = parse_unistd(path.read_text())
    except OSError:
        return SyscallTable()
    return SyscallTable(names, str(path)) if names else SyscallTable()


def parse_format_args(text: str) -> tuple[str, ...]:
    """The argument names of a syscalls:sys_enter_<name> `format` file (the fields after
    `__syscall_nr`)."""
    names: list[str] = []
    seen_nr = False
    for m in _FIELD.finditer(text):
        if m.group("name") == "__syscall_nr":
            seen_nr = True
        elif seen_nr:
            names.append(m.group("name"))
    return tuple(names[:6])


@functools.lru_cache(maxsize=1024)
def arg_names(name: str, tracefs: str = "/sys/kernel/tracing") -> tuple[str, ...] | None:
    """The running kernel's argument names for a syscall; None when tracefs does not say (not mounted,
    or no tracepoint for it), in which case all six raw arguments are shown."""
    try:
        text = Path(tracefs, "events", "syscalls", f"sys_enter_{name}", "format").read_text()
    except OSError:
        return None
    return parse_format_args(text)
