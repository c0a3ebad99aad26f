"""The agent client without SSH or root: --remote parsing, the ssh command line, and the clear
messages for a version mismatch, a remote end that is not an agent, and a lost connection."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from beefine_tui.agent import client as C
from beefine_tui.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("db1", C.Remote("db1")),
        ("admin@db1", C.Remote("db1", "admin")),
        ("admin@db1.example.org:2222", C.Remote("db1.example.org", "admin", 2222)),
        ("[::1]:22", C.Remote("::1", None, 22)),
        ("root@[fe80::1%eth0]", C.Remote("fe80::1%eth0", "root")),
    ],
)
def test_parse_remote(spec: str, want: C.Remote) -> None:
    assert C.parse_remote(spec) == want


@pytest.mark.parametrize(
    "spec", ["", "-oProxyCommand=x", "a@-b", "host:0", "host:99999", "host:ssh", "[::1", "a b"]
)
def test_parse_remote_refuses_clearly(spec: str) -> None:
    with pytest.raises(UsageError) as e:
        C.parse_remote(spec)
    assert "--remote" in e.value.message and e.value.hint


def test_ssh_argv_uses_the_system_ssh_and_sudo_unless_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEEFINE_SSH", raising=False)
    monkeypatch.delenv("BEEFINE_AGENT_COMMAND", raising=False)
    argv = C.ssh_argv(C.Remote("db1", "admin", 2222), ["--docker-host", "unix:///x y"])
    assert argv[0] == "ssh" and "-T" in argv and argv[argv.index("-p") + 1] == "2222"
    assert argv[-2] == "admin@db1"
    assert "exec sudo -n beefine-tui agent --docker-host 'unix:///x y'" in argv[-1]
    monkeypatch.setenv("BEEFINE_SSH", "ssh -F /tmp/cfg")
    assert C.ssh_argv(C.Remote("h"))[:3] == ["ssh", "-F", "/tmp/cfg"]


def _agent_argv(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_an_agent_of_another_protocol_version_is_a_clear_message() -> None:
    # a real agent that speaks only a future version
    code = (
        f"import sys; sys.path.insert(0, {str(REPO / 'src')!r}); "
        "from beefine_tui.agent import protocol as P; P.PROTOCOL = P.MIN_PROTOCOL = 99; "
        "from beefine_tui.cli import main; raise SystemExit(main(['agent']))"
    )
    client = C.AgentClient(_agent_argv(code), "newhost")
    try:
        with pytest.raises(C.AgentVersionError) as e:
            client.handshake(timeout=60)
    finally:
        client.close()
    assert "newhost" in e.value.message and "99..99" in e.value.message
    assert "same beefine-tui version" in e.value.hint
    assert client.proc.returncode == 0


def test_something_that_is_not_an_agent() -> None:
    client = C.AgentClient(["sh", "-c", "echo 'Welcome to my shell'; exit 3"], "oddhost")
    with pytest.raises(C.AgentConnectionError) as e:
        client.handshake(timeout=30)
    client.close()
    assert "did not answer as a beefine-tui agent" in e.value.message and "Welcome" in e.value.message


def test_ssh_failing_to_connect_says_so() -> None:
    fake_ssh = "echo 'ssh: connect to host db1 port 22: Connection refused' >&2; exit 255"
    client = C.AgentClient(["sh", "-c", fake_ssh], "db1")
    with pytest.raises(C.AgentConnectionError) as e:
        client.handshake(timeout=30)
    client.close()
    assert "SSH connection to db1" in e.value.message and "Connection refused" in e.value.message
    assert e.value.exit_code == 75


def test_connection_lost_mid_session_fails_waiting_requests_clearly() -> None:
    # answers hello like an agent, then the link drops while the next command waits
    script = (
        "import sys, json\n"
        "line = sys.stdin.readline()\n"
        "mid = json.loads(line)['id']\n"
        "print(json.dumps({'type': 'reply', 'id': mid, 'result': {'protocol': 1}}), flush=True)\n"
        "sys.stdin.readline()\n"
        "sys.stderr.write('Connection to db1 closed by remote host.\\n')\n"
        "sys.exit(255)\n"
    )
    client = C.AgentClient(_agent_argv(script), "db1")
    client.handshake(timeout=30)
    with pytest.raises(C.AgentConnectionError) as e:
        client.request("streams", timeout=30)
    client.close()
    assert "lost" in e.value.message and "closed by remote host" in e.value.message


def test_probe_run_remote_recording_cut_by_a_lost_connection_is_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent (faked behind a fake ssh) sends one event, then the link drops: the command says so
    (exit 75) and its recording has no end marker, so replay calls it incomplete."""
    from beefine_tui.agent import protocol as P
    from beefine_tui.cli import main
    from beefine_tui.events.model import Event, RecordHeader
    from beefine_tui.events.record import read_recording
    from beefine_tui.probes.exec import ExecArgs

    ev = Event(
        ts=5,
        probe="exec",
        kind="exec",
        pid=42,
        comm="true",
        args=ExecArgs(filename="/bin/true", argv=["/bin/true"]),
    )
    header = RecordHeader(probes=["exec"], host="far")
    events_line = P.encode(P.Events(stream=1, events=[ev]))
    start_reply = P.encode(
        P.Reply(id=2, result={"stream": 1, "probes": ["exec"], "states": {}, "header": header})
    )
    hello_reply = P.encode(P.Reply(id=1, result={"protocol": P.PROTOCOL}))
    script = tmp_path / "fake_agent.py"
    script.write_text(
        "import sys\n"
        "out = sys.stdout.buffer\n"
        "sys.stdin.readline()\n"
        f"out.write({hello_reply!r}); out.flush()\n"
        "sys.stdin.readline()\n"
        f"out.write({start_reply!r} + {events_line!r}); out.flush()\n"
        "sys.stderr.write('Connection to far closed by remote host.\\n')\n"
        "sys.exit(255)\n"
    )
    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    fake_ssh.chmod(0o755)
    monkeypatch.setenv("BEEFINE_SSH", str(fake_ssh))
    rec = tmp_path / "far.jsonl"
    rc = main(["probe", "run", "exec", "--remote", "far", "--json", "--record", str(rec)])
    out, err = capsys.readouterr()
    assert rc == 75
    assert "connection to far failed or was lost" in err and "closed by remote host" in err
    assert '"comm":"true"' in out
    _, recording = read_recording(rec)
    assert [e.pid for e in recording] == [42]
    assert recording.complete is False


def test_prog_rows_travel_through_the_agent_unchanged() -> None:
    from beefine_tui.probes.inventory import Attachment, ProgInfo, ProgRow

    row = ProgRow(
        prog=ProgInfo(id=7, type="tracepoint", name="exec_enter", tag="ab", map_ids=(3, 4), run_cnt=5),
        attach=(Attachment(prog_id=7, point="tracepoint:sys_enter_execve", via="perf"),),
        owners=(10, 11),
        owner_comms=("python3", "bpftrace"),
        ours=True,
    )
    back = ProgRow.from_json(row.to_json())
    assert back.to_json() == row.to_json() and back.attach_text == row.attach_text


def test_kubectl_remote_parses_and_builds_kubectl_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEEFINE_KUBECTL", raising=False)
    monkeypatch.delenv("BEEFINE_AGENT_COMMAND", raising=False)
    r = C.parse_remote("kubectl://beefine/beefine-agent-x7k2p")
    assert (r.namespace, r.host, r.container) == ("beefine", "beefine-agent-x7k2p", None)
    assert r.label == "beefine/beefine-agent-x7k2p"
    argv = C.transport_argv(r, ["--docker-host", "unix:///x y"])
    assert argv == [
        "kubectl", "exec", "-i", "-n", "beefine", "beefine-agent-x7k2p",
        "--", "beefine-tui", "agent", "--docker-host", "unix:///x y",
    ]  # fmt: skip
    r = C.parse_remote("kubectl://ns1/pod-a/agent")
    monkeypatch.setenv("BEEFINE_KUBECTL", "kubectl --context prod")
    assert C.transport_argv(r)[:3] == ["kubectl", "--context", "prod"]
    assert C.transport_argv(r)[-5:] == ["-c", "agent", "--", "beefine-tui", "agent"]
    assert C.transport_argv(C.parse_remote("db1"))[0] == "ssh"


@pytest.mark.parametrize(
    "spec", ["kubectl://", "kubectl://ns", "kubectl://ns/-pod", "kubectl://NS/pod", "kubectl://a/b/c/d"]
)
def test_kubectl_remote_refuses_clearly(spec: str) -> None:
    with pytest.raises(UsageError) as e:
        C.parse_remote(spec)
    assert "--remote" in e.value.message and "kubectl://NAMESPACE/POD" in e.value.hint
