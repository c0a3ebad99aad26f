"""security probe decoder on hand-built records (bpf/security.bpf.c's struct sec_rec)."""

from __future__ import annotations

from beefine_tui.probes import security as sec
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import CAPABILITIES
from beefine_tui.probes.security import CapsetArgs, PrctlArgs, SeccompArgs
from tests.probe_checks import assert_each_tracepoint_handled, assert_round_trips, assert_v1_lines_upgrade

NO_PID = 0x7FFFFFF0
V3 = 0x20080522
V1 = 0x19980330
# Docker's default capability set (moby oci/caps/defaults.go): 14 capabilities
DOCKER_DEFAULT = 0xA80425FB


def rec(
    kind: int,
    *,
    ret: int = 0,
    a0: int = 0,
    a1: int = 0,
    a2: int = 0,
    filter_len: int = 0,
    version: int = 0,
    cap_pid: int = 0,
    cap_n: int = 0,
    caps: tuple[int, ...] = (0, 0, 0, 0, 0, 0),
    name: bytes = b"",
) -> bytes:
    return sec.REC.pack(
        1,
        kind,
        NO_PID,
        NO_PID,
        0,
        b"runc:[2:INIT]",
        ret,
        a0,
        a1,
        a2,
        filter_len,
        version,
        cap_pid,
        cap_n,
        *caps,
        name,
    )


def ctx() -> DecodeContext:
    return DecodeContext()


def test_seccomp_filter() -> None:
    ev = sec.decode(rec(1, a0=1, a1=0x1, filter_len=312), ctx())
    assert ev is not None and ev.kind == "seccomp" and ev.probe == "security"
    assert ev.args == SeccompArgs(op=1, flags=1, filter_len=312, ret=0)
    assert ev.args.loads_filter
    assert ev.args.shown()["op"] == "SECCOMP_SET_MODE_FILTER"
    assert ev.args.shown()["flags"] == "SECCOMP_FILTER_FLAG_TSYNC"
    assert ev.text == "SECCOMP_SET_MODE_FILTER (312 BPF instructions) SECCOMP_FILTER_FLAG_TSYNC"
    ev = sec.decode(rec(1, a0=1, a1=1, filter_len=0, ret=-14), ctx())  # runc's feature probe: NULL filter
    assert ev is not None and ev.args == SeccompArgs(op=1, flags=1, ret=-14)
    assert not ev.args.loads_filter and "instructions" not in ev.text
    assert ev.args["error"] == "EFAULT" and ev.text.endswith("-> EFAULT")
    ev = sec.decode(rec(1, a0=0, ret=-22), ctx())
    assert ev is not None and ev.args == SeccompArgs(op=0, ret=-22)
    assert ev.args.shown()["op"] == "SECCOMP_SET_MODE_STRICT" and ev.args["error"] == "EINVAL"


def test_prctl_options() -> None:
    ev = sec.decode(rec(2, a0=38, a1=1), ctx())
    assert ev is not None and ev.kind == "prctl"
    assert ev.args == PrctlArgs(option=38, arg2=1, ret=0)
    assert ev.args.shown() == {"option": "PR_SET_NO_NEW_PRIVS", "arg2": 1, "ret": 0}
    assert ev.text == "PR_SET_NO_NEW_PRIVS 1"
    ev = sec.decode(rec(2, a0=24, a1=21), ctx())
    assert ev is not None and ev.args == PrctlArgs(option=24, arg2=21)
    assert ev.args.shown()["option"] == "PR_CAPBSET_DROP" and ev.args.shown()["arg2"] == "CAP_SYS_ADMIN"
    ev = sec.decode(rec(2, a0=15, a1=0x7FFF1234, name=b"beefine-x"), ctx())
    assert ev is not None and ev.args == PrctlArgs(option=15, arg2=0x7FFF1234, name="beefine-x")
    assert ev.args.shown()["arg2"] == 0x7FFF1234 and ev.text == "PR_SET_NAME 'beefine-x'"
    ev = sec.decode(rec(2, a0=22, a1=2, filter_len=10), ctx())
    assert ev is not None and ev.args == PrctlArgs(option=22, arg2=2, filter_len=10)
    assert ev.args.shown()["arg2"] == "SECCOMP_MODE_FILTER"
    ev = sec.decode(rec(2, a0=47, a1=2, a2=12), ctx())
    assert ev is not None and ev.args == PrctlArgs(option=47, arg2=2, arg3=12) and ev.args.cap == 12
    assert ev.args.shown()["arg2"] == "PR_CAP_AMBIENT_RAISE" and ev.args["cap"] == "CAP_NET_ADMIN"
    ev = sec.decode(rec(2, a0=47, a1=4, a2=12), ctx())  # CLEAR_ALL names no capability
    assert ev is not None and ev.args["arg3"] is None and "cap" not in ev.args
    ev = sec.decode(rec(2, a0=8, a1=1, ret=-1), ctx())
    assert ev is not None and ev.args.shown()["option"] == "PR_SET_KEEPCAPS" and ev.args["error"] == "EPERM"


def test_capset_v3_two_words() -> None:
    eff = DOCKER_DEFAULT
    perm = DOCKER_DEFAULT | 1 << 40  # CAP_CHECKPOINT_RESTORE lives in the second word
    caps = (eff & 0xFFFFFFFF, perm & 0xFFFFFFFF, 0, eff >> 32, perm >> 32, 0)
    ev = sec.decode(rec(3, version=V3, cap_pid=0, cap_n=2, caps=caps), ctx())
    assert ev is not None and ev.kind == "capset"
    assert ev.args == CapsetArgs(effective=eff, permitted=perm, inheritable=0, pid=0, version=V3)
    shown = ev.args.shown()
    assert len(shown["effective"]) == 14 and "CAP_NET_RAW" in shown["effective"]
    assert "CAP_SYS_ADMIN" not in shown["effective"]
    assert shown["permitted"][-1] == "CAP_CHECKPOINT_RESTORE"
    assert shown["inheritable"] == []
    assert shown["version"] == 3
    assert ev.text == "effective=14 caps permitted=15 caps"


def test_capset_v1_and_unreadable() -> None:
    caps = (1, 3, 0, 0xFFFF, 0xFFFF, 0xFFFF)  # only the first struct counts in version 1
    ev = sec.decode(rec(3, version=V1, cap_n=1, caps=caps), ctx())
    assert ev is not None
    assert ev.args == CapsetArgs(effective=1, permitted=3, inheritable=0, pid=0, version=V1)
    assert ev.args.shown()["effective"] == ["CAP_CHOWN"]
    assert ev.args.shown()["permitted"] == ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]
    assert ev.args.shown()["version"] == 1
    ev = sec.decode(rec(3, version=0x1234, cap_n=0, ret=-22), ctx())
    assert ev is not None and ev.args["unreadable"] is True and ev.args.shown()["version"] == "0x1234"
    assert ev.args["error"] == "EINVAL" and ev.text.endswith("-> EINVAL")


# schema-1 lines of these kinds, as tests/unit/fixtures/story/lab_pull_and_runs.jsonl has them (names
# only, no *_raw), and as later v1 recordings wrote them (with *_raw)
V1_LINES = [
    (
        '{"ts":1,"probe":"security","kind":"seccomp","pid":9,"comm":"runc","args":{"op":'
        '"SECCOMP_SET_MODE_STRICT","flags":"SECCOMP_FILTER_FLAG_TSYNC","ret":-22,"error":"EINVAL"}}',
        SeccompArgs(op=0, flags=1, ret=-22),
    ),
    (
        '{"ts":1,"probe":"security","kind":"seccomp","pid":9,"comm":"runc","args":{"op":'
        '"SECCOMP_SET_MODE_FILTER","flags":"0","flags_raw":0,"filter_len":974,"ret":0}}',
        SeccompArgs(op=1, filter_len=974),
    ),
    (
        '{"ts":1,"probe":"security","kind":"prctl","pid":9,"comm":"runc:[2:INIT]","args":{"option":'
        '"PR_SET_SECCOMP","arg2":"SECCOMP_MODE_FILTER","ret":0}}',
        PrctlArgs(option=22, arg2=2),
    ),
    (
        '{"ts":1,"probe":"security","kind":"prctl","pid":9,"comm":"x","args":{"option":'
        '"PR_CAP_AMBIENT","arg2":"PR_CAP_AMBIENT_LOWER","cap":"CAP_NET_RAW","ret":0}}',
        PrctlArgs(option=47, arg2=3, arg3=13),
    ),
    (
        '{"ts":1,"probe":"security","kind":"prctl","pid":9,"comm":"x","args":{"option":'
        '"PR_CAPBSET_DROP","arg2":"CAP_SYS_ADMIN","ret":-1,"error":"EPERM"}}',
        PrctlArgs(option=24, arg2=21, ret=-1),
    ),
    (
        '{"ts":1,"probe":"security","kind":"capset","pid":9,"comm":"runc:[2:INIT]","args":{"effective":'
        '[],"permitted":[],"inheritable":[],"ret":0}}',
        CapsetArgs(effective=0, permitted=0, inheritable=0),
    ),
    (
        '{"ts":1,"probe":"security","kind":"capset","pid":9,"comm":"x","args":{"effective":["CAP_CHOWN"],'
        '"permitted":["CAP_CHOWN","CAP_KILL"],"inheritable":[],"pid":0,"version":3,"ret":0}}',
        CapsetArgs(effective=1, permitted=1 | 1 << 5, inheritable=0, pid=0, version=V3),
    ),
]


def test_schema_1_lines_upgrade() -> None:
    assert_v1_lines_upgrade(V1_LINES)


def test_cap_sets_all() -> None:
    full = (1 << len(CAPABILITIES)) - 1
    caps = (full & 0xFFFFFFFF,) * 3 + (full >> 32,) * 3
    assert sec.cap_sets(caps, 2) == (full, full, full)


def test_unknown_kind_and_render() -> None:
    assert sec.decode(rec(7), ctx()) is None
    text = sec.render(ProbeOptions())
    assert "sys_enter_capset" in text and "uapi/linux/capability.h" in text


def test_every_listed_tracepoint_has_a_handler() -> None:
    assert_each_tracepoint_handled(sec.SPEC, sec.render)


def test_schema_2_round_trip() -> None:
    """What the recorder writes reads back as the same struct (the tag picks the type)."""
    assert_round_trips(args for _, args in V1_LINES)
