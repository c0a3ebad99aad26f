"""security probe on the real kernel: a traced child sets no_new_privs, names itself, drops a
capability from its bounding set, drops CAP_NET_RAW with capset, loads a one-instruction seccomp filter
and makes one bad seccomp call. Exactly those calls arrive, decoded."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType

import pytest

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event
from beefine_tui.probes import security
from beefine_tui.probes.base import ProbeOptions, Target

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# ---- harness (the same in each of B2's probe integration tests)

GATE = "import sys\nsys.stdin.readline()\n"


def prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


def collect_until(sub: Subscription, done: Callable[[Sequence[Event]], bool], timeout: float) -> list[Event]:
    events: list[Event] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done(events):
        events.extend(sub.get(0.1))
    return events


def run_traced(
    mod: ModuleType,
    code: str,
    done: Callable[[Sequence[Event]], bool],
    timeout: float = 30.0,
    during: Callable[[], None] | None = None,
) -> tuple[list[Event], str]:
    """Start a child that waits on stdin, trace it (and only it, by lineage) with `mod`, let it run
    `code`, collect events until `done`, stop, and check the runner's programs are gone. `during` runs
    in this (untraced) process while tracing, to make noise that must not show up."""
    child = subprocess.Popen(
        [sys.executable, "-c", GATE + code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    bus = Bus()
    sub = bus.subscribe("test")
    runner = mod.make_runner(ProbeOptions(target=Target(lineage_root=child.pid)))
    ids: set[int] = set()
    try:
        runner.start(bus.publish)
        ids = runner.prog_ids()
        assert ids and all(prog_exists(i) for i in ids)
        if during is not None:
            during()  # noise from outside the filter, made while tracing
        out, err = child.communicate("go\n", timeout=timeout)
        assert child.returncode == 0, f"child failed: {err}"
        events = collect_until(sub, done, timeout)
    finally:
        runner.stop()
        if child.poll() is None:
            child.kill()
            child.wait()
    runner.stop()  # idempotent
    events += sub.get(0.2)
    assert not [i for i in ids if prog_exists(i)], "BPF programs left loaded after stop()"
    return [e for e in events if e.kind not in ("status", "lost")], out


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
    seen = [(e.kind, e.args.get("option") or e.args.get("op")) for e in events]
    assert seen == [
        ("prctl", "PR_SET_NO_NEW_PRIVS"),
        ("prctl", "PR_SET_NAME"),
        ("prctl", "PR_CAPBSET_DROP"),
        ("capset", None),
        ("seccomp", "SECCOMP_SET_MODE_FILTER"),
        ("seccomp", "SECCOMP_99"),
    ], seen
    nnp, name, drop, capset, filt, bad = events
    assert nnp.args == {"option": "PR_SET_NO_NEW_PRIVS", "arg2": 1, "ret": 0}
    assert name.args["name"] == "beefine-sec" and name.args["ret"] == 0
    assert drop.args["arg2"] == "CAP_SYS_BOOT" and drop.args["ret"] == 0
    assert capset.args["effective_raw"] == eff and capset.args["permitted_raw"] == perm
    assert "CAP_NET_RAW" not in capset.args["effective"] and "CAP_NET_RAW" not in capset.args["permitted"]
    assert "CAP_SYS_ADMIN" in capset.args["effective"]  # we are root: the rest is kept
    assert capset.args["version"] == 3 and capset.args["ret"] == 0
    assert filt.args == {
        "op": "SECCOMP_SET_MODE_FILTER",
        "flags": "0",
        "flags_raw": 0,
        "filter_len": 1,
        "ret": 0,
    }
    assert bad.args["ret"] == -22 and bad.args["error"] == "EINVAL"
    # comm changes with PR_SET_NAME: the events after it carry the new name
    assert nnp.comm.startswith("python") and filt.comm == "beefine-sec"
    assert len({e.pid for e in events}) == 1
