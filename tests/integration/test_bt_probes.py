"""Each bt-* probe, filtered to a child process by lineage, sees exactly what the child did."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from types import ModuleType
from typing import Any

import pytest

from beefine_tui.events.model import Event
from beefine_tui.probes import bt_cgroups, bt_namespaces, bt_security, bt_sockets, bt_tcp
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.namespaces import UnshareArgs
from beefine_tui.probes.security import CapsetArgs, PrctlArgs, SeccompArgs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _progs_of(pid: int) -> set[int]:
    """Ids of the BPF programs process `pid` holds open (fdinfo of its bpf-prog fds)."""
    ids: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return ids
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                ids.update(int(ln.split()[1]) for ln in f if ln.startswith("prog_id:"))
        except OSError:
            continue
    return ids


def _loaded_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=30)
    return {p["id"] for p in json.loads(out.stdout or "[]")}


CHILD_PRELUDE = textwrap.dedent(
    """
    import ctypes, os, socket, sys
    libc = ctypes.CDLL(None, use_errno=True)
    sys.stdin.readline()  # wait until the probe is attached
    """
)


def run_child(mod: ModuleType, body: str) -> tuple[int, list[Event]]:
    """Start a python child that waits, attach `mod` filtered to its lineage, let it run `body`."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(body)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    got: list[Event] = []
    runner = mod.make_runner(ProbeOptions(target=Target(lineage_root=child.pid)))
    try:
        runner.start(got.extend)
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        out, _ = child.communicate(timeout=30)
        assert child.returncode == 0, out
        time.sleep(0.3)  # the last records travel through bpftrace's perf buffer
        ours = _progs_of(runner.pid or 0)
        assert ours
    finally:
        runner.stop()
        if child.poll() is None:
            child.kill()
            child.wait()
    pid = runner.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not (ours & _loaded_prog_ids()), "the probe's BPF programs must be unloaded after stop"
    return child.pid, [e for e in got if e.kind not in ("status",)]


def test_namespaces_unshare_and_sethostname_in_the_new_uts_ns() -> None:
    pid, evs = run_child(
        bt_namespaces,
        """
        assert libc.unshare(0x04000000) == 0  # CLONE_NEWUTS
        name = b"beefine-bt-test"
        assert libc.sethostname(name, len(name)) == 0
        """,
    )
    assert {e.pid for e in evs} == {pid}, "only the child's events pass the lineage filter"
    (u,) = [e for e in evs if e.kind == "unshare"]
    assert isinstance(u.args, UnshareArgs) and u.args.flags == 0x04000000 and u.args.ret == 0
    assert u.args.shown()["flags"] == "CLONE_NEWUTS" and u.args["ns_changed"] == ["uts"]
    assert u.args.ns_after is not None
    new_uts = u.args.ns_after["uts"]
    assert new_uts != os.stat("/proc/self/ns/uts").st_ino
    (h,) = [e for e in evs if e.kind == "sethostname"]
    assert h.args["name"] == "beefine-bt-test" and h.args["ret"] == 0 and h.args["uts_ns"] == new_uts
    assert u.ts < h.ts


def test_cgroups_mkdir_attach_rmdir(tmp_path: object) -> None:
    base = "/sys/fs/cgroup/pids"
    if not os.path.isdir(base):
        base = "/sys/fs/cgroup"  # cgroup v2
    name = f"beefine-bt-test-{os.getpid()}"
    pid, evs = run_child(
        bt_cgroups,
        f"""
        d = os.path.join({base!r}, {name!r})
        os.mkdir(d)
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        with open(os.path.join({base!r}, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        os.rmdir(d)
        """,
    )
    assert not os.path.exists(os.path.join(base, name))
    kinds = [(e.kind, e.args["path"]) for e in evs]
    assert ("cgroup_mkdir", f"/{name}") in kinds
    assert ("cgroup_rmdir", f"/{name}") in kinds
    attach = [e for e in evs if e.kind == "cgroup_attach" and e.args["path"] == f"/{name}"]
    assert len(attach) == 1 and attach[0].args["target_pid"] == pid
    assert {e.pid for e in evs} == {pid}


def test_security_prctl_seccomp_capset() -> None:
    pid, evs = run_child(
        bt_security,
        """
        assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
        action = ctypes.c_uint32(0x7FFF0000)  # SECCOMP_RET_ALLOW
        assert libc.syscall(317, 2, 0, ctypes.byref(action)) == 0  # seccomp(GET_ACTION_AVAIL)
        hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        assert libc.syscall(125, hdr, data) == 0  # capget
        data[0] &= ~1; data[1] &= ~1  # drop CAP_CHOWN from effective and permitted
        assert libc.syscall(126, hdr, data) == 0  # capset
        """,
    )
    assert {e.pid for e in evs} == {pid}
    (p,) = [e for e in evs if e.kind == "prctl"]
    assert p.args == PrctlArgs(option=38, arg2=1, ret=0)  # PR_SET_NO_NEW_PRIVS
    (s,) = [e for e in evs if e.kind == "seccomp"]
    assert s.args == SeccompArgs(op=2, flags=0, ret=0)
    assert s.args.shown()["op"] == "SECCOMP_GET_ACTION_AVAIL"
    (c,) = [e for e in evs if e.kind == "capset"]
    assert isinstance(c.args, CapsetArgs) and c.args.ret == 0
    assert not c.args.effective & 1 and "CAP_CHOWN" not in c.args.shown()["effective"]
    assert "CAP_SYS_ADMIN" in c.args.shown()["effective"]


def test_sockets_inet_and_unix(tmp_path: object) -> None:
    path = f"/tmp/beefine-bt-test-{os.getpid()}.sock"
    pid, evs = run_child(
        bt_sockets,
        f"""
        import select
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0)); s.listen(3)
        port = s.getsockname()[1]
        c = socket.create_connection(("127.0.0.1", port))
        a, _ = s.accept()
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.bind({path!r}); os.unlink({path!r})
        ep = select.epoll()
        print(port, c.getsockname()[1])
        """,
    )
    assert {e.pid for e in evs} == {pid}
    kinds = [e.kind for e in evs]
    for k in ("socket", "bind", "listen", "connect", "accept", "epoll_create"):
        assert k in kinds, k
    (lst,) = [e for e in evs if e.kind == "listen"]
    assert lst.args["backlog"] == 3 and lst.args["ret"] == 0
    binds = [e for e in evs if e.kind == "bind"]
    inet = [b for b in binds if b.args.shown()["family"] == "AF_INET"]
    unix = [b for b in binds if b.args.shown()["family"] == "AF_UNIX"]
    assert len(inet) == 1 and inet[0].args["addr"] == "127.0.0.1" and inet[0].args["port"] == 0
    assert len(unix) == 1 and unix[0].args["path"] == path
    (conn,) = [e for e in evs if e.kind == "connect"]
    (acc,) = [e for e in evs if e.kind == "accept"]
    assert conn.args["addr"] == "127.0.0.1" and conn.args["ret"] == 0
    assert acc.args["fd"] == lst.args["fd"] and acc.args["ret"] >= 0 and acc.args["addr"] == "127.0.0.1"
    assert conn.args["port"] > 0 and acc.args["port"] > 0


def test_tcp_handshake_states_for_our_port() -> None:
    _pid, evs = run_child(
        bt_tcp,
        """
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
        port = s.getsockname()[1]
        c = socket.create_connection(("127.0.0.1", port)); a, _ = s.accept()
        c.close(); a.close(); s.close()
        sys.stdout.write(str(port))
        """,
    )
    # tcp is filtered by network namespace (the host's here), so pick our port's transitions
    mine = [e for e in evs if e.kind == "tcp_state"]
    assert mine
    ports = {e.args["dport"] for e in mine if e.args.shown()["newstate"] == "TCP_SYN_SENT"}
    assert len(ports) >= 1
    seen = {
        (e.args.shown()["oldstate"], e.args.shown()["newstate"])
        for e in mine
        if ports & {e.args["sport"], e.args["dport"]}
    }
    assert ("TCP_CLOSE", "TCP_SYN_SENT") in seen
    assert ("TCP_SYN_SENT", "TCP_ESTABLISHED") in seen
    assert ("TCP_SYN_RECV", "TCP_ESTABLISHED") in seen


def test_pid_namespace_filter_keeps_only_that_namespace() -> None:
    """A process tree in its own pid namespace (unshare -p -f): with Target(pidns=...) its unshare
    arrives, and the same unshare done at the same time on the host does not."""
    inner_code = (
        "import ctypes, sys; sys.stdin.readline(); libc = ctypes.CDLL(None, use_errno=True); "
        "assert libc.unshare(0x04000000) == 0"
    )
    boxed = subprocess.Popen(
        ["unshare", "--pid", "--fork", sys.executable, "-c", inner_code],
        stdin=subprocess.PIPE,
        text=True,
    )
    host = subprocess.Popen([sys.executable, "-c", inner_code], stdin=subprocess.PIPE, text=True)
    runner = None
    got: list[Event] = []
    try:
        # the python inside: the child of `unshare`, in the new pid namespace
        inner = 0
        deadline = time.monotonic() + 10
        while not inner and time.monotonic() < deadline:
            with open(f"/proc/{boxed.pid}/task/{boxed.pid}/children") as f:
                kids = f.read().split()
            inner = int(kids[0]) if kids else 0
            time.sleep(0.02)
        assert inner
        st = os.stat(f"/proc/{inner}/ns/pid")
        assert st.st_ino != os.stat("/proc/self/ns/pid").st_ino
        runner = bt_namespaces.make_runner(ProbeOptions(target=Target(pidns=(st.st_dev, st.st_ino))))
        runner.start(got.extend)
        for p in (boxed, host):
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.close()
        assert boxed.wait(timeout=30) == 0 and host.wait(timeout=30) == 0
        time.sleep(0.3)
    finally:
        if runner is not None:
            runner.stop()
        for p in (boxed, host):
            if p.poll() is None:
                p.kill()
                p.wait()
    unshares = [e for e in got if e.kind == "unshare"]
    assert [e.pid for e in unshares] == [inner], "only the unshare inside the namespace"
    assert unshares[0].args["flags"] == "CLONE_NEWUTS"
    assert host.pid not in {e.pid for e in got}


def test_cgroups_long_paths_whole_or_marked_cut() -> None:
    """bt-cgroups with real cgroups: a 72-character path (as long as Docker's "/docker/<64 hex>", which
    bpftrace's default 64-byte str() cut silently) comes whole; a 260-character one comes as its first
    127 bytes with "…" and truncated: true."""
    base = "/sys/fs/cgroup/pids"
    if not os.path.isdir(base):
        base = "/sys/fs/cgroup"  # cgroup v2
    top = f"beefine-bt-long-{os.getpid()}"
    rel72 = "/" + top + "/" + "d" * (72 - len(top) - 2)
    mid = rel72 + "/" + "e" * 40  # 113 characters: under what str() holds
    rel260 = mid + "/" + "f" * (260 - len(mid) - 1)
    assert (len(rel72), len(rel260)) == (72, 260)
    rels = [f"/{top}", rel72, mid, rel260]
    try:
        _pid, evs = run_child(
            bt_cgroups,
            f"""
            dirs = [{base!r} + rel for rel in {rels!r}]
            for d in dirs:
                os.mkdir(d)
            for d in reversed(dirs):
                os.rmdir(d)
            """,
        )
    finally:
        for rel in reversed(rels):
            with contextlib.suppress(OSError):
                os.rmdir(base + rel)
    made = [e for e in evs if e.kind == "cgroup_mkdir"]
    assert [e.args["path"] for e in made] == [*rels[:3], rel260[:127] + "…"]
    assert made[-1].args["truncated"] is True and not [e for e in made[:3] if e.args["truncated"]]


@pytest.mark.parametrize("include_self", [False, True])
def test_bt_sockets_leaves_beefine_out_unless_asked(include_self: bool, tmp_path: Any) -> None:
    """Host-wide bt-sockets: a child's bind() of a unix socket is seen; the same call from this process
    (Beefine itself) is left out in the kernel unless include_self."""
    from beefine_tui.events.bus import Bus

    mine, theirs = str(tmp_path / "mine.sock"), str(tmp_path / "theirs.sock")
    child_code = f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind({theirs!r})\ns.close()\n"
    bus = Bus()
    sub = bus.subscribe("test")
    runner = bt_sockets.make_runner(ProbeOptions(include_self=include_self))
    runner.start(bus.publish)
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(mine)
        subprocess.run([sys.executable, "-c", child_code], check=True, timeout=30)
        events: list[Event] = []
        end = time.monotonic() + 20
        while time.monotonic() < end and not any(e.args.get("path") == theirs for e in events):
            events.extend(sub.get(0.1))
    finally:
        runner.stop()
    events += sub.get(0.3)
    binds = {e.args.get("path"): e.pid for e in events if e.kind == "bind" and str(tmp_path) in str(e.args)}
    want = {theirs} | ({mine} if include_self else set())
    assert set(binds) == want, binds
    if include_self:
        assert binds[mine] == os.getpid()


def test_namespaces_hostname_of_64_bytes_is_marked_cut() -> None:
    """bt-namespaces with sethostname of 64 bytes (the kernel's most; uname reads it back whole) and of
    20: bpftrace's str() keeps 63 bytes, so the first comes with "…" and truncated: true."""
    long64, short = "l" * 64, "beefine-short-name"
    _pid, evs = run_child(
        bt_namespaces,
        f"""
        assert libc.unshare(0x04000000) == 0
        assert libc.sethostname({long64.encode()!r}, 64) == 0
        assert os.uname().nodename == {long64!r}
        assert libc.sethostname({short.encode()!r}, {len(short)}) == 0
        """,
    )
    names = [e.args for e in evs if e.kind == "sethostname"]
    assert [a["name"] for a in names] == [long64[:63] + "…", short], names
    assert names[0]["truncated"] is True and names[1]["truncated"] is False
