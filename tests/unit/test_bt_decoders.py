"""Decoders of the bt-* probes, on records captured from the real scripts on this machine."""

from __future__ import annotations

from beefine_tui.probes import bt_cgroups, bt_namespaces, bt_security, bt_sockets, bt_tcp, catalog
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.cgroups import CgroupArgs, CgroupAttachArgs
from beefine_tui.probes.namespaces import CloneArgs, SethostnameArgs, SetnsArgs, UnshareArgs
from beefine_tui.probes.security import CapsetArgs, PrctlArgs, SeccompArgs
from beefine_tui.probes.sockets import AcceptArgs, ListenArgs, SockAddrArgs, SocketArgs
from beefine_tui.probes.tcp import TcpStateArgs

BEFORE = "4026531836,4026531832,4026531833,4026531838,4026531839,4026531835,4026531837"
AFTER = "4026531836,4026531832,4026532254,4026532253,4026531839,4026531835,4026531837"


def test_unshare_with_namespace_inodes() -> None:
    ev = bt_namespaces.decode(
        f"unshare\t912405598000\t13395\t13395\t13337\tunshare\t1140850688\t0\t{BEFORE}\t{AFTER}"
    )
    assert ev is not None
    assert (ev.kind, ev.pid, ev.ppid, ev.comm, ev.ts) == ("unshare", 13395, 13337, "unshare", 912405598000)
    assert isinstance(ev.args, UnshareArgs) and ev.args.flags == 0x44000000  # the namespaces probe's
    assert ev.args.shown()["flags"] == "CLONE_NEWUTS|CLONE_NEWNET"
    assert ev.args["ret"] == 0 and "error" not in ev.args
    assert ev.args["ns_changed"] == ["net", "uts"]
    assert ev.args.ns_after is not None and ev.args.ns_after["net"] == 4026532254
    assert ev.text == "net,uts: new net ns 4026532254, new uts ns 4026532253"


def test_failed_setns_has_errno_name() -> None:
    ev = bt_namespaces.decode(f"setns\t1\t2\t2\t1\trunc\t5\t1073741824\t-1\t{BEFORE}\t{BEFORE}")
    assert ev is not None and ev.kind == "setns"
    assert isinstance(ev.args, SetnsArgs) and (ev.args.fd, ev.args.nstype) == (5, 0x40000000)
    assert ev.args.shown()["nstype"] == "CLONE_NEWNET"
    assert ev.args["ret"] == -1 and ev.args["error"] == "EPERM"
    assert ev.args["ns_changed"] == []
    assert ev.text == "fd 5 (CLONE_NEWNET) -> EPERM"


def test_clone_and_sethostname() -> None:
    ev = bt_namespaces.decode("clone\t1\t4823\t4823\t4819\tbash\t18874385\t13382")
    assert ev is not None and ev.args == CloneArgs(flags=18874385, ret=13382)
    assert ev.args.shown()["flags"] == "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    ev2 = bt_namespaces.decode("sethostname\t1\t9\t9\t1\trunc:[2:INIT]\t0\t4026532253\tab\tc")
    assert ev2 is not None and ev2.args == SethostnameArgs(name="ab\tc", uts_ns=4026532253, ret=0)
    assert bt_namespaces.decode("unshare\t1\t2\t3\t4\tx\tnot-enough") is None
    assert bt_namespaces.decode("free text") is None


def test_cgroups() -> None:
    ev = bt_cgroups.decode("cgroup_mkdir\t947198178128\t13997\t13997\t13846\tmkdir\t8\t1\t152\t/bftest2")
    assert ev is not None and ev.kind == "cgroup_mkdir"
    assert ev.args == CgroupArgs(path="/bftest2", hierarchy=8, level=1, id=152)  # the cgroups probe's
    assert ev.text == "made hierarchy 8:/bftest2"
    ev2 = bt_cgroups.decode("cgroup_attach\t1\t13846\t13846\t13845\tbash\t8\t1\t152\t4816\tsh\t/bftest2")
    assert ev2 is not None and ev2.kind == "cgroup_attach"
    assert ev2.args == CgroupAttachArgs(
        path="/bftest2", hierarchy=8, level=1, id=152, target_pid=4816, target_comm="sh"
    )


def test_security() -> None:
    # the same structs as the security probe's: one shape per kind whichever engine made it
    ev = bt_security.decode("prctl\t1\t5\t5\t1\tsetpriv\t24\t0\t1")
    assert ev is not None and ev.args == PrctlArgs(option=24, arg2=0, ret=1)
    assert ev.args.shown()["option"] == "PR_CAPBSET_DROP" and ev.args.shown()["arg2"] == "CAP_CHOWN"
    ev2 = bt_security.decode("seccomp\t1\t5\t5\t1\trunc:[2:INIT]\t1\t0\t0")
    assert ev2 is not None and ev2.args == SeccompArgs(op=1, flags=0, ret=0)
    assert ev2.text == "SECCOMP_SET_MODE_FILTER"
    # effective: CAP_CHOWN (bit 0) and CAP_SYS_ADMIN (21); permitted adds CAP_BPF (39) from the high word
    ev3 = bt_security.decode(f"capset\t1\t5\t5\t1\tx\t{1 | 1 << 21}\t0\t{1 | 1 << 21}\t128\t0\t0\t0")
    assert ev3 is not None
    assert ev3.args == CapsetArgs(effective=1 | 1 << 21, permitted=1 | 1 << 21 | 1 << 39, inheritable=0)
    assert ev3.args.shown()["effective"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert ev3.args.shown()["permitted"] == ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_BPF"]
    assert ev3.args.shown()["inheritable"] == []
    assert bt_security.decode("capset\t1\t5\t5\t1\tx\t1\t0") is None


def test_sockets() -> None:
    ev = bt_sockets.decode("socket\t1\t5\t5\t1\tpython3\t2\t524289\t0\t3")
    assert ev is not None and ev.args == SocketArgs(family=2, type=524289, protocol=0, ret=3)
    assert ev.args.shown()["family"] == "AF_INET" and ev.args.shown()["type"] == "SOCK_STREAM|SOCK_CLOEXEC"
    b = bt_sockets.decode("bind\t1\t5\t5\t1\tpython3\t3\t0\t2\t45678\t127.0.0.1")
    assert b is not None and (b.args["addr"], b.args["port"], b.args["fd"]) == ("127.0.0.1", 45678, 3)
    u = bt_sockets.decode("bind\t1\t5\t5\t1\tpython3\t5\t0\t1\t0\t/tmp/a b.sock")
    assert u is not None and u.args == SockAddrArgs(fd=5, family=1, path="/tmp/a b.sock")
    assert "path" in u.args and "port" not in u.args  # `in`: what the address carried
    c = bt_sockets.decode("connect\t1\t5\t5\t1\tpython3\t6\t-111\t10\t1\t::1")
    assert c is not None and c.args["error"] == "ECONNREFUSED" and c.args.shown()["family"] == "AF_INET6"
    assert "[::1]:1" in c.text
    a = bt_sockets.decode("accept\t1\t5\t5\t1\tpython3\t3\t6\t2\t60270\t127.0.0.1")
    assert a is not None and a.args["ret"] == 6 and a.args["port"] == 60270
    a2 = bt_sockets.decode("accept\t1\t5\t5\t1\tpython3\t3\t-11\t0\t0\t")
    assert a2 is not None and a2.args == AcceptArgs(fd=3, ret=-11) and a2.args["error"] == "EAGAIN"
    e = bt_sockets.decode("epoll_create\t1\t5\t5\t1\tpython3\t524288\t3")
    assert e is not None and e.args.shown()["flags"] == "EPOLL_CLOEXEC"
    lst = bt_sockets.decode("listen\t1\t5\t5\t1\tpython3\t3\t4\t0")
    assert lst is not None and lst.args == ListenArgs(fd=3, backlog=4, ret=0)


def test_tcp() -> None:
    ev = bt_tcp.decode(
        "tcp_state\t1\t9\t9\t1\tpython\t2\t39704\t60675\t127.0.0.1\t127.0.0.1\t2\t1\t4026531833"
    )
    assert ev is not None
    assert ev.args == TcpStateArgs(
        family=2,
        saddr="127.0.0.1",
        sport=39704,
        daddr="127.0.0.1",
        dport=60675,
        oldstate=2,
        newstate=1,
        netns=4026531833,
    )
    assert ev.args.shown()["oldstate"] == "TCP_SYN_SENT" and ev.args.shown()["newstate"] == "TCP_ESTABLISHED"
    assert ev.args.shown()["family"] == "AF_INET"
    assert ev.text == "127.0.0.1:39704 -> 127.0.0.1:60675 SYN_SENT -> ESTABLISHED"


def test_catalog_and_render_without_root() -> None:
    probes = catalog.all_probes()
    for mod in (bt_cgroups, bt_namespaces, bt_security, bt_sockets, bt_tcp):
        spec = mod.SPEC
        assert spec.name.startswith("bt-") and spec.engine == "bpftrace"
        assert probes[spec.name].module is mod
        text = mod.render(ProbeOptions(target=Target(lineage_root=42)))
        assert text.startswith(f"// beefine-tui: bpftrace -f json {spec.source} 0 0 42 0")
        assert "__beefine_ready" in text
        # every kind the spec promises is printed by the script
        for kind in spec.kinds:
            assert f'printf("{kind}\\t' in text, (spec.name, kind)


def test_cgroups_path_as_long_as_str_allows_is_marked_cut() -> None:
    from beefine_tui.probes.bpftrace_runner import BUILTIN_STRLEN

    full = "/" + "p" * (BUILTIN_STRLEN - 2)  # what str() returns of a longer path
    ev = bt_cgroups.decode(f"cgroup_mkdir\t1\t2\t2\t1\tmkdir\t8\t1\t152\t{full}")
    assert ev is not None and ev.args["path"] == full + "…" and ev.args["truncated"] is True
    ev = bt_cgroups.decode(f"cgroup_attach\t1\t2\t2\t1\tsh\t8\t1\t152\t7\tsh\t{full}")
    assert ev is not None and ev.args["path"] == full + "…" and ev.args["truncated"] is True
    ev = bt_cgroups.decode("cgroup_mkdir\t1\t2\t2\t1\tmkdir\t8\t1\t152\t/docker/" + "a" * 64)
    assert ev is not None and ev.args["truncated"] is False
