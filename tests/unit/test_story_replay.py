"""A recording made by `trace --record` with the real probes replays into the same story with no
hints: the runner's own docker events carry the container id, layer map and bundle."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from beefine_tui.events.model import Event
from beefine_tui.events.record import read_recording
from beefine_tui.story.engine import DEFAULT_NS_FLAGS, StoryEngine
from beefine_tui.story.phases import DONE, PHASES
from beefine_tui.story.render import timeline_lines

FIXTURE = Path(__file__).parent / "fixtures" / "story" / "real_probes_pull_run.jsonl.gz"
CID = "2896c9f0866a62ef519b64d9f4ea325eb7d9451d57b458c3c7fd4704b0c15555"
DIGESTS = {
    "sha256:048eaab150073b02c63a730d2852f95dac00c93b893a21ed4cebfb42c4a32157",
    "sha256:dfddaa213856cdaaa4dc417cfd1618204cbe628eaedd19e6f29971d5c33b7e6a",
}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    p = tmp_path_factory.mktemp("rec") / "rec.jsonl"
    p.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    _, it = read_recording(p)
    return list(it)


def test_replay_without_hints_tells_everything(events: list[Event]) -> None:
    eng = StoryEngine()
    eng.feed(events)
    tl = eng.timeline()
    assert tl.container_id == CID  # learnt from the runner's container_create event
    # this capture's lab ran without a network: Docker's prestart hook had nothing to do
    assert [p.name for p in tl.phases if p.state != DONE] == ["hook"]
    assert tl.phase("hook").state == "skipped" and "no prestart hook" in tl.phase("hook").reason
    assert tl.exit_code == 0
    pull = tl.phase("pull").details
    assert {d["digest"] for d in pull["layers"].values()} == DIGESTS
    assert all(d["fetches"] == 1 for d in pull["layers"].values())
    assert pull["registry"] == "127.0.0.1:5077" and pull["connections"] >= 2
    unpack = tl.phase("unpack").details["layers"]
    assert {rec["digest"] for rec in unpack.values()} == DIGESTS
    assert max(rec["bytes"] for rec in unpack.values()) == 1982256  # busybox, written by docker-untar
    lower = tl.phase("rootfs").details["lowerdir"]
    assert lower[0]["layer"].startswith("init layer")
    assert {x["layer"] for x in lower[1:]} == DIGESTS
    assert tl.phase("bundle").details["config"]["args"] == ["echo", "hi"]
    assert set(DEFAULT_NS_FLAGS) <= set(tl.phase("namespaces").details["unshare_flags"])
    assert tl.phase("hostname").details["hostname"] == CID[:12]
    assert tl.phase("exec").details["argv"] == ["echo", "hi"]
    # runc mounts via /proc/self/fd/N; the story names each destination from config.json, in order
    named = [m.rsplit("(= ", 1)[1].rstrip(")") for m in tl.phase("mounts").details["mounts"] if "(= /" in m]
    assert named == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup",
        "/dev/mqueue", "/dev/shm", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts",
    ]  # fmt: skip
    found = [tl.phase(n).start_ns for n in ("pull", "unpack", "rootfs", "namespaces", "pivot_root", "exec")]
    starts = [s for s in found if s is not None]
    assert starts == found and starts == sorted(starts)


def test_replay_renders(events: list[Event]) -> None:
    eng = StoryEngine()
    eng.feed(events)
    text = "\n".join(timeline_lines(eng.timeline(), explain=True))
    assert "sethostname('2896c9f0866a')" in text
    assert "lowerdir[2]" in text
    for name in PHASES:
        assert eng.timeline().phase(name).explanation[:30] in text
