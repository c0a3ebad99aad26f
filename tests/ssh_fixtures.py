"""A real sshd on 127.0.0.1 for tests over SSH: its own port, host key and authorized key, all in the
test's temp dir; stopped with every session child it forked. A plugin (tests/conftest.py): name the
`sshd` fixture as an argument, import `Sshd` only for its type."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[1]


def agent_command(lab: Any, tag: str) -> str:
    """The agent the tests' sshd runs: this checkout's, on the lab's Docker, tagged in its environment
    so tagged_agents() finds it (and only it: other tests run agents too)."""
    return (
        f"env BEEFINE_AGENT_TAG={tag} PYTHONPATH={REPO / 'src'} DOCKER_HOST={lab.docker_host} "
        f"{sys.executable} -m beefine_tui agent"
    )


def tagged_agents(tag: str) -> list[psutil.Process]:
    """The agent processes started with BEEFINE_AGENT_TAG=tag (agent_command)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "agent" in (p.info["cmdline"] or []) and p.environ().get("BEEFINE_AGENT_TAG") == tag:
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.key = root / "client_key"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        r = self.root
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(r / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True)
        (r / "authorized_keys").write_text((r / "client_key.pub").read_text())
        os.chmod(r / "authorized_keys", 0o600)
        (r / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {r / 'host_key'}\nPidFile {r / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {r / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "UsePAM no\nStrictModes no\nPrintMotd no\nPrintLastLog no\nAcceptEnv LANG\n"
        )
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(r / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=open(r / "sshd.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"sshd did not listen: {(r / 'sshd.log').read_text()}")

    def ssh_command(self, remote: str) -> str:
        opts = (
            f"-tt -i {self.key} -p {self.port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            "-o BatchMode=yes -o LogLevel=ERROR"
        )
        return f"ssh {opts} root@127.0.0.1 '{remote}'"

    def client_config(self, alias: str) -> Path:
        """An ssh_config naming this server `alias` (key, no host-key prompts), for `ssh -F`."""
        cfg = self.root / "ssh_config"
        cfg.write_text(
            f"Host {alias}\n  HostName 127.0.0.1\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n  LogLevel ERROR\n"
        )
        return cfg

    def stop(self) -> None:
        if self.proc is None:
            return
        # the listener and every session child it forked
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for c in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                c.kill()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    if not Path(SSHD).exists():
        pytest.fail("openssh-server is not installed (scripts/setup.sh installs it)")
    made_run_dir = not Path("/run/sshd").exists()
    if made_run_dir:
        Path("/run/sshd").mkdir(mode=0o755)  # sshd's privilege-separation directory
    d = Sshd(tmp_path)
    try:
        d.start()
        yield d
    finally:
        d.stop()
        if made_run_dir:
            shutil.rmtree("/run/sshd", ignore_errors=True)
