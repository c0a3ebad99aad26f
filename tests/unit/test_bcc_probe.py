"""Whether a BCC probe can load here, said without loading anything (probes/bcc_probe.py)."""

from __future__ import annotations

import os

import pytest

from beefine_tui.probes import bcc_probe as bpr


def test_availability_without_bcc(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "bcc" else real(n, *a))
    a = bpr.bcc_availability(["syscalls:sys_enter_execve"])
    assert not a.ok and "python3-bpfcc" in a.reason


def test_availability_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    import beefine_tui.privileges as priv

    monkeypatch.setattr(priv, "can_load_bpf", lambda: False)
    a = bpr.bcc_availability(["syscalls:sys_enter_execve"])
    assert not a.ok and "root" in a.reason


def test_availability_missing_tracepoint() -> None:
    if os.geteuid() != 0 or bpr.tracefs_root() is None:
        pytest.skip("needs root and tracefs to look at tracepoints")
    a = bpr.bcc_availability(["syscalls:sys_enter_no_such_call"])
    assert not a.ok and "sys_enter_no_such_call" in a.reason
