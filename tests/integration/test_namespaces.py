"""namespaces probe on the real kernel: a traced child unshares a UTS namespace and names it, another
joins such a namespace with setns, and raw clone/clone3 calls make a child in new mount/UTS
namespaces. Exactly those calls arrive, with flags decoded and the child pids as return values."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import psutil
import pytest

from beefine_tui.events.bus import Bus
from beefine_tui.probes import namespaces
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.bcc_runner import BccRunner
from beefine_tui.probes.namespaces import Clone3Args, CloneArgs, SethostnameArgs, SetnsArgs, UnshareArgs
from tests.integration.probe_harness import collect_until, prog_exists, run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# ---- the tests

PRELUDE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))
    return r
"""


def test_unshare_uts_and_sethostname() -> None:
    name = f"beefine-{uuid.uuid4().hex[:8]}"
    code = (
        PRELUDE
        + f"""
check(libc.unshare(0x04000000), "unshare(CLONE_NEWUTS)")
check(libc.sethostname({name.encode()!r}, {len(name)}), "sethostname")
import socket
assert socket.gethostname() == {name!r}
"""
    )

    def outside() -> None:
        subprocess.run(["unshare", "-u", "hostname", "beefine-noise"], check=True, timeout=30)

    events, _ = run_traced(
        namespaces, code, lambda evs: any(e.kind == "sethostname" for e in evs), during=outside
    )
    assert [e.kind for e in events] == ["unshare", "sethostname"], events
    unshare, sethost = events
    assert unshare.args == UnshareArgs(flags=0x04000000, ret=0)
    assert unshare.args.names() == {"flags": "CLONE_NEWUTS", "namespaces": ["CLONE_NEWUTS"]}
    assert sethost.args == SethostnameArgs(name=name, len=len(name), ret=0)
    assert unshare.pid == sethost.pid and unshare.probe == "namespaces"


def test_setns_into_a_uts_namespace() -> None:
    name = f"beefine-{uuid.uuid4().hex[:8]}"
    # a grandchild makes and names a UTS namespace and waits; the child joins it with setns
    code = (
        PRELUDE
        + f"""
import signal, socket
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    check(libc.unshare(0x04000000), "unshare")
    check(libc.sethostname({name.encode()!r}, {len(name)}), "sethostname")
    os.write(w, b"x")
    signal.pause()
    os._exit(0)
os.read(r, 1)
fd = os.open(f"/proc/{{pid}}/ns/uts", os.O_RDONLY)
check(libc.setns(fd, 0x04000000), "setns")
ok = socket.gethostname() == {name!r}
bad = libc.setns(fd, 0x20000000)  # wrong type for this fd: EINVAL
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
assert ok and bad == -1
print(pid)
"""
    )
    events, out = run_traced(namespaces, code, lambda evs: len([e for e in evs if e.kind == "setns"]) >= 2)
    gc = int(out.split()[-1])
    kinds = [(e.kind, e.pid == gc) for e in events]
    assert kinds == [
        ("clone", False),
        ("unshare", True),
        ("sethostname", True),
        ("setns", False),
        ("setns", False),
    ], kinds
    clone, _, _, ok, bad = events
    assert isinstance(clone.args, CloneArgs) and clone.args.flags & 0xFF == signal.SIGCHLD
    assert clone.args["ret"] == gc
    assert "SIGCHLD" in clone.args.shown()["flags"] and clone.args["namespaces"] == []
    assert ok.args.shown()["nstype"] == "CLONE_NEWUTS" and ok.args["ret"] == 0 and ok.args["fd"] >= 0
    assert isinstance(bad.args, SetnsArgs) and bad.args.nstype == 0x20000000  # CLONE_NEWPID
    assert bad.args["nstype"] == "CLONE_NEWPID" and bad.args["error"] == "EINVAL"
    assert ok.args["fd"] == bad.args["fd"]


def test_clone_and_clone3_with_new_namespaces() -> None:
    # raw clone(CLONE_NEWNS|SIGCHLD) and clone3(CLONE_NEWUTS, exit_signal SIGCHLD): the children exit
    # at once. x86-64: clone is 56, clone3 is 435; clone(flags, newsp=0...) behaves like fork.
    code = (
        PRELUDE
        + """
import struct
pid = check(libc.syscall(56, ctypes.c_ulong(0x00020000 | 17), 0, 0, 0, 0), "clone")
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
args = ctypes.create_string_buffer(struct.pack("<8Q", 0x04000000, 0, 0, 0, 17, 0, 0, 0))
pid3 = check(libc.syscall(435, args, ctypes.c_size_t(64)), "clone3")
if pid3 == 0:
    os._exit(0)
os.waitpid(pid3, 0)
print(pid, pid3)
"""
    )
    events, out = run_traced(namespaces, code, lambda evs: any(e.kind == "clone3" for e in evs))
    pid, pid3 = (int(x) for x in out.split()[-2:])
    assert [e.kind for e in events] == ["clone", "clone3"], events
    clone, clone3 = events
    assert clone.args == CloneArgs(flags=0x00020000 | 17, ret=pid)
    assert clone.args.names() == {"flags": "CLONE_NEWNS|SIGCHLD", "namespaces": ["CLONE_NEWNS"]}
    assert clone3.args == Clone3Args(flags=0x04000000, ret=pid3, exit_signal=17, size=64)
    assert clone3.args.shown()["flags"] == "CLONE_NEWUTS" and clone3.args["namespaces"] == ["CLONE_NEWUTS"]
    assert clone3.args.shown()["exit_signal"] == "SIGCHLD"


def test_unshare_tool_fork_path() -> None:
    # util-linux unshare(1): unshare(CLONE_NEWNS) then fork, the way a runtime's helper would
    code = 'import subprocess\nsubprocess.run(["unshare", "-m", "--fork", "true"], check=True)\n'
    events, _ = run_traced(
        namespaces,
        code,
        lambda evs: any(e.kind == "unshare" for e in evs) and any(e.kind == "clone" for e in evs),
    )
    unshares = [e for e in events if e.kind == "unshare"]
    assert len(unshares) == 1 and unshares[0].comm == "unshare"
    assert unshares[0].args == UnshareArgs(flags=0x20000, ret=0)  # CLONE_NEWNS
    # unshare(1) forks `true` after unsharing (python itself starts unshare(1) with vfork, which this
    # probe does not report: it cannot create namespaces)
    from_tool = [(e.kind, e.comm) for e in events if e.pid == unshares[0].pid]
    assert from_tool == [("unshare", "unshare"), ("clone", "unshare")], from_tool
    clone = next(e for e in events if e.kind == "clone")
    assert clone.args["ret"] > 0 and clone.args["namespaces"] == []


def test_pid_namespace_filter() -> None:
    """Target by pid namespace (what --container uses): only calls made inside that namespace arrive;
    the same calls made outside it, while tracing, do not."""
    name = f"beefine-{uuid.uuid4().hex[:8]}"
    # unshare(1) makes a pid namespace (and a UTS one for the hostname); its child sh is pid 1 inside
    outer = subprocess.Popen(
        ["unshare", "-p", "-f", "-u", "sh", "-c", f"read go; hostname {name}"],
        stdin=subprocess.PIPE,
        text=True,
    )
    bus = Bus()
    sub = bus.subscribe("test")
    runner: BccRunner | None = None
    ids: set[int] = set()
    try:
        end = time.monotonic() + 20
        kids: list[psutil.Process] = []
        while not kids and time.monotonic() < end:
            kids = psutil.Process(outer.pid).children()
            time.sleep(0.02)
        assert kids, "unshare(1) did not start its child"
        ns = os.stat(f"/proc/{kids[0].pid}/ns/pid")
        assert ns.st_ino != os.stat("/proc/self/ns/pid").st_ino
        made = namespaces.make_runner(ProbeOptions(target=Target(pidns=(ns.st_dev, ns.st_ino))))
        assert isinstance(made, BccRunner)
        runner = made
        runner.start(bus.publish)
        ids = runner.prog_ids()
        # noise outside the namespace, while tracing
        subprocess.run(["unshare", "-u", "hostname", "beefine-noise"], check=True, timeout=30)
        outer.communicate("go\n", timeout=30)
        assert outer.returncode == 0
        events = collect_until(sub, lambda evs: any(e.kind == "sethostname" for e in evs), 30)
    finally:
        if runner is not None:
            runner.stop()
        if outer.poll() is None:
            outer.kill()
            outer.wait()
    events = [e for e in events + sub.get(0.2) if e.kind not in ("status", "lost")]
    names = [e.args["name"] for e in events if e.kind == "sethostname"]
    assert names == [name], names
    assert not [e for e in events if e.kind == "unshare"], "the unshare calls were made outside the namespace"
    assert not [i for i in ids if prog_exists(i)]


def test_a_hostname_too_long_is_marked_cut() -> None:
    """sethostname with 70 bytes: the kernel refuses it (EINVAL) and the probe, which copies at most
    64, shows those with "…" and truncated: true; one of exactly 64 bytes is set (uname agrees) and
    comes whole."""
    long70, exact64 = "h" * 70, "x" * 64
    code = (
        PRELUDE
        + f"""
check(libc.unshare(0x04000000), "unshare(CLONE_NEWUTS)")
assert libc.sethostname({long70.encode()!r}, 70) == -1 and ctypes.get_errno() == 22
check(libc.sethostname({exact64.encode()!r}, 64), "sethostname")
print(os.uname().nodename)
"""
    )
    events, out = run_traced(
        namespaces, code, lambda evs: sum(1 for e in evs if e.kind == "sethostname") >= 2
    )
    assert out.strip() == exact64
    refused, accepted = [e for e in events if e.kind == "sethostname"]
    assert refused.args["name"] == long70[:64] + "…" and refused.args["truncated"] is True
    assert refused.args["error"] == "EINVAL" and refused.args["len"] == 70
    assert accepted.args == SethostnameArgs(name=exact64, len=64, ret=0)
