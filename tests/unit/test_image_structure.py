"""Image structure from a registry speaking the HTTP API v2: a tiny in-process registry serving an
OCI index -> manifest -> config -> gzip layers, and a port where nothing listens."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import stat
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from beefine_tui.docker.image_structure import (
    from_registry,
    list_dir,
    list_tar,
    manifest_digest_of,
    parse_reference,
)
from beefine_tui.errors import BeefineError, NotFoundError


def _tar(files: dict[str, bytes], links: dict[str, str] | None = None, whiteout: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (links or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            tf.addfile(ti)
        if whiteout:
            tf.addfile(tarfile.TarInfo(whiteout))
    return gzip.compress(buf.getvalue())


def _d(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


L1 = _tar({"bin/busybox": b"x" * 100})
L2 = _tar({}, {"bin/sh": "/bin/busybox"}, whiteout="etc/.wh.motd")
CONFIG = json.dumps(
    {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/w",
            "Volumes": {"/data": {}},
            "Labels": {"org.example.team": "beefine"},
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:aa", "sha256:bb"]},
        "history": [
            {"created_by": "COPY busybox"},
            {"created_by": "LABEL org.example.team=beefine", "empty_layer": True},
            {"created_by": "RUN install"},
            {"created_by": 'CMD ["/bin/sh"]', "empty_layer": True},
        ],
    }
).encode()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"digest": _d(CONFIG), "size": len(CONFIG)},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _d(L1), "size": len(L1)},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _d(L2), "size": len(L2)},
        ],
    }
).encode()
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"digest": "sha256:" + "1" * 64, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
            {
                "digest": _d(MANIFEST),
                "size": len(MANIFEST),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
    }
).encode()
BLOBS = {_d(b): b for b in (CONFIG, L1, L2)}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *a: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path
        body: bytes | None = None
        ctype = "application/octet-stream"
        if path == "/v2/demo/app/manifests/1":
            body, ctype = INDEX, "application/vnd.oci.image.index.v1+json"
        elif path == f"/v2/demo/app/manifests/{_d(MANIFEST)}":
            body, ctype = MANIFEST, "application/vnd.oci.image.manifest.v1+json"
        elif path.startswith("/v2/demo/app/blobs/"):
            body = BLOBS.get(path.rsplit("/", 1)[1])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Docker-Content-Digest", _d(body))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def registry() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_index_manifest_config_layers(registry: str) -> None:
    st = from_registry(f"{registry}/demo/app:1")
    assert [m["platform"] for m in st.index] == ["linux/arm64", "linux/amd64"]
    assert st.manifest_digest == _d(MANIFEST)
    assert st.config_digest == _d(CONFIG)
    assert (st.cmd, st.workdir, st.volumes, st.env) == (["/bin/sh"], "/w", ["/data"], ["PATH=/bin"])
    assert [li.digest for li in st.layers] == [_d(L1), _d(L2)]
    assert [li.diff_id for li in st.layers] == ["sha256:aa", "sha256:bb"]
    assert st.layers[0].files == ["bin/busybox (100 B)"]
    assert st.layers[1].files == ["bin/sh -> /bin/busybox", "etc/motd (deleted)"]
    # two sizes, each named: the blob as sent, and the files unpacked (a symlink: its target's length)
    assert [li.compressed_size for li in st.layers] == [len(L1), len(L2)]
    assert [li.unpacked_size for li in st.layers] == [100, len("/bin/busybox")]
    assert st.compressed_size == len(L1) + len(L2) and st.unpacked_size == 100 + len("/bin/busybox")
    # every history step, those without a layer (LABEL, CMD) included, and the labels
    assert [(h.created_by, h.empty_layer) for h in st.history] == [
        ("COPY busybox", False),
        ("LABEL org.example.team=beefine", True),
        ("RUN install", False),
        ('CMD ["/bin/sh"]', True),
    ]
    assert st.labels == {"org.example.team": "beefine"}
    text = "\n".join(st.lines())
    assert "made by: RUN install" in text and "linux/amd64" in text
    assert "made by: LABEL" not in text  # a config-only step is not paired with a layer
    assert "no layer  CMD" in text and "labels: org.example.team=beefine" in text
    assert "- etc/motd (deleted)" in text and "+ etc/motd" not in text
    assert f"compressed {len(L1)} B, unpacked 100 B" in text
    d = st.to_dict()
    assert d["layers"][0]["compressed_size"] == len(L1) and "size" not in d["layers"][0]


def test_opaque_directory_in_a_tar() -> None:
    files, total = list_tar(_tar({"etc/app/conf": b"x"}, whiteout="etc/app/.wh..wh..opq"))
    assert files == ["etc/app/conf (1 B)", "etc/app/ (opaque: hides what lower layers have here)"]
    assert total == 2


def test_list_dir_reads_overlay_whiteouts(tmp_path: Path) -> None:
    """An unpacked overlay2 layer: a deletion is a 0/0 character device (needs CAP_MKNOD)."""
    layer = tmp_path / "diff"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "kept").write_bytes(b"abc")
    try:
        os.mknod(layer / "etc" / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    except PermissionError:
        pytest.skip("mknod of a character device needs root")
    files, total = list_dir(str(layer))
    assert files == ["etc/", "etc/gone (deleted)", "etc/kept (3 B)"] and total == 3


def test_manifest_digest_of_repo_digests() -> None:
    digest = "sha256:" + "c" * 64
    repo_digests = ["127.0.0.1:5000/other@sha256:" + "d" * 64, f"127.0.0.1:5000/beefine/layered@{digest}"]
    assert manifest_digest_of("127.0.0.1:5000/beefine/layered:latest", repo_digests) == digest
    assert manifest_digest_of("127.0.0.1:5000/beefine/never-pushed:1", repo_digests) == ""
    assert manifest_digest_of("127.0.0.1:5000/beefine/layered", []) == ""


def test_missing_tag_is_not_found(registry: str) -> None:
    with pytest.raises(NotFoundError):
        from_registry(f"{registry}/demo/app:2")


def test_registry_not_answering() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(BeefineError) as ei:
        from_registry(f"127.0.0.1:{port}/demo/app:1")
    assert "does not answer" in ei.value.message


def test_parse_reference() -> None:
    assert parse_reference("busybox") == ("registry-1.docker.io", "library/busybox", "latest")
    assert parse_reference("127.0.0.1:5000/a/b:2") == ("127.0.0.1:5000", "a/b", "2")
    d = "sha256:" + "a" * 64
    assert parse_reference(f"localhost/x@{d}") == ("localhost", "x", d)


def test_list_tar_bad_data() -> None:
    assert list_tar(b"\x1f\x8bnot gzip") == ([], 0)
    assert list_tar(b"not a tar") == ([], 0)
