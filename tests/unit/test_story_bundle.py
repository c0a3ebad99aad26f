"""config.json summary (runtime-spec field names) and finding it by container id."""

from __future__ import annotations

import json
from pathlib import Path

from beefine_tui.story.bundle import BundleWatcher, find_config, read_summary, summarise

CONFIG = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "user": {"uid": 0, "gid": 0},
        "args": ["echo", "hi"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_CHOWN", "CAP_NET_RAW"]},
        "noNewPrivileges": True,
    },
    "root": {"path": "/d/overlay2/m1/merged"},
    "hostname": "abcdef012345",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
        {"destination": "/etc/hosts", "source": "/d/containers/x/hosts", "options": ["rbind", "rprivate"]},
    ],
    "linux": {
        "cgroupsPath": "/docker/abc",
        "namespaces": [{"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}],
        "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]},
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/bus", "/proc/fs"],
    },
}


def test_summarise() -> None:
    s = summarise(CONFIG, "/x/config.json")
    assert s.args == ["echo", "hi"]
    assert s.namespaces == ["mount", "network (join /proc/1/ns/net)"]
    assert s.capabilities == ["CAP_CHOWN", "CAP_NET_RAW"]
    assert s.no_new_privileges is True
    assert s.seccomp_default_action == "SCMP_ACT_ERRNO" and s.seccomp_syscall_rules == 1
    assert s.cgroups_path == "/docker/abc"
    assert [m["type"] for m in s.mounts] == ["proc", "bind"]
    assert s.masked_paths == ["/proc/kcore"] and len(s.readonly_paths) == 2
    text = "\n".join(s.lines())
    assert "CHOWN" in text and "cgroupsPath: /docker/abc" in text


def test_summarise_empty_config() -> None:
    s = summarise({})
    assert s.args == [] and s.namespaces == [] and s.capabilities == []


def test_find_and_watch(tmp_path: Path) -> None:
    cid = "c" * 64
    d = tmp_path / "containerd/daemon/io.containerd.runtime.v2.task/moby" / cid
    d.mkdir(parents=True)
    assert find_config(cid, (str(tmp_path),)) is None
    w = BundleWatcher(cid, (str(tmp_path),), timeout=10).start()
    (d / "config.json").write_text(json.dumps(CONFIG))
    assert w.found.wait(5)
    w.stop()
    w.stop()  # idempotent
    assert w.summary is not None and w.summary.args == ["echo", "hi"]
    assert find_config(cid, (str(tmp_path),)) == d / "config.json"


def test_bad_config_is_none(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{nope")
    assert read_summary(tmp_path / "c.json") is None
    assert read_summary(tmp_path / "missing.json") is None
