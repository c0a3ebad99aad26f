"""Flag, errno and sockaddr decoders against the kernel's own numbers.

The tables are checked two ways: against the uapi headers installed on this machine (parsed here,
so a typo in a table fails) and against fixed values written from the same headers, so the tests
still mean something where no headers are installed.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import signal
import socket
import struct
from pathlib import Path

import pytest

from beefine_tui.probes import flags as F

_HDRS = sorted(glob.glob("/usr/src/linux-headers-*-common/include"))
HDR = Path(_HDRS[-1]) if _HDRS else None
needs_headers = pytest.mark.skipif(HDR is None, reason="no kernel headers in /usr/src")


def _defines(relpath: str, prefix: str) -> dict[str, int]:
    """#define NAME value (decimal, hex, octal, or (1<<n) / (1UL << n)) from a header."""
    assert HDR is not None
    text = (HDR / relpath).read_text()
    out: dict[str, int] = {}
    pat = re.compile(r"^\s*#\s*define\s+(" + prefix + r"[A-Z0-9_]*)\s+(\(?[0-9xXa-fA-FuUlL<\s]+\)?)", re.M)
    for name, val in pat.findall(text):
        v = val.strip().strip("()").replace("UL", "").replace("ULL", "").replace("U", "")
        v = v.rstrip("L")
        m = re.fullmatch(r"\s*1\s*<<\s*(\d+)\s*", v)
        if m:
            out[name] = 1 << int(m.group(1))
            continue
        v = v.strip()
        try:
            out[name] = (
                int(v, 8)
                if v.startswith("0") and len(v) > 1 and not v.lower().startswith("0x")
                else int(v, 0)
            )
        except ValueError:
            continue
    return out


def _enum_block(relpath: str, enum_name: str) -> dict[str, int]:
    assert HDR is not None
    text = (HDR / relpath).read_text()
    body = text.split(enum_name, 1)[1].split("};", 1)[0]
    out: dict[str, int] = {}
    nxt = 0
    for m in re.finditer(r"([A-Z_0-9]+)\s*(?:=\s*(\d+))?\s*,", body):
        nxt = int(m.group(2)) if m.group(2) else nxt
        out[m.group(1)] = nxt
        nxt += 1
    return out


# ----------------------------------------------------------------------------------- generic


def test_decode_bits_zero_unknown_and_multibit() -> None:
    table = ((0x3, "BOTH"), (0x1, "ONE"), (0x4, "FOUR"))
    assert F.decode_bits(0, table) == "0"
    assert F.decode_bits(0x3, table) == "BOTH"
    assert F.decode_bits(0x1 | 0x4, table) == "ONE|FOUR"
    assert F.decode_bits(0x1 | 0x40, table) == "ONE|0x40"
    assert F.decode_bits(0x80, table) == "0x80"


# ------------------------------------------------------------------------------------- errno


def test_errno_names() -> None:
    assert F.errno_name(-2) == "ENOENT"
    assert F.errno_name(2) == "ENOENT"
    assert F.errno_name(-errno.ECONNREFUSED) == "ECONNREFUSED"
    assert F.errno_name(-errno.EPERM) == "EPERM"
    assert F.errno_name(-4095) == "errno4095"
    assert F.ret_args(3) == {"ret": 3}
    assert F.ret_args(-13) == {"ret": -13, "error": "EACCES"}
    for n, name in errno.errorcode.items():
        assert F.errno_name(-n) == name


def test_signal_name() -> None:
    assert F.signal_name(17) == "SIGCHLD"
    assert F.signal_name(signal.SIGKILL) == "SIGKILL"
    assert F.signal_name(0) == "0"


# -------------------------------------------------------------------------------------- clone


def test_clone_values_fixed() -> None:
    assert F.CLONE_NEWTIME == 0x80
    assert F.CLONE_NEWNS == 0x20000
    assert F.CLONE_NEWCGROUP == 0x02000000
    assert F.CLONE_NEWUTS == 0x04000000
    assert F.CLONE_NEWIPC == 0x08000000
    assert F.CLONE_NEWUSER == 0x10000000
    assert F.CLONE_NEWPID == 0x20000000
    assert F.CLONE_NEWNET == 0x40000000
    assert F.CLONE_INTO_CGROUP == 0x200000000
    assert F.CLONE_CLEAR_SIGHAND == 0x100000000


@needs_headers
def test_clone_table_matches_uapi() -> None:
    want = _defines("uapi/linux/sched.h", "CLONE_")
    want = {k: v for k, v in want.items() if not k.startswith("CLONE_ARGS")}
    have = dict((name, mask) for mask, name in F.CLONE_FLAGS)
    have["CLONE_NEWTIME"] = F.CLONE_NEWTIME
    assert have == want


def test_clone_flags_signal_byte() -> None:
    # what glibc's fork() passes: CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD
    assert F.clone_flags(0x01200011) == "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    # the low byte is a signal in clone(2), never CLONE_NEWTIME
    assert F.clone_flags(0x80) == "SIG128"
    assert F.clone_flags(0) == "0"
    assert F.clone_flags(F.CLONE_NEWNS | 17) == "CLONE_NEWNS|SIGCHLD"


def test_clone3_and_unshare_flags() -> None:
    # runc's unshare, seen on this machine: 0x6c020000 (no cgroup namespace bit 0x02000000 in it)
    assert F.unshare_flags(0x6C020000) == "CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET"
    assert F.unshare_flags(0x6E020000) == (
        "CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET"
    )
    assert F.unshare_flags(0x80) == "CLONE_NEWTIME"
    assert F.clone3_flags(F.CLONE_INTO_CGROUP | F.CLONE_NEWTIME) == "CLONE_NEWTIME|CLONE_INTO_CGROUP"
    assert F.clone3_flags(1 << 40) == hex(1 << 40)
    assert F.clone3_flags(F.CLONE_VM | 0x1) == "CLONE_VM|0x1"
    assert F.unshare_flags(0) == "0"


def test_setns_nstype() -> None:
    assert F.setns_nstype(0) == "any"
    assert F.setns_nstype(F.CLONE_NEWNET) == "CLONE_NEWNET"
    assert F.setns_nstype(F.CLONE_NEWUTS | F.CLONE_NEWPID) == "CLONE_NEWPID|CLONE_NEWUTS"
    assert F.setns_nstype(F.CLONE_VM) == hex(F.CLONE_VM)
    assert F.namespace_names(0x6E020000) == [
        "CLONE_NEWCGROUP",
        "CLONE_NEWIPC",
        "CLONE_NEWNS",
        "CLONE_NEWNET",
        "CLONE_NEWPID",
        "CLONE_NEWUTS",
    ]
    assert len(F.NAMESPACE_FLAGS) == 8


def test_clone_constants_match_os_module() -> None:
    for name in (
        "CLONE_NEWNS",
        "CLONE_NEWUTS",
        "CLONE_NEWIPC",
        "CLONE_NEWUSER",
        "CLONE_NEWPID",
        "CLONE_NEWNET",
    ):
        if hasattr(os, name):
            assert getattr(F, name) == getattr(os, name)


# -------------------------------------------------------------------------------------- mount


@needs_headers
def test_mount_table_matches_uapi() -> None:
    want = _defines("uapi/linux/mount.h", "MS_")
    for k in ("MS_VERBOSE", "MS_RMT_MASK", "MS_MGC_VAL", "MS_MGC_MSK"):
        want.pop(k, None)
    have = {name: mask for mask, name in F.MOUNT_FLAGS}
    assert have == want
    m = _defines("uapi/linux/mount.h", "MS_MGC")
    assert (m["MS_MGC_VAL"], m["MS_MGC_MSK"]) == (F.MS_MGC_VAL, F.MS_MGC_MSK)


def test_mount_flags() -> None:
    assert F.mount_flags(F.MS_BIND | F.MS_REC) == "MS_BIND|MS_REC"
    assert F.mount_flags(F.MS_REC | F.MS_PRIVATE) == "MS_REC|MS_PRIVATE"
    assert F.mount_flags(F.MS_REC | F.MS_SLAVE) == "MS_REC|MS_SLAVE"
    assert F.mount_flags(F.MS_SHARED) == "MS_SHARED"
    assert F.mount_flags(F.MS_UNBINDABLE) == "MS_UNBINDABLE"
    assert F.mount_flags(0) == "0"
    assert F.mount_flags(F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC) == "MS_NOSUID|MS_NODEV|MS_NOEXEC"
    assert F.mount_flags(F.MS_MGC_VAL) == "MS_MGC_VAL"
    assert F.mount_flags(F.MS_MGC_VAL | F.MS_RDONLY) == "MS_MGC_VAL|MS_RDONLY"
    # not the magic: high bits decoded as themselves
    assert F.mount_flags(F.MS_ACTIVE | F.MS_NOUSER) == "MS_ACTIVE|MS_NOUSER"
    assert F.mount_flags(0x200) == "0x200"
    assert F.mount_flags(F.MS_REMOUNT | F.MS_BIND | F.MS_RDONLY) == "MS_RDONLY|MS_REMOUNT|MS_BIND"


def test_umount_flags_match_libc() -> None:
    assert F.umount_flags(2) == "MNT_DETACH"
    assert F.umount_flags(1 | 8) == "MNT_FORCE|UMOUNT_NOFOLLOW"
    assert F.umount_flags(0) == "0"
    assert F.umount_flags(0x10) == "0x10"
    p = Path("/usr/include/x86_64-linux-gnu/sys/mount.h")
    if p.exists():
        text = p.read_text()
        for mask, name in F.UMOUNT_FLAGS:
            assert re.search(rf"\b{name}\s*=\s*{mask}\b", text), name


@needs_headers
def test_new_mount_api_tables_match_uapi() -> None:
    d = _defines("uapi/linux/mount.h", "")
    for table in (F.MOVE_MOUNT_FLAGS, F.FSOPEN_FLAGS, F.FSMOUNT_FLAGS, F.MOUNT_ATTR_FLAGS):
        for mask, name in table:
            if name in d:  # the 6.1 headers predate MOVE_MOUNT_BENEATH
                assert d[name] == mask, name
    assert d["OPEN_TREE_CLONE"] == 1
    cmds = _enum_block("uapi/linux/mount.h", "enum fsconfig_command")
    for n, name in F.FSCONFIG_CMDS.items():
        if name in cmds:
            assert cmds[name] == n
    assert len(cmds) >= 8
    at = _defines("uapi/linux/fcntl.h", "AT_")
    for mask, name in F.OPEN_TREE_FLAGS:
        if name.startswith("AT_"):
            assert at[name] == mask


def test_new_mount_api_decoders() -> None:
    assert F.fsconfig_cmd(1) == "FSCONFIG_SET_STRING"
    assert F.fsconfig_cmd(6) == "FSCONFIG_CMD_CREATE"
    assert F.fsconfig_cmd(99) == "FSCONFIG_99"
    assert F.open_tree_flags(1 | os.O_CLOEXEC | 0x8000) == "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE"
    assert F.move_mount_flags(0x4) == "MOVE_MOUNT_F_EMPTY_PATH"
    assert F.fsopen_flags(1) == "FSOPEN_CLOEXEC"
    assert F.fsmount_flags(0) == "0"
    assert F.mount_attr_flags(0x1 | 0x100000) == "MOUNT_ATTR_RDONLY|MOUNT_ATTR_IDMAP"


# --------------------------------------------------------------------------------------- open


def test_open_flags_match_os_module() -> None:
    for name in (
        "O_CREAT",
        "O_EXCL",
        "O_NOCTTY",
        "O_TRUNC",
        "O_APPEND",
        "O_NONBLOCK",
        "O_DSYNC",
        "O_DIRECT",
        "O_DIRECTORY",
        "O_NOFOLLOW",
        "O_NOATIME",
        "O_CLOEXEC",
        "O_PATH",
    ):
        assert F.open_flags(getattr(os, name)) == f"O_RDONLY|{name}", name
    assert F.open_flags(os.O_SYNC) == "O_RDONLY|O_SYNC"
    assert F.open_flags(os.O_TMPFILE | os.O_RDWR) == "O_RDWR|O_TMPFILE"
    assert F.open_flags(os.O_WRONLY | os.O_CREAT | os.O_TRUNC) == "O_WRONLY|O_CREAT|O_TRUNC"
    assert F.open_flags(0) == "O_RDONLY"
    assert F.open_flags(os.O_RDWR | os.O_CLOEXEC) == "O_RDWR|O_CLOEXEC"
    assert F.open_flags(0x80000000) == "O_RDONLY|0x80000000"
    assert F.mode_octal(0o644) == "0644"
    assert F.mode_octal(0) == "0"


@needs_headers
def test_open_table_matches_uapi() -> None:
    d = _defines("uapi/asm-generic/fcntl.h", "")
    for mask, name in F.OPEN_FLAGS:
        if name in ("O_SYNC", "O_TMPFILE"):
            continue
        assert d[name] == mask, name


# -------------------------------------------------------------------------------------- prctl


@needs_headers
def test_prctl_table_matches_uapi() -> None:
    d = _defines("uapi/linux/prctl.h", "PR_")
    options = {
        k: v
        for k, v in d.items()
        if k.startswith(
            ("PR_SET_", "PR_GET_", "PR_CAP", "PR_TASK", "PR_MCE_KILL", "PR_MPX", "PR_SVE", "PR_PAC")
        )
        or k in ("PR_SCHED_CORE", "PR_SME_SET_VL", "PR_SME_GET_VL", "PR_CAP_AMBIENT")
    }
    names = {name: n for n, name in F.PRCTL_OPTIONS.items()}
    for name, n in options.items():
        if name in names:
            assert names[name] == n, name
    # every option the headers define (values of sub-options excluded by having tiny values that clash)
    for must in (
        "PR_SET_NO_NEW_PRIVS",
        "PR_CAPBSET_DROP",
        "PR_SET_SECCOMP",
        "PR_SET_NAME",
        "PR_SET_KEEPCAPS",
        "PR_CAP_AMBIENT",
        "PR_SET_PTRACER",
        "PR_SET_VMA",
        "PR_SME_GET_VL",
    ):
        assert names[must] == d[must]
    amb = _defines("uapi/linux/prctl.h", "PR_CAP_AMBIENT_")
    assert {v: k for k, v in amb.items()} == F.PR_CAP_AMBIENT_OPS


def test_prctl_decoders() -> None:
    assert F.prctl_option(38) == "PR_SET_NO_NEW_PRIVS"
    assert F.prctl_option(15) == "PR_SET_NAME"
    assert F.prctl_option(8) == "PR_SET_KEEPCAPS"
    assert F.prctl_option(9999) == "PR_9999"
    assert F.prctl_arg2(F.PR_CAPBSET_DROP, 21) == "CAP_SYS_ADMIN"
    assert F.prctl_arg2(F.PR_SET_SECCOMP, 2) == "SECCOMP_MODE_FILTER"
    assert F.prctl_arg2(F.PR_CAP_AMBIENT, 2) == "PR_CAP_AMBIENT_RAISE"
    assert F.prctl_arg2(F.PR_SET_NO_NEW_PRIVS, 1) == 1


# ------------------------------------------------------------------------------------ seccomp


@needs_headers
def test_seccomp_tables_match_uapi() -> None:
    d = _defines("uapi/linux/seccomp.h", "SECCOMP_")
    for n, name in F.SECCOMP_OPS.items():
        assert d[name] == n
    for mask, name in F.SECCOMP_FILTER_FLAGS:
        assert d[name] == mask
    for n, name in F.SECCOMP_MODES.items():
        assert d[name] == n


def test_seccomp_decoders() -> None:
    assert F.seccomp_op(1) == "SECCOMP_SET_MODE_FILTER"
    assert F.seccomp_op(0) == "SECCOMP_SET_MODE_STRICT"
    assert F.seccomp_op(7) == "SECCOMP_7"
    assert F.seccomp_flags(1 | 8) == "SECCOMP_FILTER_FLAG_TSYNC|SECCOMP_FILTER_FLAG_NEW_LISTENER"
    assert F.seccomp_flags(0) == "0"


# ------------------------------------------------------------------------------- capabilities


@needs_headers
def test_capabilities_match_uapi() -> None:
    d = _defines("uapi/linux/capability.h", "CAP_")
    caps = {k: v for k, v in d.items() if k != "CAP_LAST_CAP" and v < 64 and not k.startswith("CAP_TO")}
    assert len(F.CAPABILITIES) == 41
    for i, name in enumerate(F.CAPABILITIES):
        assert caps[name] == i, name
    assert max(caps.values()) == len(F.CAPABILITIES) - 1


def test_cap_list() -> None:
    assert F.cap_list(0) == []
    assert F.cap_list(1) == ["CAP_CHOWN"]
    assert F.cap_list(1 << 21 | 1 << 39) == ["CAP_SYS_ADMIN", "CAP_BPF"]
    assert F.cap_list(1 << 40) == ["CAP_CHECKPOINT_RESTORE"]
    assert F.cap_list(1 << 41) == [hex(1 << 41)]
    assert len(F.cap_list(F.ALL_CAPS)) == 41
    # docker's default set (moby oci/caps/defaults.go): 14 caps
    docker_default = 0xA80425FB
    names = F.cap_list(docker_default)
    assert "CAP_NET_BIND_SERVICE" in names and "CAP_SYS_ADMIN" not in names and len(names) == 14
    assert F.cap_name(40) == "CAP_CHECKPOINT_RESTORE"
    assert F.cap_name(63) == "CAP_63"


# ------------------------------------------------------------------------------------ sockets


@needs_headers
def test_families_match_kernel() -> None:
    d = _defines("linux/socket.h", "AF_")
    for n, name in F.ADDRESS_FAMILIES.items():
        if name in d:
            assert d[name] == n, name
    for name, n in d.items():
        if name not in ("AF_MAX", "AF_LOCAL", "AF_ROUTE") and n in F.ADDRESS_FAMILIES:
            assert F.ADDRESS_FAMILIES[n] == name


def test_families_and_types_match_socket_module() -> None:
    for name in ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_VSOCK", "AF_UNSPEC"):
        assert F.address_family(getattr(socket, name)) == name
    for name in ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_SEQPACKET", "SOCK_RDM"):
        assert F.socket_type(getattr(socket, name)) == name
    assert F.SOCK_NONBLOCK == socket.SOCK_NONBLOCK
    assert F.SOCK_CLOEXEC == socket.SOCK_CLOEXEC
    assert F.socket_type(socket.SOCK_STREAM | socket.SOCK_CLOEXEC) == "SOCK_STREAM|SOCK_CLOEXEC"
    assert (
        F.socket_type(socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        == "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC"
    )
    assert F.socket_type(9) == "SOCK_9"
    assert F.address_family(200) == "AF_200"
    assert F.sock_flags(socket.SOCK_CLOEXEC) == "SOCK_CLOEXEC"
    assert F.epoll_flags(0o2000000) == "EPOLL_CLOEXEC"
    assert F.epoll_flags(0) == "0"
    assert F.ip_protocol(socket.IPPROTO_TCP) == "IPPROTO_TCP"
    assert F.ip_protocol(socket.IPPROTO_UDP) == "IPPROTO_UDP"


def test_sockaddr_in() -> None:
    raw = (
        struct.pack("=H", socket.AF_INET)
        + struct.pack("!H", 8080)
        + socket.inet_aton("127.0.0.1")
        + b"\0" * 8
    )
    sa = F.decode_sockaddr(raw, 16)
    assert sa == {"family": "AF_INET", "addr": "127.0.0.1", "port": 8080}
    assert F.format_sockaddr(sa) == "127.0.0.1:8080"


def test_sockaddr_in6() -> None:
    raw = (
        struct.pack("=H", socket.AF_INET6)
        + struct.pack("!H", 443)
        + struct.pack("!I", 0)
        + socket.inet_pton(socket.AF_INET6, "fe80::1")
        + struct.pack("=I", 3)
    )
    sa = F.decode_sockaddr(raw + b"\0" * 82, 28)
    assert sa == {"family": "AF_INET6", "addr": "fe80::1", "port": 443, "scope_id": 3}
    assert F.format_sockaddr(sa) == "[fe80::1]:443"
    loop = struct.pack("=H", socket.AF_INET6) + struct.pack("!H", 80) + b"\0" * 4
    loop += socket.inet_pton(socket.AF_INET6, "::1") + b"\0" * 4
    assert F.decode_sockaddr(loop) == {"family": "AF_INET6", "addr": "::1", "port": 80}


def test_sockaddr_un() -> None:
    path = b"/run/beefine/test.sock"
    raw = struct.pack("=H", socket.AF_UNIX) + path + b"\0" * (108 - len(path))
    assert F.decode_sockaddr(raw, 2 + len(path) + 1) == {"family": "AF_UNIX", "path": path.decode()}
    assert F.decode_sockaddr(raw) == {"family": "AF_UNIX", "path": path.decode()}
    abstract = struct.pack("=H", socket.AF_UNIX) + b"\0hidden" + b"\0" * 100
    assert F.decode_sockaddr(abstract, 2 + 7) == {"family": "AF_UNIX", "path": "@hidden"}
    assert F.decode_sockaddr(abstract) == {"family": "AF_UNIX", "path": "@hidden"}
    # unnamed (autobind) socket: only the family
    assert F.decode_sockaddr(struct.pack("=H", socket.AF_UNIX), 2) == {"family": "AF_UNIX", "path": ""}
    # a full 108-byte path with no NUL
    full = struct.pack("=H", socket.AF_UNIX) + b"x" * 108
    assert F.decode_sockaddr(full, 110)["path"] == "x" * 108
    assert F.decode_sockaddr(b"\xff\xffjunk") == {"family": "AF_65535"}


def test_sockaddr_short_and_empty() -> None:
    assert F.decode_sockaddr(b"") == {"family": "AF_UNSPEC"}
    assert F.decode_sockaddr(b"\x02") == {"family": "?"}
    # truncated sockaddr_in: family known, no address
    assert F.decode_sockaddr(struct.pack("=H", socket.AF_INET) + b"\0\x50") == {"family": "AF_INET"}
    assert F.format_sockaddr({"family": "AF_INET"}) == "AF_INET"


# ---------------------------------------------------------------------------------------- tcp


@needs_headers
def test_tcp_states_match_kernel() -> None:
    states = _enum_block("net/tcp_states.h", "enum {")
    for n, name in F.TCP_STATES.items():
        if name in states:
            assert states[name] == n, name
    assert states["TCP_ESTABLISHED"] == 1 and states["TCP_NEW_SYN_RECV"] == 12


def test_tcp_state_names() -> None:
    assert F.tcp_state(2) == "TCP_SYN_SENT"
    assert F.tcp_state(1) == "TCP_ESTABLISHED"
    assert F.tcp_state(7) == "TCP_CLOSE"
    assert F.tcp_state(10) == "TCP_LISTEN"
    assert F.tcp_state(99) == "TCP_STATE_99"


# ---------------------------------------------------------------------------------------- cstr


def test_cstr() -> None:
    assert F.cstr(b"abc\0zzz") == "abc"
    assert F.cstr(b"abcd") == "abcd…"
    assert F.cstr(b"ab\xffc\0") == "ab\ufffdc"
    assert F.cstr(b"abc\0", truncated=True) == "abc…"


def test_exit_status_in_words() -> None:
    from beefine_tui.probes.flags import exit_status_text

    assert exit_status_text(0, None) == "exited 0"
    assert exit_status_text(3, None) == "exited 3"
    assert exit_status_text(None, 15) == "killed by SIGTERM"
    assert exit_status_text(None, 11) == "killed by SIGSEGV"
    assert exit_status_text(None, None) == "exit status unknown"
