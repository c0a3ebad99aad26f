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
    assert not labmod.is_orphan(name)  # `lab up` labs are meant to outlive the command
    try:
        client = docker.DockerClient(base_url=info.docker_host, timeout=30)
        # a container left running, so down has a shim, a container process, a netns and an overlay to remove
        c = client.containers.run(
            info.images["small"], ["sleep", "600"], detach=True, labels={"beefine": "1"}
        )
        assert c.id is not None
        c.reload()
        pid = c.attrs["State"]["Pid"]
        proc = psutil.Process(pid)
        for _ in range(600):  # runc's init execs the entrypoint just after start returns
            if proc.cmdline() == ["sleep", "600"]:
                break
            psutil.wait_procs([proc], timeout=0.05)
        assert proc.cmdline() == ["sleep", "600"]
        assert labmod.mounts_under(info.state_dir)  # overlay + netns are mounted now
        assert labmod.container_cgroups(c.id)
        c.pause()  # frozen processes ignore SIGKILL until thawed: down must handle that too
        client.close()
    finally:
        r = cli("lab", "down", "--name", name)
    assert r.returncode == 0, r.stderr
    lab_leftovers_check(info)
    assert not proc.is_running(), "the container's process survived down"
    assert labmod.container_cgroups(c.id) == [], "the container's cgroups survived down"


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


def test_non_root_is_told_to_use_sudo(as_nobody: list[str]) -> None:
    r = subprocess.run(
        [*as_nobody, sys.executable, "-m", "beefine_tui", "lab", "up", "--name", unique("nr")],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert r.returncode == 77, r.stderr
    assert "needs root" in r.stderr and "sudo" in r.stderr and "Traceback" not in r.stderr


def test_sigterm_during_up_removes_what_was_made(tmp_path: Path) -> None:
    """A dockerd that never answers keeps `lab up` waiting; SIGTERM then must leave nothing behind."""
    fake = tmp_path / "dockerd"
    fake.write_text("#!/bin/sh\nexec sleep 300\n")  # exec: found by its recorded pid, not its command line
    fake.chmod(0o755)
    name = unique("sg")
    sd = labmod.state_dir_for(name)
    p = subprocess.Popen(
        [sys.executable, "-m", "beefine_tui", "lab", "up", "--name", name, "--no-seed", "--timeout", "100"],
        env={**os.environ, "BEEFINE_DOCKERD": str(fake)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        dockerd_pid = 0
        for _ in range(600):  # until the fake dockerd is recorded as started
            state = labmod._load_state(name)
            if state is not None and state.dockerd_pid:
                dockerd_pid = state.dockerd_pid
                break
            assert p.poll() is None, p.communicate()
            psutil.wait_procs([psutil.Process(p.pid)], timeout=0.05)
        assert dockerd_pid and sd.exists() and psutil.pid_exists(dockerd_pid)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not psutil.pid_exists(dockerd_pid) or psutil.Process(dockerd_pid).status() == psutil.STATUS_ZOMBIE
    nothing_of(name)


def test_app_lab_is_removed_on_sighup(lab_leftovers_check: Callable[[LabInfo], None]) -> None:
    """The TUI's embedded lab goes away when the SSH session drops (SIGHUP)."""
    code = (
        "import sys, time, json\n"
        "import beefine_tui.docker.client as c\n"
        "c.SYSTEM_SOCKET = '/nonexistent/docker.sock'\n"
        "with c.docker_for_app(None) as (host, info):\n"
        "    print(info.name, flush=True)\n"
        "    time.sleep(120)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    p = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None
        name = p.stdout.readline().strip()
        assert name, p.communicate(timeout=30)
        info = labmod.status(name)
        assert info is not None and ping(info.docker_host)
        p.send_signal(signal.SIGHUP)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGHUP, err
    lab_leftovers_check(info)


def test_two_ups_of_one_name_at_once_start_one_lab() -> None:
    name = unique("cc")
    args = [sys.executable, "-m", "beefine_tui", "lab", "up", "--name", name, "--no-seed"]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
        codes = sorted(rc for rc, _ in results)
        assert codes == [0, 1], results
        refused = next(err for rc, err in results if rc == 1)
        assert "already running" in refused or "busy" in refused
        assert labmod.status(name) is not None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        labmod.down(name)
    nothing_of(name)


def test_running_lab_downs_on_exceptions(lab_leftovers_check: Callable[[LabInfo], None]) -> None:
    name = unique("rl")
    seen: list[LabInfo] = []
    with pytest.raises(RuntimeError, match="inside"), labmod.running_lab(name, seed=False) as info:
        seen.append(info)
        assert ping(info.docker_host)
        raise RuntimeError("inside")
    lab_leftovers_check(seen[0])


def test_two_labs_side_by_side_do_not_share_anything(lab: LabInfo) -> None:
    name = unique("sb")
    with labmod.running_lab(name, seed=False) as other:
        assert other.bridge != lab.bridge and other.subnet != lab.subnet
        assert other.registry != lab.registry and other.docker_host != lab.docker_host
        assert ping(other.docker_host) and ping(lab.docker_host)
    assert ping(lab.docker_host), "downing one lab hurt the other"
    assert labmod.status(lab.name) == lab


def test_port_taken_between_choosing_and_binding_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    taken = s.getsockname()[1]
    real = labmod._free_port
    picks = iter([taken])
    monkeypatch.setattr(labmod, "_free_port", lambda: next(picks, None) or real())
    name = unique("rp")
    try:
        info = labmod.up(name, seed=False)
        port = int(info.registry.rsplit(":", 1)[1])
        assert port != taken and ping(info.docker_host)
        assert "address already in use" in (info.state_dir / "registry.log").read_text()  # it did try
    finally:
        s.close()
        labmod.down(name)
    nothing_of(name)


def test_a_killed_owner_leaves_an_orphan_that_is_removed() -> None:
    name = unique("or")
    code = (
        "import time\n"
        "from beefine_tui.docker import lab\n"
        f"lab.up({name!r}, seed=False)\n"
        "print('up', flush=True)\n"
        "time.sleep(300)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "up", p.communicate(timeout=30)
        assert labmod.status(name) is not None and not labmod.is_orphan(name)
        p.kill()  # SIGKILL: no chance to clean up
        p.wait(timeout=30)
        assert labmod.is_orphan(name)
        r = cli("lab", "status", "--name", name)
        assert r.returncode == 1 and "process that started it is gone" in r.stdout
        assert labmod.down_orphans([name]) == [name]
    finally:
        if p.poll() is None:
            p.kill()
        if labmod.state_dir_for(name).exists():
            labmod.down(name)
    nothing_of(name)
