"""The doctor's classification logic on fake inputs: no root, no real kernel files needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui import doctor
from beefine_tui.doctor import Check
from beefine_tui.probes import kernel_config

RELEASE = "6.18.44-test"

V1_HYBRID = """\
25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,name=systemd
28 25 0:25 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
"""
V2 = "30 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1 = """\
25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw
27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
"""
# optional fields between the mount options and " - " must not confuse the parser
V2_WITH_OPTIONAL_FIELDS = "30 1 0:26 / /sys/fs/cgroup rw shared:4 master:1 - cgroup2 cgroup2 rw\n"


@pytest.mark.parametrize(
    ("text", "mode"),
    [(V1_HYBRID, "hybrid"), (V2, "v2"), (V1, "v1"), (V2_WITH_OPTIONAL_FIELDS, "v2"), ("", "none")],
)
def test_cgroup_mode(text: str, mode: str) -> None:
    assert doctor.classify_cgroups(text)[0] == mode


def test_cgroup_check_status() -> None:
    assert doctor.check_cgroups(V1_HYBRID).status == "ok"
    assert "hybrid" in doctor.check_cgroups(V1_HYBRID).detail
    assert doctor.check_cgroups("").status == "fail"


def _modules(tmp_path: Path) -> Path:
    mods = tmp_path / "lib" / "modules" / RELEASE
    mods.mkdir(parents=True)
    return mods


def _headers(tmp_path: Path, version: str) -> Path:
    h = tmp_path / "usr" / "src" / f"linux-headers-{version}"
    (h / "include").mkdir(parents=True)
    (h / "Makefile").write_text("")
    return h


def test_headers_exact(tmp_path: Path) -> None:
    mods = _modules(tmp_path)
    (mods / "build").symlink_to(_headers(tmp_path, RELEASE))
    assert doctor.classify_headers(RELEASE, mods)[0] == "exact"
    assert doctor.check_headers(RELEASE, mods).status == "ok"


def test_headers_fallback_names_the_package(tmp_path: Path) -> None:
    mods = _modules(tmp_path)
    (mods / "build").symlink_to(_headers(tmp_path, "6.1.0-56-amd64"))
    (mods / ".beefine-fallback-headers").write_text("linux-headers-6.1.0-56-amd64\n")
    kind, where = doctor.classify_headers(RELEASE, mods)
    assert kind == "fallback" and "linux-headers-6.1.0-56-amd64" in where
    c = doctor.check_headers(RELEASE, mods)
    assert c.status == "warn" and "fallback" in c.detail and f"linux-headers-{RELEASE}" in c.fix


def test_headers_mismatched_without_marker(tmp_path: Path) -> None:
    mods = _modules(tmp_path)
    (mods / "build").symlink_to(_headers(tmp_path, "5.10.0-1"))
    assert doctor.classify_headers(RELEASE, mods)[0] == "mismatched"
    assert doctor.check_headers(RELEASE, mods).status == "warn"


@pytest.mark.parametrize("kind", ["missing", "dangling", "empty"])
def test_headers_none(tmp_path: Path, kind: str) -> None:
    mods = _modules(tmp_path)
    if kind == "dangling":
        (mods / "build").symlink_to(tmp_path / "nowhere")
    elif kind == "empty":
        (mods / "build").mkdir()
    assert doctor.classify_headers(RELEASE, mods)[0] == "none"
    c = doctor.check_headers(RELEASE, mods)
    assert c.status == "fail" and c.fix


def test_kconfig_parsing() -> None:
    cfg = kernel_config.parse_kconfig(
        'CONFIG_BPF=y\n# CONFIG_KPROBES is not set\nCONFIG_X="abc"\n# comment\n'
    )
    assert cfg == {"CONFIG_BPF": "y", "CONFIG_KPROBES": "n", "CONFIG_X": "abc"}


def test_kprobes_from_config_and_tracefs() -> None:
    off = doctor.check_kprobes({"CONFIG_KPROBES": "n"}, kprobe_events=False)
    assert off.status == "warn" and "not available on this kernel" in off.detail
    assert doctor.check_kprobes({"CONFIG_KPROBES": "y"}, kprobe_events=False).status == "ok"
    assert doctor.check_kprobes(None, kprobe_events=True).status == "ok"
    assert doctor.check_kprobes(None, kprobe_events=False).status == "warn"
    assert "unknown" in doctor.check_kprobes(None, kprobe_events=None).detail


def test_fentry_from_bpftool_features() -> None:
    yes: dict[str, object] = {"program_types": {"have_tracing_prog_type": True}}
    no: dict[str, object] = {"program_types": {"have_tracing_prog_type": False}}
    assert doctor.check_fentry(yes).status == "ok"
    c = doctor.check_fentry(no)
    assert c.status == "warn" and "not available on this kernel" in c.detail
    assert doctor.check_fentry(None, have_bpftool=False).fix.startswith("sudo apt-get install bpftool")
    assert "root" in doctor.check_fentry(None, have_bpftool=True).fix


def test_ringbuf_sources_in_order() -> None:
    feats: dict[str, object] = {"map_types": {"have_ringbuf_map_type": False}}
    assert doctor.check_ringbuf(feats, True, "6.1.0").status == "warn"  # bpftool's answer wins
    assert doctor.check_ringbuf(None, True, "4.19.0").status == "ok"  # then our own probe
    assert doctor.check_ringbuf(None, None, "5.8.0").status == "ok"  # then the version
    assert doctor.check_ringbuf(None, None, "5.4.0-100-generic").status == "warn"


def test_kernel_version() -> None:
    assert doctor.kernel_version("6.18.44-fc-v782") == (6, 18)
    assert doctor.kernel_version("weird") == (0, 0)


def test_privileges() -> None:
    assert doctor.check_privileges(0, 0).status == "ok"
    caps = (1 << doctor.CAP_BPF) | (1 << doctor.CAP_PERFMON)
    with_caps = doctor.check_privileges(1000, caps)
    # capabilities load BCC probes, but not bpftrace (uid 0 only) nor XDP (CAP_NET_ADMIN): said up front
    assert with_caps.status == "warn"
    assert "bpftrace runs only as root" in with_caps.detail and "CAP_NET_ADMIN" in with_caps.detail
    only_bpf = doctor.check_privileges(1000, 1 << doctor.CAP_BPF)
    assert only_bpf.status == "fail" and "sudo" in only_bpf.fix


def test_bpftrace_version() -> None:
    assert doctor.check_bpftrace("bpftrace v0.17.0\n").detail == "bpftrace 0.17.0"
    assert doctor.check_bpftrace(None).status == "warn"
    assert doctor.check_bpftrace("garbage").status == "warn"


def test_tracefs(tmp_path: Path) -> None:
    tr = tmp_path / "tracing"
    dbg = tmp_path / "debug" / "tracing"
    assert doctor.check_tracefs(tr, dbg).status == "fail"
    (dbg / "events").mkdir(parents=True)
    assert doctor.check_tracefs(tr, dbg).status == "ok"


def test_docker_check() -> None:
    assert doctor.check_docker("unix:///x.sock", "20.10.24", "", "/usr/sbin/dockerd").status == "ok"
    lab = doctor.check_docker(None, None, "", "/usr/sbin/dockerd")
    assert lab.status == "warn" and "embedded lab" in lab.detail
    none = doctor.check_docker(None, None, "", None)
    assert none.status == "warn" and "docker.io" in none.fix
    broken = doctor.check_docker("unix:///x.sock", None, "permission denied", "/usr/sbin/dockerd")
    assert "permission denied" in broken.detail
    assert "embedded lab" not in broken.detail  # a DOCKER_HOST the user set is used, answering or not
    assert "unset DOCKER_HOST" in broken.fix


def test_exit_code_fails_only_on_fail() -> None:
    assert doctor.exit_code([Check("a", "ok", ""), Check("b", "warn", "")]) == 0
    assert doctor.exit_code([Check("a", "ok", ""), Check("b", "fail", "")]) == 1


def test_a_crashing_check_becomes_a_failed_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(text: str) -> Check:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(doctor, "check_cgroups", boom)
    monkeypatch.setattr(doctor, "_docker", lambda: (None, None, ""))
    checks = {c.name: c for c in doctor.run_checks()}
    assert checks["cgroups"].status == "fail" and "kaboom" in checks["cgroups"].detail
    assert "privileges" in checks and "headers" in checks  # the rest still ran


def test_lab_prerequisites() -> None:
    assert (
        doctor.check_lab({"docker.io": True, "docker-registry": True, "busybox-static": True}).status == "ok"
    )
    c = doctor.check_lab({"docker.io": True, "docker-registry": False, "busybox-static": False})
    assert c.status == "warn" and c.fix.startswith("sudo apt-get install docker-registry busybox-static")


def test_doctor_over_remote_prints_the_hosts_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`doctor --remote` against a stand-in agent (tests/fake_agent.py): its checks, printed by the
    local command's code, the exit code theirs, the host named; --json is the checks as they came."""
    import json

    from beefine_tui.cli import main
    from tests.fake_agent import FAKE_CHECKS, install_fake_ssh

    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    monkeypatch.setattr(doctor, "run_checks", lambda: pytest.fail("the local checks must not run"))
    rc = main(["doctor", "--remote", "admin@db1"])
    out, err = capsys.readouterr()
    import msgspec

    assert rc == doctor.exit_code(msgspec.convert(FAKE_CHECKS, list[Check])) != 0
    assert "[WARN] headers" in out and "-> fix: install linux-headers" in out
    assert "[FAIL] bpftrace" in out and "cannot run on db1 yet: fix bpftrace" in err
    assert main(["doctor", "--remote", "admin@db1", "--json"]) == rc
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"ok": False, "checks": FAKE_CHECKS}
