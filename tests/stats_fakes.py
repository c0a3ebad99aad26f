"""Run-count fakes shared by unit and TUI tests (no BPF, no root): a temp file stands in for
kernel.bpf_stats_enabled and a pipe's read end for a BPF_ENABLE_STATS fd."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from beefine_tui.probes import inventory as inv


@pytest.fixture
def sysctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    f = tmp_path / "bpf_stats_enabled"
    f.write_text("0\n")
    monkeypatch.setattr(inv, "STATS_SYSCTL", str(f))
    return f


@pytest.fixture
def old_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """bpf(BPF_ENABLE_STATS) refused as a kernel older than 5.8 refuses it."""

    def refuse() -> int:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(inv, "_take_stats_fd", refuse)


@pytest.fixture
def stats_fds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every fd handed out as a stats fd, in order; closed at the end if the code under test did not."""
    given: list[int] = []

    def take() -> int:
        r, w = os.pipe()
        os.close(w)
        given.append(r)
        return r

    monkeypatch.setattr(inv, "_take_stats_fd", take)
    yield given
    for fd in given:
        try:
            os.close(fd)
        except OSError:
            continue


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
