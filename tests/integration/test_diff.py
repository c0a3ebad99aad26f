"""`beefine-tui diff` of real `trace --record` runs in the lab: default vs --privileged names the
capability and seccomp differences, default vs --network none the network setup (the prestart hook).
What is expected is Docker's documented behaviour; each recording is made by a real trace and the
same options twice must show no difference in these details (so the test can fail both ways).

Here runc 1.1.5 refuses a --privileged container on kernel 6.18 ("unable to apply caps: operation not
permitted": the kernel has capabilities runc does not know); the trace still records the bundle
Docker wrote and what runc did before failing, which is what the diff compares."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from beefine_tui.docker.lab import LabInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def trace(lab: LabInfo, out: Path, *opts: str, may_fail: str = "") -> None:
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "trace", "--docker-host", lab.docker_host,
         "--record", str(out), *opts, lab.images["small"], "--", "true"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0 or (may_fail and may_fail in r.stderr), r.stderr[-3000:]
    assert out.exists() and "Traceback" not in r.stderr


def diff(a: Path, b: Path) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "diff", "--json", str(a), str(b)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return dict(json.loads(r.stdout))


@pytest.fixture(scope="module")
def recordings(lab: LabInfo, lab_client: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("diff")
    out = {}
    for name, opts in (("default", ()), ("privileged", ("--privileged",)), ("nonet", ("--network", "none"))):
        out[name] = d / f"{name}.jsonl"
        trace(lab, out[name], *opts, may_fail="unable to apply caps" if name == "privileged" else "")
    # trace removes its containers (label beefine=1); none of these may be left
    assert not lab_client.containers.list(all=True, filters={"label": "beefine=1"})
    return out


def test_default_vs_privileged(recordings: dict[str, Path]) -> None:
    d = diff(recordings["default"], recordings["privileged"])
    sec = d["details"]["security"]
    # docker's default set is 14 capabilities; --privileged has them all: B has more, A none of its own
    caps = sec.get("capabilities_in_config") or sec["capabilities"]
    assert caps["only_a"] == [] and "SYS_ADMIN" in " ".join(caps["only_b"])
    # the default seccomp profile is loaded in A; a privileged container runs unconfined
    assert sec["seccomp_loaded"] == {"a": True, "b": None}
    assert sec["seccomp_in_config"]["b"] == "none" and sec["seccomp_in_config"]["a"] != "none"
    # masked and read-only paths exist only in the default
    assert d["details"]["bundle"]["masked_paths"]["only_b"] == []
    assert d["details"]["bundle"]["masked_paths"]["only_a"]
    assert d["a"]["exit_code"] == 0


def test_default_vs_network_none(recordings: dict[str, Path]) -> None:
    """dockerd 20.10 runs the libnetwork-setkey hook and brings lo up for --network none too (measured
    here): what differs is the veth pair, eth0, its address and route, made only in the default run."""
    d = diff(recordings["default"], recordings["nonet"])
    hook = next(r for r in d["phases"] if r["phase"] == "hook")
    assert hook["a"]["state"] == hook["b"]["state"] == "done", hook
    setup = d["details"]["hook"]["network_setup"]
    only_a = " | ".join(setup["only_a"])
    assert "veth pair made" in only_a and "renamed eth0" in only_a and "default route" in only_a, setup
    assert setup["only_b"] == []
    assert "security" not in d["details"]  # only the network differs there


def test_same_options_twice_differ_in_no_detail(
    lab: LabInfo, recordings: dict[str, Path], tmp_path: Path
) -> None:
    again = tmp_path / "again.jsonl"
    trace(lab, again)
    d = diff(recordings["default"], again)
    assert "security" not in d["details"] and "namespaces" not in d["details"]
    assert "hook" not in d["details"]
