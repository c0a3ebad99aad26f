from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from beefine_tui.errors import UsageError
from beefine_tui.events.model import Event
from beefine_tui.probes import files
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.bcc_program import program_text
from beefine_tui.probes.decode_context import DecodeContext


def path_b(p: str) -> bytes:
    return p.encode().ljust(256, b"\0")


def test_layouts() -> None:
    assert files.OPEN_REC.size == 40 + 8 + 8 + 4 + 4 + 4 + 4 + 256
    assert files.IO_REC.size == 40 + 4 + 4 + 8 + 4 + 4 + 256


def test_open_decoded_flags() -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    raw = files.OPEN_REC.pack(
        1, files.OPEN_KIND, 10, 11, 0, b"tar", 5, flags, 0o644, -100, 0, 0, path_b("/d/x")
    )
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.kind == "open"
    assert ev.args.shown() == {
        "path": "/d/x",
        "flags": "O_WRONLY|O_CREAT|O_TRUNC",
        "mode": "0644",
        "ret": 5,
    }


def test_open_failure_and_relative_dfd() -> None:
    raw = files.OPEN_REC.pack(1, files.OPEN_KIND, 10, 11, 0, b"x", -13, 0, 0, 7, 1, 0, path_b("rel/y"))
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.args["error"] == "EACCES"
    assert ev.args["dfd"] == 7
    assert ev.args["syscall"] == "openat2"


def test_write_and_read_folded() -> None:
    raw = files.IO_REC.pack(1, files.WRITE_KIND, 10, 11, 0, b"dd", 3, 4, 4096, 1, 0, path_b("/d/x"))
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.kind == "write"
    assert ev.args.shown() == {"path": "/d/x", "fd": 3, "bytes": 4096, "count": 4, "closed": True}
    raw = files.IO_REC.pack(1, files.READ_KIND, 10, 11, 0, b"dd", 3, 1, 10, 0, 0, path_b("/d/x"))
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.kind == "read" and ev.args["bytes"] == 10 and "closed" not in ev.args


def test_read_folded_from_the_other_read_calls() -> None:
    """pread64/readv/preadv/preadv2 reach user space as the same io_rec as read(2): one read event."""
    raw = files.IO_REC.pack(5, files.READ_KIND, 20, 21, 0, b"tar", 7, 4, 1234, 1, 0, path_b("/in/f"))
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert (ev.kind, ev.pid, ev.tid, ev.comm, ev.ts) == ("read", 20, 21, "tar", 5)
    assert ev.args.shown() == {"path": "/in/f", "fd": 7, "bytes": 1234, "count": 4, "closed": True}
    assert ev.text == "read 1234 bytes in 4 calls: /in/f"
    one = files.IO_REC.pack(5, files.READ_KIND, 20, 21, 0, b"tar", 7, 1, 1, 0, 0, path_b("/in/f"))
    ev = files.decode(one, DecodeContext())
    assert ev is not None and ev.text == "read 1 bytes in 1 call: /in/f"


def _guarded(text: str, name: str) -> str:
    """The C between #ifdef HAVE_<NAME> and its #endif."""
    return text.split(f"#ifdef HAVE_{name.upper()}\n", 1)[1].split("#endif", 1)[0]


def test_read_syscalls_are_optional_and_fold_into_read() -> None:
    assert files.READ_SYSCALLS == ("pread64", "readv", "preadv", "preadv2")
    assert set(files.READ_SYSCALLS) <= set(files.OPTIONAL_SYSCALLS)
    text = files.render(ProbeOptions())
    # IO_SYSCALL(name, dir): dir is io_enter's direction, 0 read, 1 write
    for name in files.READ_SYSCALLS:
        assert _guarded(text, name).strip() == f"IO_SYSCALL({name}, 0)", name
    for name in files.WRITE_SYSCALLS:
        assert _guarded(text, name).strip() == f"IO_SYSCALL({name}, 1)", name
    macro = text.split("#define IO_SYSCALL(name, dir)", 1)[1].split("\n\n", 1)[0]
    assert "sys_enter_##name)" in macro and "io_enter((int)args->fd, dir);" in macro
    assert "sys_exit_##name)" in macro and "io_exit(args, args->ret);" in macro


def test_prefix_cflags() -> None:
    assert files.prefix_cflags(None) == []
    assert files.prefix_cflags("") == []
    flags = files.prefix_cflags("/ab")
    assert flags == [
        "-DPATH_PREFIX_LEN=3",
        "-DPATH_PREFIX_MATCH(p)=((unsigned char)p[0]==47&&(unsigned char)p[1]==97&&(unsigned char)p[2]==98)",
    ]
    with pytest.raises(UsageError):
        files.prefix_cflags("/" * 300)
    with pytest.raises(UsageError):
        files.prefix_cflags("/a\0b")


def test_render_with_prefix() -> None:
    text = files.render(ProbeOptions(path_prefix="/var/lib/docker"))
    assert "-DPATH_PREFIX_LEN=15" in text
    assert "PATH_PREFIX_MATCH(p)" in text


# ---- path calls (struct path_rec in bpf/files.bpf.c) -------------------------------------------------

OP = {(kind, sc): op for op, (kind, sc) in files.OPS.items()}


def path_rec(
    syscall: str,
    path: str,
    *,
    path2: str = "",
    ret: int = 0,
    flags: int = 0,
    mode: int = 0,
    dev: int = 0,
    dfd: int = -100,
    dfd2: int = -100,
    uid: int = 0,
    gid: int = 0,
    xname: bytes = b"",
    xvalue: bytes = b"",
    vsize: int = 0,
    plen: int | None = None,
    plen2: int | None = None,
) -> bytes:
    """A record as the kernel side sends it: path2 only up to its NUL."""
    op = next(o for (_k, sc), o in OP.items() if sc == syscall)
    p1 = path.encode()
    p2 = path2.encode() + b"\0" if path2 else b""
    head = files.PATH_REC.pack(
        7, files.PATH_KIND, 10, 11, 0, b"untar", ret, op, flags, mode, dev, dfd, dfd2, uid, gid, vsize,
        len(p1) + 1 if plen is None else plen, len(p2) if plen2 is None else plen2, xname, xvalue, p1,
    )  # fmt: skip
    return head + p2


def decode_path(raw: bytes) -> Event:
    ev = files.decode(raw, DecodeContext())
    assert ev is not None and ev.probe == "files" and ev.pid == 10 and ev.tid == 11 and ev.comm == "untar"
    return ev


def test_path_layout_matches_the_c_struct() -> None:
    # bpf/files.bpf.c: _Static_assert(sizeof(struct path_rec) == 440 + PATH_ALLOC); path2 starts at 440
    assert files.PATH_REC.size == 440
    text = program_text(files.SPEC.source)
    assert "sizeof(struct path_rec) == 440 + PATH_ALLOC" in text
    for op, (_kind, sc) in files.OPS.items():
        assert f"#define OP_{sc.upper()} {op}\n" in text, sc


def test_mkdir() -> None:
    ev = decode_path(path_rec("mkdirat", "/l/usr", mode=0o755))
    assert ev.kind == "mkdir"
    assert ev.args.shown() == {"path": "/l/usr", "syscall": "mkdirat", "ret": 0, "mode": "0755"}
    assert ev.text == "mkdir /l/usr 0755 -> ok"
    ev = decode_path(path_rec("mkdir", "rel", mode=0o700, dfd=5, ret=-17))
    assert ev.args["error"] == "EEXIST" and ev.args["dfd"] == 5 and ev.args["syscall"] == "mkdir"
    assert ev.text.endswith("-> EEXIST")


def test_symlink_and_link() -> None:
    ev = decode_path(path_rec("symlinkat", "/l/bin/sh", path2="/bin/busybox"))
    assert ev.kind == "symlink"
    assert ev.args.shown() == {
        "path": "/l/bin/sh",
        "syscall": "symlinkat",
        "ret": 0,
        "target": "/bin/busybox",
    }
    assert "pointing to /bin/busybox" in ev.text
    ev = decode_path(path_rec("linkat", "/l/b", path2="/l/a", flags=files.AT_SYMLINK_FOLLOW))
    assert ev.kind == "link"
    assert ev.args.shown() == {
        "path": "/l/b",
        "syscall": "linkat",
        "ret": 0,
        "target": "/l/a",
        "flags": "AT_SYMLINK_FOLLOW",
    }
    ev = decode_path(path_rec("link", "/l/b", path2="a", dfd2=9, ret=-18))
    assert ev.args["target_dfd"] == 9 and ev.args["error"] == "EXDEV" and ev.args["flags"] == "0"


def test_mknod_whiteout_fifo_and_devices() -> None:
    ev = decode_path(path_rec("mknodat", "/l/etc/gone", mode=0o020000))
    assert ev.kind == "mknod"
    assert ev.args.shown() == {
        "path": "/l/etc/gone",
        "syscall": "mknodat",
        "ret": 0,
        "type": "S_IFCHR",
        "mode": "0",
        "dev": "0:0",
        "dev_major": 0,
        "dev_minor": 0,
        "whiteout": True,
    }
    assert "whiteout" in ev.text and "S_IFCHR 0:0" in ev.text
    ev = decode_path(path_rec("mknod", "/l/fifo", mode=0o010644))
    assert ev.args["type"] == "S_IFIFO" and ev.args["mode"] == "0644" and ev.args["whiteout"] is False
    # a real char device is not a whiteout: /dev/null is 1:3 (glibc's makedev encoding)
    ev = decode_path(path_rec("mknodat", "/l/null", mode=0o020666, dev=os.makedev(1, 3)))
    assert ev.args["dev"] == "1:3" and ev.args["whiteout"] is False and "1:3" in ev.text
    ev = decode_path(path_rec("mknodat", "/l/sda", mode=0o060600, dev=os.makedev(259, 300)))
    assert (ev.args["type"], ev.args["dev_major"], ev.args["dev_minor"]) == ("S_IFBLK", 259, 300)
    assert decode_path(path_rec("mknodat", "/l/f", mode=0o644)).args["type"] == "S_IFREG"
    assert decode_path(path_rec("mknodat", "/l/s", mode=0o140755)).args["type"] == "S_IFSOCK"


def test_file_type_names_match_the_stat_module() -> None:
    import stat

    for name in ("S_IFSOCK", "S_IFLNK", "S_IFREG", "S_IFBLK", "S_IFDIR", "S_IFCHR", "S_IFIFO"):
        assert files.file_type(getattr(stat, name) | 0o644) == name
    assert files.file_type(0) == "S_IFREG"


def test_unlink_and_rmdir() -> None:
    ev = decode_path(path_rec("unlinkat", "/l/old", flags=0))
    assert ev.kind == "unlink" and ev.args["flags"] == "0" and ev.text == "unlink /l/old -> ok"
    ev = decode_path(path_rec("unlinkat", "/l/dir", flags=files.AT_REMOVEDIR, ret=-39))
    assert ev.kind == "rmdir"
    assert ev.args.shown() == {
        "path": "/l/dir",
        "syscall": "unlinkat",
        "ret": -39,
        "error": "ENOTEMPTY",
        "flags": "AT_REMOVEDIR",
    }
    assert ev.text == "rmdir /l/dir -> ENOTEMPTY"
    assert decode_path(path_rec("unlink", "/l/x")).kind == "unlink"
    ev = decode_path(path_rec("rmdir", "/l/d"))
    assert ev.kind == "rmdir" and ev.args.get("flags") == 0  # rmdir(2) takes none: no names


def test_rename_flags() -> None:
    ev = decode_path(
        path_rec("renameat2", "/l/a", path2="/l/b", flags=files.RENAME_NOREPLACE | files.RENAME_WHITEOUT)
    )
    assert ev.kind == "rename"
    assert ev.args.shown() == {
        "path": "/l/a",
        "syscall": "renameat2",
        "ret": 0,
        "new_path": "/l/b",
        "flags": "RENAME_NOREPLACE|RENAME_WHITEOUT",
    }
    assert ev.text == "rename /l/a to /l/b RENAME_NOREPLACE|RENAME_WHITEOUT -> ok"
    ev = decode_path(path_rec("renameat2", "a", path2="b", dfd=3, dfd2=4, flags=0x10, ret=-22))
    assert ev.args["flags"] == "0x10" and ev.args["dfd"] == 3 and ev.args["new_dfd"] == 4
    assert ev.args["error"] == "EINVAL"
    assert decode_path(path_rec("rename", "/a", path2="/b")).args["syscall"] == "rename"


def test_setxattr_opaque_value_and_long_value() -> None:
    ev = decode_path(path_rec("lsetxattr", "/l/etc", xname=b"trusted.overlay.opaque", xvalue=b"y", vsize=1))
    assert ev.kind == "setxattr"
    assert ev.args.shown() == {
        "path": "/l/etc",
        "syscall": "lsetxattr",
        "ret": 0,
        "name": "trusted.overlay.opaque",
        "size": 1,
        "flags": "0",
        "value": "y",
        "opaque": True,
    }
    assert "opaque directory" in ev.text and "trusted.overlay.opaque='y'" in ev.text
    # binary (a file capability) or longer than what the kernel side copies: no value, only its size
    ev = decode_path(
        path_rec("setxattr", "/l/ping", xname=b"security.capability", xvalue=b"\x01\0\0\x02", vsize=20)
    )
    assert "value" not in ev.args and ev.args["size"] == 20 and "opaque" not in ev.args
    ev = decode_path(path_rec("setxattr", "/l/f", xname=b"user.k", xvalue=b"v" * 32, vsize=40, flags=1))
    assert "value" not in ev.args and ev.args["flags"] == "XATTR_CREATE" and "(40 bytes)" in ev.text
    ev = decode_path(path_rec("setxattr", "/l/f", xname=b"user.overlay.opaque", xvalue=b"n", vsize=1))
    assert ev.args["value"] == "n" and "opaque" not in ev.args
    ev = decode_path(path_rec("fsetxattr", "", dfd=7, xname=b"user.a", xvalue=b"b", vsize=1, plen=0, ret=-9))
    assert ev.args["fd"] == 7 and ev.args["error"] == "EBADF" and "fd 7" in ev.text


def test_chmod_and_chown() -> None:
    ev = decode_path(path_rec("fchmodat", "/l/f", mode=0o4755))
    assert ev.kind == "chmod" and ev.args["mode"] == "04755" and ev.args.get("flags") == 0
    ev = decode_path(path_rec("fchmodat2", "/l/f", mode=0o644, flags=files.AT_SYMLINK_NOFOLLOW))
    assert ev.args["flags"] == "AT_SYMLINK_NOFOLLOW"
    ev = decode_path(path_rec("fchownat", "/l/f", uid=1000, gid=0xFFFFFFFF, flags=0x100))
    assert ev.kind == "chown"
    assert (ev.args["uid"], ev.args["gid"], ev.args["flags"]) == (1000, -1, "AT_SYMLINK_NOFOLLOW")
    assert ev.text == "chown /l/f 1000:-1 -> ok"
    assert decode_path(path_rec("lchown", "/l/f")).args["syscall"] == "lchown"


def test_truncated_paths_end_with_an_ellipsis() -> None:
    long = "/" + "a" * 254  # what bpf_probe_read_user_str leaves of a longer path: 255 bytes + NUL
    ev = decode_path(path_rec("mkdirat", long, plen=256 | files.PLEN_CUT))
    assert ev.args["path"] == long + "…" and ev.args["truncated"] is True
    ev = decode_path(path_rec("symlinkat", "/l/x", path2=long, plen2=256 | files.PLEN_CUT))
    assert ev.args["target"] == long + "…" and ev.args["truncated"] is True
    # exactly 255 bytes filled the buffer too, but the kernel side found its end: whole, no marker
    ev = decode_path(path_rec("mkdirat", long, plen=256))
    assert ev.args["path"] == long and "truncated" not in ev.args


def test_unknown_op_is_dropped() -> None:
    raw = bytearray(path_rec("mkdirat", "/x"))
    struct.pack_into("<I", raw, 48, 99)
    assert files.decode(bytes(raw), DecodeContext()) is None


def test_optional_tracepoints_follow_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A syscall this kernel has no tracepoint pair for is compiled out, not a load failure."""
    sc = tmp_path / "events" / "syscalls"
    for name in ("mkdirat", "renameat2", "pwrite64", "preadv2"):
        for d in ("enter", "exit"):
            (sc / f"sys_{d}_{name}").mkdir(parents=True)
    (sc / "sys_enter_fchmodat2").mkdir()  # only half of the pair: left out
    (sc / "sys_exit_readv").mkdir()
    monkeypatch.setattr(files, "tracefs_root", lambda: tmp_path)
    assert files.optional_cflags() == [
        "-DHAVE_PREADV2=1",
        "-DHAVE_PWRITE64=1",
        "-DHAVE_MKDIRAT=1",
        "-DHAVE_RENAMEAT2=1",
    ]
    text = files.render(ProbeOptions())
    assert "-DHAVE_MKDIRAT=1" in text and "HAVE_MKDIR=" not in text
    monkeypatch.setattr(files, "tracefs_root", lambda: None)
    assert files.optional_cflags() == []


def test_every_listed_tracepoint_has_a_guarded_handler() -> None:
    text = files.render(ProbeOptions())
    io = set(files.READ_SYSCALLS + files.WRITE_SYSCALLS)  # made by IO_SYSCALL(name, dir)
    for tp in files.SPEC.tracepoints:
        cat, name = tp.split(":")
        sc = name.split("_", 2)[2]
        assert f"TRACEPOINT_PROBE({cat}, {name})" in text or (sc in io and f"IO_SYSCALL({sc}, " in text), tp
    for name in files.OPTIONAL_SYSCALLS:
        block = _guarded(text, name)
        both = f"sys_enter_{name})" in block and f"sys_exit_{name})" in block
        assert both or (name in io and f"IO_SYSCALL({name}, " in block), name
    # availability asks only for the tracepoints the probe cannot do without
    assert not [tp for tp in files._REQUIRED if any(s in tp for s in files.OPTIONAL_SYSCALLS)]
    assert set(files.PATH_KINDS) <= set(files.SPEC.kinds)


def test_reads_left_out_when_the_consumer_skips_them() -> None:
    text = files.render(ProbeOptions(skip_kinds=frozenset({"read"})))
    flags = text.splitlines()[1]
    assert "-DBEEFINE_NO_READ=1" in flags
    assert not [n for n in files.READ_SYSCALLS if f"-DHAVE_{n.upper()}=1" in flags]
    guarded = text.split("#ifndef BEEFINE_NO_READ", 1)[1].split("#endif", 1)[0]
    assert "sys_enter_read)" in guarded and "sys_exit_read)" in guarded
    assert "-DBEEFINE_NO_READ=1" not in files.render(ProbeOptions()).splitlines()[1]


def test_open_hot_path_same_event_cold_and_warm() -> None:
    # the open path reads the process table and the string cache without helpers: a chrooted process's
    # root, a cut path and the comm must come out the same on a cold cache and on a warm one
    from beefine_tui.probes.attribution import ProcInfo

    ctx = DecodeContext()
    ctx.procs._remember(4242, ProcInfo(1, "docker-untar", None, root="/var/lib/x/rootfs"))
    cut = files.OPEN_PATH_CUT
    raw = files.OPEN_REC.pack(
        1, files.OPEN_KIND, 4242, 4243, 0, b"docker-untar", 3, 0, 0, -100, cut, 0, path_b("etc/passwd")
    )
    cold = files.decode(raw, ctx)
    warm = files.decode(raw, ctx)
    assert cold == warm and cold is not None
    assert (cold.pid, cold.tid, cold.comm) == (4242, 4243, "docker-untar")
    args = cold.args
    assert isinstance(args, files.OpenArgs)
    assert args.root == "/var/lib/x/rootfs"
    assert args.path == "etc/passwd" + files.TRUNCATED_MARK and args.truncated
    # a process in a container: paths are the container's own, no root prefix
    ctx.procs._remember(4242, ProcInfo(1, "sh", "c" * 64, root="/var/lib/x/rootfs"))
    ev = files.decode(raw, ctx)
    assert ev is not None and isinstance(ev.args, files.OpenArgs) and ev.args.root == ""
