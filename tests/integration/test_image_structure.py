"""The lab image's structure read from the registry (HTTP API v2) and from the daemon agree: same
config, same diff-ids in the same order, and the files each layer adds are the same on both sides.
Sizes, digests, history and labels are checked against the registry's own answers and the daemon's
`image inspect` / layer store."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from beefine_tui.docker.image_structure import ACCEPT, from_daemon, from_registry
from beefine_tui.docker.lab import WHITED_OUT, LabInfo, registry_auth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_registry_and_daemon_agree(lab: LabInfo, lab_client: Any) -> None:
    image = lab.images["layered"]
    reg = from_registry(image)
    dmn = from_daemon(lab_client, image, str(lab_client.info()["DockerRootDir"]))
    assert len(reg.layers) == 3
    assert [li.diff_id for li in reg.layers] == [li.diff_id for li in dmn.layers]
    assert reg.config_digest == dmn.config_digest
    assert reg.cmd == dmn.cmd == ["/bin/sh"]
    # pulled layers are known to the daemon by the registry's digests (v2metadata-by-diffid)
    known = [li.digest for li in dmn.layers if li.digest]
    assert set(known) <= {li.digest for li in reg.layers}
    # what each layer adds, from the tar in the registry and from the layer directory on disk
    for r, d in zip(reg.layers, dmn.layers, strict=True):
        reg_names = {f.split(" ")[0].rstrip("/") for f in r.files}
        dmn_names = {f.split(" ")[0].rstrip("/") for f in d.files}
        assert reg_names == dmn_names, (r.digest, reg_names ^ dmn_names)
    assert any("usr/share/beefine" in f for f in reg.layers[2].files)


def test_missing_repository_is_not_found(lab: LabInfo) -> None:
    from beefine_tui.errors import NotFoundError

    with pytest.raises(NotFoundError):
        from_registry(f"{lab.registry}/beefine/nope:1")


def _registry_get(lab: LabInfo, path: str, method: str = "GET") -> tuple[bytes, dict[str, str]]:
    # the lab registry answers only its login (htpasswd), as `docker login` would send it
    login = registry_auth(lab.registry)
    assert login is not None, "the lab registry has no login"
    basic = base64.b64encode(f"{login['username']}:{login['password']}".encode()).decode()
    headers = {"Accept": ACCEPT, "Authorization": f"Basic {basic}"}
    req = urllib.request.Request(f"http://{lab.registry}{path}", headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read(), {k.lower(): v for k, v in r.headers.items()}


def test_whiteout_is_a_deletion_on_both_sides(lab: LabInfo, lab_client: Any) -> None:
    """Layer 3 deletes a file of layer 1: a `.wh.` entry in the registry's tar, a 0/0 character
    device in the daemon's unpacked layer. Both must say "deleted", never list it as added."""
    image = lab.images["layered"]
    reg = from_registry(image)
    dmn = from_daemon(lab_client, image, str(lab_client.info()["DockerRootDir"]))
    gone = WHITED_OUT + " (deleted)"
    assert gone in reg.layers[2].files and gone in dmn.layers[2].files
    assert not any(f.startswith(WHITED_OUT + " (") and f != gone for f in dmn.layers[2].files)
    # the layer directory really holds an overlayfs whiteout there (what the daemon view reads)
    ref_dir = next(d for d in _diff_dirs(lab_client, image) if os.path.lexists(os.path.join(d, WHITED_OUT)))
    st = os.lstat(os.path.join(ref_dir, WHITED_OUT))
    assert os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    text = "\n".join(dmn.lines())
    assert f"- {gone}" in text and f"+ {gone}" not in text


def _diff_dirs(lab_client: Any, image: str) -> list[str]:
    data = lab_client.images.get(image).attrs["GraphDriver"]["Data"]
    return [*str(data.get("LowerDir", "")).split(":"), str(data["UpperDir"])]


def test_sizes_and_manifest_digest_against_registry_and_daemon(lab: LabInfo, lab_client: Any) -> None:
    image = lab.images["layered"]
    repo, tag = image.split("/", 1)[1].rsplit(":", 1)
    body, headers = _registry_get(lab, f"/v2/{repo}/manifests/{tag}")
    manifest = json.loads(body)
    reg = from_registry(image)
    dmn = from_daemon(lab_client, image, str(lab_client.info()["DockerRootDir"]))
    # the manifest digest is a digest on both sides, the registry's Docker-Content-Digest
    assert reg.manifest_digest == dmn.manifest_digest == headers["docker-content-digest"]
    assert dmn.manifest_digest.startswith("sha256:") and "@" not in dmn.manifest_digest
    assert f"{image.rsplit(':', 1)[0]}@{dmn.manifest_digest}" in dmn.repo_digests
    # compressed: each blob's size in the manifest and as the registry sends it (Content-Length)
    assert [li.compressed_size for li in reg.layers] == [int(m["size"]) for m in manifest["layers"]]
    for li in reg.layers:
        _, blob_headers = _registry_get(lab, f"/v2/{repo}/blobs/{li.digest}", method="HEAD")
        assert int(blob_headers["content-length"]) == li.compressed_size
    assert all(li.compressed_size is None for li in dmn.layers)  # the daemon keeps no blob
    # unpacked: counted from the registry's tar, and as the daemon's layer store recorded it
    unpacked = [li.unpacked_size for li in dmn.layers]
    assert [li.unpacked_size for li in reg.layers] == unpacked
    assert dmn.unpacked_size == lab_client.images.get(image).attrs["Size"] == sum(u or 0 for u in unpacked)
    assert reg.unpacked_size == dmn.unpacked_size
    assert reg.compressed_size == sum(int(m["size"]) for m in manifest["layers"])
    for st in (reg, dmn):
        d = st.to_dict()
        assert {"compressed_size", "unpacked_size"} <= set(d) and "size" not in d["layers"][0]
        assert "size: compressed " in "\n".join(st.lines())


@pytest.fixture
def labelled_image(lab: LabInfo, lab_client: Any) -> Iterator[str]:
    """The layered image plus a LABEL and a CMD (two steps without a layer), pushed to the lab registry."""
    tag = f"{lab.registry}/beefine/labelled-{uuid.uuid4().hex[:8]}:1"
    dockerfile = (
        f'FROM {lab.images["layered"]}\nLABEL org.beefine.test=labels-shown\nCMD ["/bin/busybox", "true"]\n'
    )
    lab_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, pull=False)
    try:
        repo, version = tag.rsplit(":", 1)
        for line in lab_client.images.push(repo, version, stream=True, decode=True):
            assert "error" not in line, line
        yield tag
    finally:
        with contextlib.suppress(Exception):
            lab_client.images.remove(tag, force=True)


def test_history_keeps_config_only_steps_and_labels(
    lab: LabInfo, lab_client: Any, labelled_image: str
) -> None:
    reg = from_registry(labelled_image)
    dmn = from_daemon(lab_client, labelled_image, str(lab_client.info()["DockerRootDir"]))
    repo, tag = labelled_image.split("/", 1)[1].rsplit(":", 1)
    manifest = json.loads(_registry_get(lab, f"/v2/{repo}/manifests/{tag}")[0])
    config = json.loads(_registry_get(lab, f"/v2/{repo}/blobs/{manifest['config']['digest']}")[0])
    want = [(h.get("created_by", ""), bool(h.get("empty_layer"))) for h in config["history"]]
    assert sum(e for _, e in want) >= 3  # the base image's CMD, our LABEL and CMD
    # without the data root the daemon's history comes from `docker history`, the steps guessed
    api_only = from_daemon(lab_client, labelled_image, None, list_files=False)
    assert api_only.history_note
    for st in (reg, dmn, api_only):
        assert [(h.created_by, h.empty_layer) for h in st.history] == want
        assert st.labels == config["config"]["Labels"]
        assert st.labels["org.beefine.test"] == "labels-shown"
        text = "\n".join(st.lines())
        assert "org.beefine.test=labels-shown" in next(ln for ln in text.splitlines() if "labels:" in ln)
        assert any("no layer" in ln and "LABEL" in ln for ln in text.splitlines())
    inspected = lab_client.images.get(labelled_image).attrs
    assert dmn.labels == inspected["Config"]["Labels"]
    # `docker history` lists the same steps (newest first) as the config
    assert len(lab_client.images.get(labelled_image).history()) == len(want)


def test_image_cli_names_both_sizes(lab: LabInfo, capsys: pytest.CaptureFixture[str]) -> None:
    from beefine_tui.cli import main

    image = lab.images["layered"]
    assert main(["image", image, "--docker-host", lab.docker_host, "--json"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    by_source = {d["source"].split()[0]: d for d in docs}
    assert set(by_source) == {"registry", "daemon"}
    reg, dmn = by_source["registry"], by_source["daemon"]
    assert [la["unpacked_size"] for la in reg["layers"]] == [la["unpacked_size"] for la in dmn["layers"]]
    assert all(isinstance(la["compressed_size"], int) for la in reg["layers"])
    assert any(f.endswith("(deleted)") for f in dmn["layers"][2]["files"])
    assert main(["image", image, "--docker-host", lab.docker_host, "--source", "daemon"]) == 0
    text = capsys.readouterr().out
    assert "unpacked" in text and "compressed not known to the daemon" in text
    assert f"- {WHITED_OUT} (deleted)" in text


def test_image_monitor_structure_view_shows_the_same(lab: LabInfo, lab_client: Any) -> None:
    """The Image monitor's structure view is made from these lines: deletion, both sizes, labels."""
    from beefine_tui.screens.image_monitor import ImageMonitorSource

    class Ctx:
        def docker_client(self) -> Any:
            return lab_client

    lines = ImageMonitorSource(Ctx()).structure(lab.images["layered"])
    text = "\n".join(lines)
    assert text.count(f"- {WHITED_OUT} (deleted)") == 2  # registry and daemon
    assert f"+ {WHITED_OUT} (deleted)" not in text
    assert "compressed not known to the daemon" in text
    assert sum(ln.startswith("size: compressed ") for ln in lines) == 2
    assert sum(ln.startswith("  labels: ") and ln != "  labels: -" for ln in lines) == 2
    assert any(ln.startswith("  no layer ") and "CMD" in ln for ln in lines)
