"""Per-syscall totals of the syscalls probe's events, like `strace -c`: calls, errors, total and
average time, share of the time. Pure (no BPF, no UI): the headless `syscalls --summary` and the TUI's
summary table both read it.

Times are wall time inside the call (enter to exit), what `strace -c -w` shows; plain `strace -c`
shows system CPU time, so a sleeping call weighs far more here than there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from beefine_tui.events.model import Event

SYSCALL_KIND = "syscall"
SORT_KEYS = ("time", "calls", "errors", "avg", "name")


@dataclass
class SyscallRow:
    name: str
    calls: int = 0
    errors: int = 0
    total_ns: int = 0
    max_ns: int = 0

    @property
    def avg_ns(self) -> int:
        return self.total_ns // self.calls if self.calls else 0


class SyscallSummary:
    """Accumulates syscall events; bounded by the number of distinct syscalls (a few hundred)."""

    def __init__(self) -> None:
        self.rows: dict[str, SyscallRow] = {}
        self.calls = 0
        self.errors = 0
        self.total_ns = 0
        self.errnos: dict[tuple[str, str], int] = {}

    def add(self, events: Iterable[Event]) -> None:
        rows = self.rows
        for ev in events:
            a = ev.args
            if ev.kind != SYSCALL_KIND or a.get("flight"):  # a flight recorder dump repeats calls counted
                continue
            name = a.get("syscall", "?")
            row = rows.get(name)
            if row is None:
                row = rows[name] = SyscallRow(name)
            dur = int(a.get("dur_ns", 0))
            row.calls += 1
            row.total_ns += dur
            if dur > row.max_ns:
                row.max_ns = dur
            self.calls += 1
            self.total_ns += dur
            err = a.get("error")
            if err:
                row.errors += 1
                self.errors += 1
                key = (name, str(err))
                self.errnos[key] = self.errnos.get(key, 0) + 1

    def sorted_rows(self, key: str = "time", reverse: bool = True) -> list[SyscallRow]:
        if key not in SORT_KEYS:
            raise ValueError(f"sort key {key!r} is not one of {', '.join(SORT_KEYS)}")
        rows = list(self.rows.values())
        if key == "name":
            return sorted(rows, key=lambda r: r.name, reverse=not reverse)
        attr = {"time": "total_ns", "calls": "calls", "errors": "errors", "avg": "avg_ns"}[key]
        return sorted(rows, key=lambda r: (getattr(r, attr), r.calls, r.name), reverse=reverse)

    def share(self, row: SyscallRow) -> float:
        return 100.0 * row.total_ns / self.total_ns if self.total_ns else 0.0

    def table_lines(self, key: str = "time") -> list[str]:
        """strace -c's layout: % time, seconds, usecs/call, calls, errors, syscall; then a total."""
        out = [
            f"{'% time':>6} {'seconds':>11} {'usecs/call':>11} {'calls':>9} {'errors':>9} syscall",
            f"{'-' * 6} {'-' * 11} {'-' * 11} {'-' * 9} {'-' * 9} {'-' * 16}",
        ]
        for r in self.sorted_rows(key):
            errs = str(r.errors) if r.errors else ""
            out.append(
                f"{self.share(r):6.2f} {r.total_ns / 1e9:11.6f} {r.avg_ns // 1000:11d} {r.calls:9d} "
                f"{errs:>9} {r.name}"
            )
        out.append(out[1])
        avg = self.total_ns // self.calls // 1000 if self.calls else 0
        errs = str(self.errors) if self.errors else ""
        out.append(f"{100.0:6.2f} {self.total_ns / 1e9:11.6f} {avg:11d} {self.calls:9d} {errs:>9} total")
        return out

    def as_dict(self, key: str = "time") -> dict[str, object]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "total_ns": self.total_ns,
            "syscalls": [
                {
                    "syscall": r.name,
                    "calls": r.calls,
                    "errors": r.errors,
                    "total_ns": r.total_ns,
                    "avg_ns": r.avg_ns,
                    "max_ns": r.max_ns,
                    "errnos": {e: n for (name, e), n in sorted(self.errnos.items()) if name == r.name},
                }
                for r in self.sorted_rows(key)
            ],
        }
