"""Compiling a BCC program: one compile at a time per process, and clang's or the verifier's output
(captured from fd 2) turned into a readable ProbeLoadError.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import tempfile
import threading
from collections.abc import Iterator

from beefine_tui.errors import ProbeLoadError

# BCC's compiler is not thread-safe (iovisor/bcc#4500: concurrent BPF() calls fail with missing
# headers or crash), and compile errors are captured by redirecting fd 2: one compile at a time per
# process, whichever session (TUI screen, story, CLI) asks.
COMPILE_LOCK = threading.Lock()


def release_compiler_heap() -> bool:
    """Give the heap clang/LLVM left free back to the OS (glibc's malloc_trim). A compile frees tens of
    MB that glibc otherwise keeps mapped for good: ~22 MB of the ~55 MB of private memory loading the
    files probe added (bench/ui_memory.py --real-probe). False where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl or another libc: nothing to trim with
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


_ERR_LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?:fatal )?error: (?P<msg>.*)$", re.M)


@contextlib.contextmanager
def capture_stderr() -> Iterator[list[str]]:
    """BCC writes clang diagnostics and verifier logs to fd 2 from C++: capture them."""
    out: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


def _source_line(log: str, at: int, text: str, fallback: int) -> int:
    """The line of `text` that clang quoted after its error (BCC compiles a rewritten copy of the
    program, so clang's own line numbers are shifted by what BCC prepends)."""
    quoted = log[at:].splitlines()[1:2]
    if quoted and quoted[0].strip():
        hits = [i for i, line in enumerate(text.splitlines(), 1) if line.strip() == quoted[0].strip()]
        if len(hits) == 1:
            return hits[0]
    return fallback


def load_error(probe: str, exc: BaseException, log: str, text: str = "") -> ProbeLoadError:
    m = _ERR_LINE.search(log)
    if m:
        line = _source_line(log, m.start(), text, int(m.group("line")))
        return ProbeLoadError(
            f"probe {probe}: BPF program does not compile: line {line}: {m.group('msg')}",
            "see the compiler output (`--ebpf` prints the program); kernel headers must be installed",
            log=log,
            line=line,
        )
    verifier = re.search(r"^(?:\d+: .*\n)*.*(?:invalid|R\d+ |unbounded|too large|exceeds).*$", log, re.M)
    last = verifier.group(0) if verifier else log.strip().splitlines()[-1:] or [str(exc)]
    detail = last if isinstance(last, str) else last[0]
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Failed to compile" in msg:
        msg = "BPF program does not compile"
    return ProbeLoadError(
        f"probe {probe}: {msg}" + (f": {detail.strip()}" if detail and detail.strip() not in msg else ""),
        "the kernel refused the program or its attachment; run with --ebpf to see it",
        log=log,
    )
