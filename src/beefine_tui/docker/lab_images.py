"""The lab's two images, built offline from busybox-static: `small` (one layer) and `layered` (three
layers: symlinked applets, a 1 MiB file, and a deletion that makes a real overlayfs whiteout). Same files
and times every build, so every lab has the same layer digests."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from beefine_tui.docker.connection import connect
from beefine_tui.errors import BeefineError

IMAGES_DIR = Path(__file__).with_name("images")
BUSYBOX = Path("/bin/busybox")


def build_and_push(
    docker_host: str, key: str, tag: str, ctx: Path, timeout: float, login: dict[str, str] | None
) -> None:
    """Build the lab image `key` from busybox-static into `ctx`, offline, and push it as `tag` with the
    registry's `login`."""
    shutil.copytree(IMAGES_DIR / key, ctx)
    if key == "layered":
        (ctx / "layer1" / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, ctx / "layer1" / "bin" / "busybox")
        _applet_links(ctx / "layer2")
        _layered_files(ctx)
    else:
        (ctx / "rootfs" / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, ctx / "rootfs" / "bin" / "busybox")
        _applet_links(ctx / "rootfs")
    _fix_mtimes(ctx)
    client = connect(docker_host, timeout=max(10.0, timeout))
    try:
        try:
            client.images.build(
                path=str(ctx), tag=tag, rm=True, forcerm=True, network_mode="none", labels={"beefine": "1"}
            )
        except Exception as e:  # docker.errors.BuildError/APIError: show the daemon's words
            raise BeefineError(f"building the lab image {tag} failed: {e}") from e
        try:
            lines = list(client.images.push(tag, stream=True, decode=True, auth_config=login))
        except Exception as e:  # requests/docker errors mid-stream
            raise BeefineError(f"pushing {tag} to the lab registry failed: {e}") from e
        for line in lines:
            if isinstance(line, dict) and line.get("error"):
                raise BeefineError(f"pushing {tag} to the lab registry failed: {line['error']}")
    finally:
        client.close()


FIXED_MTIME = 1700000000  # 2023-11-14: same files, same times -> the same layer digests in every lab


def _fix_mtimes(ctx: Path) -> None:
    """COPY puts each file's mtime in the layer tar; fixed times make the layers reproducible."""
    for dirpath, dirnames, filenames in os.walk(ctx):
        for n in (*dirnames, *filenames):
            with contextlib.suppress(OSError):
                os.utime(os.path.join(dirpath, n), (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


def _applet_links(root: Path) -> None:
    """What `busybox --install -s` would make inside the image, made here so the build needs no RUN."""
    try:
        r = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        raise BeefineError(f"{BUSYBOX} --list-full failed: {e}") from e
    paths = [p.strip().lstrip("/") for p in r.stdout.splitlines() if p.strip()]
    if r.returncode != 0 or "bin/sh" not in paths:
        raise BeefineError(
            f"{BUSYBOX} does not list its applets (is it busybox?)", "sudo apt-get install busybox-static"
        )
    for rel in paths:
        if rel == "bin/busybox" or ".." in rel.split("/"):
            continue
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink() and not link.exists():
            link.symlink_to("/bin/busybox")


WHITED_OUT = "etc/beefine/deleted-in-layer3"  # added by layer 1, deleted by layer 3


def _layered_files(ctx: Path) -> None:
    """Distinct content per layer, with a 1 MiB incompressible file so a pull shows progress, and a
    file of layer 1 that layer 3 deletes, so unpacking the top layer makes a real overlayfs whiteout."""
    added = ctx / "layer1" / WHITED_OUT
    added.parent.mkdir(parents=True, exist_ok=True)
    added.write_text("Layer 3 of this image deletes this file: a container never sees it.\n")
    # a layer tar records a deletion as an empty ".wh.<name>" entry (image-spec layer.md); COPY of such
    # a file puts exactly that entry in the layer, as a RUN rm would, without a fourth layer
    gone = ctx / "layer3" / WHITED_OUT
    gone.parent.mkdir(parents=True, exist_ok=True)
    (gone.parent / (".wh." + gone.name)).write_bytes(b"")
    data = ctx / "layer3" / "usr" / "share" / "beefine"  # whole path in the context: fixed dir mtimes too
    data.mkdir(parents=True, exist_ok=True)
    seed = b"beefine"
    chunks = []
    for i in range(1 << 15):  # 32768 * 32 bytes = 1 MiB, the same every time
        chunks.append(hashlib.sha256(seed + i.to_bytes(4, "big")).digest())
    (data / "blob.bin").write_bytes(b"".join(chunks))
