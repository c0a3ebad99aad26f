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
child Python process whose stderr we capture (`python -m beefine_tui.probes.user_program`). Only when
that succeeds is it compiled again here, with warnings off, so nothing is printed over the TUI.

Ring-buffer loss is invisible to user space; a program that wants it counted declares
`BPF_ARRAY(lost, u64, 1)` (or a PERCPU_ARRAY) and increments it when a reserve/output fails: the
runner turns its growth into `lost` events (source "kernel"). Perf-buffer loss arrives via lost_cb.

bpftrace scripts
----------------
`UserBpftraceProgram(text, origin)` runs through probes/bpftrace_runner, like the built-in bt-* probes.
Its printf lines arrive as kind "printf" {line}; when the script declares `// columns: a, b, c` and
prints tab-separated values, each line's values are also in args under those names.

Metadata comments read from the first lines of either kind of program:
    // name: execsnoop-lite
    // description: every execve on the host: pid, comm and filename
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes as ct
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beefine_tui import privileges
from beefine_tui.errors import ProbeLoadError, UsageError
from beefine_tui.events.model import Event, FreeArgs, lost_event, now_ns, status_event
from beefine_tui.probes.attribution import Attributor
from beefine_tui.probes.base import Runner, Sink, import_bcc
from beefine_tui.probes.bcc_runner import COMPILE_LOCK, prog_id_of_fd
from beefine_tui.probes.bpftrace_runner import BpftraceRunner, check_user_script
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.userfiles import MAX_SOURCE_BYTES, read_text_bounded

USER_FILE = "user.c"  # the file name clang and the verifier report for the user's own lines
BATCH_MAX = 512
BATCH_INTERVAL_S = 0.05
POLL_TIMEOUT_MS = 100
LOST_CHECK_S = 1.0
PRECHECK_TIMEOUT_S = 120.0
VERIFIER_TAIL_LINES = 30
SNAPSHOT_LIMIT = 256  # entries per map in snapshot_maps()
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

_META = re.compile(r"^\s*//\s*(name|description|columns)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_CLANG_ERROR = re.compile(
    r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|fatal error): (?P<msg>.*)$"
)
_CLANG_WARNING = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): warning: (?P<msg>.*)$")
_VERIFIER_AT = re.compile(r"@ (?P<file>[^\s:]+):(?P<line>\d+)\s*$")
_BCC_HINT = re.compile(r"\b(TRACEPOINT_PROBE|RAW_TRACEPOINT_PROBE|KFUNC_PROBE|BPF_[A-Z_]+\s*\(|bpf_\w+\s*\()")
_BPFTRACE_HINT = re.compile(
    r"^\s*(BEGIN|END|(tracepoint|t|kprobe|k|kretprobe|kr|uprobe|u|uretprobe|ur|usdt|U|profile|p|interval|i|"
    r"software|s|hardware|h|kfunc|f|kretfunc|fr|rawtracepoint|rt|watchpoint|w|iter|it)\s*:)",
    re.MULTILINE,
)


# --- metadata -----------------------------------------------------------------------------------
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


# --- source lines and clang output --------------------------------------------------------------
def add_line_directives(source: str) -> str:
    """Put `#line N "user.c"` before each line so clang and BTF line info use the user's numbers.

    Not after a line ending in a backslash (inside a multi-line macro a directive would break it).
    Inside block comments the directive is just comment text, harmless.
    """
    out: list[str] = []
    prev_continues = False
    for i, line in enumerate(source.split("\n"), start=1):
        if not prev_continues:
            out.append(f'#line {i} "{USER_FILE}"')
        out.append(line)
        prev_continues = line.rstrip().endswith("\\")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class CompileError:
    line: int | None
    column: int | None
    message: str
    in_user_file: bool


def parse_clang_errors(log: str, source: str) -> list[CompileError]:
    """Errors from clang's output; lines in user.c are checked against the source text clang echoes
    (BCC can insert lines before a TRACEPOINT_PROBE, so a reported line is confirmed or corrected by
    finding the echoed text nearby)."""
    lines = log.splitlines()
    src_lines = source.split("\n")
    errors: list[CompileError] = []
    for i, raw in enumerate(lines):
        m = _CLANG_ERROR.match(raw.strip())
        if not m:
            continue
        user = m["file"].endswith(USER_FILE)
        line = int(m["line"])
        if user and i + 1 < len(lines):
            line = _confirm_line(line, lines[i + 1], src_lines)
        errors.append(CompileError(line if user else None, int(m["col"]), m["msg"], user))
    return errors


def _confirm_line(line: int, echoed: str, src_lines: list[str]) -> int:
    want = echoed.strip()
    if not want:
        return line

    def same(n: int) -> bool:
        return 1 <= n <= len(src_lines) and src_lines[n - 1].strip() == want

    if same(line):
        return line
    for d in range(1, 40):
        for n in (line - d, line + d):
            if same(n):
                return n
    return line


def compile_warnings(log: str, source: str, limit: int = 5) -> list[str]:
    """clang's warnings about the user's own lines, as "line N: message" (at most `limit`)."""
    lines = log.splitlines()
    out: list[str] = []
    src_lines = source.split("\n")
    for i, raw in enumerate(lines):
        m = _CLANG_WARNING.match(raw.strip())
        if not m or not m["file"].endswith(USER_FILE):
            continue
        echoed = lines[i + 1] if i + 1 < len(lines) else ""
        out.append(f"line {_confirm_line(int(m['line']), echoed, src_lines)}: {m['msg']}")
        if len(out) >= limit:
            break
    return out


# What usually fixes each kind of rejection, matched on the verifier's own words (kernel/bpf/verifier.c).
_VERIFIER_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("or_null", "invalid mem access 'scalar'", "invalid mem access 'inv'"),
        "check the pointer before reading it (a map lookup's result against NULL), "
        "or read kernel/user memory with bpf_probe_read_*",
    ),
    (
        ("unknown func", "invalid func", "program of this type cannot use helper"),
        "that helper is not offered to this program type on this kernel: see Helper functions "
        "(`beefine-tui helpers --type TYPE`)",
    ),
    (
        ("back-edge", "infinite loop", "too large", "too many instructions", "complexity limit"),
        "bound every loop with a constant the verifier can see, or split the work",
    ),
    (
        ("invalid indirect read from stack", "invalid read from stack", "uninitialized"),
        "initialise the struct before sending it (= {} or __builtin_memset)",
    ),
    (
        ("expected=", "type=", "arg#"),
        "a helper got an argument of the wrong kind: check its signature in Helper functions",
    ),
    (
        ("outside of the allowed memory range", "out of bounds", "min value is negative"),
        "bound the offset or size with a check the verifier can follow (e.g. `if (n > MAX) n = MAX;`)",
    ),
)


def verifier_hint(reason: str) -> str:
    """A short, likely fix for a verifier rejection, from its reason line."""
    low = reason.lower()
    for needles, hint in _VERIFIER_HINTS:
        if any(n.lower() in low for n in needles):
            return hint
    return "the verifier's reason and the instruction it stopped at are in the log below"


def verifier_reason(log: str) -> tuple[str, int | None]:
    """The verifier's reason (the last meaningful line before its "processed N insns" summary) and
    the user's source line it was checking (from the `; ... @ user.c:N` line-info comments)."""
    lines = [ln.rstrip() for ln in log.splitlines()]
    end = len(lines)
    for i, ln in enumerate(lines):
        if ln.startswith("processed ") and "insns" in ln:
            end = i
            break
    reason = ""
    for ln in reversed(lines[:end]):
        s = ln.strip()
        if not s or s.startswith(("HINT:", "bpf: Failed")) or re.match(r"^\d+: \(", s):
            continue
        if s.startswith(";"):
            continue
        reason = s
        break
    src_line: int | None = None
    for ln in lines[:end]:
        m = _VERIFIER_AT.search(ln)
        if m and m["file"].endswith(USER_FILE) and int(m["line"]) > 0:  # 0: compiler-made code
            src_line = int(m["line"])
    return reason or "rejected (no reason in the log)", src_line


def fix_entry_line(log: str, decl_line: int | None) -> str:
    """BCC inserts the tracepoint's argument struct just before a TRACEPOINT_PROBE function, after
    our `#line` directive, so the function's own first line is numbered too high. The verifier log's
    first line-info comment is that entry line: renumber it (every occurrence) to `decl_line`."""
    if not decl_line:
        return log
    at = re.compile(r"@ " + re.escape(USER_FILE) + r":(?P<line>\d+)\s*$", re.MULTILINE)
    first = next((m for m in at.finditer(log) if int(m["line"]) > 0), None)
    if first is None or int(first["line"]) <= decl_line:
        return log
    wrong = first["line"]
    return re.sub(
        r"@ " + re.escape(USER_FILE) + ":" + wrong + r"(?=\s*$)",
        f"@ {USER_FILE}:{decl_line}",
        log,
        flags=re.MULTILINE,
    )


def annotate_verifier_log(log: str, source: str) -> str:
    """Fill the verifier's `; ... @ user.c:N` line-info comments with the user's line N (the text
    recorded in BTF is lost to our #line directives)."""
    src = source.split("\n")

    def fill(m: re.Match[str]) -> str:
        n = int(m["line"])
        text = src[n - 1].strip() if 1 <= n <= len(src) else ""
        return f"; {text} @ {USER_FILE}:{n}"

    return re.sub(r"^;\s*@ " + re.escape(USER_FILE) + r":(?P<line>\d+)\s*$", fill, log, flags=re.MULTILINE)


def _tail(log: str, n: int) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


# --- output struct layout -----------------------------------------------------------------------
_SCALARS: dict[str, Any] = {
    "char": ct.c_char,
    "signed char": ct.c_byte,
    "s8": ct.c_byte,
    "__s8": ct.c_byte,
    "int8_t": ct.c_byte,
    "unsigned char": ct.c_ubyte,
    "u8": ct.c_ubyte,
    "__u8": ct.c_ubyte,
    "uint8_t": ct.c_ubyte,
    "short": ct.c_short,
    "s16": ct.c_short,
    "__s16": ct.c_short,
    "int16_t": ct.c_short,
    "unsigned short": ct.c_ushort,
    "u16": ct.c_ushort,
    "__u16": ct.c_ushort,
    "uint16_t": ct.c_ushort,
    "__be16": ct.c_ushort,
    "__le16": ct.c_ushort,
    "int": ct.c_int,
    "s32": ct.c_int,
    "__s32": ct.c_int,
    "int32_t": ct.c_int,
    "pid_t": ct.c_int,
    "enum": ct.c_int,
    "unsigned int": ct.c_uint,
    "unsigned": ct.c_uint,
    "u32": ct.c_uint,
    "__u32": ct.c_uint,
    "uint32_t": ct.c_uint,
    "uid_t": ct.c_uint,
    "gid_t": ct.c_uint,
    "__be32": ct.c_uint,
    "__le32": ct.c_uint,
    "long": ct.c_long,
    "long int": ct.c_long,
    "unsigned long": ct.c_ulong,
    "unsigned long int": ct.c_ulong,
    "size_t": ct.c_ulong,
    "ssize_t": ct.c_long,
    "long long": ct.c_longlong,
    "long long int": ct.c_longlong,
    "s64": ct.c_longlong,
    "__s64": ct.c_longlong,
    "int64_t": ct.c_longlong,
    "unsigned long long": ct.c_ulonglong,
    "unsigned long long int": ct.c_ulonglong,
    "u64": ct.c_ulonglong,
    "__u64": ct.c_ulonglong,
    "uint64_t": ct.c_ulonglong,
    "__be64": ct.c_ulonglong,
    "__le64": ct.c_ulonglong,
    "bool": ct.c_bool,
    "_Bool": ct.c_bool,
    "__int128": ct.c_ulonglong * 2,
    "unsigned __int128": ct.c_ulonglong * 2,
}
_ARRAY = re.compile(r"^(?P<base>.+?)\s*\[(?P<n>\d+)\]$")
_QUALIFIERS = re.compile(r"\b(const|volatile|restrict|__restrict)\b")


def ctype_for(type_desc: str) -> Any:
    """The ctypes type for one field type as BCC describes it ("u64", "char[16]", "const char *").

    Pointers become an unsigned 64-bit integer: they point into another address space, never follow.
    Raises ValueError for types whose layout is not known here (nested structs, unions...).
    """
    t = _QUALIFIERS.sub("", type_desc).strip()
    t = re.sub(r"\s+", " ", t)
    m = _ARRAY.match(t)
    if m:
        return ctype_for(m["base"]) * int(m["n"])
    if t.endswith("*"):
        return ct.c_uint64
    if t.startswith("enum "):
        return ct.c_int
    if t in _SCALARS:
        return _SCALARS[t]
    raise ValueError(f"field type {type_desc!r} is not supported in output structs")


def make_struct(fields: list[tuple[str, str]]) -> type[ct.Structure]:
    """A ctypes Structure laid out as the C struct (natural alignment, as clang for BPF does)."""
    cfields = [(name, ctype_for(typ)) for name, typ in fields]
    return type("UserEvent", (ct.Structure,), {"_fields_": cfields})


def plain(value: Any) -> Any:
    """A ctypes value (or BCC table key/leaf) as a JSON-compatible Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, ct.Array):
        if value._type_ is ct.c_char:
            return bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
        return [plain(v) for v in value]
    if isinstance(value, ct.Structure | ct.Union):
        return {f[0]: plain(getattr(value, f[0])) for f in value._fields_}
    if hasattr(value, "value"):
        return plain(value.value)
    return str(value)


def _converter(ctype: Any) -> Callable[[Any], Any] | None:
    """How to turn one field's ctypes value into a plain value; None: it already is one (ints)."""
    if ctype is ct.c_ulonglong * 2:  # __int128
        return lambda v: v[0] | (v[1] << 64)
    if isinstance(ctype, type) and issubclass(ctype, ct.Array):
        element: Any = ctype._type_
        if element is ct.c_char:  # char[N]: ctypes gives bytes up to the first NUL
            return lambda v: v.decode("utf-8", errors="replace")
        inner = _converter(ctype._type_)
        if inner is None:
            return list
        return lambda v: [inner(x) for x in v]
    if ctype is ct.c_char:
        return lambda v: v.decode("utf-8", errors="replace")
    return None  # ints, bools and floats come out of ctypes as Python values


def make_decoder(cls: type[ct.Structure]) -> Callable[[int, int], dict[str, Any]]:
    """decode(data_ptr, size) -> {field: value}. Values are copied out while BCC's buffer is valid
    (the view dies with the callback); a record shorter than the struct is zero-padded first."""
    size = ct.sizeof(cls)
    fields = [(f[0], _converter(f[1])) for f in cls._fields_]
    from_address = cls.from_address

    def decode(data: int, data_size: int) -> dict[str, Any]:
        if data_size >= size:
            obj = from_address(data)  # read in place: every value below is a copy
        else:
            n = max(int(data_size), 0)
            obj = cls.from_buffer_copy(ct.string_at(data, n) + b"\0" * (size - n))
        out: dict[str, Any] = {}
        for name, conv in fields:
            v = getattr(obj, name)
            out[name] = v if conv is None else conv(v)
        return out

    return decode


def event_from_fields(probe: str, kind: str, values: dict[str, Any], line: str = "") -> Event:
    """Common fields (pid, tid, ppid, comm, ts from bpf_ktime_get_ns) lifted from the record."""

    def as_int(name: str) -> int:
        v = values.get(name)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    ts = now_ns()
    raw_ts = as_int("ts") or as_int("ts_ns")
    if 0 < raw_ts <= ts + 1_000_000_000:
        ts = raw_ts
    comm = values.get("comm")
    text = line or " ".join(f"{k}={v}" for k, v in values.items())
    return Event(
        ts=ts,
        probe=probe,
        kind=kind,
        pid=as_int("pid"),
        tid=as_int("tid"),
        ppid=as_int("ppid"),
        comm=comm if isinstance(comm, str) else "",
        args=FreeArgs(fields=values, line=text[:500]),
    )


# --- the precheck child ---------------------------------------------------------------------------
@dataclass
class PrecheckResult:
    ok: bool
    stage: str = ""  # "compile", "load", "internal"
    log: str = ""  # everything clang / BCC / the verifier printed
    function: str = ""  # the function the verifier rejected
    functions: list[str] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {type, fields}
    error: str = ""


def _lib_tables() -> Any:
    from bcc import lib

    lib.bpf_num_tables.restype = ct.c_ulonglong
    lib.bpf_num_tables.argtypes = [ct.c_void_p]
    lib.bpf_table_name.restype = ct.c_char_p
    lib.bpf_table_name.argtypes = [ct.c_void_p, ct.c_ulonglong]
    return lib


def describe_tables(module: Any) -> dict[str, dict[str, Any]]:
    """{name: {"type": map type id, "fields": [(name, type)]}} for every table in a BCC module."""
    lib = _lib_tables()
    out: dict[str, dict[str, Any]] = {}
    for i in range(int(lib.bpf_num_tables(module))):
        raw = lib.bpf_table_name(module, i)
        if not raw:
            continue
        name = raw.decode()
        fields: list[tuple[str, str]] = []
        for j in range(int(lib.bpf_perf_event_fields(module, raw))):
            desc = (lib.bpf_perf_event_field(module, raw, j) or b"").decode()
            fname, _, ftype = desc.partition("#")
            fields.append((fname, ftype))
        out[name] = {"type": int(lib.bpf_table_type_id(module, i)), "fields": fields}
    return out


def prog_type_for(func: str) -> str | None:
    """BCC's auto-attach naming: which kind of program a function is, None if not auto-attached."""
    for prefix, kind in (
        ("tracepoint__", "tracepoint"),
        ("raw_tracepoint__", "raw_tracepoint"),
        ("kprobe__", "kprobe"),
        ("kretprobe__", "kretprobe"),
        ("kfunc__", "kfunc"),
        ("kretfunc__", "kfunc"),
        ("lsm__", "lsm"),
    ):
        if func.startswith(prefix):
            return kind
    return None


def _bcc_prog_type(kind: str) -> int:
    from bcc import BPF

    return int({"tracepoint": BPF.TRACEPOINT, "raw_tracepoint": BPF.RAW_TRACEPOINT}.get(kind, BPF.KPROBE))


def _quiet_bpf_class() -> Any:
    BPF: Any = import_bcc().BPF

    class QuietBPF(BPF):
        """BPF without auto-attach in the constructor: we load and attach ourselves, one by one."""

        def _trace_autoload(self) -> None:
            return None

    return QuietBPF


def _function_names(module: Any) -> list[str]:
    from bcc import lib

    return [lib.bpf_function_name(module, i).decode() for i in range(int(lib.bpf_num_functions(module)))]


def _precheck_child() -> int:
    """In the child: compile, load each auto-attach function (no attach), describe tables; print a
    JSON PrecheckResult on the original stdout. Everything BCC prints goes to stderr (captured)."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    text = sys.stdin.read()
    res = PrecheckResult(ok=False)
    try:
        QuietBPF = _quiet_bpf_class()
        try:
            b = QuietBPF(text=text.encode())
        except Exception as e:
            res.stage, res.error = "compile", str(e)
        else:
            res.functions = _function_names(b.module)
            res.tables = describe_tables(b.module)
            res.ok = True
            for fn in res.functions:
                kind = prog_type_for(fn)
                if kind is None or kind in ("kfunc", "lsm"):
                    continue
                try:
                    b.load_func(fn.encode(), _bcc_prog_type(kind))
                except Exception as e:
                    res.ok, res.stage, res.function, res.error = False, "load", fn, str(e)
                    break
            with contextlib.suppress(Exception):
                b.cleanup()
    except BaseException as e:  # report, never hang the parent
        res.ok, res.stage, res.error = False, "internal", f"{type(e).__name__}: {e}"
    sys.stderr.flush()
    payload = json.dumps(res.__dict__).encode()
    os.write(out_fd, payload)
    os.close(out_fd)
    return 0


def precheck(text: str, timeout: float = PRECHECK_TIMEOUT_S) -> PrecheckResult:
    """Run `_precheck_child` in a fresh interpreter; its stderr (clang, verifier) becomes `log`."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "beefine_tui.probes.user_program", "--precheck"],
            input=text.encode(),
            capture_output=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": _package_root() + os.pathsep + os.environ.get("PYTHONPATH", "")},
        )
    except subprocess.TimeoutExpired as e:
        raise ProbeLoadError(
            f"compiling the program took longer than {timeout:.0f} s",
            "the machine may be very busy; try again",
        ) from e
    except OSError as e:
        raise ProbeLoadError(f"cannot start the compiler check: {e}") from e
    log = proc.stderr.decode("utf-8", errors="replace")
    try:
        data = json.loads(proc.stdout.decode("utf-8", errors="replace"))
        res = PrecheckResult(**data)
    except (ValueError, TypeError) as e:
        raise ProbeLoadError(
            f"the compiler check ended without a result (exit status {proc.returncode})",
            "see the log for what BCC printed",
            log=log,
        ) from e
    res.log = log
    return res


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


# --- runners ------------------------------------------------------------------------------------
def _kprobes_available() -> bool:
    return any(
        os.path.exists(p)
        for p in ("/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events")
    )


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
            if kind in ("kprobe", "kretprobe") and not _kprobes_available():
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
                    f"BCC could not compile {self.label}: {_tail(log, 1) or check.error}", log=log
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
            tail = _tail(annotate_verifier_log(log, self.source), VERIFIER_TAIL_LINES)
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
        QuietBPF = _quiet_bpf_class()
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
                f = b.load_func(fn.encode(), _bcc_prog_type(kind))
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
            msg = KPROBE_MESSAGE if kind in ("kprobe", "kretprobe") and not _kprobes_available() else str(e)
            raise ProbeLoadError(
                f"could not attach {fn}: {msg}",
                "check the tracepoint exists: ls /sys/kernel/tracing/events/<category>/",
                line=_line_of(self.source, fn),
            ) from e

    def _open_tables(self, b: Any, check: PrecheckResult) -> None:
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
            table = b.get_table(name.encode())
            if mtype == MAP_RINGBUF:
                table.open_ring_buffer(self._ring_cb(name))
            else:
                table.open_perf_buffer(self._perf_cb(name), page_cnt=64, lost_cb=self._lost_cb)
            self._tables[name] = table
        self.map_names = tuple(maps)
        if not self.outputs:
            self.warnings.append(
                "no BPF_PERF_OUTPUT or BPF_RINGBUF_OUTPUT table: no events will stream; "
                "its maps can be read with snapshot_maps()"
            )

    # callbacks run in the poll thread
    def _record(self, name: str, data: int, size: int) -> None:
        out = self.outputs[name]
        try:
            if out.decode is not None:
                values = out.decode(data, size)
            else:
                values = {"raw": ct.string_at(data, max(int(size), 0)).hex()}
            self._batch.append(self._attributor.attribute(event_from_fields(self.probe, name, values)))
        except Exception as e:  # a bad record must not stop the stream: count it
            self._batch.append(lost_event(self.probe, 1, "parse"))
            self.error = f"decode {name}: {type(e).__name__}: {e}"

    def _ring_cb(self, name: str) -> Callable[[Any, int, int], int]:
        def cb(_ctx: Any, data: int, size: int) -> int:
            self._record(name, data, size)
            return 0

        return cb

    def _perf_cb(self, name: str) -> Callable[[int, int, int], None]:
        def cb(_cpu: int, data: int, size: int) -> None:
            self._record(name, data, size)

        return cb

    def _lost_cb(self, count: int) -> None:
        self.lost_perf += int(count)
        self._batch.append(lost_event(self.probe, int(count), "perf"))

    def _poll_loop(self) -> None:
        b = self._bpf
        rings = any(t.map_type == MAP_RINGBUF for t in self.outputs.values())
        perfs = any(t.map_type == MAP_PERF_EVENT_ARRAY for t in self.outputs.values())
        timeout = POLL_TIMEOUT_MS // 2 if rings and perfs else POLL_TIMEOUT_MS
        last_flush = last_lost = time.monotonic()
        try:
            while not self._stop_event.is_set():
                if rings:
                    b.ring_buffer_poll(timeout=timeout)
                if perfs:
                    b.perf_buffer_poll(timeout=timeout)
                if not rings and not perfs:
                    self._stop_event.wait(POLL_TIMEOUT_MS / 1000)
                now = time.monotonic()
                if now - last_lost >= LOST_CHECK_S:
                    last_lost = now
                    self._check_lost_table()
                if self._batch and (len(self._batch) >= BATCH_MAX or now - last_flush >= BATCH_INTERVAL_S):
                    self._flush()
                    last_flush = now
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
        batch, self._batch = self._batch, []
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
            self._tables = {}
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
    roots = ("/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events")
    bases = [b for b in roots if os.path.isdir(b)]
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
        if (
            re.search(r"^\s*(kprobe|k|kretprobe|kr)\s*:", self.text, re.MULTILINE)
            and not _kprobes_available()
        ):
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


UserProgram = UserBccProgram | UserBpftraceProgram


def detect_engine(text: str) -> str:
    """ "bpftrace" when the text looks like bpftrace probes (`tracepoint:...`, BEGIN), else "bcc"."""
    # BCC's own macros and helpers decide first; `#include` alone does not (bpftrace has it too)
    if _BCC_HINT.search(text):
        return "bcc"
    return "bpftrace" if _BPFTRACE_HINT.search(text) else "bcc"


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


if __name__ == "__main__" and "--precheck" in sys.argv:
    sys.exit(_precheck_child())
