"""`image IMAGE --remote HOST` over a real sshd on 127.0.0.1: the host is this machine, so what its
agent reads of a lab image (from the lab's registry and the lab's daemon, as the agent was given)
must be what the local command prints, as JSON and as text; an image the host lacks is refused
clearly from the far side."""

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


def _image(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "beefine_tui", "image", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def test_remote_image_equals_the_local_one(sshd: Sshd, lab: Any) -> None:
    far_env = _env(sshd, lab, uuid.uuid4().hex[:12])
    here_env = {**os.environ, "DOCKER_HOST": lab.docker_host}
    remote = ["--remote", f"root@bfremote:{sshd.port}"]
    image = lab.images["layered"]
    printed: dict[str, str] = {}
    for how, extra in (("json", ["--json"]), ("text", [])):
        far, here = _image(far_env, image, *extra, *remote), _image(here_env, image, *extra)
        assert far.returncode == here.returncode == 0, (far.stderr, here.stderr)
        assert far.stdout == here.stdout
        printed[how] = far.stdout
    docs = [json.loads(line) for line in printed["json"].splitlines() if line.strip()]
    assert {d["source"].split()[0] for d in docs} == {"registry", "daemon"}
    assert all(d["layers"] for d in docs)

    missing = image.rsplit(":", 1)[0] + ":no-such-tag"
    far = _image(far_env, missing, "--source", "daemon", *remote)
    assert far.returncode != 0 and "no-such-tag" in far.stderr and "Traceback" not in far.stderr
