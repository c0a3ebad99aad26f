"""files probe: an open under the prefix with O_WRONLY|O_CREAT|O_TRUNC, N bytes written, close ->
exactly that open and writes summing to N; nothing from outside the prefix."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import pytest

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event
from beefine_tui.probes import files
from beefine_tui.probes.base import ProbeOptions, Target

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def collect_until(
    sub: Subscription, done: Callable[[Sequence[Event]], bool], timeout: float = 15
) -> list[Event]:
    events: list[Event] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done(events):
        events.extend(sub.get(0.1))
    return events


def prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


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

        events = collect_until(sub, done)
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
    assert w.args["flags_raw"] == os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
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
        events = collect_until(sub, lambda evs: any(e.kind == "open" for e in evs))
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
            import sys

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
            events = collect_until(sub, lambda evs: any(e.kind == "write" for e in evs))
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
