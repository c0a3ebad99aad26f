"""namespaces probe decoder on hand-built records (bpf/namespaces.bpf.c's struct ns_rec)."""

from __future__ import annotations

from beefine_tui.probes import namespaces as ns
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.decode_context import DecodeContext

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
    assert ev.args.as_dict() == {
        "flags": "CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET",
        "flags_raw": 0x6C020000,
        "namespaces": ["CLONE_NEWIPC", "CLONE_NEWNS", "CLONE_NEWNET", "CLONE_NEWPID", "CLONE_NEWUTS"],
        "ret": 0,
    }
    assert ev.text == "unshare ipc,ns,net,pid,uts"
    assert ev.comm == "runc:[1:CHILD]"


def test_unshare_failure() -> None:
    ev = ns.decode(rec(3, flags=0x10000000, ret=-1), ctx())
    assert ev is not None and ev.args["error"] == "EPERM" and ev.text.endswith("-> EPERM")


def test_clone_fork_and_newns() -> None:
    ev = ns.decode(rec(1, flags=0x01200011, ret=4321), ctx())
    assert ev is not None and ev.kind == "clone"
    assert ev.args["flags"] == "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    assert ev.args["namespaces"] == [] and ev.args["ret"] == 4321
    assert ev.text == "clone process -> child 4321"
    # the exit signal byte is never read as CLONE_NEWTIME (0x80) in clone(2)
    ev = ns.decode(rec(1, flags=0x20000 | 0x80, ret=7), ctx())
    assert ev is not None and ev.args["namespaces"] == ["CLONE_NEWNS"]
    assert "new ns namespace" in ev.text


def test_clone3() -> None:
    ev = ns.decode(rec(2, flags=0x200000000 | 0x20000000, exit_signal=17, cgroup=9, size=88, ret=99), ctx())
    assert ev is not None and ev.kind == "clone3"
    assert ev.args["flags"] == "CLONE_NEWPID|CLONE_INTO_CGROUP"
    assert ev.args["exit_signal"] == "SIGCHLD" and ev.args["cgroup_fd"] == 9 and ev.args["size"] == 88
    ev = ns.decode(rec(2, flags=0x80 | 0x10000, size=64, ret=5), ctx())
    assert ev is not None and ev.args["flags"] == "CLONE_NEWTIME|CLONE_THREAD"
    assert ev.args["exit_signal"] is None and "cgroup_fd" not in ev.args
    assert ev.text.startswith("clone3 thread")


def test_setns() -> None:
    ev = ns.decode(rec(4, fd=5, flags=0x04000000), ctx())
    assert ev is not None and ev.kind == "setns"
    assert ev.args.as_dict() == {"fd": 5, "nstype": "CLONE_NEWUTS", "nstype_raw": 0x04000000, "ret": 0}
    ev = ns.decode(rec(4, fd=3, flags=0, ret=-22), ctx())
    assert ev is not None and ev.args["nstype"] == "any" and ev.args["error"] == "EINVAL"


def test_sethostname_uses_len_not_nul() -> None:
    ev = ns.decode(rec(5, length=12, name=b"0123456789abXYZ"), ctx())
    assert ev is not None and ev.kind == "sethostname"
    assert ev.args.as_dict() == {"name": "0123456789ab", "len": 12, "ret": 0}
    ev = ns.decode(rec(5, length=100, name=b"h" * 72, ret=-22), ctx())
    assert ev is not None and ev.args["name"] == "h" * 64 + "…" and ev.args["error"] == "EINVAL"
    assert ev.args["truncated"] is True


def test_unknown_kind() -> None:
    assert ns.decode(rec(42), ctx()) is None


def test_render() -> None:
    text = ns.render(ProbeOptions(target=Target(lineage_root=1234)))
    assert "sys_enter_clone3" in text and "sys_enter_sethostname" in text
    assert "-DFILTER_FOLLOW=1" in text and "-DLINEAGE_ROOT=1234" in text


def test_every_listed_tracepoint_has_a_handler() -> None:
    text = ns.render(ProbeOptions())
    for tp in ns.SPEC.tracepoints:
        cat, name = tp.split(":")
        assert f"TRACEPOINT_PROBE({cat}, {name})" in text, tp
