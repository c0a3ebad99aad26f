"""mounts probe on the real kernel. A child process, traced by lineage and nothing else, makes its own
private mount namespace and in it: a tmpfs mount, a recursive bind mount, a umount, a failed mount,
the new mount API, and (in a second child) pivot_root. Exactly those calls must arrive, decoded.
Nothing leaks: the namespace dies with the child, the temp dirs are removed, our programs are gone."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from beefine_tui.probes import mounts
from beefine_tui.probes.flags import MS_BIND, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_REC
from beefine_tui.probes.mounts import MountArgs, PivotRootArgs, UmountArgs
from tests.integration.probe_harness import run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# ---- the tests

PRELUDE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.syscall.restype = ctypes.c_long
def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))
    return r
check(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
# MS_REC|MS_PRIVATE on /: nothing we do here propagates back to the host
check(libc.mount(b"none", b"/", None, 16384 | (1 << 18), None), "make-rprivate")
"""


@pytest.fixture
def tmpdirs() -> Iterator[tuple[Path, Path]]:
    base = Path(tempfile.mkdtemp(prefix="beefine-mnt-"))
    a, b = base / "a", base / "b"
    a.mkdir()
    b.mkdir()
    try:
        yield a, b
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_tmpfs_bind_umount_and_failure(tmpdirs: tuple[Path, Path]) -> None:
    a, b = tmpdirs
    src = f"beefine-{uuid.uuid4().hex[:8]}"
    code = (
        PRELUDE
        + f"""
check(libc.mount({src.encode()!r}, {str(a).encode()!r}, b"tmpfs", 2 | 4, b"size=1m,mode=0700"), "tmpfs")
check(libc.mount({str(a).encode()!r}, {str(b).encode()!r}, None, 4096 | 16384, None), "bind")
check(libc.umount2({str(b).encode()!r}, 2), "umount2")
r = libc.mount(b"/nonexistent-{src}", {str(b).encode()!r}, None, 4096 | 16384, None)
assert r == -1 and ctypes.get_errno() == 2
"""
    )
    noise = f"beefine-noise-{src}"

    def outside() -> None:
        # the same kind of call from a process outside the traced lineage: must not show up
        cmd = f"mount --make-rprivate / && mount -t tmpfs {noise} {b}"
        subprocess.run(["unshare", "-m", "sh", "-c", cmd], check=True, timeout=30)

    events, _ = run_traced(
        mounts,
        code,
        lambda evs: any(e.args.get("source") == f"/nonexistent-{src}" for e in evs),
        during=outside,
    )
    assert not [e for e in events if e.args.get("source") == noise]
    seen = [(e.kind, e.args.get("target")) for e in events]
    assert seen == [
        ("mount", "/"),
        ("mount", str(a)),
        ("mount", str(b)),
        ("umount", str(b)),
        ("mount", str(b)),
    ], seen
    private, tmpfs, bind, umount, failed = events
    assert isinstance(private.args, MountArgs) and private.args.flags == MS_REC | MS_PRIVATE
    assert private.args["flags"] == "MS_REC|MS_PRIVATE" and private.args["ret"] == 0  # by name: shown
    assert tmpfs.args == MountArgs(
        source=src, target=str(a), fstype="tmpfs", flags=MS_NOSUID | MS_NODEV, data="size=1m,mode=0700", ret=0
    )
    assert tmpfs.args.shown()["flags"] == "MS_NOSUID|MS_NODEV"
    assert tmpfs.probe == "mounts" and tmpfs.comm.startswith("python")
    assert isinstance(bind.args, MountArgs) and bind.args.flags == MS_BIND | MS_REC
    assert bind.args["source"] == str(a) and bind.args["ret"] == 0
    assert umount.args == UmountArgs(target=str(b), flags=2, ret=0)  # MNT_DETACH
    assert umount.args.shown()["flags"] == "MNT_DETACH"
    assert failed.args["ret"] == -2 and failed.args["error"] == "ENOENT"
    assert len({e.pid for e in events}) == 1


def test_pivot_root(tmpdirs: tuple[Path, Path]) -> None:
    a, _ = tmpdirs
    code = (
        PRELUDE
        + f"""
check(libc.mount(b"beefine-root", {str(a).encode()!r}, b"tmpfs", 0, b"size=1m"), "tmpfs")
os.mkdir({str(a / "old")!r})
os.chdir({str(a)!r})
check(libc.syscall(155, b".", b"old"), "pivot_root")  # SYS_pivot_root on x86-64
"""
    )
    events, _ = run_traced(mounts, code, lambda evs: any(e.kind == "pivot_root" for e in evs))
    pr = [e for e in events if e.kind == "pivot_root"]
    assert len(pr) == 1
    assert pr[0].args == PivotRootArgs(new_root=".", put_old="old", ret=0)
    assert [e.kind for e in events] == ["mount", "mount", "pivot_root"]


def test_new_mount_api(tmpdirs: tuple[Path, Path]) -> None:
    if not mounts.has_new_mount_api():
        pytest.skip("this kernel has no fsopen tracepoints")
    a, _ = tmpdirs
    # x86-64: open_tree 428, move_mount 429, fsopen 430, fsconfig 431, fsmount 432
    code = (
        PRELUDE
        + f"""
S = libc.syscall
S.argtypes = None
fs = check(S(430, b"tmpfs", 1), "fsopen")
check(S(431, fs, 1, b"size", b"1m", 0), "fsconfig size")
check(S(431, fs, 6, None, None, 0), "fsconfig create")
m = check(S(432, fs, 1, 0x4), "fsmount")
check(S(429, m, b"", -100, {str(a).encode()!r}, 0x4), "move_mount")
t = check(S(428, -100, {str(a).encode()!r}, 1 | 0o2000000), "open_tree")
"""
    )
    events, _ = run_traced(mounts, code, lambda evs: any(e.kind == "open_tree" for e in evs))
    kinds = [e.kind for e in events]
    assert kinds == ["mount", "fsopen", "fsconfig", "fsconfig", "fsmount", "move_mount", "open_tree"], kinds
    _, fsopen, size, create, fsmount, move, tree = events
    assert fsopen.args["fsname"] == "tmpfs" and fsopen.args.shown()["flags"] == "FSOPEN_CLOEXEC"
    fd = fsopen.args["ret"]
    assert fd >= 0
    assert (
        size.args.shown()["cmd"] == "FSCONFIG_SET_STRING"
        and size.args["key"] == "size"
        and size.args["value"] == "1m"
    )
    assert size.args["fd"] == fd
    assert create.args.shown()["cmd"] == "FSCONFIG_CMD_CREATE" and create.args["ret"] == 0
    assert fsmount.args.shown()["attr_flags"] == "MOUNT_ATTR_NODEV" and fsmount.args["ret"] >= 0
    assert move.args["from_path"] == "" and move.args["to_path"] == str(a)
    assert move.args.shown()["flags"] == "MOVE_MOUNT_F_EMPTY_PATH" and move.args["ret"] == 0
    assert tree.args["path"] == str(a) and tree.args.shown()["flags"] == "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC"


def test_a_300_character_source_is_marked_cut(tmpdirs: tuple[Path, Path]) -> None:
    """A real tmpfs mount whose source is 300 characters (and one of exactly 255, what the buffer
    holds): the kernel's own account (/proc/self/mountinfo) has the whole source; the probe gives its
    first 255 bytes with "…" and truncated: true for the first, the whole one unmarked for the second."""
    a, b = tmpdirs
    tag = uuid.uuid4().hex[:8]
    long300, long255 = (tag + "s" * (n - len(tag)) for n in (300, 255))
    code = (
        PRELUDE
        + f"""
for src, where in (({long300.encode()!r}, {str(a).encode()!r}), ({long255.encode()!r}, {str(b).encode()!r})):
    check(libc.mount(src, where, b"tmpfs", 0, b"size=1m"), "tmpfs")
with open("/proc/self/mountinfo") as f:
    for line in f:
        fields = line.split()
        if fields[4] in ({str(a)!r}, {str(b)!r}):
            print(fields[4], fields[fields.index("-") + 2])
"""
    )
    events, out = run_traced(
        mounts, code, lambda evs: sum(1 for e in evs if tag in str(e.args.get("source"))) >= 2
    )
    kernel = dict(line.split() for line in out.splitlines())
    assert kernel == {str(a): long300, str(b): long255}  # the kernel kept the whole source
    got = {e.args["target"]: e for e in events if e.kind == "mount" and tag in e.args["source"]}
    assert got[str(a)].args["source"] == kernel[str(a)][:255] + "…"
    assert got[str(a)].args["truncated"] is True
    assert got[str(b)].args["source"] == kernel[str(b)] and got[str(b)].args["truncated"] is False
