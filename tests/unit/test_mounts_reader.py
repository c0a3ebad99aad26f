"""mountinfo parsing and overlay layers -> image layer digests on a fake overlay2 data root."""

from __future__ import annotations

import os
from pathlib import Path

from beefine_tui.docker.mounts import overlay_layers, overlay_options, parse_mountinfo, root_mount

SAMPLE = (
    (
        "83 55 0:39 / / rw,relatime master:3 - overlay overlay "
        "rw,lowerdir=/x/l/A:/x/l/B,upperdir=/x/c1/diff,workdir=/x/c1/work\n"
    )
    + """\
84 83 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
89 88 0:29 /docker/abc /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
100 83 254:0 /var/lib/docker/containers/abc/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
101 83 254:0 /home/me/my\\040dir /data rw,relatime shared:7 master:2 - ext4 /dev/vda rw
"""
)


def test_parse_fields_and_propagation() -> None:
    ms = parse_mountinfo(SAMPLE)
    assert [m.mount_point for m in ms] == ["/", "/proc", "/sys/fs/cgroup/cpu", "/etc/resolv.conf", "/data"]
    root = ms[0]
    assert (root.mount_id, root.parent_id, root.device, root.fstype) == (83, 55, "0:39", "overlay")
    assert root.propagation == "master:3"
    assert ms[1].propagation == "private" and ms[1].options == "rw,nosuid,nodev,noexec,relatime"
    assert ms[2].root == "/docker/abc"
    assert ms[3].root.endswith("/resolv.conf") and ms[3].source == "/dev/vda"
    assert ms[4].root == "/home/me/my dir"  # \040 unescaped
    assert ms[4].propagation == "shared:7 master:2"
    assert root_mount(ms) is root


def test_garbage_lines_are_skipped() -> None:
    assert parse_mountinfo("not a mountinfo line\n\n12 x\n") == []


def test_overlay_options() -> None:
    o = overlay_options("rw,lowerdir=/a:/b:/c,upperdir=/u,workdir=/w,index=off")
    assert o == {"lowerdir": ["/a", "/b", "/c"], "upperdir": ["/u"], "workdir": ["/w"]}


def make_root(tmp_path: Path) -> Path:
    """A fake Docker data root: two image layers, an init layer and a container layer."""
    root = tmp_path / "docker"
    ov = root / "overlay2"
    (ov / "l").mkdir(parents=True)
    for cache, short in (("base1", "SB"), ("top2", "ST"), ("ctr-init", "SI"), ("ctr", "SC")):
        (ov / cache / "diff").mkdir(parents=True)
        os.symlink(f"../{cache}/diff", ov / "l" / short)
    db = root / "image" / "overlay2" / "layerdb" / "sha256"
    for chain, cache, diff in (("c1", "base1", "sha256:d1"), ("c2", "top2", "sha256:d2")):
        (db / chain).mkdir(parents=True)
        (db / chain / "cache-id").write_text(cache)
        (db / chain / "diff").write_text(diff)
        (db / chain / "size").write_text("42")
    return root


def test_overlay_layers_map_to_digests(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    ov = root / "overlay2"
    line = (
        f"1 0 0:1 / / rw - overlay overlay rw,lowerdir={ov}/l/SI:{ov}/l/ST:{ov}/l/SB,"
        f"upperdir={ov}/ctr/diff,workdir={ov}/ctr/work\n"
    )
    layers = overlay_layers(parse_mountinfo(line)[0])
    assert [(la.position, la.cache_id, la.chain_id, la.diff_id) for la in layers] == [
        (0, "ctr", "", ""),
        (1, "ctr-init", "", ""),
        (2, "top2", "sha256:c2", "sha256:d2"),
        (3, "base1", "sha256:c1", "sha256:d1"),
    ]
    assert layers[0].role.startswith("upper")
    assert layers[1].role.startswith("init")
    assert layers[2].role == "image layer" and layers[2].size == 42


def test_overlay_with_unknown_layers(tmp_path: Path) -> None:
    line = "1 0 0:1 / / rw - overlay overlay rw,lowerdir=/nowhere/l/Z,upperdir=/nowhere/q/diff,workdir=/w\n"
    layers = overlay_layers(parse_mountinfo(line)[0])
    assert len(layers) == 2 and layers[1].chain_id == "" and "not in the image store" in layers[1].role
