"""Syscall numbers to names, and each syscall's argument names, from this machine, not a hand-kept list.

Numbers: the arch's uapi header installed by Debian's linux-libc-dev (a dependency of libc6-dev,
installed by `make setup`): /usr/include/<multiarch>/asm/unistd_64.h, `#define __NR_<name> <nr>`.
It is the kernel's own table for the distribution's kernel series (6.1 on bookworm): a syscall added
by a newer running kernel has no name there and shows as "syscall_<nr>" (the number is still right).
Not used: tracefs's events/syscalls/*/id (tracepoint ids, not syscall numbers) and the `format`
files' `__syscall_nr` (a field, with no value).

Numbers newer than the header: the running kernel has no file that lists them (no sys_call_table in
/proc/kallsyms without KALLSYMS_ALL, no /proc/kcore, BTF names `__x64_sys_*` functions but not their
numbers), yet its ftrace syscall events know each call's number: they fire with `__syscall_nr`. So
`discover_newer()` asks the kernel: the names tracefs lists (events/syscalls/sys_enter_<name>) that the
header lacks are enabled in a private ftrace instance for one helper process, which calls each number
past the header's last, every argument set to the number itself; the event that fires for a call names
it, and its first argument (printed by the event) says which number it was. The helper is made as
harmless as a process can be before it calls anything: its own network, IPC, UTS and mount namespaces,
then uid/gid nobody with no capabilities and no_new_privs, a CPU limit and a 2 s deadline; small numbers
as pointers, descriptors, sizes and flags make these calls fail (EFAULT, EBADF, EINVAL). It runs once per
process, only as root with tracefs mounted; otherwise such calls keep showing as "syscall_<nr>".

Argument names: tracefs's events/syscalls/sys_enter_<name>/format lists the running kernel's
arguments (after `__syscall_nr`), which gives each call's arity and names, as strace prints them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import subprocess
import sys
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
    newer: dict[int, str] = field(default_factory=dict)  # of names: those the running kernel told us

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


def header_names() -> tuple[dict[int, str], str]:
    path = header_path()
    if path is None:
        return {}, ""
    try:
        names = parse_unistd(path.read_text())
    except OSError:
        return {}, ""
    return names, (str(path) if names else "")


@functools.lru_cache(maxsize=1)
def load() -> SyscallTable:
    """The table for this machine: the header's numbers, plus the newer ones the running kernel names
    (`discover_newer`); empty (every name "syscall_<nr>") when neither says anything."""
    names, source = header_names()
    newer = discover_newer(names) if names else {}
    return SyscallTable({**names, **newer}, source, newer)


TRACEFS = Path("/sys/kernel/tracing")
INSTANCE_PREFIX = "beefine-nr-"
SPARE_NUMBERS = 16  # numbers tried past the header's last beyond one per unknown name (gaps, retired)
# `sys_<name>(<first arg>: <value>` in an ftrace `trace` line; "sys_<name>()" for calls without args
_TRACE_LINE = re.compile(r":\s+sys_(?P<name>\w+)\((?:\w+:\s*(?P<value>0x[0-9a-fA-F]+))?")

# the helper: waits for the parent's go, then drops everything and calls each number given
_HELPER = r"""
import ctypes, os, resource, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.stdin.buffer.read(1)
libc.unshare(0x40000000 | 0x08000000 | 0x04000000 | 0x00020000)  # NEWNET NEWIPC NEWUTS NEWNS
resource.setrlimit(resource.RLIMIT_CPU, (2, 2))
os.setgroups([]); os.setgid(65534); os.setuid(65534)
libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
for nr in map(int, sys.argv[1:]):
    v = ctypes.c_long(nr)
    libc.syscall(v, v, v, v, v, v, v)
"""


def tracefs_names(tracefs: Path = TRACEFS) -> set[str]:
    """Every syscall name the running kernel has an enter event for."""
    try:
        return {p.name[len("sys_enter_") :] for p in (tracefs / "events" / "syscalls").glob("sys_enter_*")}
    except OSError:
        return set()


def parse_trace(text: str, tried: set[int]) -> dict[int, str]:
    """{nr: name} from an instance's `trace`: each event names its call, and its first argument (which
    the helper set to the number) says which number that was."""
    out: dict[int, str] = {}
    for m in _TRACE_LINE.finditer(text):
        value = m.group("value")
        if value is None:
            continue
        nr = int(value, 16)  # syscall events print every argument as 0x%08lx
        if nr in tried:
            out[nr] = m.group("name")
    return out


def _remove_stale_instances(tracefs: Path) -> None:
    """Instances left by a process killed mid-discovery (SIGKILL runs nothing): their pid is gone."""
    for d in (tracefs / "instances").glob(INSTANCE_PREFIX + "*"):
        pid = d.name[len(INSTANCE_PREFIX) :]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                d.rmdir()


def discover_newer(known: dict[int, str], tracefs: Path = TRACEFS, timeout: float = 2.0) -> dict[int, str]:
    """{nr: name} for the calls the running kernel has and `known` lacks (see the module docstring);
    {} when not root, without tracefs, or when the kernel has nothing newer."""
    if os.geteuid() != 0 or not known:
        return {}
    unknown = tracefs_names(tracefs) - set(known.values())
    if not unknown:
        return {}
    first = max(known) + 1
    tried = set(range(first, first + len(unknown) + SPARE_NUMBERS))
    _remove_stale_instances(tracefs)
    inst = tracefs / "instances" / f"{INSTANCE_PREFIX}{os.getpid()}"
    try:
        inst.mkdir()
    except OSError:
        return {}
    child: subprocess.Popen[bytes] | None = None
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _HELPER, *map(str, sorted(tried))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (inst / "set_event_pid").write_text(str(child.pid))
        for name in unknown:
            with contextlib.suppress(OSError):  # an event that cannot be enabled only stays unnamed
                (inst / "events" / "syscalls" / f"sys_enter_{name}" / "enable").write_text("1")
        assert child.stdin is not None
        child.stdin.write(b"g")
        child.stdin.close()
        child.wait(timeout=timeout)
        found = parse_trace((inst / "trace").read_text(), tried)
    except (OSError, subprocess.SubprocessError):
        found = {}
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        with contextlib.suppress(OSError):
            (inst / "events" / "enable").write_text("0")
        with contextlib.suppress(OSError):
            inst.rmdir()
    # only names tracefs listed as unknown: a stray event of a known call must not rename a number
    return {nr: name for nr, name in found.items() if name in unknown}


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


# argument names of user-memory strings worth reading (paths, mostly), best first: mount shows where it
# mounts (dir_name) rather than its source; an xattr's or a hostname's `name` only when nothing else is
_STRING_ARGS = (
    "filename", "pathname", "path", "dir_name", "oldname", "from_pathname", "new_root", "specialfile",
    "special", "dev_name", "name",
)  # fmt: skip
# execve's filename is gone from memory when a successful call returns (a new image): the exec probe has it
_NO_STRING_READ = frozenset({"execve", "execveat"})


def parse_string_arg(text: str) -> int | None:
    """The index of the argument to read as a string, from a sys_enter_<name> `format` file: a `char *`
    named like a path (`buf`, a `char *` too, is data, never read)."""
    found: dict[str, int] = {}
    seen_nr = False
    i = 0
    for m in _FIELD.finditer(text):
        if m.group("name") == "__syscall_nr":
            seen_nr = True
            continue
        if not seen_nr:
            continue
        if "char *" in m.group("type") and m.group("name") in _STRING_ARGS:
            found.setdefault(m.group("name"), i)
        i += 1
    for name in _STRING_ARGS:
        if name in found and found[name] < 6:
            return found[name]
    return None


@functools.lru_cache(maxsize=1024)
def string_arg(name: str, tracefs: str = "/sys/kernel/tracing") -> int | None:
    """Which argument of `name` the syscalls probe reads from user memory (its path), if any."""
    if name in _NO_STRING_READ:
        return None
    text = _format_text(name, tracefs)
    return None if text is None else parse_string_arg(text)


# calls whose tracepoint keeps the kernel's function name (sys_newstat) rather than the uapi's
_TRACEPOINT_NAME = {"stat": "newstat", "lstat": "newlstat", "fstat": "newfstat", "uname": "newuname"}


def _format_text(name: str, tracefs: str) -> str | None:
    event = f"sys_enter_{_TRACEPOINT_NAME.get(name, name)}"
    try:
        return Path(tracefs, "events", "syscalls", event, "format").read_text()
    except OSError:
        return None


@functools.lru_cache(maxsize=1024)
def arg_names(name: str, tracefs: str = "/sys/kernel/tracing") -> tuple[str, ...] | None:
    """The running kernel's argument names for a syscall; None when tracefs does not say (not mounted,
    or no tracepoint for it), in which case all six raw arguments are shown."""
    text = _format_text(name, tracefs)
    return None if text is None else parse_format_args(text)
