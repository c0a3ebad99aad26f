"""The BCC runner's pure parts: cflags, rendering, error parsing. No root, no BPF."""

from __future__ import annotations

import os
import re

import pytest

from beefine_tui.errors import UsageError
from beefine_tui.probes import bcc_runner as br
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.resources import bpf_dir


def test_kernel_dev_encoding() -> None:
    # nsfs is usually 0:4; glibc and the kernel agree for small minors, but not for big ones
    assert br.kernel_dev(os.makedev(0, 4)) == 4
    assert br.kernel_dev(os.makedev(0, 300)) == 300
    assert br.kernel_dev(os.makedev(8, 1)) == (8 << 20) | 1


def test_filter_cflags() -> None:
    assert br.filter_cflags(Target()) == []
    f = br.filter_cflags(Target(pidns=(os.makedev(0, 4), 4026531836)))
    assert f == ["-DFILTER_PIDNS_DEV=4ULL", "-DFILTER_PIDNS_INO=4026531836ULL"]
    assert br.filter_cflags(Target(pids=frozenset({5}))) == ["-DFILTER_TRACKED=1"]
    assert br.filter_cflags(Target(lineage_root=9)) == [
        "-DFILTER_TRACKED=1",
        "-DFILTER_FOLLOW=1",
        "-DLINEAGE_ROOT=9",
    ]


@pytest.mark.parametrize("pages", [0, -1, 3, 100, 1 << 17])
def test_bad_ring_pages(pages: int) -> None:
    with pytest.raises(UsageError):
        br.check_ring_pages(pages)


def test_good_ring_pages() -> None:
    assert br.check_ring_pages(1) == 1
    assert br.check_ring_pages(256) == 256


def test_base_cflags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEEFINE_FORCE_PERF", "1")
    flags = br.base_cflags(ProbeOptions(ring_pages=8))
    assert "-DBEEFINE_RING_PAGES=8" in flags
    assert "-DBEEFINE_PERF=1" in flags
    monkeypatch.delenv("BEEFINE_FORCE_PERF")
    monkeypatch.setattr(br.platform, "release", lambda: "6.18.0-custom")
    assert "-DBEEFINE_PERF=1" not in br.base_cflags(ProbeOptions())
    monkeypatch.setattr(br.platform, "release", lambda: "5.4.0-100-generic")
    assert "-DBEEFINE_PERF=1" in br.base_cflags(ProbeOptions())


def test_program_text_inlines_common_h() -> None:
    text = br.program_text("exec.bpf.c")
    assert not re.search(r'^#include "common.h"', text, re.M)
    assert "BPF_ARRAY(lost, u64, 4);" in text
    assert text.count("static __always_inline int beefine_should_trace(void)") == 1


def test_records_are_written_only_by_common_h() -> None:
    # one output map and one submit (with its loss count) for every program: bpf/common.h's
    common = (bpf_dir() / "common.h").read_text()
    assert "static __always_inline int beefine_submit(" in common
    programs = [p for p in sorted(bpf_dir().glob("*.bpf.c")) if '#include "common.h"' in p.read_text()]
    assert len(programs) >= 9
    for path in programs:
        c = path.read_text()
        assert not re.search(r"\bsubmit\(", c.replace("beefine_submit(", "")), path.name
        assert "events." not in c and "BEEFINE_OUTPUT(" not in c, path.name
        assert "beefine_submit(" in c, path.name


def test_render_program() -> None:
    prog = br.BccProgram(probe="x", text="int x;", cflags=("-DA=1",))
    out = br.render_program(prog)
    assert out.startswith("// probe: x\n// cflags: -DA=1\n")
    assert "int x;" in out


def test_compile_error_names_the_line() -> None:
    log = "/virtual/main.c:42:7: error: use of undeclared identifier 'foo'\n    foo = 1;\n"
    e = br._load_error("exec", Exception("Failed to compile BPF module <text>"), log)
    assert e.line == 42
    assert "42" in e.message and "undeclared identifier" in e.message
    assert e.log == log
    # BCC compiles a rewritten copy: the quoted source line finds the line in the program's own text
    text = "int a;\nint b;\n    foo = 1;\n"
    e = br._load_error("exec", Exception("Failed to compile BPF module <text>"), log, text)
    assert e.line == 3 and "line 3" in e.message


def test_verifier_error_is_summarised() -> None:
    log = (
        "bpf: Failed to load program: Permission denied\n"
        "54: (85) call bpf_ringbuf_output#130\n"
        "R3 unbounded memory access, use 'var &= const'\n"
    )
    e = br._load_error("exec", Exception("Failed to load BPF program b'tp': Permission denied"), log)
    assert "unbounded memory access" in e.message
    assert e.line is None


def test_availability_without_bcc(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "bcc" else real(n, *a))
    a = br.bcc_availability(["syscalls:sys_enter_execve"])
    assert not a.ok and "python3-bpfcc" in a.reason


def test_availability_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    import beefine_tui.privileges as priv

    monkeypatch.setattr(priv, "can_load_bpf", lambda: False)
    a = br.bcc_availability(["syscalls:sys_enter_execve"])
    assert not a.ok and "root" in a.reason


def test_availability_missing_tracepoint() -> None:
    if os.geteuid() != 0 or br.tracefs_root() is None:
        pytest.skip("needs root and tracefs to look at tracepoints")
    a = br.bcc_availability(["syscalls:sys_enter_no_such_call"])
    assert not a.ok and "sys_enter_no_such_call" in a.reason


def test_runner_stop_before_start_is_harmless() -> None:
    r = br.BccRunner([], ProbeOptions())
    r.stop()
    r.stop()
    assert not r.running


def test_probes_pairing_enter_and_exit_are_found() -> None:
    """Every program that reports a syscall from its enter and exit tracepoints gives the note."""
    from beefine_tui.probes.base import pairs_enter_exit
    from beefine_tui.resources import bpf_dir

    pairing = {p.name for p in bpf_dir().glob("*.bpf.c") if pairs_enter_exit(p.read_text())}
    assert {"exec.bpf.c", "files.bpf.c", "sockets.bpf.c", "mounts.bpf.c"} <= pairing
    assert "tcp.bpf.c" not in pairing and "xdp.bpf.c" not in pairing
    assert pairs_enter_exit("tracepoint:syscalls:sys_enter_openat {} tracepoint:syscalls:sys_exit_openat {}")
    assert not pairs_enter_exit(
        "tracepoint:syscalls:sys_enter_openat {} tracepoint:syscalls:sys_exit_read {}"
    )
