"""The doctor on this machine, as root and as nobody, through the CLI (exit codes, no traceback).

What this machine has was checked by hand first (see /work/shared/ENVIRONMENT.md): root, BTF, tracefs,
fallback 6.1 headers, no kprobes, no fentry, hybrid cgroups. Each expectation is derived from the machine
by a different route than the doctor's own, so the test still means something on another kernel."""

from __future__ import annotations

import gzip
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def doctor(*extra: str, user: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "beefine_tui", "doctor", *extra]
    if user:
        cmd = [*user, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd="/")


def fstype(path: str) -> str:
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True, timeout=10)
    return r.stdout.strip() if r.returncode == 0 else ""


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    r = doctor("--json")
    assert "Traceback" not in r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    data["rc"] = r.returncode
    data["by_name"] = {c["name"]: c for c in data["checks"]}
    return data


def test_app_can_run_here(report: dict[str, Any]) -> None:
    fails = [c for c in report["checks"] if c["status"] == "fail"]
    assert report["rc"] == 0 and report["ok"] is True, fails
    for c in report["checks"]:
        assert c["status"] in ("ok", "warn", "fail") and c["detail"]
        if c["status"] != "ok":
            assert c["fix"], f"{c['name']} has no fix"


def test_root_bpf_btf_tracefs_are_ok(report: dict[str, Any]) -> None:
    by = report["by_name"]
    assert by["privileges"]["status"] == "ok" and "root" in by["privileges"]["detail"]
    assert by["bpf"]["status"] == "ok"
    assert by["btf"]["status"] == ("ok" if Path("/sys/kernel/btf/vmlinux").exists() else "warn")
    assert by["tracefs"]["status"] == "ok"
    assert by["bpftool"]["status"] == "ok"
    assert by["bpftrace"]["detail"].startswith("bpftrace 0.")


def test_headers_kind(report: dict[str, Any]) -> None:
    mods = Path("/lib/modules", platform.release())
    expected = "fallback" if (mods / ".beefine-fallback-headers").exists() else "exact"
    assert report["by_name"]["headers"]["detail"].startswith(expected + ":")
    if expected == "fallback":
        pkg = (mods / ".beefine-fallback-headers").read_text().strip()
        assert pkg in report["by_name"]["headers"]["detail"]
        assert report["by_name"]["headers"]["status"] == "warn"


def test_kprobes_and_fentry_are_reported_unavailable_as_warnings(report: dict[str, Any]) -> None:
    with gzip.open("/proc/config.gz", "rt") as f:
        kprobes_on = "CONFIG_KPROBES=y" in f.read()
    k = report["by_name"]["kprobes"]
    if kprobes_on:
        assert k["status"] == "ok"
    else:
        assert k["status"] == "warn" and "not available on this kernel" in k["detail"]
    # fentry: this kernel refuses BPF tracing programs (bpftrace kfunc fails the same way)
    r = subprocess.run(
        ["bpftool", "feature", "probe", "kernel", "-j"], capture_output=True, text=True, timeout=30
    )
    tracing = json.loads(r.stdout)["program_types"]["have_tracing_prog_type"]
    assert report["by_name"]["fentry"]["status"] == ("ok" if tracing else "warn")


def test_cgroup_mode_matches_the_filesystems(report: dict[str, Any]) -> None:
    top = fstype("/sys/fs/cgroup")
    if top == "cgroup2fs":
        expected = "v2"
    elif fstype("/sys/fs/cgroup/unified") == "cgroup2fs":
        expected = "hybrid"
    else:
        expected = "v1"
    assert report["by_name"]["cgroups"]["detail"].startswith(expected + " ")


def test_ringbuf_ok_on_this_kernel(report: dict[str, Any]) -> None:
    assert report["by_name"]["ringbuf"]["status"] == "ok"


def test_docker_line_matches_what_answers(report: dict[str, Any]) -> None:
    d = report["by_name"]["docker"]
    if os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists():
        assert d["status"] in ("ok", "warn")
    else:
        assert d["status"] == "warn" and "embedded lab" in d["detail"]


def test_text_output_is_one_line_per_check(report: dict[str, Any]) -> None:
    r = doctor()
    assert r.returncode == 0 and "Traceback" not in r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == len(report["checks"])
    assert "can run here" in r.stdout


def test_not_root_fails_with_the_fix_and_no_traceback(as_nobody: list[str]) -> None:
    r = doctor(user=as_nobody)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    priv = next(line for line in r.stdout.splitlines() if "privileges" in line)
    assert priv.startswith("[FAIL]") and "sudo" in priv
    assert "cannot run here" in r.stderr


def test_own_bpf_probes_work_as_root() -> None:
    from beefine_tui import doctor as d

    ok, detail = d.probe_bpf_prog_load()
    assert ok, detail
    assert d.probe_ringbuf_map() is True  # this kernel has ring buffers (ENVIRONMENT.md)


def test_own_bpf_probes_say_eperm_as_nobody(as_nobody: list[str]) -> None:
    code = "from beefine_tui import doctor as d; print(d.probe_bpf_prog_load()); print(d.probe_ringbuf_map())"
    r = subprocess.run(
        [*as_nobody, sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    assert first.startswith("(False") and "EPERM" in first
    assert second == "None"  # no permission says nothing about support


def test_docker_line_with_a_daemon_that_answers(lab: Any) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "doctor", "--json"],
        capture_output=True, text=True, timeout=90, cwd="/",
        env={**os.environ, "DOCKER_HOST": lab.docker_host},
    )  # fmt: skip
    d = {c["name"]: c for c in json.loads(r.stdout)["checks"]}["docker"]
    assert d["status"] == "ok" and lab.docker_host in d["detail"] and "Docker 20." in d["detail"]


def test_docker_line_with_a_dead_docker_host(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "doctor", "--json"],
        capture_output=True, text=True, timeout=90, cwd="/",
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"},
    )  # fmt: skip
    d = {c["name"]: c for c in json.loads(r.stdout)["checks"]}["docker"]
    assert d["status"] == "warn" and "no Docker socket" in d["detail"] and d["fix"]
