"""An image's structure, from the registry (HTTP API v2) and from the daemon.

OCI image-spec (image-index.md, manifest.md, config.md, layer.md) and the Docker registry API v2
(distribution spec.md): a tag resolves to a manifest, or to an index listing one manifest per
platform; a manifest names a config blob (env, cmd, entrypoint, workdir, volumes, rootfs.diff_ids)
and the layers, each a (usually gzip-compressed) tar addressed by the sha256 of its bytes.
The lab registry is plain HTTP on 127.0.0.1, so urllib is enough; TLS registries are tried with https.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from beefine_tui.docker.runner import check_reference, split_tag
from beefine_tui.errors import BeefineError, NotFoundError
from beefine_tui.story.overlay import LayerIndex

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_LIST_BYTES = 64 << 20  # list files of layers up to this size (compressed); larger: say so
MAX_FILES = 2_000
TIMEOUT = 10.0


@dataclass
class LayerInfo:
    digest: str
    size: int
    media_type: str = ""
    diff_id: str = ""
    files: list[str] = field(
        default_factory=list
    )  # what it adds ("path", "path -> target", "path (deleted)")
    files_total: int = 0
    files_note: str = ""


@dataclass
class ImageStructure:
    reference: str
    source: str  # "registry http://127.0.0.1:5000" or "daemon"
    index: list[dict[str, Any]] = field(default_factory=list)  # platform manifests of an index
    manifest_digest: str = ""
    manifest_media_type: str = ""
    config_digest: str = ""
    env: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    workdir: str = ""
    volumes: list[str] = field(default_factory=list)
    architecture: str = ""
    os: str = ""
    layers: list[LayerInfo] = field(default_factory=list)
    history: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"{self.reference}  ({self.source})"]
        if self.index:
            out.append("index (one manifest per platform):")
            out += [f"  {m.get('platform', '')}: {m.get('digest', '')}" for m in self.index]
        if self.manifest_digest:
            out.append(f"manifest: {self.manifest_digest} ({self.manifest_media_type})")
        out.append(f"config: {self.config_digest}  {self.os}/{self.architecture}")
        out.append(
            f"  entrypoint: {self.entrypoint or '-'}  cmd: {self.cmd or '-'}  workdir: {self.workdir or '/'}"
        )
        out.append(f"  env: {', '.join(self.env) or '-'}")
        out.append(f"  volumes: {', '.join(self.volumes) or '-'}")
        unit = "uncompressed, on disk" if self.source == "daemon" else "compressed, as downloaded"
        out.append(f"layers ({len(self.layers)}, bottom first; sizes {unit}):")
        for i, layer in enumerate(self.layers):
            out.append(
                f"  [{i}] {layer.digest or '(digest unknown: not pulled)'}  {_size(layer.size)}"
                + (f"  diff-id {layer.diff_id}" if layer.diff_id else "")
            )
            if i < len(self.history) and self.history[i]:
                out.append(f"      made by: {self.history[i][:100]}")
            shown = layer.files[:20]
            out += [f"      + {f}" for f in shown]
            if layer.files_total > len(shown):
                out.append(f"      ... {layer.files_total - len(shown)} more")
            if layer.files_note:
                out.append(f"      ({layer.files_note})")
        return out


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def parse_reference(image: str) -> tuple[str, str, str]:
    """-> (registry host[:port], repository, tag-or-digest). Docker Hub names get docker.io/library."""
    check_reference(image)
    name, at, digest = image.partition("@")
    repo, tag = split_tag(name)
    first = repo.split("/")[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        host, path = first, repo.split("/", 1)[1]
    else:
        host, path = "registry-1.docker.io", repo if "/" in repo else f"library/{repo}"
    return host, path, (digest if at else tag or "latest")


class Registry:
    """Minimal registry API v2 client (anonymous), with clear errors."""

    def __init__(self, host: str, timeout: float = TIMEOUT) -> None:
        self.host = host
        self.timeout = timeout
        local = host.startswith(("127.", "localhost", "[::1]"))
        self.base = f"{'http' if local else 'https'}://{host}"

    def get(self, path: str, accept: str = "", limit: int = 16 << 20) -> tuple[bytes, dict[str, str]]:
        req = urllib.request.Request(self.base + path, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                data = r.read(limit + 1)
                return data, {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NotFoundError(
                    f"the registry {self.host} has no {path.split('/v2/', 1)[-1]}",
                    "check the repository and tag",
                ) from None
            if e.code == 401:
                raise BeefineError(
                    f"the registry {self.host} wants a login for {path}", "only anonymous access is supported"
                ) from None
            raise BeefineError(f"the registry {self.host} answered HTTP {e.code} for {path}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise BeefineError(
                f"the registry {self.host} does not answer: {reason}",
                "is it running? (`beefine-tui lab status` for the lab's registry)",
            ) from None


def from_registry(image: str, list_files: bool = True, platform: str = "linux/amd64") -> ImageStructure:
    host, repo, ref = parse_reference(image)
    reg = Registry(host)
    body, headers = reg.get(f"/v2/{repo}/manifests/{ref}", ACCEPT)
    doc = _json(body, "manifest")
    st = ImageStructure(reference=image, source=f"registry {reg.base}")
    mt = str(doc.get("mediaType") or headers.get("content-type", ""))
    if mt in INDEX_TYPES or "manifests" in doc:
        chosen = None
        for m in doc.get("manifests") or []:
            p = m.get("platform") or {}
            pl = f"{p.get('os', '?')}/{p.get('architecture', '?')}" + (
                f"/{p['variant']}" if p.get("variant") else ""
            )
            st.index.append({"platform": pl, "digest": m.get("digest", ""), "size": m.get("size", 0)})
            if chosen is None and pl.startswith(platform):
                chosen = m
        if chosen is None:
            raise NotFoundError(
                f"{image} has no manifest for {platform}", "pick an image built for this platform"
            )
        body, headers = reg.get(f"/v2/{repo}/manifests/{chosen['digest']}", ACCEPT)
        doc = _json(body, "manifest")
        mt = str(doc.get("mediaType") or headers.get("content-type", ""))
    st.manifest_digest = headers.get("docker-content-digest", "")
    st.manifest_media_type = mt
    cfg = doc.get("config") or {}
    st.config_digest = str(cfg.get("digest", ""))
    config = _json(reg.get(f"/v2/{repo}/blobs/{st.config_digest}")[0], "config") if st.config_digest else {}
    _apply_config(st, config)
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    for i, layer in enumerate(doc.get("layers") or []):
        li = LayerInfo(
            str(layer.get("digest", "")), int(layer.get("size", 0)), str(layer.get("mediaType", ""))
        )
        if i < len(diff_ids):
            li.diff_id = str(diff_ids[i])
        if list_files:
            if li.size > MAX_LIST_BYTES:
                li.files_note = f"not listed: {_size(li.size)} is more than this view downloads"
            else:
                blob, _ = reg.get(f"/v2/{repo}/blobs/{li.digest}", limit=MAX_LIST_BYTES)
                li.files, li.files_total = list_tar(blob)
        st.layers.append(li)
    return st


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        d = json.loads(body)
    except ValueError:
        raise BeefineError(f"the registry sent a {what} that is not JSON") from None
    if not isinstance(d, dict):
        raise BeefineError(f"the registry sent a {what} that is not an object")
    return d


def _apply_config(st: ImageStructure, config: dict[str, Any]) -> None:
    c = config.get("config") or config.get("Config") or {}
    st.env = list(c.get("Env") or [])
    st.cmd = list(c.get("Cmd") or [])
    st.entrypoint = list(c.get("Entrypoint") or [])
    st.workdir = str(c.get("WorkingDir") or "")
    st.volumes = sorted((c.get("Volumes") or {}).keys())
    st.architecture = str(config.get("architecture") or config.get("Architecture") or "")
    st.os = str(config.get("os") or config.get("Os") or "")
    st.history = [
        str(h.get("created_by", "")) for h in config.get("history") or [] if not h.get("empty_layer")
    ]


def list_tar(blob: bytes, max_files: int = MAX_FILES) -> tuple[list[str], int]:
    """Files a layer adds (whiteouts `.wh.X` shown as `X (deleted)`, image-spec layer.md)."""
    raw = blob
    if blob[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(blob)
        except (OSError, EOFError):
            return [], 0
    files: list[str] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
            for m in tf:
                total += 1
                if len(files) >= max_files:
                    continue
                name = m.name
                base = name.rsplit("/", 1)[-1]
                if base.startswith(".wh."):
                    files.append(name[: len(name) - len(base)] + base[4:] + " (deleted)")
                elif m.issym():
                    files.append(f"{name} -> {m.linkname}")
                elif m.isdir():
                    files.append(name.rstrip("/") + "/")
                else:
                    files.append(f"{name} ({m.size} B)")
    except tarfile.TarError:
        return files, total
    return files, total


def from_daemon(
    client: Any, image: str, data_root: str | None = None, list_files: bool = True
) -> ImageStructure:
    """The same view from the daemon: config from `image inspect`, layer diff-ids, and (with the data
    root readable) the files of each layer from its overlay2 directory."""
    import docker.errors

    try:
        img = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise NotFoundError(
            f"the daemon has no image {image}", "pull it first (`beefine-tui trace --pull`)"
        ) from None
    attrs = img.attrs
    st = ImageStructure(reference=image, source="daemon")
    st.config_digest = str(attrs.get("Id", ""))
    st.manifest_digest = ", ".join(attrs.get("RepoDigests") or [])
    _apply_config(
        st,
        {
            "config": attrs.get("Config") or {},
            "architecture": attrs.get("Architecture"),
            "os": attrs.get("Os"),
        },
    )
    with_hist = []
    try:
        for h in reversed(img.history()):
            if h.get("Size", 0) or "#(nop)" not in str(h.get("CreatedBy", "")):
                with_hist.append(str(h.get("CreatedBy", "")))
    except Exception:
        pass
    st.history = with_hist
    diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
    dirs = _layer_dirs(attrs)

    idx = LayerIndex.load(data_root) if data_root else None
    by_diff = {r.diff_id: r for r in idx.by_cache_id.values()} if idx else {}
    for i, d in enumerate(diff_ids):
        ref = by_diff.get(d)
        li = LayerInfo(
            digest=(ref.digests[0] if ref and ref.digests else ""),
            size=ref.size if ref else 0,
            diff_id=str(d),
        )
        if list_files and ref is not None and data_root:
            li.files, li.files_total = list_dir(f"{data_root}/overlay2/{ref.cache_id}/diff")
        elif list_files and i < len(dirs):
            li.files, li.files_total = list_dir(dirs[i])
        st.layers.append(li)
    return st


def _layer_dirs(attrs: dict[str, Any]) -> list[str]:
    data = (attrs.get("GraphDriver") or {}).get("Data") or {}
    lower = [x for x in str(data.get("LowerDir", "")).split(":") if x]
    upper = data.get("UpperDir")
    return list(reversed(lower)) + ([str(upper)] if upper else [])


def list_dir(path: str, max_files: int = MAX_FILES) -> tuple[list[str], int]:
    import os

    files: list[str] = []
    total = 0
    for root, dnames, fnames in os.walk(path):
        for n in sorted(dnames) + sorted(fnames):
            total += 1
            if len(files) < max_files:
                full = os.path.join(root, n)
                rel = os.path.relpath(full, path)
                if os.path.islink(full):
                    files.append(f"{rel} -> {os.readlink(full)}")
                elif os.path.isdir(full):
                    files.append(rel + "/")
                else:
                    files.append(f"{rel} ({os.path.getsize(full)} B)")
    return files, total
