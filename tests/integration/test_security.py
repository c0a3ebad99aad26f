"""security probe on the real kernel: a traced child sets no_new_privs, names itself, drops a
capability from its bounding set, drops CAP_NET_RAW with capset, loads a one-instruction seccomp filter
and makes one bad seccomp call. Exactly those calls arrive, decoded."""

from __future__ import annotations

import subprocess

import pytest

from beefine_tui.events.model import Event
from beefine_tui.probes import security
from beefine_tui.probes.flags import PR_SET_NAME, PR_SET_NO_NEW_PRIVS
from beefine_tui.probes.security import CapsetArgs, PrctlArgs, SeccompArgs
from tests.integration.probe_harness import run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# ---- the tests

CHILD = """
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))
    return r
check(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
check(libc.prctl(15, b"beefine-sec", 0, 0, 0), "PR_SET_NAME")
check(libc.prctl(24, 22, 0, 0, 0), "PR_CAPBSET_DROP CAP_SYS_BOOT")
# capget then capset without CAP_NET_RAW (13) in effective and permitted (_LINUX_CAPABILITY_VERSION_3)
hdr = ctypes.create_string_buffer(struct.pack("<Ii", 0x20080522, 0))
data = ctypes.create_string_buffer(24)
check(libc.capget(hdr, data), "capget")
e0, p0, i0, e1, p1, i1 = struct.unpack("<6I", data.raw)
e0 &= ~(1 << 13)
p0 &= ~(1 << 13)
check(libc.capset(hdr, ctypes.create_string_buffer(struct.pack("<6I", e0, p0, i0, e1, p1, i1))), "capset")
print(e0 | e1 << 32, p0 | p1 << 32)
# seccomp(SECCOMP_SET_MODE_FILTER, 0, {len 1, [RET ALLOW]}): x86-64 seccomp is 317
insns = ctypes.create_string_buffer(struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000))
prog = ctypes.create_string_buffer(struct.pack("<HxxxxxxQ", 1, ctypes.addressof(insns)))
check(libc.syscall(317, 1, 0, prog), "seccomp filter")
assert libc.syscall(317, 99, 0, None) == -1  # unknown op: EINVAL
"""


def test_prctl_capset_seccomp() -> None:
    def outside() -> None:  # the same kind of call from an untraced process
        subprocess.run(["setpriv", "--no-new-privs", "true"], check=True, timeout=30)

    events, out = run_traced(
        security,
        CHILD,
        lambda evs: len([e for e in evs if e.kind == "seccomp"]) >= 2,
        during=outside,
    )
    eff, perm = (int(x) for x in out.split()[-2:])
    seen = [(e.kind, e.args.shown().get("option") or e.args.shown().get("op")) for e in events]
    assert seen == [
        ("prctl", "PR_SET_NO_NEW_PRIVS"),
        ("prctl", "PR_SET_NAME"),
        ("prctl", "PR_CAPBSET_DROP"),
        ("capset", None),
        ("seccomp", "SECCOMP_SET_MODE_FILTER"),
        ("seccomp", "SECCOMP_99"),
    ], seen
    nnp, name, drop, capset, filt, bad = events
    assert nnp.args == PrctlArgs(option=PR_SET_NO_NEW_PRIVS, arg2=1, ret=0)
    assert name.args["name"] == "beefine-sec" and name.args["ret"] == 0
    assert drop.args.shown()["arg2"] == "CAP_SYS_BOOT" and drop.args["ret"] == 0
    assert isinstance(capset.args, CapsetArgs)
    assert capset.args.effective == eff and capset.args.permitted == perm  # raw, as capget gave
    shown = capset.args.shown()
    assert "CAP_NET_RAW" not in shown["effective"] and "CAP_NET_RAW" not in shown["permitted"]
    assert "CAP_SYS_ADMIN" in shown["effective"]  # we are root: the rest is kept
    assert shown["version"] == 3 and capset.args["ret"] == 0
    assert filt.args == SeccompArgs(op=1, flags=0, filter_len=1, ret=0)
    assert bad.args == SeccompArgs(op=99, flags=0, ret=-22) and bad.args["error"] == "EINVAL"
    # comm changes with PR_SET_NAME: the events after it carry the new name
    assert nnp.comm.startswith("python") and filt.comm == "beefine-sec"
    assert len({e.pid for e in events}) == 1


def _sets_name(e: Event) -> bool:
    return isinstance(e.args, PrctlArgs) and e.args.option == PR_SET_NAME


def test_a_long_process_name_is_marked_cut() -> None:
    """prctl(PR_SET_NAME) with a 20-byte name: the kernel keeps 15 bytes (its comm, read back from
    /proc); the probe shows those 15 with "…" and truncated: true. A 15-byte name comes whole."""
    code = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for name in (b"beefine-long-name-20", b"beefine-exact15"):
    assert libc.prctl(15, name, 0, 0, 0) == 0
    print(open("/proc/thread-self/comm").read().strip())
"""
    events, out = run_traced(security, code, lambda evs: sum(1 for e in evs if _sets_name(e)) >= 2)
    kernel = out.split()
    assert kernel == ["beefine-long-name-20"[:15], "beefine-exact15"]
    names = [e for e in events if _sets_name(e)]
    assert names[0].args["name"] == kernel[0] + "…" and names[0].args["truncated"] is True
    assert names[1].args["name"] == kernel[1] and names[1].args["truncated"] is False
