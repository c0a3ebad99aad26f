"""tcp probe on the real kernel. A traced child is a TCP client (IPv4, to a listener this untraced test
process owns) and a TCP server (IPv6 on ::1, connected to by this process). Its own transitions arrive,
attributed to it even when they happen in softirq context (the SYN-ACK, the server's new connection);
the other ends, owned by this untraced process, do not."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType

import pytest

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event
from beefine_tui.probes import tcp
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


def free_port(family: socket.AddressFamily, host: str) -> int:
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def test_client_v4_and_server_v6() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    p4 = listener.getsockname()[1]
    p6 = free_port(socket.AF_INET6, "::1")
    errors: list[BaseException] = []

    def peer() -> None:
        try:
            a, _ = listener.accept()
            a.send(b"x")
            a.recv(1)  # EOF: the child closed first
            a.close()
            end = time.monotonic() + 20
            while True:
                c = socket.socket(socket.AF_INET6)
                try:
                    c.connect(("::1", p6))
                    break
                except ConnectionRefusedError:
                    c.close()
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.05)
            c.close()  # we close first: the child's side goes CLOSE_WAIT -> LAST_ACK -> CLOSE
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=peer, daemon=True)
    code = f"""
import socket
s6 = socket.socket(socket.AF_INET6)
s6.bind(("::1", {p6}))
s6.listen(4)
c = socket.socket()
c.connect(("127.0.0.1", {p4}))
assert c.recv(1) == b"x"
c.close()
conn, _ = s6.accept()
conn.recv(1)
conn.close()
s6.close()
"""

    def done(evs: Sequence[Event]) -> bool:
        return any(e.args.get("oldstate") == "TCP_LAST_ACK" for e in evs) and any(
            e.args.get("oldstate") == "TCP_FIN_WAIT2" for e in evs
        )

    try:
        events, _ = run_traced(tcp, code, done, during=thread.start)
    finally:
        thread.join(30)
        listener.close()
    assert not errors, errors
    pids = {e.pid for e in events}
    assert len(pids) == 1, pids  # every transition attributed to the traced child
    assert all(e.comm.startswith("python") for e in events)

    def states(evs: list[Event]) -> list[tuple[str, str]]:
        return [(e.args["oldstate"][4:], e.args["newstate"][4:]) for e in evs]

    client = [e for e in events if e.args["dport"] == p4]
    assert states(client) == [
        ("CLOSE", "SYN_SENT"),
        ("SYN_SENT", "ESTABLISHED"),
        ("ESTABLISHED", "FIN_WAIT1"),
        ("FIN_WAIT1", "FIN_WAIT2"),
        ("FIN_WAIT2", "CLOSE"),
    ], states(client)
    assert all(e.args["family"] == "AF_INET" and e.args["daddr"] == "127.0.0.1" for e in client)
    assert len({e.args["sock"] for e in client}) == 1
    assert client[1].args["sport"] > 0 and client[1].args["saddr"] == "127.0.0.1"

    lst = [e for e in events if e.args["sport"] == p6 and e.args["dport"] == 0]
    assert states(lst) == [("CLOSE", "LISTEN"), ("LISTEN", "CLOSE")], states(lst)
    server = [e for e in events if e.args["sport"] == p6 and e.args["dport"] != 0]
    assert ("SYN_RECV", "ESTABLISHED") in states(server), states(server)
    assert states(server)[-3:] == [
        ("ESTABLISHED", "CLOSE_WAIT"),
        ("CLOSE_WAIT", "LAST_ACK"),
        ("LAST_ACK", "CLOSE"),
    ]
    assert all(e.args["family"] == "AF_INET6" and e.args["saddr"] == "::1" for e in server)

    # the other ends belong to this untraced process: none of their transitions may show up
    assert not [e for e in events if e.args["sport"] == p4], "the untraced listener's side leaked in"
    assert not [e for e in events if e.args["dport"] == p6], "the untraced client's side leaked in"
    assert len(client) + len(lst) + len(server) == len(events)
