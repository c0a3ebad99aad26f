"""The agent's `trace` command with a fake trace (no BPF, no Docker): bad arguments are refused before
anything runs; a run's messages come in order (stream, events, end, final reply with the phases); a
failure before the stream is an error with no stream, one after it ends the stream first; `stop` and
stdin closing cancel the run, whose container is removed before the agent says it is over."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.agent.server import Agent
from beefine_tui.agent.tracing import TraceRequest, parse_request, phase_rows
from beefine_tui.errors import NotFoundError, UsageError
from beefine_tui.events.model import Event
from beefine_tui.story.phases import DONE, PHASES, Phase, Timeline

MS = 1_000_000


def timeline(durations_ms: dict[str, float]) -> Timeline:
    """A story whose named phases are done, one after the other, lasting what is given."""
    phases = []
    t = 1_000 * MS
    for name in PHASES:
        p = Phase(name)
        if name in durations_ms:
            p.state, p.start_ns, p.end_ns = DONE, t, t + int(durations_ms[name] * MS)
            t = p.end_ns
        phases.append(p)
    tl = Timeline(container_id="c0ffee", phases=phases)
    tl.t0 = 1_000 * MS
    return tl


class FakeTrace:
    def __init__(
        self,
        req: TraceRequest,
        docker_host: str | None,
        publish: Callable[[Sequence[Event]], None],
        *,
        fail_prepare: Exception | None = None,
        fail_run: Exception | None = None,
        hold: bool = False,
    ) -> None:
        self.req = req
        self.publish = publish
        self.names = ["exec", "fork"]
        self.notes = ["note: a fake"]
        self.docker_host = "unix:///fake.sock"
        self.run_tag = "run1"
        self.fail_prepare = fail_prepare
        self.fail_run = fail_run
        self.hold = hold  # run() waits for cancel(), like a container that sleeps
        self.cancelled = threading.Event()
        self.removed = 0
        self.detached = 0
        self.writing = True

    def prepare(self) -> None:
        if self.fail_prepare is not None:
            raise self.fail_prepare

    def attach(self) -> None:
        pass

    def run(self) -> str:
        self.publish([Event(ts=1_000 * MS + i, probe="exec", kind="tick", pid=i) for i in range(3)])
        if self.fail_run is not None:
            raise self.fail_run
        if self.hold:
            assert self.cancelled.wait(20), "never cancelled"
        return ""

    def final_timeline(self) -> Timeline:
        self.writing = False
        return timeline({"rootfs": 2.5, "namespaces": 0.75, "exec": 12})

    def hints(self) -> dict[str, Any]:
        return {"image": self.req.image, "pulling": False}

    def cancel(self) -> None:
        self.cancelled.set()
        self.remove()

    def remove(self) -> None:
        self.removed += 1

    def detach(self) -> None:
        self.detached += 1


def _detached_soon(t: Any) -> None:
    """The probes detach after the reply (seconds on a real host; the client need not wait): bounded."""
    deadline = time.monotonic() + 30
    while t.detached == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert t.detached == 1


class Harness:
    def __init__(self, **fake: Any) -> None:
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        self.agent = Agent(os.fdopen(r_in, "rb"), os.fdopen(w_out, "wb"))
        self.traces: list[FakeTrace] = []

        def make(req: TraceRequest, host: str | None, publish: Any) -> FakeTrace:
            t = FakeTrace(req, host, publish, **fake)
            self.traces.append(t)
            return t

        self.agent.make_trace = make
        self.observed: list[list[dict[str, Any]]] = []
        self.agent.on_trace_done = self.observed.append
        self.out = os.fdopen(r_out, "rb")
        self.inp = os.fdopen(w_in, "wb")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.cmd("hello", 0, protocol=P.PROTOCOL)
        self.read()

    def _run(self) -> None:
        self.agent.run()
        self.agent._out._f.close()

    def cmd(self, cmd: str, id: int, **args: Any) -> None:
        self.inp.write(P.encode_command(cmd, id, **args))
        self.inp.flush()

    def read(self) -> P.Message:
        line = self.out.readline()
        assert line, "the agent closed its stdout"
        return P.decode(line)

    def until(self, pred: Callable[[P.Message], bool]) -> list[P.Message]:
        seen = []
        while True:
            m = self.read()
            seen.append(m)
            if pred(m):
                return seen

    def close(self) -> list[P.Message]:
        self.inp.close()
        rest = []
        while line := self.out.readline():
            rest.append(P.decode(line))
        self.thread.join(20)
        assert not self.thread.is_alive(), "the agent did not end when stdin closed"
        return rest


@pytest.fixture
def h() -> Iterator[Harness]:
    har = Harness()
    yield har
    if not har.inp.closed:
        har.close()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({}, "needs `image`"),
        ({"image": "  "}, "needs `image`"),
        ({"image": "UPPER/case"}, "UPPER/case"),
        ({"image": "busybox", "command": "echo hi"}, "`command` must be a list of strings"),
        ({"image": "busybox", "groups": ["nope"]}, "unknown probe group 'nope'"),
        ({"image": "busybox", "options": {"volumes": ["/:/host"]}}, "unknown docker run option(s): volumes"),
        ({"image": "busybox", "options": {"read_only": "yes"}}, "`read_only` must be a bool"),
        ({"image": "busybox", "options": {"network": " "}}, "--network needs a mode"),
        ({"image": "busybox", "timeout": -1}, "positive number of seconds"),
        ({"image": "busybox", "timeout": "10"}, "number of seconds"),
        ({"image": "busybox", "pull": 1}, "`pull` must be true or false"),
        ({"image": "busybox", "capacity": 3}, "capacity must be between"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(h: Harness, args: dict[str, Any], says: str) -> None:
    h.cmd("trace", 5, **args)
    m = h.read()
    assert isinstance(m, P.Error) and m.id == 5 and m.code == P.BAD_ARGS, m
    assert says in m.message
    assert h.traces == []


def test_arguments_become_trace_options() -> None:
    req = parse_request(
        {
            "image": "127.0.0.1:5000/small:1",
            "command": ["sh", "-c", "ls -l /"],
            "fresh": True,
            "groups": ["process", "mounts"],
            "options": {"security_opt": ["no-new-privileges"], "read_only": True, "network": "none"},
            "timeout": 30,
        }
    )
    assert req.command == ("sh", "-c", "ls -l /") and req.fresh and req.timeout == 30.0
    assert req.groups == ("process", "mounts")
    assert req.options == {"security_opt": ["no-new-privileges"], "read_only": True, "network_mode": "none"}


def test_a_run_streams_then_ends_then_replies_with_the_phases(h: Harness) -> None:
    h.cmd("trace", 7, image="busybox", command=["true"])
    seen = h.until(lambda m: isinstance(m, P.Reply | P.Error) and m.id == 7)
    started = seen[0]
    assert isinstance(started, P.StreamStarted) and started.id == 7 and started.run == "run1"
    assert started.probes == ["exec", "fork"] and started.notes == ["note: a fake"]
    assert started.header["probes"] == ["exec", "fork"]
    sid = started.stream
    kinds = [type(m).__name__ for m in seen]
    assert kinds[-2:] == ["End", "Reply"] and "Events" in kinds[1:-2]
    end, reply = seen[-2], seen[-1]
    assert isinstance(end, P.End) and end.stream == sid and end.reason == "finished"
    assert end.received == {"exec": 3}
    assert isinstance(reply, P.Reply)
    res = reply.result
    assert res["stream"] == sid and res["error"] == "" and res["interrupted"] == ""
    assert res["hints"] == {"image": "busybox", "pulling": False}
    rows = {p["name"]: p for p in res["phases"]}
    assert list(rows) == list(PHASES)
    assert rows["rootfs"] == {
        "name": "rootfs", "state": "done", "start_ms": 0.0, "end_ms": 2.5, "duration_ms": 2.5, "lost": 0,
    }  # fmt: skip
    assert rows["exec"]["start_ms"] == 3.25 and rows["exec"]["duration_ms"] == 12.0
    assert rows["pull"]["state"] == "pending" and rows["pull"]["duration_ms"] is None
    assert res["summary"]["container"] == "c0ffee"
    t = h.traces[0]
    assert t.removed >= 1  # before the reply
    _detached_soon(t)
    assert h.observed == [res["phases"]]  # the metrics saw the finished run


def test_a_failure_before_the_stream_is_an_error_and_nothing_stays() -> None:
    h = Harness(fail_prepare=NotFoundError("no image nope:1 on the daemon", "use --pull"))
    try:
        h.cmd("trace", 3, image="nope:1")
        m = h.read()
        assert isinstance(m, P.Error) and m.id == 3 and m.code == P.BAD_ARGS
        assert m.message == "no image nope:1 on the daemon" and m.hint == "use --pull"
        h.cmd("streams", 4)
        m = h.read()
        assert isinstance(m, P.Reply) and m.result == []
        assert h.traces[0].removed >= 1
        _detached_soon(h.traces[0])
    finally:
        h.close()


def test_a_failure_mid_run_ends_the_stream_then_errs() -> None:
    h = Harness(fail_run=RuntimeError("daemon fell over"))
    try:
        h.cmd("trace", 3, image="busybox")
        seen = h.until(lambda m: isinstance(m, P.Reply | P.Error) and m.id == 3)
        assert isinstance(seen[0], P.StreamStarted)
        end, err = seen[-2], seen[-1]
        assert isinstance(end, P.End) and end.reason == "failed"
        assert isinstance(err, P.Error) and err.code == P.FAILED and "daemon fell over" in err.message
        assert h.traces[0].removed >= 1 and h.observed == []
    finally:
        h.close()


def test_stop_cancels_the_run_and_removes_the_container() -> None:
    h = Harness(hold=True)
    try:
        h.cmd("trace", 3, image="busybox", command=["sleep", "300"])
        started = h.until(lambda m: isinstance(m, P.StreamStarted))[-1]
        assert isinstance(started, P.StreamStarted)
        h.cmd("streams", 4)
        listed = h.until(lambda m: isinstance(m, P.Reply) and m.id == 4)[-1]
        assert isinstance(listed, P.Reply) and [s["stream"] for s in listed.result] == [started.stream]
        h.cmd("stop", 5, stream=started.stream)
        seen = h.until(lambda m: isinstance(m, P.Reply) and m.id == 5)
        ids = [(type(m).__name__, getattr(m, "id", None)) for m in seen]
        assert ids.index(("End", None)) < ids.index(("Reply", 3)) < ids.index(("Reply", 5))
        final = next(m for m in seen if isinstance(m, P.Reply) and m.id == 3)
        assert final.result["interrupted"] == "stopped"
        assert h.traces[0].cancelled.is_set() and h.traces[0].removed >= 1
        assert h.observed == []  # an interrupted run's phases are not durations of a creation
    finally:
        h.close()


def test_stdin_closing_mid_run_ends_the_trace_before_bye() -> None:
    h = Harness(hold=True)
    h.cmd("trace", 3, image="busybox", command=["sleep", "300"])
    h.until(lambda m: isinstance(m, P.StreamStarted))
    rest = h.close()
    names = [type(m).__name__ for m in rest]
    assert names[-1] == "Bye" and "End" in names
    end = next(m for m in rest if isinstance(m, P.End))
    assert end.reason == "agent closing"
    assert h.traces[0].cancelled.is_set() and h.traces[0].removed >= 1 and h.traces[0].detached == 1


def test_phase_rows_are_what_trace_json_says() -> None:
    tl = timeline({"rootfs": 1.0})
    rows = phase_rows(tl)
    js = {d["phase"]: d for d in tl.to_dicts()}
    for r in rows:
        d = js[r["name"]]
        assert (r["state"], r["start_ms"], r["end_ms"], r["duration_ms"], r["lost"]) == (
            d["state"], d["start_ms"], d["end_ms"], d["duration_ms"], d["lost"],
        )  # fmt: skip


def test_usage_errors_name_the_field() -> None:
    with pytest.raises(UsageError, match="`groups` must be a list of strings"):
        parse_request({"image": "busybox", "groups": "process"})
