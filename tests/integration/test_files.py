"""files probe: an open under the prefix with O_WRONLY|O_CREAT|O_TRUNC, N bytes written, close ->
exactly that open and writes summing to N; nothing from outside the prefix. The calls that build a tree
(mkdir, symlink, link, mknod whiteout and fifo, unlink, rmdir, rename, setxattr, chmod, chown) and the
vectored/positional writes -> exactly those events, decoded; pread64/readv/preadv/preadv2 on one fd -> its
read totals, exact; the same calls outside the prefix -> none."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence

import pytest

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes import files
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.bcc_runner import BccRunner
from tests.integration.probe_harness import collect_until, prog_exists, run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
COLLECT_S = 15


def test_open_write_read_close_under_prefix() -> None:
    inside = tempfile.mkdtemp(prefix="beefine-files-in-")
    outside = tempfile.mkdtemp(prefix="beefine-files-out-")
    path = os.path.join(inside, "data.bin")
    other = os.path.join(outside, "noise.bin")
    chunks = [b"a" * 1000, b"b" * 4096, b"c" * 7]
    n = sum(len(c) for c in chunks)
    bus = Bus()
    sub = bus.subscribe("test")
    opts = ProbeOptions(target=Target(pids=frozenset({os.getpid()})), path_prefix=inside + "/")
    runner = files.make_runner(opts)
    assert isinstance(runner, BccRunner)
    runner.start(bus.publish)
    ids = runner.prog_ids()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        for c in chunks:
            os.write(fd, c)
        os.close(fd)
        fd = os.open(other, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(fd, b"x" * 10)
        os.close(fd)
        fd = os.open(path, os.O_RDONLY)
        assert len(os.read(fd, 100_000)) == n
        os.close(fd)

        def done(evs: Sequence[Event]) -> bool:
            return any(e.kind == "read" and e.args.get("closed") for e in evs)

        events = collect_until(sub, done, COLLECT_S)
    finally:
        runner.stop()
        for p in (path, other):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(inside)
        os.rmdir(outside)

    opens = [e for e in events if e.kind == "open"]
    assert [e.args["path"] for e in opens] == [path, path], opens
    w = opens[0]
    # Python's os.open always adds O_CLOEXEC (PEP 446)
    assert w.args["flags"] == "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
    assert isinstance(w.args, files.OpenArgs)
    assert w.args.flags == os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC  # raw, as the kernel had it
    assert w.args["mode"] == "0640" and w.args["ret"] >= 0 and w.pid == os.getpid()
    writes = [e for e in events if e.kind == "write"]
    assert sum(e.args["bytes"] for e in writes) == n
    assert sum(e.args["count"] for e in writes) == len(chunks)
    assert all(e.args["path"] == path for e in writes)
    assert writes[-1].args.get("closed") is True
    reads = [e for e in events if e.kind == "read"]
    assert sum(e.args["bytes"] for e in reads) == n
    assert opens[1].args["flags"] == "O_RDONLY|O_CLOEXEC"
    assert not [e for e in events if outside in str(e.args)], "an event from outside the prefix"
    assert not any(prog_exists(i) for i in ids)


def test_failed_open_is_reported() -> None:
    inside = tempfile.mkdtemp(prefix="beefine-files-in-")
    missing = os.path.join(inside, "missing")
    bus = Bus()
    sub = bus.subscribe("test")
    opts = ProbeOptions(target=Target(pids=frozenset({os.getpid()})), path_prefix=inside)
    with files.make_runner(opts) as runner:
        runner.start(bus.publish)
        with pytest.raises(FileNotFoundError):
            os.open(missing, os.O_RDONLY)
        events = collect_until(sub, lambda evs: any(e.kind == "open" for e in evs), COLLECT_S)
    os.rmdir(inside)
    opens = [e for e in events if e.kind == "open"]
    assert len(opens) == 1
    assert (
        opens[0].args["path"] == missing and opens[0].args["error"] == "ENOENT" and opens[0].args["ret"] == -2
    )


def test_fd_left_open_by_an_exited_process_is_reported() -> None:
    inside = tempfile.mkdtemp(prefix="beefine-files-in-")
    path = os.path.join(inside, "f")
    code = (
        f"import os; fd = os.open({path!r}, os.O_WRONLY | os.O_CREAT, 0o600); "
        "os.write(fd, b'z' * 33); os._exit(0)"
    )
    bus = Bus()
    sub = bus.subscribe("test")
    opts = ProbeOptions(target=Target(lineage_root=os.getpid()), path_prefix=inside)
    try:
        with files.make_runner(opts) as runner:
            runner.start(bus.publish)
            subprocess.run([sys.executable, "-c", code], check=True)
            events = collect_until(sub, lambda evs: any(e.kind == "write" for e in evs), timeout=20)
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(inside)
    writes = [e for e in events if e.kind == "write"]
    assert len(writes) == 1 and writes[0].args["bytes"] == 33 and writes[0].args["closed"] is True


def test_fd_closed_without_close_is_not_misattributed() -> None:
    """close_range(2) (as os.closerange does) closes a tracked fd without close(2); the next open of
    another file gets the same number and its writes must not count for the old path.

    Done in a single-threaded child: inside pytest another thread can take the freed number first."""
    inside = tempfile.mkdtemp(prefix="beefine-files-in-")
    outside = tempfile.mkdtemp(prefix="beefine-files-out-")
    tracked, other = os.path.join(inside, "t"), os.path.join(outside, "o")
    child_code = (
        "import os, sys\n"
        "sys.stdin.readline()\n"
        "tracked, other = sys.argv[1], sys.argv[2]\n"
        "fd = os.open(tracked, os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "os.closerange(fd, fd + 1)\n"
        "fd2 = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "assert fd2 == fd, (fd, fd2)  # the lowest free number: the one just closed\n"
        "os.write(fd2, b'y' * 77)\n"
        "os.close(fd2)\n"
        "fd3 = os.open(tracked, os.O_WRONLY)\n"
        "os.write(fd3, b'z' * 5)\n"
        "os.close(fd3)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", child_code, tracked, other],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    bus = Bus()
    sub = bus.subscribe("test")
    opts = ProbeOptions(target=Target(pids=frozenset({child.pid})), path_prefix=inside)
    try:
        with files.make_runner(opts) as runner:
            runner.start(bus.publish)
            _, err = child.communicate("go\n", timeout=60)
            assert child.returncode == 0, err
            events = collect_until(sub, lambda evs: any(e.kind == "write" for e in evs), COLLECT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for p in (tracked, other):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(inside)
        os.rmdir(outside)
    writes = [e for e in events if e.kind == "write"]
    assert [(w.args["path"], w.args["bytes"]) for w in writes] == [(tracked, 5)]


# ---- the calls a tar makes to build a tree (mkdir, symlink, link, mknod, unlink, rmdir, rename,
# setxattr, chmod, chown) and the other write calls, made by a traced child under a private prefix --

TREE_CODE = r"""
import ctypes, os, stat, sys
d, out = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
libc.unlinkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
libc.pwritev.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_long]
libc.pwritev.restype = ctypes.c_ssize_t
AT_FDCWD, AT_REMOVEDIR, RENAME_NOREPLACE = -100, 0x200, 1
os.mkdir(f"{d}/dir", 0o750)
os.mkdir(f"{d}/dir/sub")
os.symlink("../target", f"{d}/dir/sym")
fd = os.open(f"{d}/file", os.O_WRONLY | os.O_CREAT, 0o640)
os.pwrite(fd, b"p" * 100, 0)
os.writev(fd, [b"a" * 10, b"b" * 20])
# pwritev: through glibc, as os.pwritev always makes pwritev2 where the kernel has it
cbuf = ctypes.create_string_buffer(b"c" * 7, 7)
iov = (ctypes.c_size_t * 2)(ctypes.addressof(cbuf), 7)  # struct iovec {void *base; size_t len}
assert libc.pwritev(fd, iov, 1, 200) == 7
os.pwritev(fd, [b"d" * 5], 300, os.RWF_DSYNC)  # flags: only pwritev2 takes them
os.setxattr(fd, "user.beefine", b"fd")  # an fd: fsetxattr
os.close(fd)
os.link(f"{d}/file", f"{d}/hard")
os.mknod(f"{d}/gone", stat.S_IFCHR, os.makedev(0, 0))  # what overlay2 unpacks a whiteout as
os.mkfifo(f"{d}/fifo", 0o644)
os.setxattr(f"{d}/dir", "user.note", b"hello")
assert libc.renameat2(AT_FDCWD, f"{d}/hard".encode(), AT_FDCWD, f"{d}/moved".encode(), RENAME_NOREPLACE) == 0
assert libc.renameat2(AT_FDCWD, f"{d}/moved".encode(), AT_FDCWD, f"{d}/file".encode(), RENAME_NOREPLACE) == -1
assert ctypes.get_errno() == 17  # EEXIST: NOREPLACE kept file
os.unlink(f"{d}/moved")
os.unlink(f"{d}/fifo")
assert libc.unlinkat(AT_FDCWD, f"{d}/dir/sub".encode(), AT_REMOVEDIR) == 0
try:
    os.rmdir(f"{d}/dir")
except OSError as e:
    assert e.errno == 39  # ENOTEMPTY: dir/sym is still there
os.chmod(f"{d}/file", 0o600)
os.lchown(f"{d}/dir/sym", 0, 0)
# outside the prefix: none of these may arrive (a symlink matches by its own name, not its target)
os.mkdir(f"{out}/odir")
os.symlink(f"{d}/file", f"{out}/olink")
os.rename(f"{out}/odir", f"{out}/odir2")
os.rmdir(f"{out}/odir2")
os.unlink(f"{out}/olink")
os.mknod(f"{out}/ogone", stat.S_IFCHR, 0)
open(f"{out}/incoming", "w").close()
os.setxattr(f"{out}/incoming", "user.x", b"y", follow_symlinks=False)
# into the prefix from outside: arrives (for rename and link either name may match)
os.rename(f"{out}/incoming", f"{d}/incoming")
"""

PATH_KINDS = set(files.PATH_KINDS)


def trace_tree(code: str, inside: str, outside: str, done: Callable[[Sequence[Event]], bool]) -> list[Event]:
    """The harness's gated child, traced by lineage, with the prefix `inside`/; argv is inside, outside."""
    events, _out = run_traced(files, code, done, timeout=60, argv=(inside, outside), path_prefix=inside + "/")
    return events


def test_tree_calls_and_vectored_writes_under_the_prefix() -> None:
    base = tempfile.mkdtemp(prefix="beefine-files-tree-")
    d, out = os.path.join(base, "in"), os.path.join(base, "out")
    os.mkdir(d)
    os.mkdir(out)

    def done(evs: Sequence[Event]) -> bool:
        return any(e.kind == "rename" and e.args["new_path"] == f"{d}/incoming" for e in evs)

    try:
        events = trace_tree(TREE_CODE, d, out, done)
    finally:
        shutil.rmtree(base)

    ops = [e for e in events if e.kind in PATH_KINDS]
    assert [(e.kind, e.args["path"]) for e in ops] == [
        ("mkdir", f"{d}/dir"),
        ("mkdir", f"{d}/dir/sub"),
        ("symlink", f"{d}/dir/sym"),
        ("setxattr", f"{d}/file"),
        ("link", f"{d}/hard"),
        ("mknod", f"{d}/gone"),
        ("mknod", f"{d}/fifo"),
        ("setxattr", f"{d}/dir"),
        ("rename", f"{d}/hard"),
        ("rename", f"{d}/moved"),
        ("unlink", f"{d}/moved"),
        ("unlink", f"{d}/fifo"),
        ("rmdir", f"{d}/dir/sub"),
        ("rmdir", f"{d}/dir"),
        ("chmod", f"{d}/file"),
        ("chown", f"{d}/dir/sym"),
        ("rename", f"{out}/incoming"),
    ], ops
    (mk_dir, mk_sub, sym, fxattr, link, whiteout, fifo, xattr, ren, ren_fail, unl, _unl_fifo, rm_sub, rm_dir,
     chmod, chown, ren_in) = ops  # fmt: skip
    pid = events[0].pid
    assert all(e.pid == pid and e.probe == "files" for e in ops)
    assert mk_dir.args["mode"] == "0750" and mk_dir.args["ret"] == 0 and "error" not in mk_dir.args
    assert mk_sub.args["mode"] == "0777"
    assert sym.args["target"] == "../target" and sym.args["ret"] == 0
    assert (fxattr.args["syscall"], fxattr.args["name"], fxattr.args["value"]) == (
        "fsetxattr",
        "user.beefine",
        "fd",
    )
    assert fxattr.args["fd"] >= 0 and fxattr.args["ret"] == 0
    assert link.args["target"] == f"{d}/file" and link.args["ret"] == 0
    assert (whiteout.args["type"], whiteout.args["dev"], whiteout.args["whiteout"]) == (
        "S_IFCHR",
        "0:0",
        True,
    )
    assert "overlayfs deletion marker" in whiteout.text
    assert (fifo.args["type"], fifo.args["mode"], fifo.args["whiteout"]) == ("S_IFIFO", "0644", False)
    assert (xattr.args["name"], xattr.args["value"], xattr.args["size"]) == ("user.note", "hello", 5)
    assert "opaque" not in xattr.args
    assert (ren.args["new_path"], ren.args["flags"], ren.args["ret"]) == (f"{d}/moved", "RENAME_NOREPLACE", 0)
    assert ren.args["syscall"] == "renameat2"
    assert (ren_fail.args["new_path"], ren_fail.args["error"]) == (f"{d}/file", "EEXIST")
    assert unl.args["ret"] == 0
    assert (rm_sub.args["syscall"], rm_sub.args["flags"], rm_sub.args["ret"]) == (
        "unlinkat",
        "AT_REMOVEDIR",
        0,
    )
    assert rm_dir.args["error"] == "ENOTEMPTY"
    assert chmod.args["mode"] == "0600" and chmod.args["ret"] == 0
    assert (chown.args["uid"], chown.args["gid"], chown.args["ret"]) == (0, 0, 0)
    assert ren_in.args["new_path"] == f"{d}/incoming" and ren_in.args["ret"] == 0

    # pwrite64 + writev + pwritev + pwritev2 fold into the file's write count like write(2)
    writes = [e for e in events if e.kind == "write"]
    assert all(e.args["path"] == f"{d}/file" for e in writes), writes
    assert sum(e.args["bytes"] for e in writes) == 100 + 30 + 7 + 5
    assert sum(e.args["count"] for e in writes) == 4
    assert writes[-1].args.get("closed") is True

    leaked = [e for e in events if out in str(e.args) and e is not ren_in]
    assert not leaked, f"events from outside the prefix: {leaked}"


TRUSTED_CODE = r"""
import os, sys
d = sys.argv[1]
os.mkdir(f"{d}/opaque")
os.setxattr(f"{d}/opaque", "trusted.overlay.opaque", b"y", follow_symlinks=False)  # lsetxattr, as moby
"""


def test_trusted_overlay_opaque_xattr() -> None:
    """The marker overlay2 puts on a layer's directory that hides the lower layers' content."""
    base = tempfile.mkdtemp(prefix="beefine-files-opq-")
    try:
        probe = os.path.join(base, "probe")
        os.mkdir(probe)
        try:
            os.setxattr(probe, "trusted.overlay.opaque", b"y")
        except OSError as e:
            pytest.skip(f"the temp filesystem at {base} refuses trusted.* xattrs ({e.strerror}); needs root")
        d = os.path.join(base, "in")
        os.mkdir(d)
        events = trace_tree(TRUSTED_CODE, d, base, lambda evs: any(e.kind == "setxattr" for e in evs))
    finally:
        shutil.rmtree(base)
    ops = [e for e in events if e.kind in PATH_KINDS]
    assert [(e.kind, e.args["path"]) for e in ops] == [("mkdir", f"{d}/opaque"), ("setxattr", f"{d}/opaque")]
    a = ops[1].args
    assert (a["syscall"], a["name"], a["value"], a["opaque"], a["ret"]) == (
        "lsetxattr",
        "trusted.overlay.opaque",
        "y",
        True,
        0,
    )
    assert "opaque directory" in ops[1].text


READS_CODE = r"""
import ctypes, os, sys
d, out = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
libc.preadv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_long]
libc.preadv.restype = ctypes.c_ssize_t
buf = ctypes.create_string_buffer(7)
iov = (ctypes.c_size_t * 2)(ctypes.addressof(buf), 7)  # struct iovec {void *base; size_t len}
for base in (d, out):  # the same calls outside the prefix must bring nothing
    fd = os.open(f"{base}/data", os.O_RDONLY)
    assert len(os.pread(fd, 100, 0)) == 100  # pread64
    assert os.readv(fd, [bytearray(10), bytearray(20)]) == 30  # readv
    # preadv: through glibc, as os.preadv always makes preadv2 where the kernel has it
    assert libc.preadv(fd, iov, 1, 200) == 7
    assert os.preadv(fd, [bytearray(5)], 300, os.RWF_DSYNC) == 5  # preadv2
    os.close(fd)
"""


def test_positional_and_vectored_reads_fold_into_one_read_per_fd() -> None:
    base = tempfile.mkdtemp(prefix="beefine-files-reads-")
    d, out = os.path.join(base, "in"), os.path.join(base, "out")
    for p in (d, out):
        os.mkdir(p)
        with open(os.path.join(p, "data"), "wb") as f:  # made here, untraced: only the child's reads count
            f.write(bytes(range(256)) * 4)

    def done(evs: Sequence[Event]) -> bool:
        return any(e.kind == "read" and e.args.get("closed") for e in evs)

    try:
        events = trace_tree(READS_CODE, d, out, done)
    finally:
        shutil.rmtree(base)

    path = f"{d}/data"
    opens = [e for e in events if e.kind == "open"]
    assert [(e.args["path"], e.args["flags"]) for e in opens] == [(path, "O_RDONLY|O_CLOEXEC")], opens
    fd = opens[0].args["ret"]
    reads = [e for e in events if e.kind == "read"]
    assert reads and all((e.args["path"], e.args["fd"], e.pid) == (path, fd, opens[0].pid) for e in reads)
    # one report at close; a report before it would only split the same totals (1 s flush on a stalled
    # machine), so the totals are what is checked exactly
    assert [e.args.get("closed", False) for e in reads] == [False] * (len(reads) - 1) + [True]
    assert sum(e.args["bytes"] for e in reads) == 100 + 30 + 7 + 5
    assert sum(e.args["count"] for e in reads) == 4, "one of pread64/readv/preadv/preadv2 was not seen"
    assert not [e for e in events if e.kind == "write"]
    leaked = [e for e in events if out in str(e.args)]
    assert not leaked, f"events from outside the prefix: {leaked}"


OPENER = (
    "import sys\nfor line in sys.stdin:\n    open(line.strip(), 'w').close()\n    print('ok', flush=True)\n"
)


def _open_in(child: subprocess.Popen[str], path: str) -> None:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(path + "\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "ok"


@pytest.mark.parametrize("include_self", [False, True])
def test_beefine_itself_is_left_out_unless_asked(include_self: bool) -> None:
    """Host-wide, with a path prefix: a child process's open is seen; this process's own open (Beefine
    itself) and a helper registered as ours (as bpftrace children are) are not, unless include_self.
    A helper reaped (removed) is visible again. What each process opened is known here exactly."""
    from beefine_tui.probes import own_pids

    inside = tempfile.mkdtemp(prefix="beefine-self-")
    child = subprocess.Popen(
        [sys.executable, "-c", OPENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    helper = subprocess.Popen(
        [sys.executable, "-c", OPENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    own_pids.add_child(helper.pid)
    bus = Bus()
    sub = bus.subscribe("test")
    path = {k: os.path.join(inside, k) for k in ("self", "child", "helper", "helper-reaped", "end")}
    try:
        with files.make_runner(ProbeOptions(path_prefix=inside + "/", include_self=include_self)) as runner:
            runner.start(bus.publish)
            with open(path["self"], "w"):
                pass
            _open_in(child, path["child"])
            _open_in(helper, path["helper"])
            own_pids.remove_child(helper.pid)
            _open_in(helper, path["helper-reaped"])
            _open_in(child, path["end"])

            def done(evs: Sequence[Event]) -> bool:
                return any(e.kind == "open" and e.args["path"] == path["end"] for e in evs)

            events = collect_until(sub, done, COLLECT_S)
        events += sub.get(0.3)
    finally:
        own_pids.remove_child(helper.pid)
        for p in (child, helper):
            if p.stdin is not None:
                p.stdin.close()
            p.wait(10)
        shutil.rmtree(inside, ignore_errors=True)
    opened = {(e.pid, e.args["path"]) for e in events if e.kind == "open"}
    want = {(child.pid, path["child"]), (helper.pid, path["helper-reaped"]), (child.pid, path["end"])}
    if include_self:
        want |= {(os.getpid(), path["self"]), (helper.pid, path["helper"])}
    assert opened == want, sorted(opened)


def _long_path(root: str, length: int) -> str:
    """A path of exactly `length` characters under `root`, its directories made (names < 255)."""
    path = root
    while length - len(path) > 101:
        path = os.path.join(path, "d" * 99)
    os.makedirs(path, exist_ok=True)
    return os.path.join(path, "f" * (length - len(path) - 1))


def test_a_300_character_path_is_marked_cut() -> None:
    """A real 300-character path opened, written and read: the open and the I/O on its fd carry the
    first 255 bytes, the "…" marker and truncated: true; a path of exactly 255 characters (as long as
    the buffer holds) comes whole, unmarked. Compared with the paths this process actually opened."""
    inside = tempfile.mkdtemp(prefix="beefine-long-")
    long300, long255 = _long_path(inside, 300), _long_path(os.path.join(inside, "b"), 255)
    assert (len(long300), len(long255)) == (300, 255)
    bus = Bus()
    sub = bus.subscribe("test")
    try:
        opts = ProbeOptions(target=Target(pids=frozenset({os.getpid()})), path_prefix=inside + "/")
        with files.make_runner(opts) as runner:
            runner.start(bus.publish)
            for p in (long300, long255):
                with open(p, "wb") as f:
                    f.write(b"x" * 10)

            def done(evs: Sequence[Event]) -> bool:
                return sum(1 for e in evs if e.kind == "write" and e.args.get("closed")) >= 2

            events = collect_until(sub, done, COLLECT_S)
    finally:
        shutil.rmtree(inside, ignore_errors=True)
    opens = {e.args["path"]: e for e in events if e.kind == "open"}
    cut = long300[:255] + "…"
    assert set(opens) == {cut, long255}, sorted(opens)
    assert opens[cut].args["truncated"] is True and opens[cut].args["ret"] >= 0
    assert "truncated" not in opens[long255].args
    writes = {e.args["path"]: e for e in events if e.kind == "write"}
    assert writes[cut].args["truncated"] is True and writes[cut].args["bytes"] == 10
    assert "truncated" not in writes[long255].args and writes[long255].args["bytes"] == 10


def test_a_long_xattr_name_is_marked_cut() -> None:
    """setxattr with a 100-byte name (the kernel keeps it whole: listxattr reads it back) shows its first
    63 bytes with "…" and truncated: true; a 63-byte name comes whole."""
    inside = tempfile.mkdtemp(prefix="beefine-xattr-")
    long100, exact63 = "user." + "n" * 95, "user." + "m" * 58
    code = f"""
import os, sys
p = os.path.join(sys.argv[1], "f")
open(p, "w").close()
for name in ({long100!r}, {exact63!r}):
    os.setxattr(p, name, b"v")
print(" ".join(sorted(os.listxattr(p))))
"""
    try:
        events, out = run_traced(
            files,
            code,
            lambda evs: sum(1 for e in evs if e.kind == "setxattr") >= 2,
            argv=(inside,),
            path_prefix=inside + "/",
        )
    finally:
        shutil.rmtree(inside, ignore_errors=True)
    assert sorted(out.split()) == sorted([long100, exact63])  # the kernel's account: whole names
    cut, whole = [e for e in events if e.kind == "setxattr"]
    assert cut.args["name"] == long100[:63] + "…" and cut.args["truncated"] is True
    assert whole.args["name"] == exact63 and "truncated" not in whole.args


def test_reads_skipped_run_no_program_on_read_and_writes_still_count() -> None:
    """skip_kinds={"read"} (what the story asks): the kernel's own list of our attachments (bpftool
    perf list) has write but no read syscall, and the same open/write/read/close gives its open and
    its exact writes and no read event."""
    import json

    inside = tempfile.mkdtemp(prefix="beefine-files-noread-")
    path = os.path.join(inside, "data.bin")
    bus = Bus()
    sub = bus.subscribe("test")
    opts = ProbeOptions(
        target=Target(pids=frozenset({os.getpid()})), path_prefix=inside + "/", skip_kinds=frozenset({"read"})
    )
    runner = files.make_runner(opts)
    runner.start(bus.publish)
    try:
        out = subprocess.run(["bpftool", "perf", "list", "-j"], capture_output=True, text=True, check=True)
        ours = {
            str(e.get("tracepoint")) for e in json.loads(out.stdout or "[]") if e.get("pid") == os.getpid()
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"z" * 321)
        os.close(fd)
        fd = os.open(path, os.O_RDONLY)
        assert os.read(fd, 1000) == b"z" * 321
        assert os.pread(fd, 10, 0) == b"z" * 10
        os.close(fd)
        events = collect_until(
            sub, lambda evs: len([e for e in evs if e.kind == "open"]) >= 2 and any(
                e.kind == "write" and e.args.get("closed") for e in evs
            ), COLLECT_S,
        )  # fmt: skip
    finally:
        runner.stop()
        shutil.rmtree(inside, ignore_errors=True)
    assert {"sys_enter_write", "sys_exit_write", "sys_enter_openat"} <= ours, sorted(ours)
    assert not {t for t in ours if t.startswith(("sys_enter_read", "sys_exit_read", "sys_enter_pread"))}
    assert not {t for t in ours if t.endswith(("_readv", "_preadv", "_preadv2", "_pread64"))}
    assert [e.args["path"] for e in events if e.kind == "open"] == [path, path]
    assert sum(e.args["bytes"] for e in events if e.kind == "write") == 321
    assert not [e for e in events if e.kind == "read"]
