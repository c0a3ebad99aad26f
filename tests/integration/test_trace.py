"""The story of real `docker run`s in the lab (real dockerd, registry, BPF): one probe session for the
module (loading probes is the slow part), many runs, each checked for exactly its own story, and
after each run nothing of it left (container by its run label); after the module, no BPF program
held by this process and no bpftrace child left."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.docker.image_structure import from_registry
from beefine_tui.docker.lab import WHITED_OUT, LabInfo
from beefine_tui.docker.runner import find_daemon
from beefine_tui.errors import BeefineError, NotFoundError
from beefine_tui.events.bus import Bus
from beefine_tui.story.engine import DEFAULT_NS_FLAGS, shared_counts
from beefine_tui.story.overlay import LayerIndex
from beefine_tui.story.phases import DONE, FAILED, Timeline
from beefine_tui.story.render import phase_detail_lines
from beefine_tui.story.trace import DEFAULT_GROUPS, TraceRun, daemon_target, probes_for, start_sessions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CREATION = [
    "rootfs", "bundle", "runtime", "cgroup", "namespaces",
    "mounts", "pivot_root", "hostname", "security", "exec",
]  # fmt: skip
IN_ORDER = ["rootfs", "namespaces", "mounts", "pivot_root", "hostname", "exec"]


def bpf_prog_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-prog":
                n += 1
    return n


def bpftrace_children() -> list[int]:
    return [p.pid for p in psutil.Process().children(recursive=True) if p.name() == "bpftrace"]


class Env:
    def __init__(self, lab: LabInfo, client: Any, bus: Bus, data_root: str, exec_roots: tuple[str, ...]):
        self.lab = lab
        self.client = client
        self.bus = bus
        self.data_root = data_root
        self.exec_roots = exec_roots

    def trace(
        self,
        image: str,
        cmd: list[str] | None = None,
        pull: bool | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[TraceRun, Any]:
        tr = TraceRun(
            self.client, image, self.bus, command=cmd, pull=pull,
            exec_roots=self.exec_roots, data_root=self.data_root, create_options=options or {},
        )  # fmt: skip
        tr.start_pump()
        try:
            result = tr.run(timeout=60)
        finally:
            tr.stop()
        assert tr.runner is not None
        left = self.client.containers.list(all=True, filters={"label": f"beefine.run={tr.runner.run_tag}"})
        assert not left, f"containers of run {tr.runner.run_tag} left: {left}"
        return tr, result


@pytest.fixture(scope="module")
def env(lab: LabInfo, lab_client: Any) -> Iterator[Env]:
    before_fds = bpf_prog_fds()
    data_root = str(lab_client.info()["DockerRootDir"])
    daemon = find_daemon(lab.docker_host, data_root)
    assert daemon.dockerd_pid is not None, "the lab's dockerd was not found"
    names, notes = probes_for(DEFAULT_GROUPS, "lo")  # the lab registry is on 127.0.0.1: XDP on lo
    assert not notes, notes
    assert "xdp" in names
    bus = Bus()
    sessions = start_sessions(names, daemon_target(daemon), bus, "lo")
    try:
        yield Env(lab, lab_client, bus, data_root, daemon.exec_roots)
    finally:
        for s in sessions:
            s.stop()
    assert bpf_prog_fds() == before_fds, "BPF programs of the trace are still held by this process"
    assert not bpftrace_children(), "bpftrace processes of the trace are still running"


def check_backbone(tl: Timeline, cid: str, argv: list[str]) -> None:
    found = tl.found()
    missing = [p for p in CREATION if p not in found]
    assert not missing, f"phases not found: {missing}; found {found}"
    phase_starts = [tl.phase(n).start_ns for n in IN_ORDER]
    starts = [s for s in phase_starts if s is not None]
    assert starts == phase_starts and starts == sorted(starts), dict(zip(IN_ORDER, phase_starts, strict=True))
    flags = tl.phase("namespaces").details["unshare_flags"]
    for f in DEFAULT_NS_FLAGS:
        assert f in flags, flags
    assert tl.phase("hostname").details["hostname"] == cid[:12]
    assert tl.phase("pivot_root").state == DONE
    assert tl.phase("exec").details["argv"] == argv


def test_trace_of_a_run_tells_the_whole_story(env: Env) -> None:
    image = env.lab.images["layered"]
    tr, res = env.trace(image, ["echo", "beefine-e"])
    cid = res.container_id
    tl = tr.timeline()
    check_backbone(tl, cid, ["echo", "beefine-e"])
    assert tl.exit_code == 0 and res.exit_code == 0
    assert tl.phase("pull").state == "skipped"
    # the overlay's lowerdirs are exactly the image's layers (top first), under Docker's init layer
    idx = LayerIndex.load(env.data_root)
    by_diff = {r.diff_id: r.cache_id for r in idx.by_cache_id.values()}
    diff_ids = env.client.images.get(image).attrs["RootFS"]["Layers"]
    expected = [by_diff[d] for d in reversed(diff_ids)]
    lower = [x["cache_id"] for x in tl.phase("rootfs").details["lowerdir"]]
    assert lower[0].endswith("-init")
    assert lower[1:] == expected
    # the bundle was read and matches what ran
    assert tl.phase("bundle").details["config"]["args"] == ["echo", "beefine-e"]
    assert cid in tl.phase("cgroup").details["paths"][0] or tl.phase("cgroup").details["paths"][0][8:] in cid


def test_pull_of_a_missing_image_fetches_and_unpacks_each_layer_once(env: Env) -> None:
    image = env.lab.images["layered"]
    env.client.images.remove(image, force=True)
    try:
        tr, res = env.trace(image, ["true"], pull=None)  # missing -> pulled
    finally:
        with contextlib.suppress(Exception):
            env.client.images.pull(image)  # leave the lab as it was for the other tests
    assert res.pulled
    tl = tr.timeline()
    manifest = list(tr.engine.hints.manifest_digests)
    assert len(manifest) == 3, manifest
    pulled = tl.phase("pull").details["layers"]
    fetched = sorted(d.get("digest", "") for d in pulled.values() if d["fetches"])
    assert fetched == sorted(manifest), pulled
    assert all(d["fetches"] == 1 and d["extracts"] == 1 for d in pulled.values())
    unpacked = tl.phase("unpack").details["layers"]
    assert sorted(rec["digest"] for rec in unpacked.values()) == sorted(manifest), unpacked
    assert all(rec["helpers"] == 1 for rec in unpacked.values())
    assert tl.phase("pull").details["connections"] >= 1
    # XDP on lo saw at least the compressed layers cross it during the pull
    sizes = sum(li.compressed_size or 0 for li in from_registry(image, list_files=False).layers)
    assert tl.phase("pull").details["xdp"]["tcp_bytes"] >= sizes
    assert tl.phase("exec").state == DONE
    # the tree each layer builds; the top layer deletes a file of the first: a real overlayfs whiteout
    bottom, middle, top = (next(r for r in unpacked.values() if r["digest"] == d) for d in manifest)
    # docker-untar is chrooted into the layer's directory: the path is the one inside the image
    assert top["whiteouts"] == 1 and top["whiteout_paths"] == ["/" + WHITED_OUT], top
    assert bottom["whiteouts"] == middle["whiteouts"] == 0
    assert bottom["dirs"] >= 2 and bottom["files"] >= 2  # layer 1: directories and busybox
    assert middle["symlinks"] >= 100  # layer 2: busybox's applet links
    lines = phase_detail_lines(tl.phase("unpack"), limit=50)
    assert f"  deleted from the layers below (whiteouts): /{WHITED_OUT}" in lines, lines
    # and the container does not see the deleted file
    out = env.client.containers.run(image, ["ls", "/etc/beefine"], remove=True).decode()
    assert "README" in out and WHITED_OUT.rsplit("/", 1)[1] not in out


def test_two_containers_at_once_get_their_own_story(env: Env) -> None:
    image = env.lab.images["small"]
    out: dict[str, tuple[TraceRun, Any]] = {}
    errors: list[BaseException] = []

    def go(tag: str) -> None:
        try:
            out[tag] = env.trace(image, ["sh", "-c", f"exit {tag}"])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=go, args=(t,)) for t in ("3", "4")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    (ta, ra), (tb, rb) = out["3"], out["4"]
    a, b = ta.timeline(), tb.timeline()
    check_backbone(a, ra.container_id, ["sh", "-c", "exit 3"])
    check_backbone(b, rb.container_id, ["sh", "-c", "exit 4"])
    assert (a.exit_code, b.exit_code) == (3, 4)
    assert not shared_counts(a, b)
    for tl, other in ((a, rb.container_id), (b, ra.container_id)):
        for p in tl.phases:
            for e in p.events:
                assert other not in str(e.args) and other[:12] not in str(e.args.get("name", "")), (p.name, e)


def test_ten_runs_find_every_phase_every_time(env: Env) -> None:
    image = env.lab.images["small"]
    misses = []
    for i in range(10):
        tr, res = env.trace(image, ["true"])
        found = tr.timeline().found()
        missing = [p for p in [*CREATION, "exit"] if p not in found]
        if missing:
            misses.append((i, res.container_id, missing))
    assert not misses


def test_missing_command_shows_where_runc_failed(env: Env) -> None:
    tr, res = env.trace(env.lab.images["small"], ["/no/such/cmd"])
    assert res.error and "/no/such/cmd" in res.error
    ex = tr.timeline().phase("exec")
    assert ex.state == FAILED
    assert "/no/such/cmd" in ex.reason and "before exec" in ex.reason
    assert tr.timeline().phase("pivot_root").state == DONE  # it got that far


def test_image_the_registry_lacks(env: Env) -> None:
    with pytest.raises(NotFoundError) as ei:
        env.trace(f"{env.lab.registry}/beefine/no-such-image:1", ["true"], pull=True)
    assert "no-such-image" in ei.value.message


def test_registry_not_answering(env: Env) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(BeefineError) as ei:
        env.trace(f"127.0.0.1:{port}/beefine/small:1", ["true"], pull=True)
    assert "connection refused" in ei.value.message.lower() or "pull" in ei.value.message


def test_interrupt_mid_pull_leaves_nothing(env: Env) -> None:
    image = env.lab.images["small"]
    env.client.images.remove(image, force=True)
    tr = TraceRun(
        env.client, image, env.bus, command=["true"], exec_roots=env.exec_roots, data_root=env.data_root
    )
    assert tr.runner is not None
    seen = threading.Event()

    def stop_at_first_progress(args: dict[str, Any]) -> None:
        seen.set()
        if tr.runner is not None:
            tr.runner.stop()

    tr.runner.on_progress = stop_at_first_progress
    tr.start_pump()
    try:
        with pytest.raises(KeyboardInterrupt):
            tr.run(timeout=30)
    finally:
        tr.stop()
        with contextlib.suppress(Exception):
            env.client.images.pull(image)
    assert seen.is_set()
    assert tr.runner.result.container_id is None
    assert not env.client.containers.list(all=True, filters={"label": f"beefine.run={tr.runner.run_tag}"})


def test_cli_daemon_down_and_ctrl_c(env: Env, tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "beefine_tui"]
    r = subprocess.run(
        [*exe, "trace", "--docker-host", f"unix://{tmp_path}/none.sock", "busybox"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 69, r.stderr
    assert "Traceback" not in r.stderr and "beefine-tui:" in r.stderr
    # Ctrl-C while the container runs: exit 130, container and probes gone
    p = subprocess.Popen(
        [*exe, "trace", "--probes", "process", "--docker-host", env.lab.docker_host,
         env.lab.images["small"], "--", "sleep", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        running = None
        for _ in range(600):
            cs = env.client.containers.list(
                filters={"label": "beefine=1", "ancestor": env.lab.images["small"]}
            )
            running = [c for c in cs if c.attrs["Config"]["Cmd"] == ["sleep", "60"]]
            if running:
                break
            if p.poll() is not None:
                break
            threading.Event().wait(0.2)
        assert p.stderr is not None
        assert running, f"the traced container never ran: {p.stderr.read() if p.poll() is not None else ''}"
        p.send_signal(2)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert "namespaces" in out  # the story so far was printed
    import docker.errors

    for c in running:
        with pytest.raises(docker.errors.NotFound):
            env.client.containers.get(c.id)


# The container reports what the kernel holds for it (its own /proc/self/status and mount table), and
# the story must say the same about what runc did: the kernel's account is the independent source.
SELF_REPORT = [
    "sh", "-c",
    "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; grep '^overlay / ' /proc/self/mounts;"
    " echo pid=$$; ls /sys/class/net",
]  # fmt: skip


def kernel_report(output: str) -> tuple[dict[str, str], str]:
    status = {}
    root = ""
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("NoNewPrivs", "Seccomp", "CapEff"):
            status[key] = value.strip()
        elif line.startswith("overlay / "):
            root = line
    return status, root


@pytest.mark.parametrize(
    ("label", "options"),
    [
        ("default", {}),
        ("no-new-privileges", {"security_opt": ["no-new-privileges"]}),
        ("read-only", {"read_only": True}),
        ("cap-drop ALL", {"cap_drop": ["ALL"]}),
    ],
)
def test_security_story_says_what_this_run_did(env: Env, label: str, options: dict[str, Any]) -> None:
    tr, res = env.trace(env.lab.images["small"], SELF_REPORT, options=options)
    tl = tr.timeline()
    assert res.exit_code == 0, res
    output = tl.phase("exit").details.get("output", "")
    status, root = kernel_report(output)
    assert set(status) == {"NoNewPrivs", "Seccomp", "CapEff"} and root, output
    # the entrypoint is pid 1 inside; on the host it is runc:[2:INIT]'s pid, the one that exec'd
    assert "pid=1" in output.splitlines(), output
    assert tl.phase("runtime").details["init_pid_on_host"] == tl.phase("exec").details["pid_on_host"]
    sec = tl.phase("security").details
    # no_new_privs: the story saw prctl(PR_SET_NO_NEW_PRIVS) exactly when the kernel has it set
    assert sec["no_new_privs"] is (status["NoNewPrivs"] == "1"), (sec, status)
    assert sec["no_new_privs"] is (label == "no-new-privileges")
    # seccomp: Docker's profile loaded with prctl(PR_SET_SECCOMP) (runc 1.1, no filter flags)
    assert (
        status["Seccomp"] == "2" and sec["seccomp_loaded"] and sec["seccomp_via"] == "prctl(PR_SET_SECCOMP)"
    )
    # the order follows no_new_privs: seccomp before the capability drop only without it
    assert sec["seccomp_before_cap_drop"] is (not sec["no_new_privs"]), sec
    assert ("was set (configured)" in sec["path"]) is sec["no_new_privs"]
    # capabilities: what capset left is the kernel's effective set
    left = {str(c) for c in sec["capabilities"]}
    assert len(left) == bin(int(status["CapEff"], 16)).count("1"), (left, status)
    assert (not left) is (label == "cap-drop ALL")
    # --read-only: / is remounted read-only after pivot_root (finalizeRootfs), and the kernel agrees
    remounts = tl.phase("mounts").details.get("remounts_after_pivot", [])
    root_ro = " ro," in root or root.split()[3].startswith("ro")
    assert root_ro is (label == "read-only"), root
    assert any("MS_RDONLY" in r and "MS_REMOUNT" in r for r in remounts) is root_ro, remounts
    # masked and read-only paths are named for what they are
    masks = sec["readonly_or_masked"]
    assert any("masked: /dev/null bound over the file" in m for m in masks), masks
    assert any("read-only path: remounted" in m for m in masks), masks
    # phases end with their own work: the rootfs and the bundle are done before the entrypoint runs,
    # and the removal after the exit is teardown, where runc delete removed every cgroup it made
    exec_start = tl.phase("exec").start_ns
    for name in ("rootfs", "bundle", "cgroup", "mounts", "hook", "pivot_root"):
        end = tl.phase(name).end_ns
        assert end is not None and exec_start is not None and end < exec_start, name
    td = tl.phase("teardown")
    assert td.start_ns is not None and td.start_ns >= (tl.phase("exit").start_ns or 0)
    assert td.details["cgroups_removed"] == tl.phase("cgroup").details["hierarchies"]
    assert not list(Path("/sys/fs/cgroup/memory/docker").glob(f"{res.container_id}*"))
    # the network hook: Docker's libnetwork-setkey ran between the mounts and pivot_root
    hook = tl.phase("hook").details
    assert any("libnetwork-setkey" in h for h in hook["hooks"])
    # while it ran, dockerd entered the new network namespace, and the container has its eth0
    assert hook["dockerd_netns"]["setns"] >= 1 and "eth0" in output.split(), (hook, output)
    # and the netlink probe says how: the veth pair made in the host, one end moved in, named eth0
    steps = hook["network_setup"]
    assert any("type veth" in s for s in steps) and any("(move)" in s for s in steps), steps
    assert any("name eth0" in s for s in steps) and any("default route" in s for s in steps), steps
    assert tl.phase("mounts").start_ns < tl.phase("hook").start_ns < tl.phase("pivot_root").start_ns  # type: ignore[operator]
