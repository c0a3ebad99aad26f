"""A user's BCC C program, loaded, attached and streamed (see the package docstring)."""

from __future__ import annotations

import atexit
import contextlib
import ctypes as ct
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beefine_tui import privileges
from beefine_tui.errors import ProbeLoadError, UsageError
from beefine_tui.events.model import Event, lost_event, status_event
from beefine_tui.privileges import TRACEFS_EVENT_DIRS, TRACEFS_ROOTS
from beefine_tui.probes.attribution import Attributor
from beefine_tui.probes.base import Runner, Sink
from beefine_tui.probes.bcc_compile import COMPILE_LOCK
from beefine_tui.probes.decode_context import DecodeContext, Decoder
from beefine_tui.probes.fdinfo import prog_id_of_fd
from beefine_tui.probes.output_poll import OutputBuffers, run_poll_loop
from beefine_tui.probes.user_program.diagnostics import (
    VERIFIER_TAIL_LINES,
    add_line_directives,
    annotate_verifier_log,
    compile_warnings,
    fix_entry_line,
    parse_clang_errors,
    tail_lines,
    verifier_hint,
    verifier_reason,
)
from beefine_tui.probes.user_program.layout import event_from_fields, make_decoder, make_struct, plain
from beefine_tui.probes.user_program.metadata import parse_metadata, sanitize_name
from beefine_tui.probes.user_program.precheck import (
    PrecheckResult,
    bcc_prog_type,
    precheck,
    prog_type_for,
    quiet_bpf_class,
)

SNAPSHOT_LIMIT = 256  # entries per map in snapshot_maps()
PERF_PAGES = 64  # per CPU, for a user's BPF_PERF_OUTPUT
LOST_TABLE = "lost"
KPROBE_MESSAGE = (
    "kprobes are not available on this kernel (CONFIG_KPROBES off); "
    "use a tracepoint: TRACEPOINT_PROBE(syscalls, sys_enter_openat)"
)
KFUNC_MESSAGE = (
    "fentry/fexit (KFUNC_PROBE) and LSM programs are refused on this kernel; "
    "use a tracepoint: TRACEPOINT_PROBE(syscalls, sys_enter_openat)"
)

# map types (include/uapi/linux/bpf.h)
MAP_PERF_EVENT_ARRAY = 4
MAP_RINGBUF = 27
MAP_ARRAY = 2
MAP_PERCPU_ARRAY = 6


def kprobes_available() -> bool:
    return any(os.path.exists(os.path.join(root, "kprobe_events")) for root in TRACEFS_ROOTS)


@dataclass
class OutputTable:
    name: str
    map_type: int
    columns: tuple[str, ...]
    decode: Callable[[int, int], dict[str, Any]] | None  # None: layout unknown, raw bytes as hex


class UserBccProgram(Runner):
    """A user's BCC C program. See the module docstring."""

    engine = "bcc"

    def __init__(self, source: str, origin: str = "pasted", *, name: str | None = None) -> None:
        super().__init__()
        self._stop_event.set()  # not running until start()
        if not source.strip():
            raise UsageError("the program is empty", "start from a template: beefine-tui new-probe NAME")
        if "\x00" in source:
            raise UsageError(f"{origin} contains NUL bytes: is it a binary file?")
        self.source = source
        self.origin = origin
        default = Path(origin).stem if origin not in ("", "pasted") else "pasted"
        meta = parse_metadata(source, default)
        self.name = sanitize_name(name) if name else meta.name
        self.description = meta.description
        self.probe = f"user:{self.name}"
        self.warnings: list[str] = []
        self.outputs: dict[str, OutputTable] = {}
        self.map_names: tuple[str, ...] = ()
        self.functions: dict[str, str] = {}  # attached function -> attach point
        self.prog_ids: tuple[int, ...] = ()
        self.events_out = 0
        self.lost_perf = 0
        self.lost_kernel = 0
        self.error: str | None = None
        self._bpf: Any = None
        self._tables: dict[str, Any] = {}
        self._buffers: OutputBuffers | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._sink: Sink | None = None
        self._batch: list[Event] = []
        self._attributor = Attributor()  # the same parent/container rule as the built-in probes
        self._started = False
        self._lost_seen = 0
        self._poll_done = False
        self._defer_teardown = False

    # what the UI reads
    @property
    def probes(self) -> tuple[str, ...]:
        return (self.probe,)

    @property
    def columns(self) -> tuple[str, ...]:
        """Field names of the first output table (the usual single `events` table)."""
        for t in self.outputs.values():
            return t.columns
        return ()

    @property
    def output_columns(self) -> dict[str, tuple[str, ...]]:
        return {n: t.columns for n, t in self.outputs.items()}

    @property
    def label(self) -> str:
        """How messages name the program: its file, or "your program" when pasted."""
        return "your program" if self.origin in ("", "pasted") else self.origin

    def render(self) -> str:
        """The exact text handed to BCC (the user's source with #line directives)."""
        return add_line_directives(self.source)

    # loading
    def start(self, sink: Sink) -> None:
        privileges.require_bpf("load your BPF program")
        with self._lock:
            if self._started:
                raise RuntimeError("UserBccProgram.start() called twice")
            self._started = True
            self._sink = sink
        text = self.render()
        check = precheck(text)
        self._raise_for_precheck(check)
        self.warnings.extend(compile_warnings(check.log, self.source))
        if "bpf_trace_printk" in self.source:
            self.warnings.append(
                "bpf_trace_printk output goes to /sys/kernel/tracing/trace_pipe, not here: "
                "submit a struct to a BPF_RINGBUF_OUTPUT table to see it as columns"
            )
        kinds = {fn: prog_type_for(fn) for fn in check.functions}
        for fn, kind in kinds.items():
            if kind in ("kprobe", "kretprobe") and not kprobes_available():
                raise ProbeLoadError(f"cannot attach {fn}: {KPROBE_MESSAGE}", line=_line_of(self.source, fn))
            if kind in ("kfunc", "lsm"):
                raise ProbeLoadError(f"cannot attach {fn}: {KFUNC_MESSAGE}", line=_line_of(self.source, fn))
        attachable = [fn for fn, kind in kinds.items() if kind is not None]
        for fn, kind in kinds.items():
            if kind is None:
                self.warnings.append(
                    f"function {fn} is not attached to anything: use TRACEPOINT_PROBE(category, event) "
                    "for an entry point, and `static inline` for helpers"
                )
        if not attachable:
            raise ProbeLoadError(
                f"{self.label} has no function to attach",
                "write one with TRACEPOINT_PROBE(syscalls, sys_enter_execve) { ... }",
            )
        try:
            self._load(text, check, kinds)
        except BaseException:
            self._teardown()
            self._stop_event.set()
            raise

    def _raise_for_precheck(self, check: PrecheckResult) -> None:
        if check.ok:
            return
        log = check.log.strip()
        if check.stage == "compile":
            errors = parse_clang_errors(log, self.source)
            first = next((e for e in errors if e.in_user_file), errors[0] if errors else None)
            if first is None:
                raise ProbeLoadError(
                    f"BCC could not compile {self.label}: {tail_lines(log, 1) or check.error}", log=log
                )
            where = f"line {first.line}: " if first.line is not None else ""
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ProbeLoadError(
                f"compile error in {self.label}, {where}{first.message}{more}",
                "the full compiler output is in the log",
                log=log,
                line=first.line,
            )
        if check.stage == "load":
            log = fix_entry_line(log, _line_of(self.source, check.function))
            reason, src_line = verifier_reason(log)
            hints = [ln.strip() for ln in log.splitlines() if ln.strip().startswith("HINT:")]
            tail = tail_lines(annotate_verifier_log(log, self.source), VERIFIER_TAIL_LINES)
            body = "\n".join(
                [reason, *hints, "", f"last {VERIFIER_TAIL_LINES} lines of the verifier log:", tail]
            )
            where = f" (line {src_line})" if src_line else ""
            if not reason.strip() or reason.startswith("rejected (no reason"):
                reason = check.error or reason
            raise ProbeLoadError(
                f"the verifier rejected {check.function}{where}: {reason}",
                hints[0].removeprefix("HINT:").strip() if hints else verifier_hint(reason),
                log=body,
                line=src_line,
            )
        raise ProbeLoadError(f"could not check {self.label}: {check.error or 'unknown failure'}", log=log)

    def _load(self, text: str, check: PrecheckResult, kinds: dict[str, str | None]) -> None:
        QuietBPF = quiet_bpf_class()
        try:
            # the precheck already reported warnings; -w keeps clang from printing them over the TUI.
            # One BCC compile per process at a time: concurrent compiles abort the process (bcc_runner).
            with COMPILE_LOCK:
                self._bpf = b = QuietBPF(text=text.encode(), cflags=["-w"])
        except Exception as e:
            raise ProbeLoadError(f"BCC could not compile {self.label}: {e}") from e
        fds: list[int] = []
        for fn, kind in kinds.items():
            if kind is None:
                continue
            try:
                f = b.load_func(fn.encode(), bcc_prog_type(kind))
            except Exception as e:
                raise ProbeLoadError(f"could not load {fn}: {e}") from e
            fds.append(f.fd)
            point = self._attach(b, fn, kind)
            self.functions[fn] = point
        self.prog_ids = tuple(i for i in (prog_id_of_fd(fd) for fd in fds) if i is not None)
        self._open_tables(b, check)
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._poll_loop, name=f"bcc-{self.probe}", daemon=True)
        self._thread.start()

    def _attach(self, b: Any, fn: str, kind: str) -> str:
        if kind == "tracepoint":
            tp = fn[len("tracepoint__") :].replace("__", ":", 1)
            if not tracepoint_exists(tp):
                # checked first: BCC would print its own complaint to fd 2, over the TUI
                raise ProbeLoadError(
                    f"cannot attach {fn}: there is no tracepoint {tp} on this kernel",
                    "the tracepoints are listed in /sys/kernel/tracing/available_events "
                    "(or: bpftrace -l 'tracepoint:syscalls:*')",
                    line=_line_of(self.source, fn),
                )
        try:
            if kind == "tracepoint":
                b.attach_tracepoint(tp=tp.encode(), fn_name=fn.encode())
                return f"tracepoint:{tp}"
            if kind == "raw_tracepoint":
                tp = fn[len("raw_tracepoint__") :]
                b.attach_raw_tracepoint(tp=tp.encode(), fn_name=fn.encode())
                return f"raw_tracepoint:{tp}"
            if kind == "kprobe":
                ev = b.fix_syscall_fnname(fn[len("kprobe__") :].encode())
                b.attach_kprobe(event=ev, fn_name=fn.encode())
                return f"kprobe:{ev.decode()}"
            ev = b.fix_syscall_fnname(fn[len("kretprobe__") :].encode())
            b.attach_kretprobe(event=ev, fn_name=fn.encode())
            return f"kretprobe:{ev.decode()}"
        except Exception as e:
            msg = KPROBE_MESSAGE if kind in ("kprobe", "kretprobe") and not kprobes_available() else str(e)
            raise ProbeLoadError(
                f"could not attach {fn}: {msg}",
                "check the tracepoint exists: ls /sys/kernel/tracing/events/<category>/",
                line=_line_of(self.source, fn),
            ) from e

    def _open_tables(self, b: Any, check: PrecheckResult) -> None:
        # read like the built-in probes' buffers (output_poll); the decode context goes unused
        self._buffers = buffers = OutputBuffers(b, DecodeContext())
        maps: list[str] = []
        for name, info in check.tables.items():
            mtype = int(info.get("type", 0))
            fields = [(str(f[0]), str(f[1])) for f in info.get("fields", [])]
            if mtype not in (MAP_PERF_EVENT_ARRAY, MAP_RINGBUF):
                maps.append(name)
                with contextlib.suppress(Exception):
                    self._tables[name] = b.get_table(name.encode())
                continue
            decode: Callable[[int, int], dict[str, Any]] | None = None
            columns: tuple[str, ...] = ()
            if not fields:
                self.warnings.append(
                    f"{name}: BCC saw no struct submitted to it; its records are shown as raw bytes"
                )
            else:
                try:
                    decode = make_decoder(make_struct(fields))
                    columns = tuple(f[0] for f in fields)
                except ValueError as e:
                    self.warnings.append(f"{name}: {e}; its records are shown as raw bytes")
            self.outputs[name] = OutputTable(name, mtype, columns or ("raw",), decode)
            if mtype == MAP_RINGBUF:
                buffers.open_ring(name, self._ring_decoder(name), self._ring_cb(name))
            else:
                buffers.open_perf(name, self._perf_cb(name), PERF_PAGES, self._lost_cb)
            self._tables[name] = b[name.encode()]
        self.map_names = tuple(maps)
        if not self.outputs:
            self.warnings.append(
                "no BPF_PERF_OUTPUT or BPF_RINGBUF_OUTPUT table: no events will stream; "
                "its maps can be read with snapshot_maps()"
            )

    # decoders and callbacks run in the poll thread
    def _event(self, name: str, data: int, size: int) -> Event:
        """One record as an Event; a record that cannot be decoded is counted, never stops the stream."""
        out = self.outputs[name]
        try:
            if out.decode is not None:
                values = out.decode(data, size)
            else:
                values = {"raw": ct.string_at(data, max(int(size), 0)).hex()}
            return self._attributor.attribute(event_from_fields(self.probe, name, values))
        except Exception as e:
            self.error = f"decode {name}: {type(e).__name__}: {e}"
            return lost_event(self.probe, 1, "parse")

    def _ring_decoder(self, name: str) -> Decoder:
        """For a ring read through mmap: the record's bytes, decoded as the callbacks' pointers are."""

        def decode(raw: bytes, _ctx: DecodeContext) -> Event:
            buf = ct.create_string_buffer(raw, max(len(raw), 1))
            return self._event(name, ct.addressof(buf), len(raw))

        return decode

    def _ring_cb(self, name: str) -> Callable[[Any, int, int], int]:
        def cb(_ctx: Any, data: int, size: int) -> int:
            self._batch.append(self._event(name, data, size))
            return 0

        return cb

    def _perf_cb(self, name: str) -> Callable[[int, int, int], None]:
        def cb(_cpu: int, data: int, size: int) -> None:
            self._batch.append(self._event(name, data, size))

        return cb

    def _lost_cb(self, count: int) -> None:
        self.lost_perf += int(count)
        self._batch.append(lost_event(self.probe, int(count), "perf"))

    def _poll_loop(self) -> None:
        try:
            buffers = self._buffers
            if buffers is None:
                raise RuntimeError("output buffers not opened")
            run_poll_loop(
                self._stop_event,
                buffers.fds(),
                self._batch,
                drain=lambda: self._drain(buffers),
                flush=self._flush,
                housekeeping=self._check_lost_table,
            )
        except Exception as e:  # never die silently
            self.error = f"{type(e).__name__}: {e}"
            self._batch.append(status_event(self.probe, "failed", self.error))
        finally:
            self._flush()
            with self._lock:
                self._poll_done = True
                deferred = self._defer_teardown
            if deferred:
                self._teardown()

    def _drain(self, buffers: OutputBuffers) -> None:
        buffers.drain(self._batch)  # our decoders never raise: a bad record is a `lost` event already

    def _check_lost_table(self) -> None:
        t = self._tables.get(LOST_TABLE)
        if t is None:
            return
        try:
            total = 0
            for _k, v in t.items():
                p = plain(v)
                total += sum(x for x in p if isinstance(x, int)) if isinstance(p, list) else int(p or 0)
        except Exception:
            return
        if total > self._lost_seen:
            delta, self._lost_seen = total - self._lost_seen, total
            self.lost_kernel += delta
            self._batch.append(lost_event(self.probe, delta, "kernel"))

    def _flush(self) -> None:
        # emptied in place: the poll loop holds this list
        batch = self._batch[:]
        self._batch.clear()
        if not batch or self._sink is None:
            return
        self.events_out += len(batch)
        try:
            self._sink(batch)
        except Exception as e:
            self.error = f"sink failed: {type(e).__name__}: {e}"

    # maps
    def snapshot_maps(self, limit: int = SNAPSHOT_LIMIT) -> dict[str, list[tuple[Any, Any]]]:
        """Every non-output map's entries (at most `limit` per map) as plain values. {} once stopped."""
        out: dict[str, list[tuple[Any, Any]]] = {}
        with self._lock:
            if self._bpf is None:
                return out
            for name in self.map_names:
                t = self._tables.get(name)
                if t is None:
                    continue
                rows: list[tuple[Any, Any]] = []
                try:
                    for k, v in t.items():
                        if len(rows) >= limit:
                            break
                        rows.append((plain(k), plain(v)))
                except Exception as e:
                    rows.append(("error", f"{type(e).__name__}: {e}"))
                out[name] = rows
        return out

    # stopping
    def stop(self) -> None:
        """Idempotent, from any thread. BCC's buffers are freed only once the poll thread is out of
        BCC: if it is not (stop called from inside the sink, or a sink that hangs), it frees them
        itself on its way out."""
        self._stop_event.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5.0)
        with self._lock:
            if t is not None and not self._poll_done:
                self._defer_teardown = True
                return
        self._teardown()

    def _teardown(self) -> None:
        with self._lock:
            b, self._bpf = self._bpf, None
            buffers, self._buffers = self._buffers, None
            self._tables = {}
        if buffers is not None:
            buffers.close()  # unmapped before the object frees the maps
        if b is None:
            return
        with contextlib.suppress(Exception):
            b.cleanup()
        with contextlib.suppress(Exception):
            atexit.unregister(b.cleanup)


def tracepoint_exists(tp: str) -> bool:
    """ "category:event" has a directory in tracefs (either mount point). True when tracefs is not
    mounted at all: then BCC's own error is the best we have."""
    cat, _, event = tp.partition(":")
    bases = [b for b in TRACEFS_EVENT_DIRS if os.path.isdir(b)]
    if not bases:
        return True
    return any(os.path.isdir(os.path.join(b, cat, event)) for b in bases)


def _line_of(source: str, needle: str) -> int | None:
    """The line of `needle`, or of the TRACEPOINT_PROBE/KPROBE macro that generates it."""
    patterns = [re.compile(rf"\b{re.escape(needle)}\b")]
    m = re.match(r"(kprobe|kretprobe|kfunc|kretfunc|lsm)__(\w+)", needle)
    if m:
        patterns.append(re.compile(rf"\b{re.escape(m.group(2))}\b"))
    m = re.match(r"(raw_)?tracepoint__(\w+?)__(\w+)$", needle)
    if m and not m.group(1):
        patterns.append(re.compile(rf"TRACEPOINT_PROBE\s*\(\s*{m.group(2)}\s*,\s*{m.group(3)}\s*\)"))
    if m and m.group(1):
        patterns.append(re.compile(rf"RAW_TRACEPOINT_PROBE\s*\(\s*{m.group(2)}__{m.group(3)}\s*\)"))
    for i, line in enumerate(source.split("\n"), start=1):
        if any(p.search(line) for p in patterns):
            return i
    return None
