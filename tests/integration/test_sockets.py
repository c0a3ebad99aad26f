"""sockets and tcp probes on the real kernel: a traced child binds, listens, connects and accepts on
127.0.0.1 with a known port, binds a unix socket to a path and an abstract name, connects to a closed
port (ECONNREFUSED) and makes an epoll instance. Exactly those calls arrive, with addresses decoded;
the same calls from this untraced process do not."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes import sockets
from beefine_tui.probes.base import PAIRED_CALLS_NOTE, ProbeOptions, Target
from beefine_tui.probes.sockets import ListenArgs, SockAddrArgs
from tests.integration.probe_harness import GATE, run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# ---- the tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_inet_and_unix_sockets() -> None:
    port = free_port()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="beefine-sock-") as tmp:
        path = str(Path(tmp) / "s.sock")
        code = f"""
import select, socket
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", {port}))
srv.listen(7)
cli = socket.socket()
cli.connect(("127.0.0.1", {port}))
conn, peer = srv.accept()
u = socket.socket(socket.AF_UNIX)
u.bind({path!r})
a = socket.socket(socket.AF_UNIX)
a.bind("\\0beefine-{tag}")
closed = socket.socket()
closed.bind(("127.0.0.1", 0))  # bound, never listening: a connect to it is refused
cport = closed.getsockname()[1]
refused = socket.socket()
try:
    refused.connect(("127.0.0.1", cport))
except ConnectionRefusedError:
    pass
else:
    raise SystemExit("connect was not refused")
ep = select.epoll()
print(cli.getsockname()[1], cport, conn.fileno(), ep.fileno())
"""
        noise: list[socket.socket] = []

        def outside() -> None:  # the same calls from this untraced process
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            noise.append(s)

        try:
            events, out = run_traced(
                sockets,
                code,
                lambda evs: (
                    any(e.args.get("error") == "ECONNREFUSED" for e in evs) and evs[-1].kind == "epoll_create"
                ),
                during=outside,
            )
        finally:
            for s in noise:
                s.close()
    cli_port, closed_port, conn_fd, ep_fd = (int(x) for x in out.split()[-4:])
    # importing `select` makes an epoll instance in this Python: calls before our first socket() are that
    first = next(i for i, e in enumerate(events) if e.kind == "socket")
    assert all(e.kind == "epoll_create" for e in events[:first]), events[:first]
    events = events[first:]
    seen = [e.kind for e in events]
    assert seen == [
        "socket",
        "bind",
        "listen",
        "socket",
        "connect",
        "accept",
        "socket",
        "bind",
        "socket",
        "bind",
        "socket",
        "bind",
        "socket",
        "connect",
        "epoll_create",
    ], seen
    sock, bind, listen, _, conn, acc, usock, ubind, _, abind, _, _, _, refused, ep = events
    assert (
        sock.args.shown()["family"] == "AF_INET" and sock.args.shown()["type"] == "SOCK_STREAM|SOCK_CLOEXEC"
    )
    srv_fd = sock.args["ret"]
    assert bind.args == SockAddrArgs(
        fd=srv_fd, family=socket.AF_INET, addr="127.0.0.1", port=port, addrlen=16, ret=0
    )
    assert listen.args == ListenArgs(fd=srv_fd, backlog=7, ret=0)
    assert conn.args["addr"] == "127.0.0.1" and conn.args["port"] == port and conn.args["ret"] == 0
    assert acc.args["fd"] == srv_fd and acc.args["ret"] == conn_fd
    assert acc.args["addr"] == "127.0.0.1" and acc.args["port"] == cli_port
    assert usock.args.shown()["family"] == "AF_UNIX"
    assert ubind.args.shown()["family"] == "AF_UNIX" and ubind.args["path"] == path and ubind.args["ret"] == 0
    assert abind.args["path"] == f"@beefine-{tag}"
    assert refused.args["port"] == closed_port
    assert refused.args["ret"] == -111 and refused.args["error"] == "ECONNREFUSED"
    assert ep.args["ret"] == ep_fd and ep.args.shown()["flags"] == "EPOLL_CLOEXEC"
    assert len({e.pid for e in events}) == 1


def test_flood_is_counted_exactly() -> None:
    """A tight loop of socket() calls: every call is either received or counted as lost (no silent
    loss), whatever the machine's speed. ctypes, not the socket module, so no other call is made."""
    n = 100_000
    code = f"""
import ctypes
libc = ctypes.CDLL(None)
for _ in range({n}):
    fd = libc.socket(1, 1, 0)  # AF_UNIX, SOCK_STREAM
    libc.close(fd)
"""
    child = subprocess.Popen(
        [sys.executable, "-c", GATE + code], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    bus = Bus()
    sub = bus.subscribe("test", capacity=1 << 20)
    runner = sockets.make_runner(ProbeOptions(target=Target(lineage_root=child.pid), ring_pages=16))
    received = lost = 0
    other: list[Event] = []

    def take(evs: list[Event]) -> None:
        nonlocal received, lost
        for e in evs:
            if e.kind == "socket":
                received += 1
            elif e.kind == "lost":
                lost += int(e.args["count"])
            elif e.kind != "status":
                other.append(e)

    try:
        runner.start(bus.publish)
        _, err = child.communicate("go\n", timeout=120)
        assert child.returncode == 0, err
        end = time.monotonic() + 30
        while received + lost < n and time.monotonic() < end:
            take(sub.get(0.1))
    finally:
        runner.stop()
        if child.poll() is None:
            child.kill()
            child.wait()
    take(sub.get(0.5))  # the final lost counts come with stop()
    assert not other, other[:3]
    assert received + lost == n, (received, lost)
    assert received > 0


def test_call_in_progress_at_start_is_explained() -> None:
    """A server already blocked in accept() when the probe starts: that accept has no enter record and
    is not reported, so the probe reports one accept fewer than the server made; the probe's first
    words (a status note, before any event) say so."""
    port = free_port()
    code = f"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", {port}))
srv.listen(4)
print("listening", flush=True)
n = 0
for _ in range(2):
    c, _ = srv.accept()
    n += 1
    c.close()
print(n, flush=True)
"""
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "listening"
        wait_blocked_in_accept(child.pid)  # the first accept() is in progress before tracing starts
        bus = Bus()
        sub = bus.subscribe("test")
        with sockets.make_runner(ProbeOptions(target=Target(lineage_root=child.pid))) as runner:
            runner.start(bus.publish)
            for _ in range(2):
                socket.create_connection(("127.0.0.1", port), timeout=10).close()
            made = int(child.stdout.readline())
            child.wait(30)
            events: list[Event] = []
            end = time.monotonic() + 20
            while time.monotonic() < end and not any(e.kind == "accept" for e in events):
                events.extend(sub.get(0.1))
        events += sub.get(0.3)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert made == 2
    accepts = [e for e in events if e.kind == "accept" and e.pid == child.pid]
    assert len(accepts) == made - 1, accepts
    notes = [e for e in events if e.kind == "status" and e.args["state"] == "note"]
    assert [e.args["note"] for e in notes] == [PAIRED_CALLS_NOTE]
    assert events.index(notes[0]) < events.index(accepts[0])


def wait_blocked_in_accept(pid: int) -> None:
    """Until the process sleeps inside accept (its syscall number, from /proc/<pid>/syscall)."""
    accept_nrs = {"43", "288"}  # x86-64 accept, accept4
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with open(f"/proc/{pid}/syscall") as f:
            if f.read().split(" ", 1)[0] in accept_nrs:
                return
        time.sleep(0.02)
    raise AssertionError("the server never blocked in accept()")
