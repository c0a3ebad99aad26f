"""The unpack phase of a real pull: the lab's layered image deletes in its top layer a file its first
layer added, so unpacking the top layer makes a real overlayfs whiteout, which the story must report in
that layer and no other."""

from __future__ import annotations

import contextlib

import pytest

from beefine_tui.docker.lab import WHITED_OUT
from beefine_tui.story.render import phase_detail_lines
from tests.integration.test_trace import Env, env  # noqa: F401  (env: the module's trace fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_pull_unpacks_the_top_layers_whiteout(env: Env) -> None:  # noqa: F811
    image = env.lab.images["layered"]
    env.client.images.remove(image, force=True)
    try:
        tr, res = env.trace(image, ["true"], pull=None)  # missing -> pulled
    finally:
        with contextlib.suppress(Exception):
            env.client.images.pull(image)  # leave the lab as it was for the other tests
    assert res.pulled and res.exit_code == 0
    manifest = list(tr.engine.hints.manifest_digests)
    assert len(manifest) == 3, manifest
    unpack = tr.timeline().phase("unpack")
    by_digest = {rec.get("digest"): rec for rec in unpack.details["layers"].values()}
    assert sorted(by_digest) == sorted(manifest), unpack.details
    bottom, middle, top = (by_digest[d] for d in manifest)
    # docker-untar is chrooted into the layer's directory: the path is the one inside the image
    assert top["whiteouts"] == 1 and top["whiteout_paths"] == ["/" + WHITED_OUT], top
    assert bottom["whiteouts"] == middle["whiteouts"] == 0
    # the tree each layer builds: layer 1 the directories, layer 2 busybox's applet links
    assert bottom["dirs"] >= 2 and bottom["files"] >= 2
    assert middle["symlinks"] >= 100
    lines = phase_detail_lines(unpack, limit=50)
    assert f"  deleted from the layers below (whiteouts): /{WHITED_OUT}" in lines, lines
    # and the container does not see the deleted file
    out = env.client.containers.run(image, ["ls", "/etc/beefine"], remove=True).decode()
    assert "README" in out and WHITED_OUT.rsplit("/", 1)[1] not in out
