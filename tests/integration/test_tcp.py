"""tcp probe on the real kernel. A traced child is a TCP client (IPv4, to a listener this untraced test
process owns) and a TCP server (IPv6 on ::1, connected to by this process). Its own transitions arrive,
attributed to it even when they happen in softirq context (the SYN-ACK, the server's new connection);
the other ends, owned by this untraced process, do not."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

import pytest

from beefine_tui.events.model import Event
from beefine_tui.probes import tcp
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
