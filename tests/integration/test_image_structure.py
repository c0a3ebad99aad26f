"""The lab image's structure read from the registry (HTTP API v2) and from the daemon agree: same
config, same diff-ids in the same order, and the files each layer adds are the same on both sides."""

from __future__ import annotations

from typing import Any

import pytest

from beefine_tui.docker.image_structure import from_daemon, from_registry
from beefine_tui.docker.lab import LabInfo

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
