"""overlay2 mount data parsing and the layer store lookups (moby overlay2 layout in a tmp dir)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from beefine_tui.story.overlay import (
    LayerIndex,
    cache_id_of_dir,
    container_lower,
    container_mount_id,
    parse_overlay_data,
    short_link,
)

DATA = (
    "index=off,lowerdir=/d/overlay2/l/AAA:/d/overlay2/l/BBB:/d/overlay2/l/CCC,"
    "upperdir=/d/overlay2/m1/diff,workdir=/d/overlay2/m1/work"
)


def test_parse_overlay_data() -> None:
    ov = parse_overlay_data(DATA)
    assert ov.lowerdir == ("/d/overlay2/l/AAA", "/d/overlay2/l/BBB", "/d/overlay2/l/CCC")
    assert ov.upperdir == "/d/overlay2/m1/diff"
    assert ov.workdir == "/d/overlay2/m1/work"
    assert ov.other == ("index=off",)
    assert not ov.truncated


def test_parse_relative_and_truncated() -> None:
    ov = parse_overlay_data("lowerdir=l/X:l/Y,upperdir=abc/diff,workdir=abc/wo…")
    assert ov.lowerdir == ("l/X", "l/Y")
    assert ov.truncated
    assert parse_overlay_data("").lowerdir == ()


def test_short_link_and_cache_id() -> None:
    assert short_link("l/ABC") == "ABC"
    assert short_link("/x/overlay2/l/ABC/") == "ABC"
    assert short_link("/x/overlay2/abc/diff") is None
    assert cache_id_of_dir("/x/overlay2/abc/diff") == "abc"
    assert cache_id_of_dir("/x/overlay2/l/ABC") is None
    assert cache_id_of_dir("/elsewhere") is None


def _layer(root: Path, chain: str, cache: str, diff: str, link: str, digest: str | None) -> None:
    d = root / "image/overlay2/layerdb/sha256" / chain
    d.mkdir(parents=True)
    (d / "cache-id").write_text(cache)
    (d / "diff").write_text(diff)
    (d / "size").write_text("1234")
    (root / "overlay2" / cache / "diff").mkdir(parents=True)
    (root / "overlay2/l").mkdir(parents=True, exist_ok=True)
    os.symlink(f"../{cache}/diff", root / "overlay2/l" / link)
    if digest:
        meta = root / "image/overlay2/distribution/v2metadata-by-diffid/sha256"
        meta.mkdir(parents=True, exist_ok=True)
        (meta / diff.removeprefix("sha256:")).write_text(
            json.dumps([{"Digest": digest, "SourceRepository": "r"}])
        )


def test_layer_index_resolves_links_to_digests(tmp_path: Path) -> None:
    _layer(tmp_path, "c1", "cache1", "sha256:d1", "AAA", "sha256:g1")
    _layer(tmp_path, "c2", "cache2", "sha256:d2", "BBB", None)
    (tmp_path / "overlay2/m1-init/diff").mkdir(parents=True)
    os.symlink("../m1-init/diff", tmp_path / "overlay2/l/III")
    idx = LayerIndex.load(tmp_path)
    assert idx.links == {"AAA": "cache1", "BBB": "cache2", "III": "m1-init"}
    r1 = idx.resolve("/d/overlay2/l/AAA")
    assert (r1.cache_id, r1.diff_id, r1.digests) == ("cache1", "sha256:d1", ("sha256:g1",))
    assert r1.label == "sha256:g1"
    assert r1.size == 1234
    assert idx.resolve("l/BBB").label == "diff-id sha256:d2"
    assert idx.resolve("l/III").label.startswith("init layer")
    assert idx.resolve("/x/overlay2/cache2/diff").cache_id == "cache2"
    assert idx.resolve("l/ZZZ").cache_id == "ZZZ"


def test_layer_index_of_missing_root_is_empty(tmp_path: Path) -> None:
    idx = LayerIndex.load(tmp_path / "nope")
    assert idx.by_cache_id == {} and idx.links == {}


def test_container_mount_id_and_lower(tmp_path: Path) -> None:
    m = tmp_path / "image/overlay2/layerdb/mounts/cid"
    m.mkdir(parents=True)
    (m / "mount-id").write_text("m1")
    (tmp_path / "overlay2/m1").mkdir(parents=True)
    (tmp_path / "overlay2/m1/lower").write_text("l/III:l/AAA:l/BBB")
    assert container_mount_id(tmp_path, "cid") == "m1"
    assert container_mount_id(tmp_path, "other") is None
    assert container_lower(tmp_path, "m1") == ["l/III", "l/AAA", "l/BBB"]
    assert container_lower(tmp_path, "m2") == []
