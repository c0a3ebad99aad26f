"""The agent's protocol on pipes, with a fake probe session (no BPF): bad input gets an error line and
the agent goes on; a newer client is refused clearly; a slow reader gets counted loss, never unbounded
memory; stdin closing stops what was started."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.agent.server import Agent
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, Event
from beefine_tui.probes.base import ProbeOptions


class FakeSession:
    """Publishes `count` events as fast as it can from a thread, like a flooding probe."""

    def __init__(self, names: Sequence[str], bus: Bus, count: int) -> None:
        self.bus = bus
        self.count = count
        self.done = threading.Event()
        self.stopped = threading.Event()
        self.states: dict[str, Any] = {}
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        sent = 0
        while sent < self.count and not self.stopped.is_set():
            n = min(500, self.count - sent)
            self.bus.publish([Event(ts=sent + i, probe="fake", kind="tick", pid=sent + i) for i in range(n)])
            sent += n
        self.done.set()

    def stop(self) -> None:
        self.stopped.set()
        self._t.join(10)


def _unread(f: Any) -> int:
    """Bytes waiting in a pipe for its reader."""
    return int(struct.unpack("i", fcntl.ioctl(f.fileno(), termios.FIONREAD, b"\0" * 4))[0])


class Harness:
    def __init__(self, count: int = 0) -> None:
        r_in, self._w_in = os.pipe()
        self._r_out, w_out = os.pipe()
        self.sessions: list[FakeSession] = []

        def start(names: Sequence[str], options: ProbeOptions, bus: Bus) -> FakeSession:
            s = FakeSession(names, bus, count)
            self.sessions.append(s)
            return s

        self.agent = Agent(os.fdopen(r_in, "rb"), os.fdopen(w_out, "wb"), start_session=start)
        self.out = os.fdopen(self._r_out, "rb")
        self.inp = os.fdopen(self._w_in, "wb")
        self.rc: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.rc = self.agent.run()
        self.agent._out._f.close()  # the process would exit here: the reader sees EOF

    def send(self, raw: bytes) -> None:
        self.inp.write(raw)
        self.inp.flush()

    def cmd(self, cmd: str, id: int, **args: Any) -> None:
        self.send(P.encode_command(cmd, id, **args))

    def read(self) -> P.Message:
        line = self.out.readline()
        assert line, "the agent closed its stdout"
        return P.decode(line)

    def until(self, pred: Any) -> tuple[P.Message, list[P.Message]]:
        seen: list[P.Message] = []
        while True:
            m = self.read()
            if pred(m):
                return m, seen
            seen.append(m)

    def hello(self) -> None:
        self.cmd("hello", 0, protocol=P.PROTOCOL)
        m = self.read()
        assert isinstance(m, P.Reply) and m.result["protocol"] == P.PROTOCOL

    def close(self) -> None:
        self.inp.close()
        self.thread.join(20)
        assert not self.thread.is_alive(), "the agent did not end when stdin closed"


@pytest.fixture
def h() -> Iterator[Harness]:
    har = Harness()
    try:
        yield har
    finally:
        if not har.inp.closed:
            har.close()


def test_malformed_lines_get_errors_and_the_agent_goes_on(h: Harness) -> None:
    for raw in (b"not json\n", b"[1, 2]\n", b'{"cmd": "hello"}\n', b'{"id": true, "cmd": "x"}\n'):
        h.send(raw)
        m = h.read()
        assert isinstance(m, P.Error) and m.code == P.MALFORMED and m.id is None, (raw, m)
    h.send(b'{"id": 7}\n')
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.MALFORMED and m.id == 7
    h.send(b"\n")  # an empty line is nothing, not an error
    h.cmd("probes", 8)
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.HELLO_FIRST and m.id == 8
    h.hello()
    h.send(b'{"id": 9, "cmd": "x", "pad": "' + b"a" * (P.MAX_LINE_BYTES + 10) + b'"}\n')
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.MALFORMED and "longer" in m.message
    # one error for the whole line: its rest is not read as another command
    h.cmd("streams", 10)
    m = h.read()
    assert isinstance(m, P.Reply) and m.id == 10 and m.result == []


def test_unknown_command_and_bad_arguments(h: Harness) -> None:
    h.hello()
    h.cmd("format_disk", 1)
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.UNKNOWN and m.id == 1 and "hello" in m.hint
    h.cmd("start", 2, probes=["no-such-probe"])
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "no-such-probe" in m.message
    h.cmd("start", 3, probes="exec")
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.BAD_ARGS
    h.cmd("start", 4, probes=["exec"], capacity=1)
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "capacity" in m.message
    h.cmd("stop", 5, stream=42)
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "42" in m.message
    h.cmd("start", 6, probes=["exec"], pid="1")
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "integer" in m.message


def test_a_newer_protocol_is_refused_clearly(h: Harness) -> None:
    h.cmd("hello", 1, protocol=P.PROTOCOL + 5, min_protocol=P.PROTOCOL + 5)
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.VERSION
    assert f"{P.MIN_PROTOCOL}..{P.PROTOCOL}" in m.message and m.hint
    # still refused to work until a version is agreed
    h.cmd("streams", 2)
    m = h.read()
    assert isinstance(m, P.Error) and m.code == P.HELLO_FIRST
    # a newer client that still speaks ours gets ours
    h.cmd("hello", 3, protocol=P.PROTOCOL + 5, min_protocol=P.MIN_PROTOCOL)
    m = h.read()
    assert isinstance(m, P.Reply) and m.result["protocol"] == P.PROTOCOL


def test_slow_reader_gets_counted_loss_and_bounded_memory() -> None:
    offered, capacity = 60_000, 256
    h = Harness(count=offered)
    try:
        h.hello()
        h.cmd("start", 1, probes=["exec"], capacity=capacity)
        m = h.read()
        assert isinstance(m, P.Reply) and m.result["stream"] == 1
        # the reader reads nothing until the probe has flooded: the pipe fills, the pump blocks
        assert h.sessions[0].done.wait(60)
        h.cmd("stop", 2, stream=1)
        end, seen = h.until(lambda m: isinstance(m, P.End))
        assert isinstance(end, P.End)
        reply = h.read()
        assert isinstance(reply, P.Reply) and reply.id == 2
    finally:
        h.close()
    batches = [m for m in seen if isinstance(m, P.Events)]
    delivered = sum(1 for m in batches for ev in m.events if ev.kind != LOST and ev.probe == "fake")
    markers = [m for m in seen if isinstance(m, P.Lost)]
    assert markers, "a slow reader must get lost markers"
    dropped = sum(m.count for m in markers)
    assert markers[-1].total == dropped
    assert dropped > 0 and delivered + dropped == offered
    assert end.received == {"fake": offered} and end.lost == {"fake": dropped}
    assert h.agent.peak_pending[1] <= capacity
    assert h.sessions[0].stopped.is_set()


def test_stdin_closing_stops_every_stream() -> None:
    h = Harness(count=10)
    h.hello()
    h.cmd("start", 1, probes=["exec"])
    assert isinstance(h.read(), P.Reply)
    h.close()
    assert h.sessions[0].stopped.is_set()
    rest = [P.decode(line) for line in h.out.read().splitlines()]
    ends = [m for m in rest if isinstance(m, P.End)]
    assert ends and ends[0].reason == "agent closing"
    assert isinstance(rest[-1], P.Bye) and rest[-1].reason == "stdin closed"


def test_a_signal_ends_the_agent_while_its_reader_reads_nothing() -> None:
    """SIGTERM (what stop_on_signals calls) while the pump is blocked on a full stdout pipe: the agent
    stops its streams and ends. It used to wait forever to send the stream's End behind the stuck
    line, and was SIGKILLed (seen in test_agent_metrics, whose test reads nothing after the replies)."""
    h = Harness(count=200_000)  # more than the pipe and the stream's 65,536 hold; the rest is dropped
    h.hello()
    h.cmd("start", 1, probes=["exec"])
    assert isinstance(h.read(), P.Reply)
    assert h.sessions[0].done.wait(120)
    full = 60_000  # of the pipe's 64 KiB: the pump is blocked writing a batch that does not fit
    while _unread(h.out) < full:
        assert h.thread.is_alive()
        threading.Event().wait(0.05)
    h.agent.stop("signal 15")
    h.thread.join(60)
    assert not h.thread.is_alive(), "the agent did not end on SIGTERM with a reader that reads nothing"
    assert h.sessions[0].stopped.is_set()
    h.inp.close()


def test_events_decode_as_recording_events() -> None:
    """An events line holds recording-encoded events: each decodes with events/record.py."""
    from beefine_tui.events.record import decode_event, encode_event

    ev = Event(ts=1, probe="fake", kind="tick", pid=3)
    line = P.encode(P.Events(stream=1, events=[ev]))
    raw = msgspec.json.decode(line)
    assert decode_event(msgspec.json.encode(raw["events"][0])) == ev
    assert msgspec.json.encode(raw["events"][0]) == encode_event(ev)
