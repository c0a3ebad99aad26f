"""A lab shared by the fault cells that need a daemon (name f<pid>: not the integration tests' t<pid>,
so both directories can run in one session), always downed at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from beefine_tui.docker import lab as labmod
from beefine_tui.docker.lab import LabInfo


@pytest.fixture(scope="session")
def fault_lab() -> Iterator[LabInfo]:
    if os.geteuid() != 0:
        pytest.skip("the fault suite needs root: run `sudo make test`")
    for tool in ("tmux", "script", "bpftool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/setup.sh installs it)")
    name = f"f{os.getpid()}"
    try:
        info = labmod.up(name, seed=True, timeout=120)
    except BaseException:
        with contextlib.suppress(Exception):
            labmod.down(name)
        raise
    try:
        yield info
    finally:
        labmod.down(name)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
