"""A container's mount table (/proc/<pid>/mountinfo) and its overlay root mapped back to image layers.

mountinfo format: proc(5) "/proc/pid/mountinfo": mount id, parent id, major:minor, root, mount
point, mount options, optional fields ending with "-", fs type, source, super options. Paths escape
space, tab, newline and backslash as octal (\\040...).

Overlay2 (moby daemon/graphdriver/overlay2/overlay.go): every layer is a directory
<root>/overlay2/<cache-id>/ with diff/ (its files) and a short link
<root>/overlay2/l/<ID> -> ../<cache-id>/diff
so mount options stay under a page; lowerdir lists the layers top first. The image store
(<root>/image/overlay2/layerdb/sha256/<chain-id>/) records for each layer its cache-id (the directory
above) and diff (the uncompressed layer digest, the DiffID of the OCI image config's rootfs.diff_ids).
The container's own layers are layerdb/mounts/<container-id>/{mount-id,init-id}: the "-init" layer holds
empty mount points Docker mounts over (daemon/initlayer/setup_unix.go), the upper dir receives writes.
"""

from __future__ import annotations

import os
import re

import msgspec

_OCTAL = re.compile(r"\\([0-7]{3})")


class MountEntry(msgspec.Struct, kw_only=True):
    mount_id: int
    parent_id: int
    device: str  # major:minor
    root: str  # the part of the source filesystem mounted here (binds show a sub path)
    mount_point: str
    options: str  # per-mount options (ro, nosuid...)
    propagation: str  # "private" or shared:N / master:N / unbindable
    fstype: str
    source: str
    super_options: str  # filesystem options (overlay: lowerdir=...,upperdir=...)


class OverlayLayer(msgspec.Struct, kw_only=True):
    position: int  # 0 = top (the container's writable layer)
    role: str  # "upper (container writes)", "init (Docker's placeholders)", "image layer"
    path: str  # directory as the mount options give it
    cache_id: str = ""  # overlay2 directory name
    chain_id: str = ""  # layerdb key (sha256:...)
    diff_id: str = ""  # uncompressed layer digest (sha256:...), matches the image config
    size: int | None = None
    image_index: int | None = (
        None  # 1 = the image's base layer (rootfs.diff_ids order), None: not an image layer
    )


def unescape(s: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), s)


def parse_mountinfo(text: str) -> list[MountEntry]:
    out: list[MountEntry] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f = left.split(" ")
        r = right.split(" ")
        if len(f) < 6 or len(r) < 3:
            continue
        optional = f[6:]
        prop = " ".join(optional) if optional else "private"
        try:
            out.append(
                MountEntry(
                    mount_id=int(f[0]),
                    parent_id=int(f[1]),
                    device=f[2],
                    root=unescape(f[3]),
                    mount_point=unescape(f[4]),
                    options=f[5],
                    propagation=prop,
                    fstype=r[0],
                    source=unescape(r[1]),
                    super_options=unescape(" ".join(r[2:])),
                )
            )
        except ValueError:
            continue
    return out


def read_mountinfo(pid: int, proc: str = "/proc") -> list[MountEntry]:
    with open(f"{proc}/{pid}/mountinfo", "rb") as f:
        return parse_mountinfo(f.read().decode("utf-8", "replace"))


def overlay_options(super_options: str) -> dict[str, list[str]]:
    """lowerdir (top first), upperdir, workdir from overlay's super options."""
    out: dict[str, list[str]] = {}
    for opt in super_options.split(","):
        k, _, v = opt.partition("=")
        if k == "lowerdir":
            out[k] = [p for p in v.split(":") if p]
        elif k in ("upperdir", "workdir"):
            out[k] = [v]
    return out


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _layerdb(data_root: str) -> dict[str, tuple[str, str, int | None]]:
    """cache-id -> (chain-id, diff-id, size) from the image store."""
    base = os.path.join(data_root, "image", "overlay2", "layerdb", "sha256")
    out: dict[str, tuple[str, str, int | None]] = {}
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for chain in names:
        d = os.path.join(base, chain)
        cache = _read(os.path.join(d, "cache-id"))
        if not cache:
            continue
        size = _read(os.path.join(d, "size"))
        out[cache] = (
            "sha256:" + chain,
            _read(os.path.join(d, "diff")),
            int(size) if size.isdigit() else None,
        )
    return out


def _cache_id(path: str) -> tuple[str, str]:
    """(overlay2 dir, cache-id) for a layer path: .../overlay2/l/<short> or .../overlay2/<cache-id>/diff."""
    real = path
    parent = os.path.dirname(path)
    if os.path.basename(parent) == "l":
        try:
            target = os.readlink(path)  # "../<cache-id>/diff"
            real = os.path.normpath(os.path.join(parent, target))
        except OSError:
            return os.path.dirname(parent), ""
    if os.path.basename(real) == "diff":
        layer_dir = os.path.dirname(real)
        return os.path.dirname(layer_dir), os.path.basename(layer_dir)
    return os.path.dirname(real), ""


def overlay_layers(root_mount: MountEntry) -> list[OverlayLayer]:
    """The root overlay's layers, top (container's writable) first, with their image digests."""
    opts = overlay_options(root_mount.super_options)
    paths: list[tuple[str, str]] = []
    if "upperdir" in opts:
        paths.append(("upper", opts["upperdir"][0]))
    paths += [("lower", p) for p in opts.get("lowerdir", [])]
    if not paths:
        return []
    overlay_dir, _ = _cache_id(paths[0][1])
    db = _layerdb(os.path.dirname(overlay_dir))
    layers: list[OverlayLayer] = []
    for i, (kind, p) in enumerate(paths):
        _, cache = _cache_id(p)
        chain, diff, size = db.get(cache, ("", "", None))
        if kind == "upper":
            role = "upper: the container's writes"
        elif cache.endswith("-init"):
            # moby daemon/initlayer/setup_unix.go: empty files and dirs (/etc/hosts, /etc/resolv.conf,
            # /etc/hostname, /.dockerenv, /proc, /sys, /dev/pts, /dev/shm...) for Docker to mount over,
            # the top read-only layer so those mounts never touch the writable one
            role = "init: mount points Docker binds over"
        else:
            role = "image layer" if chain else "lower (not in the image store)"
        layers.append(
            OverlayLayer(
                position=i, role=role, path=p, cache_id=cache, chain_id=chain, diff_id=diff, size=size
            )
        )
    return layers


def root_mount(mounts: list[MountEntry]) -> MountEntry | None:
    """The mount at "/" that is visible last (a later mount over "/" hides earlier ones)."""
    found = None
    for m in mounts:
        if m.mount_point == "/":
            found = m
    return found
