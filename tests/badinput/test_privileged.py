"""Hostile input that needs root, real BPF or a real daemon: a full disk under a live probe, an
existing file given to --record, a user with capabilities but not root, a program the verifier
rejects and a broken bpftrace script read from files, a daemon that is down, names that do not exist.
Each checks the message, the exit code, and that the run went on or left nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.record import read_recording
from beefine_tui.probes.user_program import UserBpftraceProgram, load_user_program
from tests.badinput.conftest import Result, assert_clear, cli_sub
from tests.lab_fixtures import NOBODY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WITH_CAPS = (*NOBODY, "--inh-caps", "+bpf,+perfmon", "--ambient-caps", "+bpf,+perfmon")
NO_DAEMON = "unix:///run/beefine/no-such-daemon.sock"


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """A copy of /bin/true at a path nobody else execs: the event we make and look for."""
    d = Path("/tmp") / f"bfbad{uuid.uuid4().hex[:8]}"
    d.mkdir()
    p = d / "mark"
    shutil.copy("/bin/true", p)
    try:
        yield p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_while_execing(argv: list[str], marker: Path) -> Result:
    """Run the CLI; exec `marker` again and again until it exits, so its probes see it live."""
    done = threading.Event()

    def exec_loop() -> None:
        while not done.is_set():
            subprocess.run([str(marker)], check=False)
            done.wait(0.1)

    t = threading.Thread(target=exec_loop, daemon=True)
    t.start()
    try:
        return cli_sub(*argv, timeout=180)
    finally:
        done.set()
        t.join(5)


def no_beefine_children() -> None:
    left = [p for p in psutil.Process().children(recursive=True) if "beefine_tui" in " ".join(p.cmdline())]
    assert not left, left


def test_full_disk_while_probing_goes_on_and_says_incomplete(marker: Path) -> None:
    r = run_while_execing(
        ["probe", "run", "exec", "--duration", "6", "--json", "--record", "/dev/full", "--force"], marker
    )
    assert_clear(r, 1, "INCOMPLETE", "No space left on device", "the probes go on")
    lines = [json.loads(x) for x in r.out.splitlines()]
    # the live stream went on: our own exec is there, and the failure is in the stream itself
    assert any(e.get("args", {}).get("filename") == str(marker) for e in lines)
    assert any(e["probe"] == "recording" and e["args"].get("state") == "failed" for e in lines)
    no_beefine_children()


def test_record_refuses_an_existing_file_before_loading_anything(tmp_path: Path) -> None:
    src = tmp_path / "prog.c"
    src.write_text("int main(void) { return 0; }\n")
    r = cli_sub("probe", "run", "exec", "--duration", "1", "--record", str(src))
    assert_clear(r, 2, "already exists; not overwriting it", "--force")
    assert src.read_text() == "int main(void) { return 0; }\n"


def test_recording_is_private_and_complete(tmp_path: Path, marker: Path) -> None:
    rec = tmp_path / "r.jsonl"
    r = run_while_execing(["probe", "run", "exec", "--duration", "5", "--json", "--record", str(rec)], marker)
    assert r.rc == 0, r.err
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600  # it holds every process's argv
    _, events = read_recording(rec)
    got = list(events)
    assert events.complete and any(e.args.get("filename") == str(marker) for e in got)
    assert len(got) == len(r.out.splitlines())  # what was shown is what was saved


def test_caps_but_tracefs_root_only_names_tracefs(as_nobody: list[str]) -> None:
    if (
        os.access("/sys/kernel/tracing/events", os.R_OK, effective_ids=False)
        and stat.S_IMODE(os.stat("/sys/kernel/tracing").st_mode) & 0o005
    ):
        pytest.skip("tracefs is readable by others here")
    r = cli_sub("probe", "run", "exec", "--duration", "1", prefix=WITH_CAPS, cwd="/")
    assert_clear(r, 77, "tracefs is mounted at /sys/kernel/tracing but uid 65534 cannot read it")
    assert "not mounted" not in r.err


def test_caps_are_not_enough_for_bpftrace(as_nobody: list[str]) -> None:
    r = cli_sub("probe", "run", "bt-tcp", "--duration", "1", prefix=WITH_CAPS, cwd="/")
    assert_clear(r, 77, "bpftrace runs only as root (uid 0)", "uid 65534")
    # and bpftrace itself agrees (the independent source): it refuses a non-root uid
    own = subprocess.run([*WITH_CAPS, "bpftrace", "-e", "BEGIN { exit(); }"], capture_output=True, text=True)
    assert own.returncode != 0 and "root" in own.stderr


def test_caps_without_net_admin_name_it_for_xdp(as_nobody: list[str]) -> None:
    r = cli_sub("probe", "run", "xdp", "--interface", "lo", "--duration", "1", prefix=WITH_CAPS, cwd="/")
    assert_clear(r, 77, "XDP program needs root or CAP_BPF and CAP_NET_ADMIN", "lacks CAP_NET_ADMIN")


def test_no_caps_at_all_names_both(as_nobody: list[str]) -> None:
    r = cli_sub("probe", "run", "exec", "--duration", "1", prefix=tuple(NOBODY), cwd="/")
    assert_clear(r, 77, "uid 65534 lacks CAP_BPF and CAP_PERFMON")


def test_doctor_with_caps_says_what_they_do_not_give(as_nobody: list[str]) -> None:
    r = cli_sub("doctor", "--json", prefix=WITH_CAPS, cwd="/")
    assert "Traceback" not in r.err
    checks = {c["name"]: c for c in json.loads(r.out)["checks"]}
    assert checks["privileges"]["status"] == "warn" and "bpftrace" in checks["privileges"]["detail"]
    assert "may not read" in checks["tracefs"]["detail"]


def my_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "prog", "list", "-j"], capture_output=True, text=True, timeout=60).stdout
    mine = set()
    for p in json.loads(out or "[]"):
        if any(h.get("pid") == os.getpid() for h in p.get("pids", [])):
            mine.add(int(p["id"]))
    return mine


REJECTED = """// name: bad-verifier
BPF_HASH(counts, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    u32 key = 0;
    u64 *val = counts.lookup(&key);
    *val += 1;
    return 0;
}
"""


def test_verifier_rejection_from_a_file_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "reject.c"
    src.write_text(REJECTED)
    before = my_prog_ids()
    prog = load_user_program(src)
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    prog.stop()
    assert "the verifier rejected" in e.value.message and e.value.line == 7
    assert my_prog_ids() <= before


def test_broken_bpftrace_script_from_a_file_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "broken.bt"
    src.write_text(
        '// name: bad-bt\ntracepoint:syscalls:sys_enter_execve\n{\n  printf("%d\\n", nope(pid));\n}\n'
    )
    prog = load_user_program(src)
    assert isinstance(prog, UserBpftraceProgram)
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    pid = prog.pid
    prog.stop()
    assert "nope" in e.value.message and e.value.line == 4
    assert pid is None or not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "anything", "--docker-host", NO_DAEMON],
        ["stats", "--docker-host", NO_DAEMON],
        ["probe", "run", "exec", "--container", "x", "--docker-host", NO_DAEMON],
        ["trace", "busybox", "--docker-host", NO_DAEMON],
        ["image", "busybox", "--source", "daemon", "--docker-host", NO_DAEMON],
    ],
    ids=["inspect", "stats", "probe", "trace", "image"],
)
def test_daemon_down(argv: list[str]) -> None:
    r = cli_sub(*argv)
    assert r.rc == 69, r.err
    assert "Traceback" not in r.err and "internal error" not in r.err and "daemon" in r.err.lower()
    no_beefine_children()


def test_missing_container(lab: Any) -> None:
    r = cli_sub("inspect", "no-such-container-here", "--docker-host", lab.docker_host)
    assert_clear(r, 2, "no-such-container-here")


def test_image_the_lab_registry_lacks(lab: Any, lab_client: Any) -> None:
    ref = f"{lab.registry}/beefine/no-such-image:1"
    r = cli_sub("trace", ref, "--docker-host", lab.docker_host, "--pull", "--probes", "process")
    assert r.rc != 0 and "Traceback" not in r.err and "internal error" not in r.err
    assert "no-such-image" in r.err
    assert not lab_client.containers.list(all=True, filters={"label": "beefine"})


@pytest.mark.parametrize("pull", [False, True], ids=["missing-here", "pull"])
def test_missing_image_fails_before_any_probe_loads(
    lab: Any, lab_client: Any, tmp_path: Path, pull: bool
) -> None:
    """Every default probe group asked for, yet a name neither the daemon nor the lab registry has
    fails on the name: strace (an independent account) sees no BPF program loaded and no bpftrace
    started by the CLI or its children."""
    ref = f"{lab.registry}/beefine/no-such-image-{uuid.uuid4().hex[:6]}:1"
    log = tmp_path / "strace.log"
    strace = ("strace", "-f", "-qq", "-e", "trace=bpf,execve", "-o", str(log))
    argv = ["trace", ref, "--docker-host", lab.docker_host, *(["--pull"] if pull else []), "--", "true"]
    r = cli_sub(*argv, prefix=strace)
    calls = log.read_text()
    assert "execve(" in calls, "strace saw nothing: the checks below would prove nothing"
    assert "BPF_PROG_LOAD" not in calls, "a BPF program was loaded"
    assert "bpftrace" not in calls, "bpftrace was started"
    assert_clear(r, 2, "no image", ref, "does not have it")
    assert "tracing " not in r.err
    assert not lab_client.containers.list(all=True, filters={"label": "beefine"})


def test_trace_onto_a_full_disk_still_tells_the_story(lab: Any, lab_client: Any) -> None:
    r = cli_sub(
        "trace", lab.images["small"], "--docker-host", lab.docker_host, "--record", "/dev/full", "--force",
        "--probes", "process", "--", "true",
    )  # fmt: skip
    assert_clear(r, 1, "INCOMPLETE", "No space left on device")
    assert "exec" in r.out.lower()  # the story was printed (it was empty: the pump thread died)
    assert not lab_client.containers.list(all=True, filters={"label": "beefine"})


NOBODY_HTTP = r"""
import json, sys, urllib.error, urllib.request
base, digest = sys.argv[1], sys.argv[2]
asks = [
    ("GET", "/v2/"),
    ("PUT", "/v2/beefine/busybox/manifests/evil"),
    ("DELETE", f"/v2/beefine/busybox/manifests/{digest}"),
    ("POST", "/v2/beefine/busybox/blobs/uploads/"),
]
codes = {}
for method, path in asks:
    req = urllib.request.Request(base + path, method=method, data=b"{}" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            codes[f"{method} {path}"] = r.status
    except urllib.error.HTTPError as e:
        codes[f"{method} {path}"] = e.code
print(json.dumps(codes))
"""

PRIVATE_FILES = (
    "lab.json", "dockerd.log", "registry.log", "registry.yml", "daemon.json",
    "registry-auth.json", "registry.htpasswd", "docker-config/config.json",
)  # fmt: skip


def test_lab_registry_refuses_another_local_user(lab: Any, as_nobody: list[str]) -> None:
    import base64
    import urllib.request

    from beefine_tui.docker.lab import registry_auth

    login = registry_auth(lab.registry)
    assert login is not None
    basic = base64.b64encode(f"{login['username']}:{login['password']}".encode()).decode()
    accept = "application/vnd.docker.distribution.manifest.v2+json"

    def manifest_digest() -> str:
        req = urllib.request.Request(
            f"http://{lab.registry}/v2/beefine/busybox/manifests/latest",
            method="HEAD",
            headers={"Authorization": f"Basic {basic}", "Accept": accept},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return str(r.headers["Docker-Content-Digest"])

    digest = manifest_digest()
    r = subprocess.run(
        [*NOBODY, sys.executable, "-c", NOBODY_HTTP, f"http://{lab.registry}", digest],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    codes = json.loads(r.stdout)
    assert set(codes.values()) == {401}, codes  # before: pushes and deletes from anyone were accepted
    # the registry's own account: the image is as it was, and no tag `evil` appeared in its storage
    assert manifest_digest() == digest
    tags = lab.state_dir / "registry/docker/registry/v2/repositories/beefine/busybox/_manifests/tags"
    assert sorted(p.name for p in tags.iterdir()) == ["latest"]
    # the login and the logs are root's alone, and nobody cannot read them
    for name in PRIVATE_FILES:
        mode = stat.S_IMODE((lab.state_dir / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    peek = subprocess.run(
        [*NOBODY, "cat", str(lab.state_dir / "registry-auth.json")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert peek.returncode != 0 and "Permission denied" in peek.stderr


def test_docker_cli_pulls_with_the_labs_config_dir(lab: Any, lab_client: Any) -> None:
    if not shutil.which("docker"):
        pytest.skip("the docker CLI is not installed")
    repo = f"{lab.registry}/beefine/busybox"
    env = {**os.environ, "DOCKER_HOST": lab.docker_host}
    env.pop("DOCKER_CONFIG", None)
    without = subprocess.run(
        ["docker", "--config", "/nonexistent-beefine", "pull", f"{repo}:latest"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert without.returncode != 0 and "no basic auth credentials" in (without.stderr + without.stdout)
    with_login = subprocess.run(
        ["docker", "--config", str(lab.state_dir / "docker-config"), "pull", f"{repo}:latest"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert with_login.returncode == 0, with_login.stderr


def test_full_disk_on_stdout_stops_with_the_reason(marker: Path) -> None:
    with open("/dev/full", "wb") as full:
        done = threading.Event()

        def exec_loop() -> None:
            while not done.is_set():
                subprocess.run([str(marker)], check=False)
                done.wait(0.1)

        t = threading.Thread(target=exec_loop, daemon=True)
        t.start()
        try:
            r = subprocess.run(
                [sys.executable, "-m", "beefine_tui", "probe", "run", "exec", "--duration", "30"],
                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
            )  # fmt: skip
        finally:
            done.set()
            t.join(5)
    # it stopped at the first failed write, said why, and exited 1
    assert r.returncode == 1, r.stderr
    assert "writing the events failed (No space left on device)" in r.stderr
    assert "Traceback" not in r.stderr
    no_beefine_children()
