"""cgroups probe decoder on hand-built records (bpf/cgroups.bpf.c's struct cg_rec) and the
/proc/cgroups hierarchy map, for cgroup v1 and v2 paths."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from beefine_tui.events.model import Event
from beefine_tui.probes import cgroups
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.cgroups import CgroupArgs, CgroupAttachArgs
from beefine_tui.probes.decode_context import DecodeContext
from tests.probe_checks import assert_round_trips, assert_v1_lines_upgrade

NO_PID = 0x7FFFFFF0
CID = "0123456789abcdef" * 4

PROC_CGROUPS = """#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t3\t1
cpu\t1\t3\t1
cpuacct\t1\t3\t1
memory\t4\t55\t1
net_cls\t0\t3\t1
pids\t8\t3\t1
rdma\t9\t1\t0
"""


def rec(
    kind: int,
    path: bytes,
    *,
    root: int = 8,
    level: int = 1,
    cg_id: int = 77,
    target: int = 0,
    tcomm: bytes = b"",
) -> bytes:
    return cgroups.REC.pack(9, kind, NO_PID, NO_PID, 0, b"runc", cg_id, root, level, target, 0, tcomm, path)


SELF_CGROUP = """12:rdma:/
9:name=systemd:/user.slice
8:pids:/user.slice
4:memory:/user.slice
1:cpuacct,cpu:/
0::/user.slice
"""


def hierarchies(
    tmp_path: Path, self_text: str = SELF_CGROUP, proc_text: str = PROC_CGROUPS
) -> cgroups.Hierarchies:
    (tmp_path / "self").write_text(self_text)
    (tmp_path / "cgroups").write_text(proc_text)
    return cgroups.Hierarchies(str(tmp_path / "self"), str(tmp_path / "cgroups"))


def decoder(tmp_path: Path) -> Callable[[bytes, DecodeContext], Event | None]:
    return cgroups.make_decoder(hierarchies(tmp_path))


def test_hierarchies_parse() -> None:
    assert cgroups.Hierarchies.parse(PROC_CGROUPS) == {3: "cpuset", 1: "cpu,cpuacct", 4: "memory", 8: "pids"}


def test_parse_self() -> None:
    assert cgroups.Hierarchies.parse_self(SELF_CGROUP) == {
        12: "rdma",
        9: "name=systemd",
        8: "pids",
        4: "memory",
        1: "cpu,cpuacct",
    }


def test_hierarchy_names(tmp_path: Path) -> None:
    h = hierarchies(tmp_path)
    assert h.name(0) == "cgroup2"
    assert h.name(1) == "cpu,cpuacct"
    assert h.name(9) == "name=systemd"  # a named hierarchy: only /proc/self/cgroup knows it
    assert h.name(3) == "cpuset"  # only /proc/cgroups knows it (this process is not listed there)
    assert h.name(12) == "rdma"
    assert h.name(13) == ""  # unknown, looked up once
    (tmp_path / "self").write_text(SELF_CGROUP + "13:name=beefine:/\n")
    assert h.name(13) == ""  # not re-read for the same unknown id
    assert h.name(14) == ""  # a new unknown id re-reads the files...
    assert h.name(13) == "name=beefine"  # ...which now know 13
    missing = cgroups.Hierarchies(str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert missing.name(4) == ""


def test_mkdir_v1_docker(tmp_path: Path) -> None:
    decode = decoder(tmp_path)
    ev = decode(rec(1, f"/docker/{CID}".encode(), root=4, level=2), DecodeContext())
    assert ev is not None
    assert ev.kind == "cgroup_mkdir" and ev.probe == "cgroups"
    assert ev.args == CgroupArgs(path=f"/docker/{CID}", hierarchy=4, level=2, id=77, controllers="memory")
    assert ev.args["container_id"] == CID  # derived from the path
    assert ev.text == f"made memory:/docker/{CID}"


def test_attach_v2_scope(tmp_path: Path) -> None:
    decode = decoder(tmp_path)
    path = f"/system.slice/docker-{CID}.scope".encode()
    ev = decode(rec(2, path, root=0, level=2, target=4242, tcomm=b"runc:[2:INIT]"), DecodeContext())
    assert ev is not None
    assert ev.kind == "cgroup_attach"
    assert ev.args == CgroupAttachArgs(
        path=f"/system.slice/docker-{CID}.scope",
        hierarchy=0,
        level=2,
        id=77,
        controllers="cgroup2",
        target_pid=4242,
        target_comm="runc:[2:INIT]",
    )
    assert ev.args["container_id"] == CID
    assert ev.text == f"runc:[2:INIT] (4242) moved into cgroup2:/system.slice/docker-{CID}.scope"


def test_rmdir_and_plain_path(tmp_path: Path) -> None:
    decode = decoder(tmp_path)
    ev = decode(rec(3, b"/beefine-test-1"), DecodeContext())
    assert ev is not None
    assert ev.kind == "cgroup_rmdir" and ev.args["path"] == "/beefine-test-1"
    assert "container_id" not in ev.args and ev.args["controllers"] == "pids"
    assert ev.text == "removed pids:/beefine-test-1"
    assert decode(rec(9, b"/x"), DecodeContext()) is None


def test_render() -> None:
    text = cgroups.render(ProbeOptions())
    assert "TRACEPOINT_PROBE(cgroup, cgroup_attach_task)" in text and "data_loc_dst_path" in text
    assert "FILTER_" not in text.split("\n", 2)[1]  # host-wide: no filter cflags


def test_every_listed_tracepoint_has_a_handler() -> None:
    text = cgroups.render(ProbeOptions())
    for tp in cgroups.SPEC.tracepoints:
        cat, name = tp.split(":")
        assert f"TRACEPOINT_PROBE({cat}, {name})" in text, tp


def test_cut_path_is_marked(tmp_path: Path) -> None:
    raw = bytearray(rec(cgroups.K_MKDIR, b"/" + b"a" * 254))
    struct.pack_into("<I", raw, cgroups.REC.size - 256 - 16 - 4, 1)  # cut
    ev = decoder(tmp_path)(bytes(raw), DecodeContext())
    assert ev is not None and ev.args["path"] == "/" + "a" * 254 + "…" and ev.args["truncated"] is True
    ev = decoder(tmp_path)(rec(cgroups.K_MKDIR, b"/" + b"a" * 254), DecodeContext())
    assert ev is not None and ev.args["path"] == "/" + "a" * 254 and ev.args["truncated"] is False


# schema-1 lines: the cgroups probe's as tests/unit/fixtures/story/lab_pull_and_runs.jsonl has them, and
# bt-cgroups' (cgroup_id, root)
V1_LINES = [
    (
        '{"ts":1,"probe":"cgroups","kind":"cgroup_mkdir","pid":9,"comm":"runc","args":{"path":'
        '"/docker/x","hierarchy":3,"root":3}}',
        CgroupArgs(path="/docker/x", hierarchy=3),
    ),
    (
        '{"ts":1,"probe":"cgroups","kind":"cgroup_attach","pid":9,"comm":"runc","args":{"path":'
        '"/docker/x","hierarchy":3,"target_pid":17372,"target_comm":"runc"}}',
        CgroupAttachArgs(path="/docker/x", hierarchy=3, target_pid=17372, target_comm="runc"),
    ),
    (
        '{"ts":1,"probe":"bt-cgroups","kind":"cgroup_rmdir","pid":9,"comm":"rmdir","args":{"hierarchy":'
        '8,"root":8,"level":1,"cgroup_id":152,"path":"/bftest2"}}',
        CgroupArgs(path="/bftest2", hierarchy=8, level=1, id=152),
    ),
]


def test_schema_1_lines_upgrade() -> None:
    assert_v1_lines_upgrade(V1_LINES)


def test_schema_2_round_trip() -> None:
    """What the recorder writes reads back as the same struct (the tag picks the type)."""
    assert_round_trips(args for _, args in V1_LINES)
