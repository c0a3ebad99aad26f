"""The story engine on a real recorded capture (tests/unit/fixtures/story/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from beefine_tui.events.model import Event, FreeArgs, upgrade_v1_args
from beefine_tui.events.record import read_recording
from beefine_tui.probes.xdp import XdpCount, XdpCountsArgs
from beefine_tui.story.engine import StoryEngine, StoryHints, shared_counts
from beefine_tui.story.overlay import LayerIndex, LayerRef
from beefine_tui.story.phases import DONE, FAILED, PHASES, SKIPPED

FIXTURE = Path(__file__).parent / "fixtures" / "story" / "lab_pull_and_runs.jsonl"
ECHO = "b4cc54ec00c5b141461d0a07c1e02cd5bb576fc2fe476576ed906dedbfcba997"
MISSING = "f8d33bd464be3b7a2fb205e672f55a75879b0272ada742ef036d1d922dec4c96"
EXIT3 = "d544f08b0d9c299b97998d9a15230ef36d5e910927eb6a69a82b1b3ec9b7c5f0"
EXIT4 = "7180ea534ed4cb211506b2999955ff9a58c58c10a23a1de0eb30633c8b50c732"
LAYER_DIRS = frozenset(
    {
        "b86c45849ada888c9bb992b1f526a53b944124e1630d8e3b00d2018cfe3a4da2",
        "a8b791b8cd50768e8cb6f3ad48894d423fbd10c994924f83f5c442c03d824c71",
    }
)
DIGESTS = (
    "sha256:048eaab150073b02c63a730d2852f95dac00c93b893a21ed4cebfb42c4a32157",
    "sha256:dfddaa213856cdaaa4dc417cfd1618204cbe628eaedd19e6f29971d5c33b7e6a",
)
CREATION = [
    "rootfs",
    "bundle",
    "runtime",
    "cgroup",
    "namespaces",
    "mounts",
    "pivot_root",
    "hostname",
    "security",
    "exec",
]


@pytest.fixture(scope="module")
def events() -> list[Event]:
    _, it = read_recording(FIXTURE)
    return list(it)


def story(events: list[Event], cid: str, **hints: object) -> StoryEngine:
    eng = StoryEngine(StoryHints(container_id=cid, registry="127.0.0.1:5077", **hints))  # type: ignore[arg-type]
    eng.feed(events)
    return eng


def test_every_creation_phase_found_in_order(events: list[Event]) -> None:
    tl = story(events, ECHO, pulling=False).timeline()
    assert tl.found() == [*CREATION, "running", "exit", "teardown"]
    found = [
        tl.phase(n).start_ns for n in ("rootfs", "namespaces", "mounts", "pivot_root", "hostname", "exec")
    ]
    starts = [s for s in found if s is not None]
    assert starts == found and starts == sorted(starts)
    assert tl.exit_code == 0


def test_backbone_details(events: list[Event]) -> None:
    tl = story(events, ECHO, pulling=False).timeline()
    flags = tl.phase("namespaces").details["unshare_flags"]
    for f in ("CLONE_NEWPID", "CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWNET"):
        assert f in flags
    assert tl.phase("namespaces").details["by"] == ["runc:[1:CHILD]"]
    assert tl.phase("hostname").details["hostname"] == ECHO[:12]
    assert tl.phase("exec").details["argv"] == ["echo", "hi"]
    assert tl.phase("pivot_root").details["new_root"] == "."
    assert tl.phase("cgroup").details["paths"] == [f"/docker/{ECHO}"]
    assert tl.phase("security").details.get("seccomp_loaded") is True
    mounts = " ".join(tl.phase("mounts").details["mounts"])
    for fs in ("proc", "sysfs", "devpts", "mqueue", "tmpfs", "bind"):
        assert fs in mounts
    # the overlay mount dockerd made for THIS container, found through runc's bind of its rootfs
    assert tl.phase("rootfs").details["lowerdir"]
    assert tl.phase("pull").state == SKIPPED and "already present" in tl.phase("pull").reason


def test_every_phase_has_an_explanation(events: list[Event]) -> None:
    tl = story(events, ECHO, pulling=False).timeline()
    for p in tl.phases:
        assert len(p.explanation) > 40, p.name
    assert [p.name for p in tl.phases] == list(PHASES)


def test_pull_and_unpack_one_per_layer(events: list[Event]) -> None:
    idx = LayerIndex(
        by_cache_id={
            d: LayerRef(d, f"sha256:diff{i}", (DIGESTS[i],)) for i, d in enumerate(sorted(LAYER_DIRS))
        }
    )
    tl = story(
        events, ECHO, pulling=True, image_layer_dirs=LAYER_DIRS, manifest_digests=DIGESTS, layers=idx
    ).timeline()
    pull = tl.phase("pull")
    assert pull.state == DONE
    assert pull.details["connections"] >= 1
    layers = pull.details["layers"]
    assert sorted(d["digest"] for d in layers.values()) == sorted(DIGESTS)
    assert all(d["fetches"] == 1 and d["extracts"] == 1 for d in layers.values())
    unpack = tl.phase("unpack")
    assert unpack.state == DONE
    per = unpack.details["layers"]
    assert set(per) == LAYER_DIRS
    assert all(rec["helpers"] == 1 for rec in per.values())
    assert sorted(rec["digest"] for rec in per.values()) == sorted(DIGESTS)
    assert tl.phase("pull").end_ns <= tl.phase("rootfs").start_ns  # type: ignore[operator]


def test_missing_command_fails_at_exec_with_reason(events: list[Event]) -> None:
    eng = story(events, MISSING, pulling=False, error='exec: "/nonexist": stat /nonexist: no such file')
    tl = eng.timeline()
    ex = tl.phase("exec")
    assert ex.state == FAILED
    assert "before exec" in ex.reason and "/nonexist" in ex.reason
    assert tl.phase("running").state == SKIPPED
    assert tl.phase("pivot_root").state == DONE  # it got that far


def test_two_containers_at_once_get_separate_stories(events: list[Event]) -> None:
    a = story(events, EXIT3, pulling=False).timeline()
    b = story(events, EXIT4, pulling=False).timeline()
    assert a.found() == b.found() == [*CREATION, "running", "exit", "teardown"]
    assert (a.exit_code, b.exit_code) == (3, 4)
    assert a.phase("hostname").details["hostname"] == EXIT3[:12]
    assert b.phase("hostname").details["hostname"] == EXIT4[:12]
    assert a.phase("rootfs").details["target"] != b.phase("rootfs").details["target"]
    assert not shared_counts(a, b)
    for tl, other in ((a, EXIT4), (b, EXIT3)):
        for p in tl.phases:
            for e in p.events:
                assert other not in str(e.args), (p.name, e)


def test_incremental_feeding_gives_the_same_story(events: list[Event]) -> None:
    whole = story(events, ECHO, pulling=False).timeline()
    eng = StoryEngine(StoryHints(container_id=ECHO, registry="127.0.0.1:5077", pulling=False))
    seen = []
    for i in range(0, len(events), 97):
        eng.feed(events[i : i + 97])
        seen.append(len(eng.timeline().found()))
    assert seen == sorted(seen)  # the story only grows
    tl = eng.timeline()
    assert tl.found() == whole.found()
    assert [p.total for p in tl.phases] == [p.total for p in whole.phases]


def test_out_of_order_batches_are_sorted(events: list[Event]) -> None:
    eng = StoryEngine(StoryHints(container_id=ECHO, pulling=False))
    eng.feed(reversed(events))
    assert eng.timeline().found() == [*CREATION, "running", "exit", "teardown"]


def test_unknown_container_yields_nothing(events: list[Event]) -> None:
    tl = story(events, "0" * 64, pulling=False).timeline()
    assert tl.found() == []


def test_bounded_and_loss_counted(events: list[Event]) -> None:
    eng = StoryEngine(StoryHints(container_id=ECHO), max_events=100)
    eng.feed(events)
    eng.feed([Event(ts=1, probe="exec", kind="lost", args=FreeArgs(fields={"source": "kernel", "count": 7}))])
    tl = eng.timeline()
    assert eng.event_count == 100
    assert tl.ignored >= len(events) - 100
    assert tl.lost == 7


def test_json_lines_have_a_phase_field(events: list[Event]) -> None:
    tl = story(events, ECHO, pulling=False).timeline()
    rows = tl.to_dicts()
    assert [r["phase"] for r in rows] == list(PHASES)
    assert rows[PHASES.index("exec")]["duration_ms"] is not None
    assert tl.summary()["exit_code"] == 0


def test_truncated_cgroup_path_still_attributed() -> None:
    cid = "a7d041f3bf06f19751fbee9466e3e92cc21f9fd860e244f861d55d9" + "0123456789"
    ev = Event(
        ts=5,
        probe="bt-cgroups",
        kind="cgroup_attach",
        pid=9,
        comm="runc",
        args=FreeArgs(fields={"path": f"/docker/{cid[:56]}"}),
    )
    other = Event(
        ts=6,
        probe="bt-cgroups",
        kind="cgroup_attach",
        pid=9,
        comm="runc",
        args=FreeArgs(fields={"path": "/docker/" + "b" * 56}),
    )
    eng = StoryEngine(StoryHints(container_id=cid))
    eng.feed([ev, other])
    assert eng.timeline().phase("cgroup").total == 1


def test_up_to_date_pull_skips_unpack_with_reason() -> None:
    evs = [
        Event(
            ts=1,
            probe="docker",
            kind="pull_start",
            args=upgrade_v1_args("pull_start", {"image": "r/x:1"}, ""),
        ),
        Event(
            ts=2,
            probe="docker",
            kind="pull_status",
            args=upgrade_v1_args("pull_status", {"id": "1", "status": "Pulling from x"}, ""),
        ),
        Event(
            ts=3,
            probe="docker",
            kind="pull_status",
            args=upgrade_v1_args(
                "pull_status", {"id": "", "status": "Status: Image is up to date for r/x:1"}, ""
            ),
        ),
    ]
    eng = StoryEngine(StoryHints(container_id="c" * 64, pulling=True))
    eng.feed(evs)
    tl = eng.timeline()
    assert tl.phase("pull").state == DONE and tl.phase("pull").details["layers"] == {}
    assert tl.phase("unpack").state == SKIPPED and "up to date" in tl.phase("unpack").reason


def test_every_kind_in_a_story_is_explained(events: list[Event]) -> None:
    from beefine_tui.story.explanations import explain_kind

    tl = story(events, ECHO, pulling=False).timeline()
    kinds = {e.kind for p in tl.phases for e in p.events}
    assert kinds >= {
        "exec",
        "fork",
        "unshare",
        "mount",
        "pivot_root",
        "sethostname",
        "cgroup_attach",
        "capset",
    }
    assert not [k for k in kinds if not explain_kind(k)]
    row = tl.to_dicts()[PHASES.index("namespaces")]
    assert "CLONE_NEWPID" in row["kinds"]["unshare"]


def test_xdp_bytes_over_the_pull_window() -> None:
    def counts(ts: int, pk: int, by: int) -> Event:
        return Event(
            ts=ts,
            probe="xdp",
            kind="xdp_counts",
            args=XdpCountsArgs(ifname="lo", ifindex=1, protocols={"tcp": XdpCount(packets=pk, bytes=by)}),
        )

    evs = [
        counts(5, 2, 100),
        Event(
            ts=10,
            probe="docker",
            kind="pull_start",
            args=upgrade_v1_args("pull_start", {"image": "127.0.0.1:5/x:1"}, ""),
        ),
        counts(15, 50, 40_000),
        Event(
            ts=20,
            probe="docker",
            kind="pull_done",
            args=upgrade_v1_args("pull_done", {"image": "127.0.0.1:5/x:1"}, ""),
        ),
        counts(25, 60, 50_100),
        counts(35, 99, 99_999),
    ]
    eng = StoryEngine(StoryHints(container_id="c" * 64))
    eng.feed(evs)
    x = eng.timeline().phase("pull").details["xdp"]
    assert x == {"ifname": "lo", "tcp_packets": 58, "tcp_bytes": 50_000}


def test_a_layer_whose_download_complete_was_coalesced_still_counts_as_fetched_once() -> None:
    # dockerd keeps only a layer's latest progress for a slow reader: seen in CI as
    # "Downloading" followed directly by "Extracting" with no "Download complete" between
    statuses = [
        ("aaaaaaaaaaaa", "Pulling fs layer"),
        ("bbbbbbbbbbbb", "Already exists"),
        ("aaaaaaaaaaaa", "Downloading"),
        ("aaaaaaaaaaaa", "Extracting"),
        ("aaaaaaaaaaaa", "Extracting"),
        ("aaaaaaaaaaaa", "Pull complete"),
        ("cccccccccccc", "Pulling fs layer"),
        ("cccccccccccc", "Pull complete"),
    ]
    evs = [
        Event(
            ts=1,
            probe="docker",
            kind="pull_start",
            args=upgrade_v1_args("pull_start", {"image": "r/x:1"}, ""),
        )
    ]
    evs += [
        Event(
            ts=2 + i,
            probe="docker",
            kind="pull_status",
            args=upgrade_v1_args("pull_status", {"id": lid, "status": st}, ""),
        )
        for i, (lid, st) in enumerate(statuses)
    ]
    eng = StoryEngine(StoryHints(container_id="c" * 64, pulling=True))
    eng.feed(evs)
    layers = eng.timeline().phase("pull").details["layers"]
    got = {lid: (d["fetches"], d["extracts"]) for lid, d in layers.items()}
    assert got == {"aaaaaaaaaaaa": (1, 1), "bbbbbbbbbbbb": (0, 0), "cccccccccccc": (1, 1)}


def _untar_story(layer_events: dict[str, list[tuple[str, dict[str, object]]]]) -> StoryEngine:
    """A pull whose docker-untar helpers (one pid per layer dir) made these files-probe events."""
    evs = [
        Event(
            ts=1,
            probe="docker",
            kind="pull_start",
            args=upgrade_v1_args("pull_start", {"image": "r/x:1"}, ""),
        )
    ]
    ts = 10
    for n, (cache_id, calls) in enumerate(layer_events.items()):
        pid = 500 + n
        argv = ["docker-untar", "/", f"/var/lib/docker/overlay2/{cache_id}/diff"]
        evs.append(
            Event(
                ts=ts,
                probe="exec",
                kind="exec",
                pid=pid,
                comm="exe",
                args=FreeArgs(fields={"argv": argv, "ret": 0}),
            )
        )
        for kind, args in calls:
            ts += 1
            # written as schema 1 did (flag names, octal modes): the reader's upgrade makes the struct
            typed = upgrade_v1_args(kind, dict(args), "")
            evs.append(Event(ts=ts, probe="files", kind=kind, pid=pid, comm="exe", args=typed))
        ts += 10
    evs.append(
        Event(
            ts=ts + 1,
            probe="docker",
            kind="pull_done",
            args=upgrade_v1_args("pull_done", {"image": "r/x:1"}, ""),
        )
    )
    eng = StoryEngine(
        StoryHints(container_id="c" * 64, pulling=True, image_layer_dirs=frozenset(layer_events))
    )
    eng.feed(evs)
    return eng


def test_unpack_counts_the_tree_per_layer_and_names_the_whiteouts() -> None:
    from beefine_tui.story.render import phase_detail_lines

    lower, upper = "a" * 64, "b" * 64
    eng = _untar_story(
        {
            lower: [
                ("mkdir", {"path": "/etc", "mode": "0755", "ret": 0}),
                ("mkdir", {"path": "/etc/beefine", "mode": "0755", "ret": 0}),
                ("open", {"path": "/etc/beefine/README", "flags": "O_WRONLY|O_CREAT|O_CLOEXEC", "ret": 8}),
                ("write", {"path": "/etc/beefine/README", "bytes": 42, "count": 1}),
                ("symlink", {"path": "/bin/sh", "target": "/bin/busybox", "ret": 0}),
                ("symlink", {"path": "/bin/ls", "target": "/bin/busybox", "ret": 0}),
                ("link", {"path": "/bin/ash", "target": "/bin/busybox", "ret": 0}),
                ("chmod", {"path": "/etc/beefine/README", "mode": "0644", "ret": 0}),
                ("chown", {"path": "/etc/beefine/README", "uid": 0, "gid": 0, "ret": 0}),
            ],
            upper: [
                ("mknod", {"path": "/etc/beefine/README", "type": "S_IFCHR", "whiteout": True, "ret": 0}),
                ("mknod", {"path": "/run/fifo", "type": "S_IFIFO", "whiteout": False, "ret": 0}),
                (
                    "setxattr",
                    {"path": "/opt", "name": "trusted.overlay.opaque", "value": "y", "size": 1, "ret": 0},
                ),
                ("setxattr", {"path": "/opt", "name": "user.x", "value": "y", "size": 1, "ret": 0}),
                ("unlink", {"path": "/tmp/old", "ret": 0}),
                ("rmdir", {"path": "/tmp/olddir", "ret": 0}),
                ("rename", {"path": "/a", "new_path": "/b", "ret": 0}),
                # failures change nothing on disk: not counted
                ("mkdir", {"path": "/etc", "ret": -17, "error": "EEXIST"}),
                ("mknod", {"path": "/x", "type": "S_IFCHR", "whiteout": True, "ret": -1, "error": "EPERM"}),
                ("unlink", {"path": "/nope", "ret": -2, "error": "ENOENT"}),
            ],
        }
    )
    unpack = eng.timeline().phase("unpack")
    per = unpack.details["layers"]
    counts = (
        "files",
        "bytes",
        "dirs",
        "symlinks",
        "hardlinks",
        "whiteouts",
        "opaque_dirs",
        "renames",
        "removals",
    )
    assert {k: per[lower][k] for k in counts} == {
        "files": 1, "bytes": 42, "dirs": 2, "symlinks": 2, "hardlinks": 1,
        "whiteouts": 0, "opaque_dirs": 0, "renames": 0, "removals": 0,
    }  # fmt: skip
    assert {k: per[upper][k] for k in counts} == {
        "files": 0, "bytes": 0, "dirs": 0, "symlinks": 0, "hardlinks": 0,
        "whiteouts": 1, "opaque_dirs": 1, "renames": 1, "removals": 2,
    }  # fmt: skip
    assert per[upper]["whiteout_paths"] == ["/etc/beefine/README"] and "whiteout_paths" not in per[lower]
    assert per[lower]["helpers"] == per[upper]["helpers"] == 1

    lines = phase_detail_lines(unpack)
    assert lines[0] == (
        f"layer dir {lower[:12]}: 1 files created by open(O_CREAT), 42 bytes written, 2 dirs, 2 symlinks,"
        f" 1 hard link (dir {lower[:12]})"
    )
    assert lines[1] == (
        f"layer dir {upper[:12]}: 0 files created by open(O_CREAT), 0 bytes written,"
        f" 1 whiteout (deletion marker), 1 opaque dir, 1 rename, 2 removals (dir {upper[:12]})"
    )
    assert lines[2] == "  deleted from the layers below (whiteouts): /etc/beefine/README"
    assert "whiteout" in unpack.explanation and "0:0" in unpack.explanation


def test_unpack_lines_of_an_older_recording_without_tree_counts() -> None:
    from beefine_tui.story.phases import Phase
    from beefine_tui.story.render import phase_detail_lines

    p = Phase("unpack")
    p.details = {"layers": {"c" * 64: {"files": 3, "bytes": 9, "helpers": 1}}}
    assert phase_detail_lines(p) == [
        f"layer dir {'c' * 12}: 3 files created by open(O_CREAT), 9 bytes written (dir {'c' * 12})"
    ]


def test_every_files_probe_kind_is_explained() -> None:
    from beefine_tui.probes import files
    from beefine_tui.story.explanations import explain_kind

    assert not [k for k in files.SPEC.kinds if not explain_kind(k)]
    assert "whiteout" in explain_kind("mknod") and "opaque" in explain_kind("setxattr")


def test_failed_pull_is_failed_with_the_reason_and_later_phases_skipped() -> None:
    # what the runner publishes when the registry has no such image (stream error or 404)
    evs = [
        Event(
            ts=1,
            probe="docker",
            kind="pull_start",
            args=upgrade_v1_args("pull_start", {"image": "127.0.0.1:5077/nope:1", "run": "r1"}, ""),
        ),
        Event(
            ts=2,
            probe="docker",
            kind="pull_status",
            args=upgrade_v1_args("pull_status", {"id": "1", "status": "Pulling from nope"}, ""),
        ),
        Event(
            ts=3,
            probe="docker",
            kind="pull_done",
            args=upgrade_v1_args("pull_done", {"image": "x", "error": "manifest unknown", "run": "r1"}, ""),
        ),
        # a later event of another run on the same bus must not change this story
        Event(
            ts=4,
            probe="docker",
            kind="pull_done",
            args=upgrade_v1_args("pull_done", {"image": "y", "error": "other run", "run": "r2"}, ""),
        ),
    ]
    eng = StoryEngine(StoryHints(registry="127.0.0.1:5077"))
    eng.feed(evs)
    tl = eng.timeline()
    pull = tl.phase("pull")
    assert pull.state == FAILED and pull.reason == "the pull failed: manifest unknown"
    later = [p for p in tl.phases if p.name != "pull"]
    assert all(p.state == SKIPPED and p.reason == "the image could not be pulled" for p in later)


def test_successful_pull_done_is_not_a_failure() -> None:
    evs = [
        Event(
            ts=1,
            probe="docker",
            kind="pull_start",
            args=upgrade_v1_args("pull_start", {"image": "r/x:1"}, ""),
        ),
        Event(
            ts=2, probe="docker", kind="pull_done", args=upgrade_v1_args("pull_done", {"image": "r/x:1"}, "")
        ),
    ]
    eng = StoryEngine(StoryHints(container_id="c" * 64))
    eng.feed(evs)
    tl = eng.timeline()
    assert tl.phase("pull").state == DONE and not tl.phase("pull").reason
    assert tl.phase("rootfs").state != SKIPPED
