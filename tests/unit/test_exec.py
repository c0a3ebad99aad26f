"""Decoding of exec-probe records, packed as the BPF program lays them out."""

from __future__ import annotations

import re
import struct

from beefine_tui.probes import exec as ex
from beefine_tui.probes.attribution import Attributor
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.decode_context import DecodeContext, attributed
from beefine_tui.probes.exec import ExecArgs, ExitArgs

CID = "ab" * 32


def ctx() -> DecodeContext:
    return DecodeContext(Target(container_id=CID))


def exec_rec(argv: list[bytes], ret: int = 0, truncated: int = 0, filename: bytes = b"/bin/echo") -> bytes:
    blob = b"".join(a + b"\0" for a in argv)
    head = ex.EXEC_HEAD.pack(
        123, ex.EXEC_KIND, 4242, 4243, 0, b"echo", ret, len(argv), len(blob), truncated, 0, filename
    )
    return head + blob + b"\0" * (ex.MAX_ARGS * 128 - len(blob))


def test_layout_matches_c() -> None:
    # struct beefine_hdr is 40 bytes; exec_rec's args start after ret, 4 u32 and filename[256]
    assert ex.HDR.size == 40
    assert ex.EXEC_HEAD.size == 40 + 8 + 16 + 256
    assert ex.EXIT_REC.size == 40 + 16 + 8


def test_exec_event() -> None:
    # decoded as the runner does it: the decoder, then the attribution rule (a target's container)
    decode = attributed(ex.decode, Attributor(Target(container_id=CID)))
    ev = decode(exec_rec([b"/bin/echo", b"hello", b"w\xc3\xb6rld"]), ctx())
    assert ev is not None
    assert (ev.probe, ev.kind, ev.pid, ev.tid, ev.comm, ev.container) == (
        "exec",
        "exec",
        4242,
        4243,
        "echo",
        CID,
    )
    assert ev.args == ExecArgs(filename="/bin/echo", argv=["/bin/echo", "hello", "wörld"], ret=0)
    assert ev.ts == 123
    assert "hello" in ev.text


def test_failed_exec_has_errno_name() -> None:
    ev = ex.decode(exec_rec([b"/nope"], ret=-2, filename=b"/nope"), ctx())
    assert ev is not None
    assert ev.args["ret"] == -2
    assert ev.args["error"] == "ENOENT"
    assert "ENOENT" in ev.text


def test_truncated_argv_is_marked() -> None:
    long_arg = b"x" * 127  # filled its 128-byte slot
    ev = ex.decode(exec_rec([b"a"] * 19 + [long_arg], truncated=3), ctx())
    assert ev is not None
    assert ev.args["truncated"] is True
    assert ev.args["argv"][-1] == "…"
    assert ev.args["argv"][-2].endswith("…")
    assert len(ev.args["argv"]) == 21


def test_exit_with_code_and_duration() -> None:
    raw = ex.EXIT_REC.pack(2_000_000, ex.EXIT_KIND, 10, 10, 0, b"sh", 3, 0, 1, 0, 1_000_000)
    ev = ex.decode(raw, ctx())
    assert ev is not None
    assert ev.kind == "exit"
    assert ev.args == ExitArgs(code=3, signal=None, duration_ns=1_000_000)
    assert ev.args["status"] == "exited 3"  # derived, for display and filters
    assert ev.text == "exited 3 after 1.0 ms"


def test_exit_by_signal() -> None:
    raw = ex.EXIT_REC.pack(5, ex.EXIT_KIND, 10, 10, 0, b"sleep", 0, 9, 0, 1, 0)
    ev = ex.decode(raw, ctx())
    assert ev is not None
    assert isinstance(ev.args, ExitArgs) and ev.args.code is None
    assert ev.args["signal"] == 9
    assert ev.args["signal_name"] == "SIGKILL"
    assert ev.args["status"] == ev.text == "killed by SIGKILL"
    assert ev.args.duration_ns is None


def test_exit_unknown_status() -> None:
    raw = ex.EXIT_REC.pack(5, ex.EXIT_KIND, 10, 10, 0, b"x", 0, 0, 0, 0, 0)
    ev = ex.decode(raw, ctx())
    assert ev is not None
    assert ev.args == ExitArgs(code=None, signal=None)
    assert ev.args["status"] == "exit status unknown"


def test_unknown_kind_is_ignored() -> None:
    raw = struct.pack("<QI", 1, 99) + b"\0" * 100
    assert ex.decode(raw, ctx()) is None


def test_render_has_filters_and_common_h() -> None:
    text = ex.render(ProbeOptions(target=Target(pids=frozenset({77}))))
    assert "-DFILTER_TRACKED=1" in text
    assert "beefine_should_trace" in text  # common.h pasted in
    assert not re.search(r'^#include "common.h"', text, re.M)
    assert "TRACEPOINT_PROBE(syscalls, sys_enter_execve)" in text


def test_spec() -> None:
    assert ex.SPEC.name == "exec" and ex.SPEC.engine == "bcc"
    assert set(ex.SPEC.kinds) == {"exec", "exit"}


def test_cut_filename_is_marked() -> None:
    long = b"/" + b"d" * 254  # 255 bytes + NUL: all that fits
    ev = ex.decode(exec_rec([b"x"], truncated=ex.TRUNC_FILENAME, filename=long), ctx())
    assert ev is not None
    assert ev.args["filename"] == long.decode() + "…" and ev.args["truncated"] is True
    ev = ex.decode(exec_rec([b"x"], filename=long), ctx())  # exactly 255 bytes: whole
    assert ev is not None and ev.args["filename"] == long.decode() and "truncated" not in ev.args
