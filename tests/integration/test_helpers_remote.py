"""`helpers --remote HOST` over a real sshd on 127.0.0.1: the host here is this machine, so what its
agent reports (checked by loading, on its kernel) must be exactly what the local command computes:
the per-type table, one type's helpers with their docs, and a search."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.integration.test_remote import _env
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _helpers(*args: str, env: dict[str, str] | None = None) -> Any:
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "helpers", "--json", *args],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr.decode()
    return json.loads(r.stdout)


def test_remote_helpers_equal_the_local_ones(sshd: Sshd, lab: Any) -> None:
    env = _env(sshd, lab, uuid.uuid4().hex[:12])
    remote = ["--remote", f"root@bfremote:{sshd.port}"]
    far, here = _helpers(*remote, env=env), _helpers()
    assert far == here
    assert {r["type"] for r in far} >= {"xdp", "tracepoint"} and any(r["verified"] for r in far)
    far, here = _helpers("--type", "xdp", *remote, env=env), _helpers("--type", "xdp")
    assert far == here
    assert "bpf_xdp_adjust_head" in [h["name"] for h in far["helpers"]]
    assert _helpers("--search", "adjust_head", *remote, env=env) == _helpers("--search", "adjust_head")
