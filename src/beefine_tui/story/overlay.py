"""overlay2 as Docker uses it: parse overlay mount data and map lowerdirs back to image layers.

Layout (moby daemon/graphdriver/overlay2/overlay.go, 20.10):
  <data-root>/overlay2/<cache-id>/diff     a layer's files
  <data-root>/overlay2/<cache-id>/link     the layer's short name
  <data-root>/overlay2/<cache-id>/lower    "l/A:l/B" short links of the layers below it
  <data-root>/overlay2/l/<short>           symlink -> ../<cache-id>/diff (keeps mount data under a page)
  <data-root>/image/overlay2/layerdb/sha256/<chain-id>/{cache-id,diff}   layer store: cache-id, diff-id
  <data-root>/image/overlay2/layerdb/mounts/<container-id>/{mount-id,init-id}
  <data-root>/image/overlay2/distribution/v2metadata-by-diffid/sha256/<diff-id>  -> compressed digests
The parsing functions are pure; `LayerIndex.load` reads the files above.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class OverlayData:
    lowerdir: tuple[str, ...] = ()  # top (newest) first, as the kernel takes them
    upperdir: str = ""
    workdir: str = ""
    other: tuple[str, ...] = ()  # index=off, xino, ...
    truncated: bool = False


def parse_overlay_data(data: str) -> OverlayData:
    """Parse the `data` argument of mount(2) for overlay ("lowerdir=a:b,upperdir=u,workdir=w")."""
    truncated = data.endswith("…")
    if truncated:
        data = data[:-1]
    lower: tuple[str, ...] = ()
    upper = work = ""
    other: list[str] = []
    for opt in data.split(","):
        key, sep, value = opt.partition("=")
        if not sep:
            if opt:
                other.append(opt)
            continue
        if key == "lowerdir":
            lower = tuple(x for x in value.split(":") if x)
        elif key == "upperdir":
            upper = value
        elif key == "workdir":
            work = value
        else:
            other.append(opt)
    return OverlayData(lower, upper, work, tuple(other), truncated)


def short_link(entry: str) -> str | None:
    """'l/ABC' or '/x/overlay2/l/ABC' -> 'ABC'; None when the entry is not a short link."""
    parts = entry.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "l":
        return parts[-1]
    return None


def cache_id_of_dir(path: str) -> str | None:
    """'/x/overlay2/<cache-id>/diff' (or .../merged, /work) -> '<cache-id>'."""
    parts = path.rstrip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part == "overlay2" and i + 1 < len(parts) and parts[i + 1] not in ("l", ""):
            return parts[i + 1]
    return None


@dataclass
class LayerRef:
    cache_id: str
    diff_id: str = ""  # sha256 of the uncompressed tar (image config rootfs.diff_ids)
    digests: tuple[str, ...] = ()  # sha256 of the compressed blob(s) in a registry (manifest layers)
    chain_id: str = ""
    size: int = 0  # uncompressed bytes the layer adds (layerdb "size")

    @property
    def label(self) -> str:
        if self.cache_id.endswith("-init"):
            return "init layer (Docker's /etc/hosts, /etc/hostname, /etc/resolv.conf, /dev stubs)"
        if self.digests:
            return self.digests[0]
        if self.diff_id:
            return f"diff-id {self.diff_id}"
        return f"layer dir {self.cache_id[:12]}"


@dataclass
class LayerIndex:
    """What the daemon's layer store says about layer directories (read once, then pure lookups)."""

    by_cache_id: dict[str, LayerRef] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # short link -> cache-id

    @classmethod
    def load(cls, data_root: str | Path) -> LayerIndex:
        root = Path(data_root)
        idx = cls()
        links_dir = root / "overlay2" / "l"
        try:
            for entry in os.scandir(links_dir):
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    continue
                cid = cache_id_of_dir(os.path.normpath(os.path.join(links_dir, target)))
                if cid:
                    idx.links[entry.name] = cid
        except OSError:
            pass
        layerdb = root / "image" / "overlay2" / "layerdb" / "sha256"
        v2meta = root / "image" / "overlay2" / "distribution" / "v2metadata-by-diffid" / "sha256"
        try:
            chains = list(os.scandir(layerdb))
        except OSError:
            chains = []
        for chain in chains:
            try:
                cache_id = (Path(chain.path) / "cache-id").read_text().strip()
                diff_id = (Path(chain.path) / "diff").read_text().strip()
            except OSError:
                continue
            digests: tuple[str, ...] = ()
            size = 0
            with contextlib.suppress(OSError, ValueError):
                size = int((Path(chain.path) / "size").read_text().strip() or 0)
            try:
                meta = json.loads((v2meta / diff_id.removeprefix("sha256:")).read_text())
                digests = tuple(str(m["Digest"]) for m in meta if isinstance(m, dict) and "Digest" in m)
            except (OSError, ValueError, TypeError):
                pass
            idx.by_cache_id[cache_id] = LayerRef(cache_id, diff_id, digests, "sha256:" + chain.name, size)
        return idx

    def resolve(self, entry: str) -> LayerRef:
        """A lowerdir entry or a layer directory -> what is known about that layer."""
        link = short_link(entry)
        cid = self.links.get(link) if link else cache_id_of_dir(entry)
        if cid is None:
            cid = link or entry
        return self.by_cache_id.get(cid) or LayerRef(cid)


def container_mount_id(data_root: str | Path, container_id: str) -> str | None:
    p = Path(data_root) / "image" / "overlay2" / "layerdb" / "mounts" / container_id / "mount-id"
    try:
        return p.read_text().strip() or None
    except OSError:
        return None


def container_lower(data_root: str | Path, mount_id: str) -> list[str]:
    """The authoritative lowerdir list of a container's overlay (the `lower` file), top first."""
    try:
        text = (Path(data_root) / "overlay2" / mount_id / "lower").read_text().strip()
    except OSError:
        return []
    return [x for x in text.split(":") if x]
