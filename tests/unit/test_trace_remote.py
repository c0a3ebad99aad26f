"""`trace --remote` without SSH, root or Docker: a scripted agent behind a fake ssh streams a real
trace's recorded events (tests/unit/fixtures/story) as the agent's `trace` command does. What the
client prints, --json and text, is exactly what the local printing code makes of the same events and
hints; its --record file replays those events; an agent without `trace` and a cut connection get
clear messages."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.cli import main
from beefine_tui.commands.trace import _print
from beefine_tui.events.model import Event, RecordHeader
from beefine_tui.events.record import read_recording
from beefine_tui.story.engine import StoryEngine

FIXTURE = Path(__file__).parent / "fixtures" / "story" / "real_probes_pull_run.jsonl.gz"
HINTS = {"image": "127.0.0.1:5077/small:1", "registry": "127.0.0.1:5077", "pulling": True}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    from beefine_tui.probes.catalog import all_probes

    all_probes()
    p = tmp_path_factory.mktemp("rec") / "rec.jsonl"
    p.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    _, it = read_recording(p)
    return list(it)


def fake_agent(tmp_path: Path, lines: list[bytes], capabilities: list[str], cut: bool = False) -> Path:
    """A fake ssh running a script agent: hello, then on `trace` the given lines, then waits for bye."""
    (tmp_path / "lines.bin").write_bytes(b"".join(lines))
    hello = P.encode(P.Reply(id=1, result={"protocol": P.PROTOCOL, "capabilities": capabilities}))
    script = tmp_path / "agent.py"
    script.write_text(
        "import json, sys\n"
        "out = sys.stdout.buffer\n"
        "sys.stdin.readline()\n"
        f"out.write({hello!r}); out.flush()\n"
        "for line in sys.stdin.buffer:\n"
        "    cmd = json.loads(line)\n"
        "    if cmd['cmd'] == 'trace':\n"
        f"        out.write(open({str(tmp_path / 'lines.bin')!r}, 'rb').read()); out.flush()\n"
        + (
            "        sys.stderr.write('Connection to far closed by remote host.\\n'); sys.exit(255)\n"
            if cut
            else ""
        )
        + "        continue\n"
        "    reply = {'type': 'reply', 'id': cmd['id'], 'result': {}}\n"
        "    out.write(json.dumps(reply).encode() + b'\\n'); out.flush(); break\n"
    )
    ssh = tmp_path / "ssh"
    ssh.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    ssh.chmod(0o755)
    return ssh


def trace_lines(events: list[Event], final: bool = True) -> list[bytes]:
    header = RecordHeader(probes=["exec", "fork"], host="far", command=["beefine-tui", "agent", "trace"])
    lines = [
        P.encode(
            P.StreamStarted(
                id=2, stream=1, probes=["exec", "fork"], header=header, notes=["note: a far note"],
                docker_host="unix:///far.sock", run="r1",
            )
        )
    ]  # fmt: skip
    for i in range(0, len(events), 500):
        lines.append(P.encode(P.Events(stream=1, events=events[i : i + 500])))
    if final:
        lines.append(P.encode(P.End(stream=1, reason="finished", received={"exec": 1})))
        result = {"stream": 1, "phases": [], "summary": {}, "hints": HINTS, "error": "", "interrupted": ""}
        lines.append(P.encode(P.Reply(id=2, result=result)))
    return lines


def local_output(evs: list[Event], capsys: pytest.CaptureFixture[str], opts: list[str]) -> str:
    """What the local `trace` prints of this story: its own printing code."""
    eng = StoryEngine()
    eng.update_hints(**HINTS)
    eng.feed(evs)
    ns = argparse.Namespace(json="--json" in opts, events="--events" in opts, explain="--explain" in opts)
    _print(eng.timeline(), ns)
    return capsys.readouterr().out


@pytest.mark.parametrize("opts", [["--json"], ["--json", "--events"], [], ["--explain"]])
def test_remote_output_is_the_local_printing_of_the_same_story(
    events: list[Event],
    opts: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BEEFINE_SSH", str(fake_agent(tmp_path, trace_lines(events), ["trace"])))
    rec = tmp_path / "far.jsonl"
    rc = main(
        ["trace", "127.0.0.1:5077/small:1", "--remote", "far", *opts, "--record", str(rec), "--", "echo"]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    want = local_output(events, capsys, opts)
    assert out == want
    if "--json" in opts:
        assert json.loads(out.splitlines()[-1])["found"]  # a story, not an empty one
    else:
        assert "tracing 127.0.0.1:5077/small:1 on far (unix:///far.sock) with probes: exec, fork" in err
    assert "note: a far note" in err
    header, recording = read_recording(rec)
    assert header.host == "far" and header.command == sys.argv  # the command run here, as a local trace
    assert [e.ts for e in recording] == [e.ts for e in events] and recording.complete


def test_an_agent_without_trace_is_told_apart(
    events: list[Event], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BEEFINE_SSH", str(fake_agent(tmp_path, [], ["probes", "start"])))
    rc = main(["trace", "busybox", "--remote", "far"])
    _, err = capsys.readouterr()
    assert rc == 75 and "cannot trace" in err and "same beefine-tui version" in err
    assert "Traceback" not in err


def test_a_cut_connection_mid_trace_says_so_and_the_recording_is_incomplete(
    events: list[Event], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = trace_lines(events[:300], final=False)
    monkeypatch.setenv("BEEFINE_SSH", str(fake_agent(tmp_path, lines, ["trace"], cut=True)))
    rec = tmp_path / "far.jsonl"
    rc = main(["trace", "busybox", "--remote", "far", "--json", "--record", str(rec)])
    out, err = capsys.readouterr()
    assert rc == 75 and "connection to far failed or was lost" in err and "Traceback" not in err
    assert out == ""  # no story printed from half of one
    _, recording = read_recording(rec)
    assert len(list(recording)) == 300 and recording.complete is False
