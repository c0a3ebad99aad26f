"""Capabilities, seccomp, no_new_privs, LSM label and id maps from a fake /proc."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui.docker.security import decode_caps, parse_id_map, read_security

# Docker's default set (moby oci/caps/defaults.go), as CapEff reads in a default container here
DOCKER_DEFAULT = "00000000a80425fb"


def test_decode_docker_default_caps() -> None:
    assert decode_caps(DOCKER_DEFAULT) == [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SYS_CHROOT",
        "CAP_MKNOD",
        "CAP_AUDIT_WRITE",
        "CAP_SETFCAP",
    ]


def test_decode_edge_cases() -> None:
    assert decode_caps("0000000000000000") == []
    assert decode_caps("zz") == []
    assert decode_caps(f"{1 << 40 | 1 << 45:x}") == ["CAP_CHECKPOINT_RESTORE", "CAP_45"]


def test_id_map() -> None:
    m = parse_id_map("         0          0 4294967295\n")
    assert [(x.inside, x.outside, x.count) for x in m] == [(0, 0, 4294967295)]
    m2 = parse_id_map("0 100000 65536\n")
    assert m2[0].outside == 100000


def write(
    proc: Path, pid: int | str, status: str, attr: str | None = None, uid_map: str = "0 0 4294967295\n"
) -> None:
    d = proc / str(pid)
    (d / "attr").mkdir(parents=True)
    (d / "status").write_text(status)
    (d / "uid_map").write_text(uid_map)
    (d / "gid_map").write_text(uid_map)
    if attr is not None:
        (d / "attr" / "current").write_text(attr)


def test_read_security(tmp_path: Path) -> None:
    write(tmp_path, 1, "CapBnd:\t000001ffffffffff\n")
    (tmp_path / "1" / "ns").mkdir()
    (tmp_path / "1" / "ns" / "mnt").symlink_to("mnt:[1]")
    status = (
        f"CapPrm:\t{DOCKER_DEFAULT}\nCapEff:\t{DOCKER_DEFAULT}\nCapBnd:\t{DOCKER_DEFAULT}\n"
        "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"
    )
    write(tmp_path, 42, status, attr="docker-default (enforce)\n", uid_map="0 100000 65536\n")
    s = read_security(42, str(tmp_path))
    assert len(s.cap_effective) == 14 and "CAP_SYS_ADMIN" in s.dropped_from_host
    assert s.seccomp == "filter" and s.seccomp_filters == 1 and s.no_new_privs is True
    assert s.lsm_label == "docker-default (enforce)"
    assert s.user_namespace == "remapped"


def test_read_security_unconfined_and_gone(tmp_path: Path) -> None:
    write(tmp_path, 5, "CapEff:\t0\nSeccomp:\t0\nNoNewPrivs:\t0\n", attr="unconfined\n")
    s = read_security(5, str(tmp_path), host_pid=5)
    assert s.seccomp == "disabled" and s.no_new_privs is False and s.lsm_label == "unconfined"
    assert s.user_namespace.startswith("host's")
    with pytest.raises(FileNotFoundError):
        read_security(6, str(tmp_path), host_pid=5)
