"""tcp probe on the real kernel. A traced child is a TCP client (IPv4, to a listener this untraced test
process owns) and a TCP server (IPv6 on ::1, connected to by this process). Its own transitions arrive,
attributed to it even when they happen in softirq context (the SYN-ACK, the server's new connection);
the other ends, owned by this untraced process, do not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes import tcp
from beefine_tui.probes.attribution import target_for_container
from beefine_tui.probes.base import ProbeOptions, Target
from tests.integration.probe_harness import run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

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
        return any(e.args.shown().get("oldstate") == "TCP_LAST_ACK" for e in evs) and any(
            e.args.shown().get("oldstate") == "TCP_FIN_WAIT2" for e in evs
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
        return [(e.args.shown()["oldstate"][4:], e.args.shown()["newstate"][4:]) for e in evs]

    client = [e for e in events if e.args["dport"] == p4]
    assert states(client) == [
        ("CLOSE", "SYN_SENT"),
        ("SYN_SENT", "ESTABLISHED"),
        ("ESTABLISHED", "FIN_WAIT1"),
        ("FIN_WAIT1", "FIN_WAIT2"),
        ("FIN_WAIT2", "CLOSE"),
    ], states(client)
    assert all(e.args.shown()["family"] == "AF_INET" and e.args["daddr"] == "127.0.0.1" for e in client)
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
    assert all(e.args.shown()["family"] == "AF_INET6" and e.args["saddr"] == "::1" for e in server)

    # the other ends belong to this untraced process: none of their transitions may show up
    assert not [e for e in events if e.args["sport"] == p4], "the untraced listener's side leaked in"
    assert not [e for e in events if e.args["dport"] == p6], "the untraced client's side leaked in"
    assert len(client) + len(lst) + len(server) == len(events)


def test_container_listener_started_before_the_probe(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    """A container's server listening before the probe starts (the usual case): every connection it
    accepts is reported (LISTEN -> SYN_RECV -> ESTABLISHED), attributed to the server's process, as
    many as the client itself completed. Before the fix the first child socket's LISTEN -> SYN_RECV
    made the probe forget the listener, and a listener older than the probe was never known."""
    port, rounds = 18321, 20
    c = lab_client.containers.run(
        lab.images["small"],
        ["nc", "-ll", "-p", str(port), "-e", "/bin/cat"],
        detach=True,
        labels=cleanup_containers,
    )
    try:
        c.reload()
        ip = c.attrs["NetworkSettings"]["IPAddress"]
        server_pid = int(c.attrs["State"]["Pid"])
        assert ip, c.attrs["NetworkSettings"]
        wait_listening(ip, port)  # the listener exists before the probe starts
        target = target_for_container(lab_client, c.name)
        bus = Bus()
        sub = bus.subscribe("test")
        completed = 0
        client_ports: set[int] = set()
        with tcp.make_runner(ProbeOptions(target=target)) as runner:
            runner.start(bus.publish)
            for i in range(rounds):
                with socket.create_connection((ip, port), timeout=10) as s:
                    client_ports.add(s.getsockname()[1])
                    s.sendall(b"%d\n" % i)
                    if s.recv(16).strip() == b"%d" % i:
                        completed += 1

            def accepted(evs: Sequence[Event]) -> int:
                return sum(1 for e in evs if e.args.shown().get("newstate") == "TCP_SYN_RECV")

            events: list[Event] = []
            end = time.monotonic() + 20
            while time.monotonic() < end and accepted(events) < completed:
                events.extend(sub.get(0.1))
        events += sub.get(0.3)
    finally:
        c.remove(force=True)
    assert completed == rounds
    states = [e for e in events if e.kind == "tcp_state"]
    syn_recv = [
        e
        for e in states
        if (e.args.shown()["oldstate"], e.args.shown()["newstate"]) == ("TCP_LISTEN", "TCP_SYN_RECV")
    ]
    established = [
        e
        for e in states
        if (e.args.shown()["oldstate"], e.args.shown()["newstate"]) == ("TCP_SYN_RECV", "TCP_ESTABLISHED")
    ]
    assert len(syn_recv) == completed, [e.text for e in states]
    assert len(established) == completed, [e.text for e in states]
    # one per connection the client made, by the client's own port (socket addresses get reused)
    assert {e.args["dport"] for e in syn_recv} == client_ports
    assert all(e.args["sport"] == port for e in syn_recv + established)
    # the listener's owner (the container's nc, found in the socket table at start) owns them all
    assert {e.pid for e in syn_recv + established} == {server_pid}
    assert all(e.container == c.id for e in states)


def wait_listening(ip: str, port: int) -> None:
    end = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection((ip, port), timeout=2) as s:
                s.sendall(b"ping\n")
                if s.recv(16):
                    return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def test_existing_listeners_match_ss() -> None:
    """The socket-table reader that seeds listeners agrees with `ss -tlnp` on this process's own
    listener (port and owning pid)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        found = [ln for ln in tcp.existing_listeners(Target(pids=frozenset({os.getpid()})))]
        ss = subprocess.run(
            ["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    assert [(ln.family, ln.port, ln.pid) for ln in found] == [(socket.AF_INET, port, os.getpid())]
    assert f"pid={os.getpid()}," in ss and f":{port}" in ss


def test_host_wide_connections_to_an_older_listener_have_its_owner() -> None:
    """Host-wide, a listener opened by another process before the probe starts: every connection it
    accepts is attributed to it (before: the first made the probe forget it, the rest came as pid 0),
    as many as the server itself counted."""
    rounds = 5
    port = free_port(socket.AF_INET, "127.0.0.1")
    code = f"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {port}))
s.listen(8)
print("listening", flush=True)
n = 0
for _ in range({rounds}):
    c, _ = s.accept()
    c.close()
    n += 1
print(n, flush=True)
"""
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    bus = Bus()
    sub = bus.subscribe("test")
    try:
        assert server.stdout.readline().strip() == "listening"
        with tcp.make_runner(ProbeOptions()) as runner:
            runner.start(bus.publish)
            for _ in range(rounds):
                socket.create_connection(("127.0.0.1", port), timeout=10).close()
            accepted = int(server.stdout.readline())
            server.wait(30)

            def syn_recv(evs: Sequence[Event]) -> list[Event]:
                return [
                    e
                    for e in evs
                    if e.kind == "tcp_state"
                    and e.args["sport"] == port
                    and (e.args.shown()["oldstate"], e.args.shown()["newstate"])
                    == ("TCP_LISTEN", "TCP_SYN_RECV")
                ]

            events: list[Event] = []
            end = time.monotonic() + 20
            while time.monotonic() < end and len(syn_recv(events)) < accepted:
                events.extend(sub.get(0.1))
        events += sub.get(0.3)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    assert accepted == rounds
    got = syn_recv(events)
    assert len(got) == accepted and {e.pid for e in got} == {server.pid}, [(e.pid, e.text) for e in got]
