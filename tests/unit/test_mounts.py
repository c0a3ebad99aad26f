"""mounts probe decoder on hand-built records (same layout as bpf/mounts.bpf.c's struct mount_rec)."""

from __future__ import annotations

from beefine_tui.probes import mounts
from beefine_tui.probes.attribution import Attributor
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.decode_context import DecodeContext, attributed
from beefine_tui.probes.flags import MS_BIND, MS_REC
from beefine_tui.probes.mounts import (
    FsconfigArgs,
    FsmountArgs,
    FsopenArgs,
    MountArgs,
    MoveMountArgs,
    OpenTreeArgs,
    PivotRootArgs,
    UmountArgs,
)
from tests.probe_checks import assert_each_tracepoint_handled, assert_round_trips, assert_v1_lines_upgrade

NO_PID = 0x7FFFFFF0  # no such process: ppid 0, no container


def rec(
    kind: int,
    *,
    ret: int = 0,
    flags: int = 0,
    arg: int = 0,
    fd1: int = 0,
    fd2: int = 0,
    fstype: bytes = b"",
    s1: bytes = b"",
    s2: bytes = b"",
    data: bytes | None = None,
    trunc: int = 0,
) -> bytes:
    data_len = len(data) + 1 if data is not None else 0
    head = mounts.REC.pack(
        123456789,
        kind,
        NO_PID,
        NO_PID + 1,
        0,
        b"runc:[2:INIT]",
        ret,
        flags,
        arg,
        fd1,
        fd2,
        data_len,
        trunc,
        fstype,
        s1,
        s2,
    )
    if data is None:
        return head
    return head + (data + b"\0").ljust(mounts.DATA_LEN, b"\0")


def ctx() -> DecodeContext:
    return DecodeContext(Target())


def test_mount_tmpfs() -> None:
    ev = mounts.decode(
        rec(1, flags=0x2 | 0x4 | 0x8, fstype=b"tmpfs", s1=b"tmpfs", s2=b"/dev/shm", data=b"size=65536k"),
        ctx(),
    )
    assert ev is not None
    assert ev.probe == "mounts" and ev.kind == "mount"
    assert ev.pid == NO_PID and ev.tid == NO_PID + 1 and ev.comm == "runc:[2:INIT]" and ev.ts == 123456789
    assert ev.args == MountArgs(
        source="tmpfs", target="/dev/shm", fstype="tmpfs", flags=14, data="size=65536k"
    )
    assert ev.args.names() == {"flags": "MS_NOSUID|MS_NODEV|MS_NOEXEC"}
    assert ev.text == "tmpfs on /dev/shm type tmpfs (MS_NOSUID|MS_NODEV|MS_NOEXEC) size=65536k"


def test_mount_overlay_long_data() -> None:
    lowers = [f"/var/lib/docker/overlay2/l/{'A' * 26}{i:02d}" for i in range(20)]
    data = (
        "lowerdir=" + ":".join(lowers) + ",upperdir=/var/lib/docker/overlay2/" + "f" * 64 + "/diff"
        ",workdir=/var/lib/docker/overlay2/" + "f" * 64 + "/work"
    )
    assert len(data) > 1024
    ev = mounts.decode(
        rec(1, fstype=b"overlay", s1=b"overlay", s2=b"/var/lib/docker/overlay2/x/merged", data=data.encode()),
        ctx(),
    )
    assert ev is not None
    assert ev.args["data"] == data
    assert ev.args["overlay"]["lowerdir"] == lowers
    assert ev.args["overlay"]["upperdir"].endswith("/diff")
    assert ev.args["overlay"]["workdir"].endswith("/work")
    assert "20 lower layer(s)" in ev.text


def test_mount_bind_rec_failed_and_truncated() -> None:
    ev = mounts.decode(
        rec(1, ret=-2, flags=0x1000 | 0x4000, s1=b"/nope", s2=b"x" * 255, trunc=mounts.T_S2), ctx()
    )
    assert ev is not None
    assert isinstance(ev.args, MountArgs) and ev.args.flags == MS_BIND | MS_REC
    assert ev.args.shown()["flags"] == "MS_BIND|MS_REC"
    assert ev.args["ret"] == -2 and ev.args["error"] == "ENOENT"
    assert ev.args["target"] == "x" * 255 + "…"
    assert ev.args["data"] == "" and ev.args["fstype"] == ""
    assert ev.text.endswith("-> ENOENT")


def test_mount_data_truncated() -> None:
    raw = rec(1, fstype=b"overlay", data=b"lowerdir=/a", trunc=mounts.T_DATA)
    ev = mounts.decode(raw, ctx())
    assert ev is not None and ev.args["data"] == "lowerdir=/a…" and ev.args["truncated"] is True


def test_mount_fstype_truncated() -> None:
    raw = rec(1, fstype=b"f" * 31, s1=b"src", s2=b"/mnt", trunc=mounts.T_FSTYPE)
    ev = mounts.decode(raw, ctx())
    assert ev is not None and ev.args["fstype"] == "f" * 31 + "…" and ev.args["truncated"] is True
    ev = mounts.decode(rec(1, fstype=b"tmpfs", s1=b"src", s2=b"/mnt"), ctx())
    assert ev is not None and ev.args["truncated"] is False


def test_umount_pivot_root() -> None:
    ev = mounts.decode(rec(2, flags=2, s1=b"/oldroot"), ctx())
    assert ev is not None and ev.kind == "umount"
    assert ev.args == UmountArgs(target="/oldroot", flags=2, ret=0)
    assert ev.args.shown()["flags"] == "MNT_DETACH" and ev.text == "/oldroot (MNT_DETACH)"
    ev = mounts.decode(rec(3, s1=b".", s2=b"."), ctx())
    assert ev is not None and ev.kind == "pivot_root"
    assert ev.args == PivotRootArgs(new_root=".", put_old=".", ret=0)
    assert ev.text == "new_root=. put_old=."


def test_new_mount_api() -> None:
    ev = mounts.decode(rec(4, flags=1, s1=b"tmpfs", ret=5), ctx())
    assert ev is not None and ev.kind == "fsopen"
    assert ev.args == FsopenArgs(fsname="tmpfs", flags=1, ret=5)
    assert ev.args.shown()["flags"] == "FSOPEN_CLOEXEC" and ev.text == "tmpfs"
    ev = mounts.decode(rec(5, arg=1, fd1=5, s1=b"size", s2=b"1m"), ctx())
    assert ev is not None and ev.kind == "fsconfig"
    assert ev.args == FsconfigArgs(fd=5, cmd=1, key="size", value="1m", aux=0)
    assert ev.args.shown()["cmd"] == "FSCONFIG_SET_STRING" and ev.text == "FSCONFIG_SET_STRING size=1m"
    ev = mounts.decode(rec(5, arg=6, fd1=5), ctx())
    assert ev is not None and ev.args.shown()["cmd"] == "FSCONFIG_CMD_CREATE" and ev.args["key"] == ""
    ev = mounts.decode(rec(6, fd1=5, flags=1, arg=0x1 | 0x8, ret=6), ctx())
    assert ev is not None and ev.kind == "fsmount"
    assert ev.args == FsmountArgs(fs_fd=5, flags=1, attr_flags=0x9, ret=6)
    assert ev.args.shown()["flags"] == "FSMOUNT_CLOEXEC"
    assert ev.args.shown()["attr_flags"] == "MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOEXEC"
    ev = mounts.decode(rec(7, fd1=6, fd2=-100, flags=0x4, s1=b"", s2=b"/mnt/x"), ctx())
    assert ev is not None and ev.kind == "move_mount"
    assert ev.args == MoveMountArgs(from_dfd=6, from_path="", to_dfd=-100, to_path="/mnt/x", flags=4)
    assert ev.args.shown()["to_dfd"] == "AT_FDCWD" and ev.args.shown()["flags"] == "MOVE_MOUNT_F_EMPTY_PATH"
    assert ev.text == "fd 6 -> /mnt/x"
    ev = mounts.decode(rec(8, fd1=-100, flags=0x1 | 0x8000 | 0o2000000, s1=b"/src", ret=7), ctx())
    assert ev is not None and ev.kind == "open_tree"
    assert ev.args == OpenTreeArgs(dfd=-100, path="/src", flags=0x1 | 0x8000 | 0o2000000, ret=7)
    assert ev.args.shown()["flags"] == "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE"


# schema-1 lines: as tests/unit/fixtures/story/lab_pull_and_runs.jsonl has them (a umount without
# flags_raw), and the new mount API's (named command, "AT_FDCWD")
V1_LINES = [
    (
        '{"ts":1,"probe":"mounts","kind":"mount","pid":9,"comm":"runc","args":{"source":"/proc/sysrq-trigger",'
        '"target":"/proc/sysrq-trigger","fstype":"","flags":"MS_BIND|MS_REC","flags_raw":20480,"data":"",'
        '"ret":-2,"error":"ENOENT"}}',
        MountArgs(source="/proc/sysrq-trigger", target="/proc/sysrq-trigger", flags=20480, ret=-2),
    ),
    (
        '{"ts":1,"probe":"mounts","kind":"umount","pid":9,"comm":"runc","args":{"target":'
        '"/.pivot_root1772019734","flags":"MNT_DETACH","ret":0}}',
        UmountArgs(target="/.pivot_root1772019734", flags=2),
    ),
    (
        '{"ts":1,"probe":"mounts","kind":"pivot_root","pid":9,"comm":"runc","args":{"new_root":"/a",'
        '"put_old":"/a/","ret":0}}',
        PivotRootArgs(new_root="/a", put_old="/a/"),
    ),
    (
        '{"ts":1,"probe":"mounts","kind":"fsconfig","pid":9,"comm":"x","args":{"fd":5,"cmd":'
        '"FSCONFIG_SET_STRING","key":"size","value":"1m","aux":0,"ret":0}}',
        FsconfigArgs(fd=5, cmd=1, key="size", value="1m"),
    ),
    (
        '{"ts":1,"probe":"mounts","kind":"move_mount","pid":9,"comm":"x","args":{"from_dfd":6,"from_path":'
        '"","to_dfd":"AT_FDCWD","to_path":"/mnt/x","flags":"MOVE_MOUNT_F_EMPTY_PATH","flags_raw":4,"ret":0}}',
        MoveMountArgs(from_dfd=6, from_path="", to_dfd=-100, to_path="/mnt/x", flags=4),
    ),
    (
        '{"ts":1,"probe":"mounts","kind":"fsmount","pid":9,"comm":"x","args":{"fs_fd":5,"flags":'
        '"FSMOUNT_CLOEXEC","flags_raw":1,"attr_flags":"MOUNT_ATTR_RDONLY","attr_flags_raw":1,"ret":6}}',
        FsmountArgs(fs_fd=5, flags=1, attr_flags=1, ret=6),
    ),
]


def test_schema_1_lines_upgrade() -> None:
    assert_v1_lines_upgrade(V1_LINES)


def test_unknown_kind_is_skipped() -> None:
    assert mounts.decode(rec(99), ctx()) is None


def test_container_from_target() -> None:
    target = Target(container_id="c" * 64)
    raw = rec(3, s1=b".", s2=b".")
    plain = mounts.decode(raw, DecodeContext(target))
    assert plain is not None and plain.container is None  # a decoder does not attribute...
    ev = attributed(mounts.decode, Attributor(target))(raw, DecodeContext(target))
    assert ev is not None and ev.container == "c" * 64  # ...the runner's Attributor does


def test_parse_overlay() -> None:
    assert mounts.parse_overlay("lowerdir=/a:/b,upperdir=/u,workdir=/w,index=off") == {
        "lowerdir": ["/a", "/b"],
        "upperdir": "/u",
        "workdir": "/w",
    }
    assert mounts.parse_overlay("ro") == {}


def test_render_without_root() -> None:
    text = mounts.render(ProbeOptions(target=Target(pids=frozenset({4242}))))
    assert "TRACEPOINT_PROBE(syscalls, sys_enter_mount)" in text
    assert "sys_enter_pivot_root" in text and "sys_enter_umount" in text
    assert "static __always_inline int beefine_should_trace" in text  # common.h inlined
    assert "-DFILTER_TRACKED=1" in text and "-DDATA_LEN=4096" in text


def test_spec() -> None:
    assert mounts.SPEC.name == "mounts" and mounts.SPEC.engine == "bcc"
    assert set(mounts.SPEC.kinds) >= {"mount", "umount", "pivot_root", "fsopen", "move_mount"}


def test_every_listed_tracepoint_has_a_handler() -> None:
    assert_each_tracepoint_handled(mounts.SPEC, mounts.render)


def test_schema_2_round_trip() -> None:
    """What the recorder writes reads back as the same struct (the tag picks the type)."""
    assert_round_trips(args for _, args in V1_LINES)
