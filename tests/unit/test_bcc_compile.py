"""Compile and verifier errors told readably (probes/bcc_compile.py). No root, no BPF."""

from __future__ import annotations

import pytest

from beefine_tui.probes import bcc_compile as bc


def test_compile_error_names_the_line() -> None:
    log = "/virtual/main.c:42:7: error: use of undeclared identifier 'foo'\n    foo = 1;\n"
    e = bc.load_error("exec", Exception("Failed to compile BPF module <text>"), log)
    assert e.line == 42
    assert "42" in e.message and "undeclared identifier" in e.message
    assert e.log == log
    # BCC compiles a rewritten copy: the quoted source line finds the line in the program's own text
    text = "int a;\nint b;\n    foo = 1;\n"
    e = bc.load_error("exec", Exception("Failed to compile BPF module <text>"), log, text)
    assert e.line == 3 and "line 3" in e.message


def test_verifier_error_is_summarised() -> None:
    log = (
        "bpf: Failed to load program: Permission denied\n"
        "54: (85) call bpf_ringbuf_output#130\n"
        "R3 unbounded memory access, use 'var &= const'\n"
    )
    e = bc.load_error("exec", Exception("Failed to load BPF program b'tp': Permission denied"), log)
    assert "unbounded memory access" in e.message
    assert e.line is None


def test_release_compiler_heap_trims_with_glibc() -> None:
    # the machines this runs on are Debian (glibc): the trim must really be made
    assert bc.release_compiler_heap() is True


def test_release_compiler_heap_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoTrim:  # a libc without malloc_trim (musl)
        def __init__(self, _name: str) -> None:
            pass

    monkeypatch.setattr(bc.ctypes, "CDLL", NoTrim)
    assert bc.release_compiler_heap() is False
