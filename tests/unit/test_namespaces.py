"""namespaces probe decoder on hand-built records (bpf/namespaces.bpf.c's struct ns_rec)."""

from __future__ import annotations

from beefine_tui.probes import namespaces as ns
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.namespaces import Clone3Args, CloneArgs, SethostnameArgs, SetnsArgs, UnshareArgs
from tests.probe_checks import assert_each_tracepoint_handled, assert_round_trips, assert_v1_lines_upgrade

NO_PID = 0x7FFFFFF0


def rec(
    kind: int,
    *,
    ret: int = 0,
    flags: int = 0,
    exit_signal: int = 0,
    cgroup: int = 0,
    fd: int = 0,
    length: int = 0,
    size: int = 0,
    name: bytes = b"",
) -> bytes:
    return ns.REC.pack(
        5,
        kind,
        NO_PID,
        NO_PID,
        0,
        b"runc:[1:CHILD]",
        ret,
        flags,
        exit_signal,
        cgroup,
        fd,
        length,
        size,
        0,
        name,
    )


def ctx() -> DecodeContext:
    return DecodeContext(Target())


def test_unshare_runc_flags() -> None:
    ev = ns.decode(rec(3, flags=0x6C020000), ctx())
    assert ev is not None and ev.kind == "unshare" and ev.probe == "namespaces"
    assert ev.args == UnshareArgs(flags=0x6C020000, ret=0)
    assert ev.args.names() == {
        "flags": "CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET",
        "namespaces": ["CLONE_NEWIPC", "CLONE_NEWNS", "CLONE_NEWNET", "CLONE_NEWPID", "CLONE_NEWUTS"],
    }
    assert ev.text == "ipc,ns,net,pid,uts"
    assert ev.comm == "runc:[1:CHILD]"


def test_unshare_failure() -> None:
    ev = ns.decode(rec(3, flags=0x10000000, ret=-1), ctx())
    assert ev is not None and ev.args["error"] == "EPERM" and ev.text.endswith("-> EPERM")


def test_clone_fork_and_newns() -> None:
    ev = ns.decode(rec(1, flags=0x01200011, ret=4321), ctx())
    assert ev is not None and ev.kind == "clone"
    assert ev.args == CloneArgs(flags=0x01200011, ret=4321)
    assert ev.args.shown()["flags"] == "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    assert ev.args["namespaces"] == [] and not ev.args.new_namespaces
    assert ev.text == "process -> child 4321"
    # the exit signal byte is never read as CLONE_NEWTIME (0x80) in clone(2)
    ev = ns.decode(rec(1, flags=0x20000 | 0x80, ret=7), ctx())
    assert ev is not None and ev.args["namespaces"] == ["CLONE_NEWNS"]
    assert isinstance(ev.args, CloneArgs) and ev.args.new_namespaces == 0x20000
    assert ev.text == "process in new ns namespace(s) -> child 7"


def test_clone3() -> None:
    ev = ns.decode(rec(2, flags=0x200000000 | 0x20000000, exit_signal=17, cgroup=9, size=88, ret=99), ctx())
    assert ev is not None and ev.kind == "clone3"
    assert ev.args == Clone3Args(flags=0x220000000, ret=99, exit_signal=17, size=88, cgroup_fd=9)
    assert ev.args.shown()["flags"] == "CLONE_NEWPID|CLONE_INTO_CGROUP"
    assert ev.args.shown()["exit_signal"] == "SIGCHLD"
    ev = ns.decode(rec(2, flags=0x80 | 0x10000, size=64, ret=5), ctx())
    assert ev is not None and ev.args == Clone3Args(flags=0x10080, ret=5, exit_signal=0, size=64)
    assert ev.args.shown()["flags"] == "CLONE_NEWTIME|CLONE_THREAD" and ev.args.shown()["exit_signal"] == 0
    assert ev.text == "thread in new time namespace(s) -> child 5"


def test_setns() -> None:
    ev = ns.decode(rec(4, fd=5, flags=0x04000000), ctx())
    assert ev is not None and ev.kind == "setns"
    assert ev.args == SetnsArgs(fd=5, nstype=0x04000000, ret=0)
    assert ev.args.names() == {"nstype": "CLONE_NEWUTS"} and ev.text == "fd 5 (CLONE_NEWUTS)"
    ev = ns.decode(rec(4, fd=3, flags=0, ret=-22), ctx())
    assert ev is not None and ev.args.shown()["nstype"] == "any" and ev.args["error"] == "EINVAL"
    assert ev.text == "fd 3 (any) -> EINVAL"


def test_sethostname_uses_len_not_nul() -> None:
    ev = ns.decode(rec(5, length=12, name=b"0123456789abXYZ"), ctx())
    assert ev is not None and ev.kind == "sethostname"
    assert ev.args == SethostnameArgs(name="0123456789ab", len=12, ret=0)
    assert ev.text == "'0123456789ab'"
    ev = ns.decode(rec(5, length=100, name=b"h" * 72, ret=-22), ctx())
    assert ev is not None and ev.args["name"] == "h" * 64 + "…" and ev.args["error"] == "EINVAL"
    assert ev.args["truncated"] is True


# schema-1 lines: the namespaces probe's as tests/unit/fixtures/story/lab_pull_and_runs.jsonl has them, a
# clone3 with its exit signal named, and bt-namespaces' (no nstype_raw, inodes)
V1_LINES = [
    (
        '{"ts":1,"probe":"namespaces","kind":"clone","pid":9,"comm":"runc","args":{"flags":'
        '"CLONE_VM|CLONE_VFORK|SIGCHLD","flags_raw":16657,"ret":17278}}',
        CloneArgs(flags=16657, ret=17278),
    ),
    (
        '{"ts":1,"probe":"namespaces","kind":"unshare","pid":9,"comm":"runc","args":{"flags":'
        '"CLONE_NEWNS","flags_raw":131072,"ret":0}}',
        UnshareArgs(flags=0x20000),
    ),
    (
        '{"ts":1,"probe":"namespaces","kind":"sethostname","pid":9,"comm":"runc","args":{"name":'
        '"b4cc54ec00c5","ret":0}}',
        SethostnameArgs(name="b4cc54ec00c5"),
    ),
    (
        '{"ts":1,"probe":"namespaces","kind":"clone3","pid":9,"comm":"x","args":{"flags":"CLONE_NEWUTS",'
        '"flags_raw":67108864,"namespaces":["CLONE_NEWUTS"],"exit_signal":"SIGCHLD","size":64,"ret":5}}',
        Clone3Args(flags=0x04000000, ret=5, exit_signal=17, size=64),
    ),
    (
        '{"ts":1,"probe":"bt-namespaces","kind":"setns","pid":9,"comm":"x","args":{"fd":5,"nstype":'
        '"CLONE_NEWNET","ret":0,"ns_before":{"net":1},"ns_after":{"net":2},"ns_changed":["net"]}}',
        SetnsArgs(fd=5, nstype=0x40000000, ns_before={"net": 1}, ns_after={"net": 2}),
    ),
]


def test_schema_1_lines_upgrade() -> None:
    assert_v1_lines_upgrade(V1_LINES)


def test_unknown_kind() -> None:
    assert ns.decode(rec(42), ctx()) is None


def test_render() -> None:
    text = ns.render(ProbeOptions(target=Target(lineage_root=1234)))
    assert "sys_enter_clone3" in text and "sys_enter_sethostname" in text
    assert "-DFILTER_FOLLOW=1" in text and "-DLINEAGE_ROOT=1234" in text


def test_every_listed_tracepoint_has_a_handler() -> None:
    assert_each_tracepoint_handled(ns.SPEC, ns.render)


def test_schema_2_round_trip() -> None:
    """What the recorder writes reads back as the same struct (the tag picks the type)."""
    assert_round_trips(args for _, args in V1_LINES)
