from __future__ import annotations

import os

import pytest

from beefine_tui.docker.cgroup_paths import (
    container_id_for_pid,
    container_id_from_cgroup,
    container_id_from_path,
)

CID = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4


@pytest.mark.parametrize(
    "path",
    [
        f"/docker/{CID}",  # cgroup v1, cgroupfs driver
        f"/system.slice/docker-{CID}.scope",  # systemd driver (v1 or v2)
        f"/kubepods.slice/kubepods-besteffort.slice/x/cri-containerd-{CID}.scope",
        f"/kubepods/besteffort/pod1234/crio-{CID}.scope",
        f"/machine.slice/libpod-{CID}.scope/container",
        f"/kubepods/burstable/pod5678/{CID}",
        f"/docker/{CID}/child",
    ],
)
def test_container_forms(path: str) -> None:
    assert container_id_from_path(path) == CID


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/user.slice/user-0.slice/session-1.scope",
        f"/machine.slice/libpod-conmon-{CID}.scope",  # podman's monitor, not the container
        "/docker/abc",  # too short
        f"/docker/{CID[:-1]}",
        f"/system.slice/docker-{CID.upper()}.scope",
    ],
)
def test_not_a_container(path: str) -> None:
    assert container_id_from_path(path) is None


def test_v1_hybrid_file() -> None:
    text = (
        "12:pids:/docker/" + CID + "\n"
        "11:memory:/docker/" + CID + "\n"
        "1:name=systemd:/docker/" + CID + "\n"
        "0::/\n"
    )
    assert container_id_from_cgroup(text) == CID


def test_v2_file() -> None:
    assert container_id_from_cgroup(f"0::/system.slice/docker-{OTHER}.scope\n") == OTHER


def test_host_and_garbage() -> None:
    assert container_id_from_cgroup("0::/init.scope\n") is None
    assert container_id_from_cgroup("") is None
    assert container_id_from_cgroup("garbage line\n::\n") is None


def test_own_process_is_not_a_container() -> None:
    # the test runner runs on the host (or this assertion is skipped when it runs in a container)
    own = container_id_for_pid(os.getpid())
    if own is not None:
        pytest.skip("tests run inside a container")
    assert own is None


def test_missing_pid() -> None:
    assert container_id_for_pid(2**22 + 12345) is None
