"""The precheck: the program is first compiled and loaded, without attaching, in a child Python
process whose stderr we capture (`python -m beefine_tui.probes.user_program --precheck`, __main__.py):
BCC and clang print diagnostics straight to fd 2, which is the terminal Textual draws on."""

from __future__ import annotations

import contextlib
import ctypes as ct
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beefine_tui.errors import ProbeLoadError
from beefine_tui.probes.base import import_bcc

PRECHECK_TIMEOUT_S = 120.0


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


def bcc_prog_type(kind: str) -> int:
    from bcc import BPF

    return int({"tracepoint": BPF.TRACEPOINT, "raw_tracepoint": BPF.RAW_TRACEPOINT}.get(kind, BPF.KPROBE))


def quiet_bpf_class() -> Any:
    BPF: Any = import_bcc().BPF

    class QuietBPF(BPF):
        """BPF without auto-attach in the constructor: we load and attach ourselves, one by one."""

        def _trace_autoload(self) -> None:
            return None

    return QuietBPF


def _function_names(module: Any) -> list[str]:
    from bcc import lib

    return [lib.bpf_function_name(module, i).decode() for i in range(int(lib.bpf_num_functions(module)))]


def precheck_child() -> int:
    """In the child: compile, load each auto-attach function (no attach), describe tables; print a
    JSON PrecheckResult on the original stdout. Everything BCC prints goes to stderr (captured)."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    text = sys.stdin.read()
    res = PrecheckResult(ok=False)
    try:
        QuietBPF = quiet_bpf_class()
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
                    b.load_func(fn.encode(), bcc_prog_type(kind))
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
    """Run `precheck_child` in a fresh interpreter; its stderr (clang, verifier) becomes `log`."""
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
    return str(Path(__file__).resolve().parents[3])  # src/
