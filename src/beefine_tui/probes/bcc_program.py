"""A built-in BCC probe's program as the runner loads it (C text with common.h inlined, cflags,
output buffers and their decoders), how its cflags are made, and its text as `--ebpf` prints it.
No BCC import: all of it works without root.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from beefine_tui.errors import UsageError
from beefine_tui.events.model import Event
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.decode_context import DecodeContext, Decoder
from beefine_tui.resources import bpf_dir

# bpf/common.h: skip the tgids in the `excluded` hash (Beefine itself, probes/own_pids.py)
EXCLUDE_SELF_FLAG = "-DEXCLUDE_SELF=1"

Periodic = Callable[[Any, DecodeContext], list[Event]]
Setup = Callable[[Any], None]


@dataclass(frozen=True)
class RingBuffer:
    """One BPF_RINGBUF_OUTPUT (or BPF_PERF_OUTPUT in fallback) map and how to decode its records."""

    name: str
    decode: Decoder


@dataclass(frozen=True)
class BccProgram:
    """One probe's BPF program, as the runner loads it.

    `text` is the full C text (see `program_text`, which inlines common.h). TRACEPOINT_PROBE
    functions attach themselves; `attach` lists explicit (tracepoint "cat:name", function) pairs for
    programs that define plain functions. `setup` runs after load (seed maps), `periodic` about every
    `LOST_EVERY_S` on the poll thread (housekeeping that may produce events).
    """

    probe: str
    text: str
    cflags: tuple[str, ...] = ()
    buffers: tuple[RingBuffer, ...] = ()
    attach: tuple[tuple[str, str], ...] = ()
    setup: Setup | None = None
    periodic: Periodic | None = None


def use_perf_buffers() -> bool:
    """Ring buffers arrived in Linux 5.8; BEEFINE_FORCE_PERF=1 forces the fallback (for tests)."""
    if os.environ.get("BEEFINE_FORCE_PERF") == "1":
        return True
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    if m is None:
        return False
    return (int(m.group(1)), int(m.group(2))) < (5, 8)


def kernel_dev(st_dev: int) -> int:
    """stat()'s st_dev (glibc encoding) -> the kernel's internal dev_t (major << 20 | minor), which is
    what bpf_get_ns_current_pid_tgid compares against."""
    return (os.major(st_dev) << 20) | os.minor(st_dev)


def filter_cflags(target: Target) -> list[str]:
    flags: list[str] = []
    if target.pidns is not None:
        dev, ino = target.pidns
        flags += [f"-DFILTER_PIDNS_DEV={kernel_dev(dev)}ULL", f"-DFILTER_PIDNS_INO={ino}ULL"]
    if target.pids or target.lineage_root is not None:
        flags.append("-DFILTER_TRACKED=1")
    if target.lineage_root is not None:
        flags += ["-DFILTER_FOLLOW=1", f"-DLINEAGE_ROOT={int(target.lineage_root)}"]
    return flags


def check_ring_pages(pages: int) -> int:
    if pages < 1 or pages & (pages - 1) or pages > (1 << 16):
        raise UsageError(
            f"ring buffer size {pages} pages is not valid",
            "use a power of two between 1 and 65536 pages (default 256 = 1 MiB)",
        )
    return pages


def base_cflags(options: ProbeOptions) -> list[str]:
    flags = [f"-DBEEFINE_RING_PAGES={check_ring_pages(options.ring_pages)}"]
    if use_perf_buffers():
        flags.append("-DBEEFINE_PERF=1")
    flags += filter_cflags(options.target)
    if not options.include_self:
        flags.append(EXCLUDE_SELF_FLAG)
    flags.append("-Wno-macro-redefined")
    return flags


_INCLUDE = re.compile(r'^#include "([\w.]+)"[ \t]*$', re.M)


def program_text(name: str) -> str:
    """bpf/<name> with its local `#include "x.h"` lines replaced by bpf/x.h's text.

    BCC rewrites map method calls (`lost.lookup(...)`) only in the main file, not in included headers,
    so the shared helpers in common.h must become part of the main text.
    """
    src = bpf_dir() / name

    def expand(m: re.Match[str]) -> str:
        inc = bpf_dir() / m.group(1)
        name = m.group(1)
        return f"/* ---- {name} ---- */\n{inc.read_text().rstrip()}\n/* ---- end of {name} ---- */"

    return _INCLUDE.sub(expand, src.read_text())


def render_program(prog: BccProgram) -> str:
    """The exact program text and cflags that `start` compiles (like bcc tools' --ebpf)."""
    lines = [f"// probe: {prog.probe}", "// cflags: " + " ".join(prog.cflags), "", prog.text.rstrip(), ""]
    return "\n".join(lines)


# the maps a program declares (BCC's macros), for emptying a reused object's state
_MAP_DECL = re.compile(
    r"\bBPF_(?:HASH|ARRAY|PERCPU_ARRAY|PERCPU_HASH|LRU_HASH)\(\s*(\w+)"
    r'|\bBPF_TABLE\(\s*"\w+"\s*,[^,]+,[^,]+,\s*(\w+)'
)


def declared_maps(text: str) -> list[str]:
    """Names of the hash and array maps declared in a BCC program's text (not its output buffer)."""
    names: list[str] = []
    for m in _MAP_DECL.finditer(text):
        n = m.group(1) or m.group(2)
        if n and n not in names:
            names.append(n)
    return names
