"""An image's structure, from the registry (HTTP API v2) and from the daemon.

OCI image-spec (image-index.md, manifest.md, config.md, layer.md) and the Docker registry API v2
(distribution spec.md): a tag resolves to a manifest, or to an index listing one manifest per
platform; a manifest names a config blob (env, cmd, entrypoint, workdir, volumes, rootfs.diff_ids)
and the layers, each a (usually gzip-compressed) tar addressed by the sha256 of its bytes.
The lab registry is plain HTTP on 127.0.0.1, so urllib is enough; TLS registries are tried with https.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from beefine_tui.docker.lab import registry_auth
from beefine_tui.docker.runner import check_reference, split_tag
from beefine_tui.errors import BeefineError, DockerUnavailableError, NotFoundError
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
    # Two different sizes, never mixed: the blob as a registry stores and sends it (manifest "size",
    # usually gzip) and what its files take once unpacked (moby's layerdb "size": the sum of the
    # sizes of what is not a directory). None: this source does not know it.
    compressed_size: int | None = None
    unpacked_size: int | None = None
    media_type: str = ""
    diff_id: str = ""
    # what it changes: "path (N B)", "dir/", "path -> target", "path (deleted)", "dir/ (opaque)"
    files: list[str] = field(default_factory=list)
    files_total: int = 0
    files_note: str = ""


@dataclass
class HistoryStep:
    """One entry of the config's history (image-spec config.md): every Dockerfile step, including
    those that only change the config (CMD, LABEL, ENV...: `empty_layer`, no layer of their own)."""

    created_by: str
    empty_layer: bool = False


@dataclass
class ImageStructure:
    reference: str
    source: str  # "registry http://127.0.0.1:5000" or "daemon"
    index: list[dict[str, Any]] = field(default_factory=list)  # platform manifests of an index
    manifest_digest: str = ""  # sha256:... of the manifest, as the registry names it
    manifest_media_type: str = ""
    repo_digests: list[str] = field(default_factory=list)  # daemon: "repo@sha256:..." it knows
    config_digest: str = ""
    env: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    workdir: str = ""
    volumes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str = ""
    os: str = ""
    layers: list[LayerInfo] = field(default_factory=list)
    history: list[HistoryStep] = field(default_factory=list)
    history_note: str = ""  # where the history came from when not from the config itself
    compressed_size: int | None = None  # all layers' blobs, None when a source does not know
    unpacked_size: int | None = None  # all layers unpacked

    def layer_steps(self) -> list[str]:
        """created_by of the steps that made a layer, in layer order."""
        return [h.created_by for h in self.history if not h.empty_layer]

    def sum_sizes(self) -> None:
        comp = [li.compressed_size for li in self.layers]
        unp = [li.unpacked_size for li in self.layers]
        if self.layers and all(c is not None for c in comp):
            self.compressed_size = sum(c for c in comp if c is not None)
        if self.layers and all(u is not None for u in unp) and self.unpacked_size is None:
            self.unpacked_size = sum(u for u in unp if u is not None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"{self.reference}  ({self.source})"]
        if self.index:
            out.append("index (one manifest per platform):")
            out += [f"  {m.get('platform', '')}: {m.get('digest', '')}" for m in self.index]
        if self.manifest_digest:
            mt = f" ({self.manifest_media_type})" if self.manifest_media_type else ""
            out.append(f"manifest: {self.manifest_digest}{mt}")
        elif self.source == "daemon":
            out.append("manifest: none known to the daemon (never pushed or pulled by digest)")
        out.append(f"config: {self.config_digest}  {self.os}/{self.architecture}")
        out.append(
            f"  entrypoint: {self.entrypoint or '-'}  cmd: {self.cmd or '-'}  workdir: {self.workdir or '/'}"
        )
        out.append(f"  env: {', '.join(self.env) or '-'}")
        out.append(f"  volumes: {', '.join(self.volumes) or '-'}")
        out.append(f"  labels: {', '.join(f'{k}={v}' for k, v in sorted(self.labels.items())) or '-'}")
        out.append(
            f"size: compressed {_known(self.compressed_size, self._compressed_unknown())}, "
            f"unpacked {_known(self.unpacked_size, 'not known (layers not listed)')}"
        )
        steps = self.layer_steps()
        out.append(f"layers ({len(self.layers)}, bottom first):")
        for i, layer in enumerate(self.layers):
            out.append(
                f"  [{i}] {layer.digest or '(digest unknown: not pulled)'}"
                f"  compressed {_known(layer.compressed_size, '?')},"
                f" unpacked {_known(layer.unpacked_size, '?')}"
                + (f"  diff-id {layer.diff_id}" if layer.diff_id else "")
            )
            if i < len(steps) and steps[i]:
                out.append(f"      made by: {steps[i][:100]}")
            shown = layer.files[:20]
            out += [f"      {'-' if f.endswith(DELETED) else '+'} {f}" for f in shown]
            if layer.files_total > len(shown):
                out.append(f"      ... {layer.files_total - len(shown)} more")
            if layer.files_note:
                out.append(f"      ({layer.files_note})")
        if self.history:
            n_empty = sum(h.empty_layer for h in self.history)
            out.append(
                f"history ({len(self.history)} steps, oldest first; {n_empty} change only the config)"
                + (f"  [{self.history_note}]" if self.history_note else "")
            )
            layer_no = 0
            for h in self.history:
                if h.empty_layer:
                    where = "no layer"
                else:
                    where = f"layer {layer_no}"
                    layer_no += 1
                out.append(f"  {where:<9} {h.created_by[:100]}")
        return out

    def _compressed_unknown(self) -> str:
        if self.source == "daemon":
            return "not known to the daemon (it keeps layers unpacked)"
        return "?"


DELETED = " (deleted)"
OPAQUE = " (opaque: hides what lower layers have here)"


def _known(n: int | None, unknown: str) -> str:
    return unknown if n is None else _size(n)


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
        self.local = host.startswith(("127.", "localhost", "[::1]"))
        self.base = f"{'http' if self.local else 'https'}://{host}"

    def get(self, path: str, accept: str = "", limit: int = 16 << 20) -> tuple[bytes, dict[str, str]]:
        headers = {"Accept": accept} if accept else {}
        login = registry_auth(self.host)  # a lab registry wants its login (basic auth over 127.0.0.1)
        if login is not None:
            token = base64.b64encode(f"{login['username']}:{login['password']}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(self.base + path, headers=headers)
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
                hint = (
                    "a Beefine lab registry takes only the lab's own login, which only root can read: "
                    "run as root (sudo)"
                    if self.local
                    else "only anonymous access is supported"
                )
                raise BeefineError(f"the registry {self.host} wants a login for {path}", hint) from None
            raise BeefineError(f"the registry {self.host} answered HTTP {e.code} for {path}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise BeefineError(
                f"the registry {self.host} does not answer: {reason}",
                "is it running? (`beefine-tui lab status` for the lab's registry)",
            ) from None


def read_structures(
    image: str, host: str | None, source: str = "both", list_files: bool = True
) -> tuple[list[ImageStructure], list[str]]:
    """The image as the registry serves it and/or as the daemon at `host` holds it (`source`:
    registry, daemon or both), and a note for each source that could not be read. With one source
    asked for, its failure is raised; with both, only when neither could be read."""
    results: list[ImageStructure] = []
    errors: list[str] = []
    reg_host, _, _ = parse_reference(image)
    if source in ("registry", "both"):
        if source == "both" and reg_host == "registry-1.docker.io":
            errors.append("registry: skipped (Docker Hub cannot be reached offline; use --source registry)")
        else:
            try:
                results.append(from_registry(image, list_files=list_files))
            except BeefineError as e:
                if source == "registry":
                    raise
                errors.append(f"registry: {e.message}")
    if source in ("daemon", "both"):
        if host is None:
            msg = "no Docker daemon answers here"
            if source == "daemon":
                raise DockerUnavailableError(msg, "start Docker, pass --docker-host, or use --lab")
            errors.append(f"daemon: {msg}")
        else:
            from beefine_tui.docker.client import connect

            client = connect(host)
            try:
                data_root = str(client.info().get("DockerRootDir", ""))
                results.append(from_daemon(client, image, data_root, list_files=list_files))
            except BeefineError as e:
                if source == "daemon":
                    raise
                errors.append(f"daemon: {e.message}")
            finally:
                client.close()
    if not results:
        raise BeefineError(f"could not read {image} anywhere", "; ".join(errors) or "")
    return results, errors


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
        size = int(layer.get("size", 0))
        li = LayerInfo(
            str(layer.get("digest", "")), compressed_size=size, media_type=str(layer.get("mediaType", ""))
        )
        if i < len(diff_ids):
            li.diff_id = str(diff_ids[i])
        if list_files:
            if size > MAX_LIST_BYTES:
                li.files_note = f"not listed: {_size(size)} is more than this view downloads"
            else:
                blob, _ = reg.get(f"/v2/{repo}/blobs/{li.digest}", limit=MAX_LIST_BYTES)
                listing = scan_tar(blob)
                li.files, li.files_total, li.unpacked_size = listing.files, listing.total, listing.unpacked
        st.layers.append(li)
    st.sum_sizes()
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
    st.labels = {str(k): str(v) for k, v in (c.get("Labels") or {}).items()}
    st.architecture = str(config.get("architecture") or config.get("Architecture") or "")
    st.os = str(config.get("os") or config.get("Os") or "")
    st.history = [
        HistoryStep(str(h.get("created_by", "")), bool(h.get("empty_layer")))
        for h in config.get("history") or []
        if isinstance(h, dict)
    ]


@dataclass
class TarListing:
    files: list[str]
    total: int  # entries in the tar (files holds at most MAX_FILES of them)
    unpacked: int | None  # bytes its non-directory entries take unpacked; None: the tar is broken


def list_tar(blob: bytes, max_files: int = MAX_FILES) -> tuple[list[str], int]:
    listing = scan_tar(blob, max_files)
    return listing.files, listing.total


def scan_tar(blob: bytes, max_files: int = MAX_FILES) -> TarListing:
    """What a layer tar changes (image-spec layer.md: a `.wh.X` entry deletes X from the layers
    below, `.wh..wh..opq` in a directory hides all they have there), and its unpacked size the way
    moby's layer store counts it (pkg/directory Size: every non-directory's size, a symlink's being
    the length of its target, a hard link's counted once)."""
    raw = blob
    if blob[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(blob)
        except (OSError, EOFError):
            return TarListing([], 0, None)
    files: list[str] = []
    total = 0
    unpacked = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
            for m in tf:
                total += 1
                name = m.name
                base = name.rsplit("/", 1)[-1]
                parent = name[: len(name) - len(base)]
                if base == ".wh..wh..opq":
                    entry = parent.rstrip("/") + "/" + OPAQUE
                elif base.startswith(".wh."):
                    entry = parent + base[4:] + DELETED
                elif m.issym():
                    unpacked += len(m.linkname.encode())
                    entry = f"{name} -> {m.linkname}"
                elif m.isdir():
                    entry = name.rstrip("/") + "/"
                else:
                    unpacked += m.size  # hard links are stored with size 0: counted once
                    entry = f"{name} ({m.size} B)"
                if len(files) < max_files:
                    files.append(entry)
    except tarfile.TarError:
        return TarListing(files, total, None)
    return TarListing(files, total, unpacked)


def from_daemon(
    client: Any, image: str, data_root: str | None = None, list_files: bool = True
) -> ImageStructure:
    """The same view from the daemon: its own copy of the config (from the image store when the data
    root is readable, else `image inspect` and `image history`), layer diff-ids and unpacked sizes from
    the layer store, and the files of each layer from its overlay2 directory."""
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
    st.repo_digests = [str(d) for d in attrs.get("RepoDigests") or []]
    st.manifest_digest = manifest_digest_of(image, st.repo_digests)
    config = _stored_config(attrs, data_root) if data_root else None
    if config is not None:
        _apply_config(st, config)  # the exact config the registry serves: history with empty_layer
    else:
        _apply_config(
            st,
            {
                "config": attrs.get("Config") or {},
                "architecture": attrs.get("Architecture"),
                "os": attrs.get("Os"),
            },
        )
        st.history = _history_from_api(img, len((attrs.get("RootFS") or {}).get("Layers") or []))
        st.history_note = "from `docker history`: steps without a layer guessed from their size"
    diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
    dirs = _layer_dirs(attrs)

    idx = LayerIndex.load(data_root) if data_root else None
    by_diff = {r.diff_id: r for r in idx.by_cache_id.values()} if idx else {}
    for i, d in enumerate(diff_ids):
        ref = by_diff.get(d)
        li = LayerInfo(
            digest=(ref.digests[0] if ref and ref.digests else ""),
            unpacked_size=ref.size if ref else None,
            diff_id=str(d),
        )
        if list_files and ref is not None and data_root:
            li.files, li.files_total = list_dir(f"{data_root}/overlay2/{ref.cache_id}/diff")
        elif list_files and i < len(dirs):
            li.files, li.files_total = list_dir(dirs[i])
        st.layers.append(li)
    size = attrs.get("Size")
    st.unpacked_size = int(size) if isinstance(size, int) else None  # the daemon's own total
    st.sum_sizes()
    return st


def manifest_digest_of(image: str, repo_digests: list[str]) -> str:
    """The manifest digest ("sha256:...") among the daemon's RepoDigests ("repo@sha256:...") for the
    repository of `image`; "" when the daemon knows none for it (a local build never pushed)."""
    name = image.partition("@")[0]
    repo, _tag = split_tag(name)
    digests = [d.partition("@") for d in repo_digests]
    for r, _, digest in digests:
        if r == repo and digest:
            return digest
    return ""


def _stored_config(attrs: dict[str, Any], data_root: str) -> dict[str, Any] | None:
    """The image config as the daemon stored it: <data-root>/image/<driver>/imagedb/content/sha256/<id>
    (moby image/fs.go). Its sha256 is the image id, which is checked before trusting it."""
    image_id = str(attrs.get("Id", ""))
    driver = str((attrs.get("GraphDriver") or {}).get("Name") or "overlay2")
    algo, _, hexid = image_id.partition(":")
    if algo != "sha256" or not hexid or "/" in hexid or "/" in driver:
        return None
    try:
        with open(f"{data_root}/image/{driver}/imagedb/content/sha256/{hexid}", "rb") as f:
            raw = f.read(16 << 20)
    except OSError:
        return None
    if hashlib.sha256(raw).hexdigest() != hexid:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


# Dockerfile instructions that change only the config: the steps that make no layer
_CONFIG_ONLY = (
    "CMD", "ENTRYPOINT", "ENV", "LABEL", "EXPOSE", "USER", "WORKDIR", "VOLUME", "STOPSIGNAL",
    "HEALTHCHECK", "SHELL", "ONBUILD", "ARG", "MAINTAINER",
)  # fmt: skip


def _history_from_api(img: Any, n_layers: int) -> list[HistoryStep]:
    """`docker history` (newest first) has no empty_layer flag: a step made no layer when it added
    0 bytes and is a config-only instruction (classic builder: "#(nop) CMD", BuildKit: "CMD")."""
    try:
        raw = list(reversed(img.history()))
    except Exception:  # the SDK raises many kinds; the history is then simply not shown
        return []
    steps = []
    for h in raw:
        by = str(h.get("CreatedBy", ""))
        words = by.split("#(nop)", 1)[-1].split()
        empty = not h.get("Size") and bool(words) and words[0].upper() in _CONFIG_ONLY
        steps.append(HistoryStep(by, empty))
    if sum(not s.empty_layer for s in steps) != n_layers:
        # the guess does not add up: keep the steps, flag none rather than pair them wrongly
        return [HistoryStep(s.created_by, False) for s in steps] if len(steps) == n_layers else steps
    return steps


def _layer_dirs(attrs: dict[str, Any]) -> list[str]:
    data = (attrs.get("GraphDriver") or {}).get("Data") or {}
    lower = [x for x in str(data.get("LowerDir", "")).split(":") if x]
    upper = data.get("UpperDir")
    return list(reversed(lower)) + ([str(upper)] if upper else [])


def list_dir(path: str, max_files: int = MAX_FILES) -> tuple[list[str], int]:
    """What an unpacked overlay2 layer directory changes, named as in the layer's tar (scan_tar):
    overlayfs stores a deletion as a 0/0 character device and an opaque directory as one with the
    trusted.overlay.opaque="y" xattr (kernel Documentation/filesystems/overlayfs.rst, whiteouts)."""
    files: list[str] = []
    total = 0

    def add(entry: str) -> None:
        nonlocal total
        total += 1
        if len(files) < max_files:
            files.append(entry)

    for root, dnames, fnames in os.walk(path):
        dnames.sort()
        for n in dnames + sorted(fnames):
            full = os.path.join(root, n)
            rel = os.path.relpath(full, path)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                add(f"{rel} -> {os.readlink(full)}")
            elif stat.S_ISDIR(st.st_mode):
                add(rel + "/")
                if _is_opaque(full):
                    add(rel + "/" + OPAQUE)
            elif stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                add(rel + DELETED)
            else:
                add(f"{rel} ({st.st_size} B)")
    return files, total


def _is_opaque(path: str) -> bool:
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False
