"""Fixtures for tests that need a real dockerd (root): one lab per test session, its client, per-test
container cleanup, and a leftovers check that others can call on their own labs. A plugin registered
once in tests/conftest.py: a module that imported these fixtures got its own copy of the session
`lab`, which started a second lab of the same name and, failing, downed the first mid-session."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.docker import lab as labmod
from beefine_tui.docker.lab import LabInfo


def _lab_name() -> str:
    return f"t{os.getpid()}"


@pytest.fixture(scope="session")
def lab() -> Iterator[LabInfo]:
    """A seeded lab for the whole test session (name t<pid>), always downed at the end."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root: run `sudo make test`")
    name = _lab_name()
    # up() tears down what it made when it fails; downing here too would remove a lab of the same
    # name that is not ours
    info = labmod.up(name, seed=True, timeout=120)
    try:
        with _signals_interrupt():
            yield info
    finally:
        labmod.down(name)
    assert_no_lab_leftovers(info)


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP (CI timeout, dropped SSH) stop the session like Ctrl-C, so the lab is downed."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    sigs = [s for s in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(s) == signal.SIG_DFL]
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@pytest.fixture(scope="session")
def lab_client(lab: LabInfo) -> Iterator[Any]:
    """A docker.DockerClient for the session lab, closed at the end."""
    import docker

    client = docker.DockerClient(base_url=lab.docker_host, timeout=60)
    # the lab registry takes only the lab's login: what `docker login` would do, kept in this client
    login = labmod.registry_auth(lab.registry)
    assert login is not None, "the lab registry has no login"
    client.login(username=login["username"], password=login["password"], registry=lab.registry)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def test_label(request: pytest.FixtureRequest) -> dict[str, str]:
    """Labels for containers a test makes: beefine=1 plus one unique to this test run."""
    return {"beefine": "1", "beefine.test": f"{request.node.name[:60]}-{uuid.uuid4().hex[:8]}"}


@pytest.fixture
def cleanup_containers(lab_client: Any, test_label: dict[str, str]) -> Iterator[dict[str, str]]:
    """Yields the labels to put on your containers; removes (force) every container carrying them after
    the test, pass or fail. Use: `lab_client.containers.run(..., labels=cleanup_containers)`."""
    yield test_label
    key = f"beefine.test={test_label['beefine.test']}"
    for c in lab_client.containers.list(all=True, filters={"label": key}):
        with contextlib.suppress(Exception):
            c.remove(force=True)


SLEEPER = ["sleep", "600"]
SLEEPER_WITH_CHILD = ["sh", "-c", "sleep 300 & sleep 300"]  # an init with a process of its own


def run_sleeper(
    lab_client: Any, lab: LabInfo, labels: dict[str, str], command: list[str] = SLEEPER, **kw: Any
) -> Any:
    """A running container of the lab's small image with `command`; `kw` go to containers.run."""
    c = lab_client.containers.run(lab.images["small"], command, detach=True, labels=labels, **kw)
    c.reload()
    assert c.status == "running"
    return c


def assert_no_lab_leftovers(info: LabInfo) -> None:
    """After down(): each thing the lab made is gone, checked separately so a failure says which."""
    sd = str(info.state_dir)
    for pid, what in ((info.dockerd_pid, "dockerd"), (info.registry_pid, "registry")):
        if psutil.pid_exists(pid):
            with contextlib.suppress(psutil.Error):
                cmd = " ".join(psutil.Process(pid).cmdline())
                assert sd + "/" not in cmd, f"{what} (pid {pid}) still runs: {cmd}"
    others = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if sd + "/" in cmd:
            others.append(f"{p.pid}: {cmd[:200]}")
    assert not others, f"processes of lab {info.name} left: {others}"
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4] == sd or line.split()[4].startswith(sd + "/")
    ]
    assert not mounts, f"mounts of lab {info.name} left: {mounts}"
    assert not Path("/sys/class/net", info.bridge).exists(), f"bridge {info.bridge} left"
    r = subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, timeout=10)
    assert info.subnet not in r.stdout, f"route to {info.subnet} left: {r.stdout}"
    assert not info.state_dir.exists(), f"state dir {sd} left"
    if shutil.which("iptables-save"):
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=30).stdout
        assert info.bridge not in rules and info.subnet not in rules, "iptables rules of the lab left"


@pytest.fixture
def lab_leftovers_check() -> Any:
    """`assert_no_lab_leftovers` as a fixture, for tests that start their own lab (no conftest import)."""
    return assert_no_lab_leftovers


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(scope="session")
def as_nobody() -> list[str]:
    """The command prefix that runs something as user nobody (for "not root" messages). Skips, saying
    why, when nobody cannot even start this venv's python (a checkout under /root, say)."""
    import sys

    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is missing")
    r = subprocess.run(
        [*NOBODY, sys.executable, "-c", "import beefine_tui"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    if r.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout's python: {r.stderr.strip()[-200:]}")
    return list(NOBODY)
