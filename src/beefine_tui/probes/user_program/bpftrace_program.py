"""A user's bpftrace script, run by probes/bpftrace_runner like the built-in bt-* probes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from beefine_tui import privileges
from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.model import Event
from beefine_tui.probes.base import Runner, Sink
from beefine_tui.probes.bpftrace_runner import BpftraceRunner, check_user_script
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.probes.user_program.bcc_program import SNAPSHOT_LIMIT, kprobes_available
from beefine_tui.probes.user_program.layout import event_from_fields
from beefine_tui.probes.user_program.metadata import parse_metadata, sanitize_name


class UserBpftraceProgram(Runner):
    """A user's bpftrace script, run by probes/bpftrace_runner."""

    engine = "bpftrace"

    def __init__(self, text: str, origin: str = "pasted", *, name: str | None = None) -> None:
        super().__init__()
        self._stop_event.set()

        check_user_script(text)
        self.text = text
        self.origin = origin
        default = Path(origin).stem if origin not in ("", "pasted") else "pasted"
        meta = parse_metadata(text, default)
        self.name = sanitize_name(name) if name else meta.name
        self.description = meta.description
        self.declared_columns = meta.columns
        self.probe = f"user:{self.name}"
        self.warnings: list[str] = []
        self.map_names: tuple[str, ...] = ()
        self._runner: Any = None

    @property
    def probes(self) -> tuple[str, ...]:
        return (self.probe,)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.declared_columns, "line") if self.declared_columns else ("line",)

    @property
    def output_columns(self) -> dict[str, tuple[str, ...]]:
        return {"printf": self.columns}

    @property
    def pid(self) -> int | None:
        return getattr(self._runner, "pid", None) if self._runner is not None else None

    @property
    def prog_ids(self) -> tuple[int, ...]:
        """The BPF programs the bpftrace process holds (read from its fds; empty once stopped)."""
        pid = self.pid
        if pid is None or not self.running:
            return ()

        return tuple(sorted(prog_ids_of_pid(pid)))

    def render(self) -> str:
        return self.text

    def decode_line(self, line: str) -> Event | None:
        """Tab-separated values named by `// columns:` become args; other lines stay plain printf."""
        cols = self.declared_columns
        if not cols:
            return None
        parts = line.split("\t")
        if len(parts) != len(cols):
            return None
        values: dict[str, Any] = {}
        for c, p in zip(cols, parts, strict=True):
            values[c] = int(p) if re.fullmatch(r"-?\d+", p.strip()) else p
        values["line"] = line
        return event_from_fields(self.probe, "printf", values, line=line)

    def start(self, sink: Sink) -> None:
        privileges.require_bpf("load your bpftrace script")
        if self._runner is not None:
            raise RuntimeError("UserBpftraceProgram.start() called twice")
        if re.search(r"^\s*(kprobe|k|kretprobe|kr)\s*:", self.text, re.MULTILINE) and not kprobes_available():
            m = re.search(r"^\s*(kprobe|k|kretprobe|kr)\s*:", self.text, re.MULTILINE)
            line = self.text.count("\n", 0, m.start()) + 1 if m else None
            raise ProbeLoadError(
                "kprobes are not available on this kernel (CONFIG_KPROBES off); "
                "use a tracepoint: tracepoint:syscalls:sys_enter_openat { ... }",
                line=line,
            )
        self._runner = BpftraceRunner(
            self.probe, self.text, decode_line=self.decode_line, script_name=f"{self.name}.bt"
        )
        self._stop_event.clear()
        try:
            self._runner.start(sink)
        except BaseException:
            self._stop_event.set()
            self._runner.stop()
            raise

    def snapshot_maps(self, limit: int = SNAPSHOT_LIMIT) -> dict[str, list[tuple[Any, Any]]]:
        """bpftrace prints its maps when it stops (kind "map" events); nothing to read live."""
        return {}

    def stop(self) -> None:
        self._stop_event.set()
        r = self._runner
        if r is not None:
            r.stop()
