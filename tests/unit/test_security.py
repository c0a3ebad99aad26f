"""security probe decoder on hand-built records (bpf/security.bpf.c's struct sec_rec)."""

from __future__ import annotations

from beefine_tui.probes import security as sec
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.probes.flags import CAPABILITIES

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
    assert ev.args.as_dict() == {
        "op": "SECCOMP_SET_MODE_FILTER",
        "flags": "SECCOMP_FILTER_FLAG_TSYNC",
        "flags_raw": 1,
        "filter_len": 312,
        "ret": 0,
    }
    assert "312 BPF instructions" in ev.text
    ev = sec.decode(rec(1, a0=1, a1=1, filter_len=0, ret=-14), ctx())  # runc's feature probe: NULL filter
    assert ev is not None and "filter_len" not in ev.args and "instructions" not in ev.text
    assert ev.args["error"] == "EFAULT"
    ev = sec.decode(rec(1, a0=0, ret=-22), ctx())
    assert ev is not None and ev.args["op"] == "SECCOMP_SET_MODE_STRICT" and "filter_len" not in ev.args
    assert ev.args["error"] == "EINVAL"


def test_prctl_options() -> None:
    ev = sec.decode(rec(2, a0=38, a1=1), ctx())
    assert ev is not None and ev.kind == "prctl"
    assert ev.args.as_dict() == {"option": "PR_SET_NO_NEW_PRIVS", "arg2": 1, "ret": 0}
    ev = sec.decode(rec(2, a0=24, a1=21), ctx())
    assert ev is not None and ev.args["option"] == "PR_CAPBSET_DROP" and ev.args["arg2"] == "CAP_SYS_ADMIN"
    ev = sec.decode(rec(2, a0=15, a1=0x7FFF1234, name=b"beefine-x"), ctx())
    assert ev is not None and ev.args["name"] == "beefine-x" and ev.args["arg2"] == 0x7FFF1234
    ev = sec.decode(rec(2, a0=22, a1=2, filter_len=10), ctx())
    assert ev is not None and ev.args["arg2"] == "SECCOMP_MODE_FILTER" and ev.args["filter_len"] == 10
    ev = sec.decode(rec(2, a0=47, a1=2, a2=12), ctx())
    assert ev is not None and ev.args["arg2"] == "PR_CAP_AMBIENT_RAISE" and ev.args["cap"] == "CAP_NET_ADMIN"
    ev = sec.decode(rec(2, a0=8, a1=1, ret=-1), ctx())
    assert ev is not None and ev.args["option"] == "PR_SET_KEEPCAPS" and ev.args["error"] == "EPERM"


def test_capset_v3_two_words() -> None:
    eff = DOCKER_DEFAULT
    perm = DOCKER_DEFAULT | 1 << 40  # CAP_CHECKPOINT_RESTORE lives in the second word
    caps = (eff & 0xFFFFFFFF, perm & 0xFFFFFFFF, 0, eff >> 32, perm >> 32, 0)
    ev = sec.decode(rec(3, version=V3, cap_pid=0, cap_n=2, caps=caps), ctx())
    assert ev is not None and ev.kind == "capset"
    assert len(ev.args["effective"]) == 14 and "CAP_NET_RAW" in ev.args["effective"]
    assert "CAP_SYS_ADMIN" not in ev.args["effective"]
    assert ev.args["permitted"][-1] == "CAP_CHECKPOINT_RESTORE"
    assert ev.args["inheritable"] == []
    assert ev.args["version"] == 3 and ev.args["permitted_raw"] == perm


def test_capset_v1_and_unreadable() -> None:
    caps = (1, 3, 0, 0xFFFF, 0xFFFF, 0xFFFF)  # only the first struct counts in version 1
    ev = sec.decode(rec(3, version=V1, cap_n=1, caps=caps), ctx())
    assert ev is not None
    assert ev.args["effective"] == ["CAP_CHOWN"]
    assert ev.args["permitted"] == ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]
    assert ev.args["version"] == 1
    ev = sec.decode(rec(3, version=0x1234, cap_n=0, ret=-22), ctx())
    assert ev is not None and ev.args["unreadable"] is True and ev.args["version"] == "0x1234"
    assert ev.args["error"] == "EINVAL"


def test_cap_sets_all() -> None:
    full = (1 << len(CAPABILITIES)) - 1
    caps = (full & 0xFFFFFFFF,) * 3 + (full >> 32,) * 3
    assert sec.cap_sets(caps, 2) == (full, full, full)


def test_unknown_kind_and_render() -> None:
    assert sec.decode(rec(7), ctx()) is None
    text = sec.render(ProbeOptions())
    assert "sys_enter_capset" in text and "uapi/linux/capability.h" in text


def test_every_listed_tracepoint_has_a_handler() -> None:
    text = sec.render(ProbeOptions())
    for tp in sec.SPEC.tracepoints:
        cat, name = tp.split(":")
        assert f"TRACEPOINT_PROBE({cat}, {name})" in text, tp
