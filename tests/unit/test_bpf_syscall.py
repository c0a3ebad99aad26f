"""The bpf() wrapper: errno mapping (faked and from the real kernel, which answers these without
root), attr kinds, the per-arch number table, and enable_stats_fd's refusal for non-root."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

import pytest

from beefine_tui.probes import bpf_syscall


def test_the_syscall_number_table() -> None:
    assert bpf_syscall.syscall_number("x86_64") == 321
    assert bpf_syscall.syscall_number("aarch64") == 280
    assert bpf_syscall.syscall_number("pdp11") is None
    assert bpf_syscall.syscall_number() is not None  # the machines this project runs on are listed


@pytest.mark.parametrize("err", [errno.EPERM, errno.EINVAL, errno.E2BIG, errno.ENOMEM])
def test_a_failure_raises_oserror_with_its_errno(monkeypatch: pytest.MonkeyPatch, err: int) -> None:
    monkeypatch.setattr(bpf_syscall, "_raw_syscall", lambda nr, cmd, ptr, size: (-1, err))
    with pytest.raises(OSError) as info:
        bpf_syscall.bpf(bpf_syscall.BPF_PROG_LOAD, b"\0" * 8)
    assert info.value.errno == err
    assert info.value.strerror == os.strerror(err)


def test_minus_one_without_errno_is_still_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpf_syscall, "_raw_syscall", lambda nr, cmd, ptr, size: (-1, 0))
    with pytest.raises(OSError) as info:
        bpf_syscall.bpf(bpf_syscall.BPF_MAP_CREATE, b"\0" * 8)
    assert info.value.errno == errno.EIO


def test_success_returns_the_value_and_passes_number_command_and_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, int, int]] = []

    def fake(nr: int, cmd: int, ptr: Any, size: int) -> tuple[int, int]:
        seen.append((nr, cmd, size))
        return 7, 0

    monkeypatch.setattr(bpf_syscall.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(bpf_syscall, "_raw_syscall", fake)
    assert bpf_syscall.bpf(bpf_syscall.BPF_LINK_CREATE, (ctypes.c_uint32 * 16)()) == 7
    assert bpf_syscall.bpf(bpf_syscall.BPF_PROG_LOAD, b"\0" * 12) == 7
    assert seen == [(280, 28, 64), (280, 5, 12)]


def test_unknown_architecture_is_enosys_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpf_syscall.platform, "machine", lambda: "pdp11")
    with pytest.raises(OSError, match="pdp11") as info:
        bpf_syscall.bpf(bpf_syscall.BPF_PROG_LOAD, b"\0" * 8)
    assert info.value.errno == errno.ENOSYS


def test_a_bytearray_sees_what_the_kernel_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(nr: int, cmd: int, ptr: Any, size: int) -> tuple[int, int]:
        ctypes.memmove(ptr, b"\x2a", 1)
        return 0, 0

    monkeypatch.setattr(bpf_syscall, "_raw_syscall", fake)
    buf = bytearray(8)
    bpf_syscall.bpf(15, buf)
    assert buf[0] == 0x2A
    frozen = bytes(8)
    bpf_syscall.bpf(15, frozen)  # bytes are copied: the caller's object is never written
    assert frozen == bytes(8)


@pytest.mark.parametrize("bad", ["text", 3, None, ctypes.c_uint32])
def test_attr_of_the_wrong_kind_is_a_typeerror(bad: Any) -> None:
    with pytest.raises(TypeError, match="bpf\\(\\) attr"):
        bpf_syscall.bpf(bpf_syscall.BPF_PROG_LOAD, bad)


# the real kernel: these answers come before any permission check (Linux 6.5+), so no root needed
def test_real_kernel_unknown_command_is_einval() -> None:
    with pytest.raises(OSError) as info:
        bpf_syscall.bpf(10_000, b"\0" * 8)
    assert info.value.errno == errno.EINVAL


def test_real_kernel_nonzero_bytes_past_bpf_attr_are_e2big() -> None:
    with pytest.raises(OSError) as info:
        bpf_syscall.bpf(bpf_syscall.BPF_MAP_CREATE, b"\0" * 4095 + b"\1")
    assert info.value.errno == errno.E2BIG


def test_real_enable_stats_fd() -> None:
    if os.geteuid() != 0:
        with pytest.raises(OSError) as info:
            bpf_syscall.enable_stats_fd()
        assert info.value.errno == errno.EPERM  # CAP_SYS_ADMIN only
        return
    fd = bpf_syscall.enable_stats_fd()
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-stats"
        assert os.get_inheritable(fd) is False  # O_CLOEXEC: children we start do not keep counting on
    finally:
        os.close(fd)
