"""Your own programs: load a user's BCC C program or bpftrace script and decode its output.

BCC C programs
--------------
`UserBccProgram(source, origin)` is a Runner. It compiles the program with BCC, loads and attaches
every function BCC would auto-attach (`TRACEPOINT_PROBE(cat, event)` / `tracepoint__cat__event`,
`RAW_TRACEPOINT_PROBE`, and `kprobe__`/`kretprobe__` where the kernel has kprobes), then reads
every BPF_RINGBUF_OUTPUT and BPF_PERF_OUTPUT table. BCC records, for each such table, the fields of
the struct passed to perf_submit / ringbuf_output / ringbuf_reserve (`bpf_perf_event_field`, the
same description `table.event(data)` is built from); we build the ctypes layout from it with a wider
type map than BCC's own (BCC's exits the process on `bool`, `pid_t`, pointers...). Each record
becomes Event(probe="user:<name>", kind=<table name>, args={field: value}) with char arrays as str
and other arrays as lists. `columns` are the field names, so the UI can make columns.

Errors are readable: a compile error raises ProbeLoadError with clang's output as `log` and the
first error's line in the USER's source as `line` (we put a `#line N` directive before every source
line, because BCC inserts text, e.g. tracepoint argument structs, that shifts clang's numbering).
A verifier rejection raises ProbeLoadError naming the function, with the verifier's reason first and
the last ~30 lines of its log. BCC (and clang) print those diagnostics straight to fd 2, which is
the terminal Textual draws on; so the program is first compiled and loaded, without attaching, in a
child Python process whose stderr we capture (precheck.py). Only when
that succeeds is it compiled again here, with warnings off, so nothing is printed over the TUI.

Ring-buffer loss is invisible to user space; a program that wants it counted declares
`BPF_ARRAY(lost, u64, 1)` (or a PERCPU_ARRAY) and increments it when a reserve/output fails: the
runner turns its growth into `lost` events (source "kernel"). Perf-buffer loss arrives via lost_cb.
Its output buffers are read by the same poll/batch loop as the built-in probes' (probes/output_poll.py).

bpftrace scripts
----------------
`UserBpftraceProgram(text, origin)` runs through probes/bpftrace_runner, like the built-in bt-* probes.
Its printf lines arrive as kind "printf" {line}; when the script declares `// columns: a, b, c` and
prints tab-separated values, each line's values are also in args under those names.

Metadata comments read from the first lines of either kind of program:
    // name: execsnoop-lite
    // description: every execve on the host: pid, comm and filename

The package, by job: metadata.py (those comments, which engine), diagnostics.py (clang and verifier
output in the user's line numbers), layout.py (ctypes layout of an output struct, record -> Event),
precheck.py (the child compile), bcc_program.py and bpftrace_program.py (the runners); this module
picks the runner for a file or pasted text.
"""

from __future__ import annotations

import os
from pathlib import Path

from beefine_tui.errors import UsageError
from beefine_tui.probes.user_program.bcc_program import UserBccProgram
from beefine_tui.probes.user_program.bpftrace_program import UserBpftraceProgram
from beefine_tui.probes.user_program.metadata import detect_engine, parse_metadata
from beefine_tui.userfiles import MAX_SOURCE_BYTES, read_text_bounded

__all__ = [
    "MAX_SOURCE_BYTES",
    "UserBccProgram",
    "UserBpftraceProgram",
    "UserProgram",
    "detect_engine",
    "load_user_program",
    "parse_metadata",
]

UserProgram = UserBccProgram | UserBpftraceProgram


def _looks_like_path(s: str) -> bool:
    """One short line that names an existing file, or has a program's extension or a path's start
    and none of a program's punctuation."""
    t = s.strip()
    if not t or "\n" in t or len(t) > 4096:
        return False
    if os.path.exists(os.path.expanduser(t)):
        return True
    code = any(c in t for c in "{};(")
    return not code and (t.endswith((".c", ".bt")) or t.startswith(("/", "./", "../", "~")))


def load_user_program(path_or_text: str | Path, *, name: str | None = None) -> UserProgram:
    """A runner (not started) for a file (.c -> BCC, .bt -> bpftrace) or pasted program text."""
    text: str
    origin: str
    ext = ""
    if isinstance(path_or_text, Path) or _looks_like_path(path_or_text):
        p = Path(str(path_or_text).strip()).expanduser()
        # bounded before reading: /dev/zero, a fifo or a huge file must not grow memory first
        text = read_text_bounded(p, MAX_SOURCE_BYTES, "program file")
        origin, ext = str(p), p.suffix.lower()
    else:
        text, origin = str(path_or_text), "pasted"
        if len(text.encode()) > MAX_SOURCE_BYTES:
            raise UsageError(f"the program is larger than {MAX_SOURCE_BYTES // 1024} KiB")
    engine = {".c": "bcc", ".bt": "bpftrace"}.get(ext) or detect_engine(text)
    if engine == "bpftrace":
        return UserBpftraceProgram(text, origin, name=name)
    return UserBccProgram(text, origin, name=name)
