"""The lab for real: a private dockerd and registry, run/push/pull through them, and a down that leaves
nothing behind. Bad input goes through the CLI as a subprocess, to check messages and exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.docker import lab as labmod
from beefine_tui.docker.client import docker_for_app, ping
from beefine_tui.docker.lab import LabInfo
from beefine_tui.errors import BeefineError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "beefine_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 100000}{uuid.uuid4().hex[:4]}"


def nothing_of(name: str) -> None:
    """Nothing of a lab that failed to start: no dir, no bridge, no process naming its dir."""
    sd = labmod.state_dir_for(name)
    assert not sd.exists(), f"{sd} left"
    assert not Path("/sys/class/net", labmod.bridge_for(name)).exists(), "bridge left"
    procs = [
        p.pid for p in psutil.process_iter(["cmdline"]) if str(sd) + "/" in " ".join(p.info["cmdline"] or [])
    ]
    assert not procs, f"processes left: {procs}"
    assert labmod.mounts_under(sd) == []


def test_run_push_and_pull_through_the_lab(
    lab: LabInfo, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    out = lab_client.containers.run(lab.images["small"], ["true"], remove=True, labels=cleanup_containers)
    assert out == b""
    word = uuid.uuid4().hex
    out = lab_client.containers.run(
        lab.images["small"], ["echo", word], remove=True, labels=cleanup_containers
    )
    assert out.decode().strip() == word

    # push a new tag, drop it locally, pull it back from the lab registry
    repo = f"{lab.registry}/beefine/pushtest-{word[:8]}"
    assert lab_client.images.get(lab.images["small"]).tag(repo, "v1")
    errors = [e for e in lab_client.images.push(repo, "v1", stream=True, decode=True) if e.get("error")]
    assert errors == []
    lab_client.images.remove(f"{repo}:v1")
    pulled = lab_client.images.pull(repo, tag="v1")
    assert f"{repo}:v1" in pulled.tags
    lab_client.images.remove(f"{repo}:v1")


def test_layered_image_pulls_layer_by_layer(lab: LabInfo, lab_client: Any) -> None:
    ref = lab.images["layered"]
    repo, tag = ref.rsplit(":", 1)
    layers = lab_client.images.get(ref).attrs["RootFS"]["Layers"]
    assert len(layers) >= 3
    lab_client.images.remove(ref)
    stream = list(lab_client.api.pull(repo, tag=tag, stream=True, decode=True))
    assert not [e for e in stream if e.get("error")]
    completed = {e["id"] for e in stream if e.get("status") == "Pull complete"}
    assert len(completed) == len(layers)  # each layer fetched and unpacked on its own
    assert lab_client.images.get(ref).attrs["RootFS"]["Layers"] == layers


def test_lab_is_reported_by_status(lab: LabInfo) -> None:
    assert labmod.status(lab.name) == lab
    assert lab.name in labmod.lab_names()
    r = cli("lab", "status", "--name", lab.name, "--json")
    assert r.returncode == 0, r.stderr
    assert lab.docker_host in r.stdout and lab.registry in r.stdout


def test_up_twice_is_refused_and_the_first_stays_healthy(lab: LabInfo) -> None:
    r = cli("lab", "up", "--name", lab.name)
    assert r.returncode == 1
    assert "already running" in r.stderr and "Traceback" not in r.stderr
    assert ping(lab.docker_host)
    assert labmod.status(lab.name) == lab


def test_full_lifecycle_from_the_cli_leaves_nothing(lab_leftovers_check: Callable[[LabInfo], None]) -> None:
    import docker

    name = unique("lc")
    r = cli("lab", "up", "--name", name, "--json")
    assert r.returncode == 0, r.stderr
    info = labmod.status(name)
    assert info is not None
    try:
        client = docker.DockerClient(base_url=info.docker_host, timeout=30)
        # a container left running, so down has a shim, a container process, a netns and an overlay to remove
        c = client.containers.run(
            info.images["small"], ["sleep", "600"], detach=True, labels={"beefine": "1"}
        )
        c.reload()
        pid = c.attrs["State"]["Pid"]
        proc = psutil.Process(pid)
        assert proc.cmdline() == ["sleep", "600"]
        assert labmod.mounts_under(info.state_dir)  # overlay + netns are mounted now
        client.close()
    finally:
        r = cli("lab", "down", "--name", name)
    assert r.returncode == 0, r.stderr
    lab_leftovers_check(info)
    assert not proc.is_running(), "the container's process survived down"


def test_down_with_no_lab_is_a_clear_error() -> None:
    r = cli("lab", "down", "--name", unique("none"))
    assert r.returncode == 2
    assert "no lab named" in r.stderr and "Traceback" not in r.stderr


def test_taken_registry_port_fails_clearly_and_leaves_nothing() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    name = unique("pt")
    try:
        r = cli("lab", "up", "--name", name, "--no-seed", "--registry-port", str(port))
    finally:
        s.close()
    assert r.returncode == 1
    assert f"port {port}" in r.stderr and "in use" in r.stderr and "Traceback" not in r.stderr
    nothing_of(name)


def test_missing_dockerd_fails_clearly_and_leaves_nothing() -> None:
    name = unique("nd")
    r = cli("lab", "up", "--name", name, env={"PATH": "/usr/bin:/bin"})  # dockerd is in /usr/sbin
    assert r.returncode == 1
    assert "dockerd" in r.stderr and "docker.io" in r.stderr and "Traceback" not in r.stderr
    nothing_of(name)


def test_dockerd_that_dies_at_start_is_rolled_back(tmp_path: Path) -> None:
    """Registry and bridge are made before dockerd: a failing dockerd must take them down too."""
    fake = tmp_path / "dockerd"
    fake.write_text("#!/bin/sh\necho 'fake dockerd: refusing to start' >&2\nexit 3\n")
    fake.chmod(0o755)
    name = unique("fd")
    with pytest.raises(BeefineError, match="exited at start") as e:
        labmod.up(name, seed=False, dockerd_bin=str(fake))
    assert "refusing to start" in e.value.hint  # the log's last lines are in the error
    nothing_of(name)


def test_stale_lab_is_cleared_by_down_and_by_up() -> None:
    name = unique("st")
    info = labmod.up(name, seed=False)
    try:
        for pid in (info.dockerd_pid, info.registry_pid):
            os.kill(pid, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(info.dockerd_pid)], timeout=10)
        assert labmod.status(name) is None and labmod.is_stale(name)
        r = cli("lab", "status", "--name", name)
        assert r.returncode == 1 and "stale" in r.stdout
        again = labmod.up(name, seed=False)  # clears the leftovers, then starts fresh
        assert again.dockerd_pid != info.dockerd_pid and ping(again.docker_host)
    finally:
        labmod.down(name)
    nothing_of(name)


def test_app_uses_an_explicit_daemon_without_starting_a_lab(lab: LabInfo) -> None:
    with docker_for_app(lab.docker_host) as (host, started):
        assert host == lab.docker_host and started is None


def test_app_starts_and_removes_its_own_lab(
    monkeypatch: pytest.MonkeyPatch, lab_leftovers_check: Callable[[LabInfo], None]
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr("beefine_tui.docker.client.SYSTEM_SOCKET", "/nonexistent/docker.sock")
    with docker_for_app(None) as (host, started):
        assert started is not None and host == started.docker_host
        assert ping(host)
    lab_leftovers_check(started)


def test_non_root_is_told_to_use_sudo() -> None:
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "beefine_tui",
         "lab", "up", "--name", unique("nr")],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert r.returncode == 77, r.stderr
    assert "needs root" in r.stderr and "sudo" in r.stderr and "Traceback" not in r.stderr
