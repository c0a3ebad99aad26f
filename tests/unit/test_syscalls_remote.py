"""`syscalls CONTAINER --remote HOST` against a scripted agent behind a fake ssh (no root, no BPF):
the summary is the one the local command makes of the same events (events/syscall_summary.py), the
run ends when the agent says the container ended, and the loss the agent reported is in the summary.
The agent's side of it (`start` with `end_on_exit`) runs here on pipes with a fake probe session."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.events.model import Event, RecordHeader, lost_event
from beefine_tui.events.syscall_summary import SyscallSummary
from beefine_tui.probes.syscalls import SyscallArgs
from tests.unit.test_agent_protocol import Harness

CID = "c0ffee".ljust(64, "0")


def _calls() -> list[Event]:
    evs = []
    for i in range(5):
        evs.append(
            Event(
                ts=1_000 + i,
                probe="syscalls",
                kind="syscall",
                pid=40,
                comm="sh",
                container=CID,
                args=SyscallArgs(
                    syscall="newfstatat", nr=262, args=[0] * 6, ret=-2, dur_ns=100 + i, ns_pid=1
                ),
            )
        )
    evs.append(
        Event(
            ts=2_000,
            probe="syscalls",
            kind="syscall",
            pid=40,
            comm="sh",
            container=CID,
            args=SyscallArgs(syscall="exit_group", nr=231, args=[3, 0, 0, 0, 0, 0], noreturn=True, ns_pid=1),
        )
    )
    return evs


def _scripted_ssh(tmp_path: Path, events: list[Event], end_reason: str) -> Path:
    """An ssh that runs an agent answering hello and start, sending `events` then the stream's end."""
    header = RecordHeader(probes=["syscalls"], host="far")
    start = {
        "stream": 1,
        "probes": ["syscalls"],
        "states": {},
        "header": header,
        "target": {"container_id": CID, "container_name": "web", "watch_pid": 40},
        "syscall_table": "/usr/include/asm/unistd_64.h",
    }
    lines = [
        P.encode(P.Reply(id=1, result={"protocol": P.PROTOCOL, "capabilities": ["end-on-exit"]})),
        P.encode(P.Reply(id=2, result=start))
        + P.encode(P.Events(stream=1, events=events))
        + P.encode(P.End(stream=1, reason=end_reason)),
    ]
    script = tmp_path / "agent.py"
    script.write_text(
        "import sys, json\n"
        "out = sys.stdout.buffer\n"
        f"replies = {lines!r}\n"
        "for line in sys.stdin.buffer:\n"
        "    cmd = json.loads(line)\n"
        "    if cmd['cmd'] == 'bye':\n"
        '        out.write(b\'{"type":"reply","id":%d,"result":{}}\\n\' % cmd[\'id\'])\n'
        "        out.flush(); break\n"
        "    if cmd['cmd'] == 'start':\n"
        "        assert cmd['end_on_exit'] is True and cmd['container'] == 'web', cmd\n"
        "        assert cmd['flight_slots'] == 0 and cmd['flight_dump'] is False, cmd\n"
        "    out.write(replies.pop(0)); out.flush()\n"
    )
    ssh = tmp_path / "ssh"
    ssh.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    ssh.chmod(0o755)
    return ssh


def test_remote_summary_is_the_local_summary_of_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from beefine_tui.cli import main

    events = [*_calls(), lost_event("syscalls", 7, "kernel", ts=1_500)]
    monkeypatch.setenv("BEEFINE_SSH", str(_scripted_ssh(tmp_path, events, "container web ended")))
    rc = main(["syscalls", "web", "--remote", "far", "--summary", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    local = SyscallSummary()
    local.add(events)
    assert doc["syscalls"] == local.as_dict("time")["syscalls"]
    assert doc["calls"] == 6 and doc["container"] == CID
    assert doc["lost"] == {"kernel": 7} and doc["table"] == "/usr/include/asm/unistd_64.h"
    assert "container web ended" in err and "tracing the syscalls of container web" in err
    assert "older" not in err


def test_remote_lines_and_text_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from beefine_tui.cli import main

    monkeypatch.setenv("BEEFINE_SSH", str(_scripted_ssh(tmp_path, _calls(), "container web ended")))
    assert main(["syscalls", "web", "--remote", "far"]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 6 and "[40/1] sh newfstatat(" in lines[0] and "ENOENT" in lines[0]
    assert lines[-1].split("] sh ")[1].startswith("exit_group(3")
    monkeypatch.setenv("BEEFINE_SSH", str(_scripted_ssh(tmp_path, _calls(), "container web ended")))
    assert main(["syscalls", "web", "--remote", "far", "--summary"]) == 0
    out, _ = capsys.readouterr()
    local = SyscallSummary()
    local.add(_calls())
    assert out.splitlines() == local.table_lines("time")


def test_flight_from_an_agent_without_it_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from beefine_tui.cli import main

    monkeypatch.setenv("BEEFINE_SSH", str(_scripted_ssh(tmp_path, _calls(), "container web ended")))
    assert (
        main(["syscalls", "web", "--remote", "far", "--flight"]) == 75
    )  # a version problem, as an older agent is for every command
    _, err = capsys.readouterr()
    assert "cannot dump the flight recorder" in err and "Traceback" not in err


def test_agent_ends_a_stream_when_its_process_exits() -> None:
    """`start` with `end_on_exit` and `pid`: the agent itself ends the stream once that process is
    gone, with the reason the client prints; `follow_children` with it is refused."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    h = Harness(count=3)
    try:
        h.hello()
        h.cmd("start", 1, probes=["exec"], pid=child.pid, follow_children=True, end_on_exit=True)
        m = h.read()
        assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "follow_children" in m.message
        h.cmd("start", 2, probes=["exec"], pid=child.pid, end_on_exit=True)
        m = h.read()
        assert isinstance(m, P.Reply) and m.result["target"]["watch_pid"] == child.pid
        assert h.sessions[0].done.wait(10)
        time.sleep(0.5)  # not a check: the stream must still run while the process lives
        h.cmd("streams", 3)
        streams, _ = h.until(lambda m: isinstance(m, P.Reply) and m.id == 3)
        assert isinstance(streams, P.Reply) and [s["stream"] for s in streams.result] == [1]
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
        end, _ = h.until(lambda m: isinstance(m, P.End))
        assert isinstance(end, P.End) and end.reason == f"process {child.pid} exited"
        assert end.received == {"fake": 3}
        assert h.sessions[0].stopped.is_set()
        h.cmd("start", 4, probes=["exec"], end_on_exit=True)  # nothing to watch
        m = h.read()
        assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "end_on_exit" in m.message
    finally:
        h.close()
        if child.poll() is None:
            child.kill()
            child.wait()


def test_agent_asks_for_the_flight_dump_at_a_streams_end() -> None:
    """`start` with `flight_dump`: when the stream ends, a recorder that wrote no dump yet is asked
    for one before the probes stop (the runner writes it at stop); one that dumped is left alone.
    `flight_slots` out of range is refused."""

    class Flight:
        def __init__(self, dumps: int) -> None:
            self.dumps = dumps
            self.requests = 0

        def request(self) -> None:
            self.requests += 1

    h = Harness(count=0)
    try:
        h.hello()
        h.cmd("start", 1, probes=["syscalls"], flight_slots=-1)
        m = h.read()
        assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "flight_slots" in m.message
        flights = {}
        for mid, (dump, dumped) in enumerate(((True, 0), (True, 1), (False, 0)), 2):
            h.cmd("start", mid, probes=["syscalls"], flight_slots=8, flight_dump=dump)
            m = h.read()
            assert isinstance(m, P.Reply), m
            flight = Flight(dumped)
            h.sessions[-1].periodic_for = lambda name, f=flight: f  # type: ignore[attr-defined]
            flights[m.result["stream"]] = flight
        for sid in flights:
            h.cmd("stop", 10 + sid, stream=sid)
            h.until(lambda m, sid=sid: isinstance(m, P.Reply) and m.id == 10 + sid)
        assert [f.requests for f in flights.values()] == [1, 0, 0]
    finally:
        h.close()


def test_remote_record_replays_as_a_syscalls_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--record over --remote: the host's header (its name and clock), this command line (so replay
    opens it in the syscalls tail pane), every event, and the end marker."""
    from beefine_tui.cli import main
    from beefine_tui.events.record import read_recording

    monkeypatch.setenv("BEEFINE_SSH", str(_scripted_ssh(tmp_path, _calls(), "container web ended")))
    rec = tmp_path / "far.jsonl"
    assert main(["syscalls", "web", "--remote", "far", "--json", "--record", str(rec)]) == 0
    capsys.readouterr()
    header, recording = read_recording(rec)
    assert header.host == "far" and header.probes == ["syscalls"] and header.command == sys.argv
    assert [e.args.get("syscall") for e in recording] == ["newfstatat"] * 5 + ["exit_group"]
    assert recording.complete
