"""`doctor --remote HOST` over a real sshd on 127.0.0.1: the host is this machine, reached as root,
so the agent's checks must be the local command's, line for line, with the same Docker daemon
(the lab's) given to both; and the exit code is the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.integration.test_remote import _env
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "doctor", "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd="/",
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_remote_doctor_equals_the_local_one(sshd: Sshd, lab: Any) -> None:
    env = _env(sshd, lab, uuid.uuid4().hex[:12])
    far_rc, far = _doctor(env, "--remote", f"root@bfremote:{sshd.port}")
    here_rc, here = _doctor({**os.environ, "DOCKER_HOST": lab.docker_host})
    assert far_rc == here_rc
    assert far == here
    checks = {c["name"]: c for c in far["checks"]}
    assert checks["privileges"]["status"] == "ok" and checks["docker"]["status"] == "ok"
    assert lab.docker_host in checks["docker"]["detail"]  # the host's daemon, as the agent was given
