"""Finished traces' phases, shared by the agents of one host with its exporter.

Each `--remote` connection (ssh, kubectl exec) starts an agent of its own, and the exporter
(`agent --metrics`) is another process: a trace's phases must reach it across processes. Every agent
appends one JSON line per finished trace to a root-only file (one write, O_APPEND, under an flock
with the rotation); the exporter reads the lines added since it started, at each scrape. The file is
rotated past MAX_BYTES to `.1` (one old generation kept); the exporter holds its open file, so it
reads what was appended to it before the rotation, then follows the new one (a whole generation,
~1,000 traces, would have to finish between two scrapes for one to be missed). Bounded on disk and
in memory. $BEEFINE_TRACE_SPOOL moves it (tests use their own).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

DEFAULT_PATH = Path("/run/beefine/trace-phases.jsonl")
MAX_BYTES = 1 << 20  # ~1,000 traces a generation
MAX_LINE = 1 << 16  # a line longer than this is not one of ours: skipped


def spool_path() -> Path:
    return Path(os.environ.get("BEEFINE_TRACE_SPOOL") or DEFAULT_PATH)


def append(phases: list[dict[str, Any]], path: Path | None = None) -> None:
    """One finished trace's phases (agent/tracing.py phase_rows). OSError when it cannot be written."""
    p = path or spool_path()
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = json.dumps({"phases": phases}, separators=(",", ":")).encode() + b"\n"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = _open_locked(p, flags)
    try:
        if os.fstat(fd).st_size + len(line) > MAX_BYTES:
            os.replace(p, p.with_name(p.name + ".1"))
            os.close(fd)
            fd = _open_locked(p, flags)
        os.write(fd, line)
    finally:
        os.close(fd)


def _open_locked(p: Path, flags: int) -> int:
    """The spool's current file, locked: writers take turns, and one that waited while another rotated
    opens the new file (a line written to the rotated one could come after the exporter left it)."""
    while True:
        fd = os.open(p, flags, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(p)):
                return fd
        except OSError:
            pass  # removed meanwhile: open (create) it again
        os.close(fd)


class SpoolReader:
    """The traces appended since this reader was made (the exporter's start: its histogram counts from
    zero, as any restarted exporter's counters do)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or spool_path()
        self._f: IO[bytes] | None = None
        self._buf = b""
        self.skipped = 0  # lines that were not a trace's phases
        self._open(at_end=True)

    def _open(self, at_end: bool) -> None:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (held across scrapes, closed in close())
        except OSError:
            return  # not there yet: the first trace makes it
        if at_end:
            f.seek(0, os.SEEK_END)
        self._f = f

    def read(self) -> list[list[dict[str, Any]]]:
        """Each new finished trace's phases."""
        out: list[list[dict[str, Any]]] = []
        if self._f is None:
            self._open(at_end=False)  # made after we started: all of it is new
        if self._f is None:
            return out
        self._take(self._f.read(), out)
        try:
            moved = not os.path.samestat(os.fstat(self._f.fileno()), os.stat(self.path))
        except OSError:
            moved = True
        if moved:  # rotated (or removed): what came before the rotation was read above
            self._take(self._f.read(), out)
            self.close()
            self._open(at_end=False)
            if self._f is not None:
                self._take(self._f.read(), out)
        return out

    def _take(self, data: bytes, out: list[list[dict[str, Any]]]) -> None:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        if len(self._buf) > MAX_LINE:
            self._buf, self.skipped = b"", self.skipped + 1
        for line in lines:
            try:
                phases = json.loads(line)["phases"]
                if not isinstance(phases, list):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                self.skipped += 1
                continue
            out.append([p for p in phases if isinstance(p, dict)])

    def close(self) -> None:
        f, self._f = self._f, None
        self._buf = b""
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()
