"""`trace --remote` over a real sshd on 127.0.0.1 (tests/ssh_fixtures.py) with the lab's registry
image: the phases it prints (--json, and the text story) are the phases a local `trace` of the same
image and command finds; the story is the container Docker made (its events: id, exit code,
removal) as the kernel saw it (runc's sethostname, the entrypoint's argv); its --record file is read
by `replay` and tells the same story; the far agent leaves its phases for the host's exporter; and
afterwards nothing of ours stays on the host: no container labelled beefine, no agent process, no
BPF program or bpftrace process the agent held (bpftool); SIGTERM of the client mid-run removes the
container on the host."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from beefine_tui.events.record import read_recording
from beefine_tui.probes.catalog import all_probes
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.story.engine import StoryEngine
from tests.integration.probe_harness import prog_exists
from tests.integration.test_remote import _env, _find_agent, _gone
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BEEFINE = [sys.executable, "-m", "beefine_tui"]


def _rows(out: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert rows and rows[-1]["phase"] == "summary", out[-500:]
    return rows[:-1], rows[-1]


def _remote_env(sshd: Sshd, lab: Any, tag: str, spool: Path) -> dict[str, str]:
    """test_remote's environment, with the far agent's finished traces in the test's own spool."""
    env = _env(sshd, lab, tag)
    env["BEEFINE_AGENT_COMMAND"] = f"env BEEFINE_TRACE_SPOOL={spool} " + env["BEEFINE_AGENT_COMMAND"]
    return env


def _remote(sshd: Sshd, lab: Any, argv: list[str], out: Path) -> tuple[int, str, set[int], list[Any]]:
    """Run `argv --remote` to completion, sampling meanwhile what its agent holds: (exit code,
    stderr, BPF program ids held by the agent or its bpftrace children, the agent and those)."""
    tag = uuid.uuid4().hex[:12]
    with open(out, "wb") as f:
        client = subprocess.Popen(
            [*BEEFINE, argv[0], "--remote", f"root@bfremote:{sshd.port}", *argv[1:]],
            stdout=f,
            stderr=subprocess.PIPE,
            env=_remote_env(sshd, lab, tag, out.with_suffix(".spool")),
        )
    try:
        started = time.monotonic()
        while client.poll() is None and time.monotonic() - started < 2:
            time.sleep(0.1)
        if client.poll() is not None:  # ended at once: say why, not "no agent"
            assert client.stderr is not None
            raise AssertionError(f"exit {client.returncode}: {client.stderr.read().decode()[-2000:]}")
        agent = _find_agent(tag)
        procs: list[Any] = [agent]
        held: set[int] = set()
        while client.poll() is None:
            try:
                kids = [p for p in agent.children(recursive=True) if p.name() == "bpftrace"]
                held |= prog_ids_of_pid(agent.pid)
                for k in kids:
                    held |= prog_ids_of_pid(k.pid)
                procs += [k for k in kids if k not in procs]
            except (OSError, psutil.Error):
                pass  # the agent (or a child) ended between the listing and the reading
            time.sleep(0.3)
        assert client.stderr is not None
        return client.wait(), client.stderr.read().decode(), held, procs
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)


def _nothing_left(lab_client: Any, held: set[int], procs: list[Any]) -> None:
    assert held, "the agent never held a BPF program: nothing was traced over there"
    assert not lab_client.containers.list(all=True, filters={"label": "beefine.run"}), (
        "a traced container stayed"
    )
    deadline = time.monotonic() + 60
    while not all(_gone(p.pid) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(_gone(p.pid) for p in procs), "the agent or its bpftrace processes still run"
    assert not [i for i in held if prog_exists(i)], "programs the agent held are still loaded"


def test_trace_over_ssh_prints_what_a_local_trace_prints(
    sshd: Sshd, lab: Any, lab_client: Any, tmp_path: Path
) -> None:
    image = lab.images["small"]
    marker = f"bfrt{uuid.uuid4().hex[:8]}"
    since = time.time()
    local = subprocess.run(
        [*BEEFINE, "trace", image, "--docker-host", lab.docker_host, "--json", "--", "echo", marker],
        capture_output=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr.decode()[-2000:]
    local_rows, local_summary = _rows(local.stdout)

    rec = tmp_path / "remote.jsonl"
    out = tmp_path / "remote.json"
    argv = ["trace", image, "--json", "--record", str(rec), "--", "echo", marker]
    rc, err, held, procs = _remote(sshd, lab, argv, out)
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err
    rows, summary = _rows(out.read_bytes())
    # the same phases, in the same order, and the same ones found
    assert [r["phase"] for r in rows] == [r["phase"] for r in local_rows]
    assert summary["found"] == local_summary["found"], (summary["found"], local_summary["found"])
    _nothing_left(lab_client, held, procs)
    # the far agent left the finished trace's phases for the host's exporter (agent --metrics)
    spooled = [json.loads(line)["phases"] for line in out.with_suffix(".spool").read_text().splitlines()]
    assert len(spooled) == 1
    assert {p["name"]: p["duration_ms"] for p in spooled[0]} == {r["phase"]: r["duration_ms"] for r in rows}

    # Docker's own account of the container the host made, and the kernel's in the story
    cid = summary["container"]
    docker = list(
        lab_client.events(
            since=int(since) - 1, until=int(time.time()) + 1, filters={"container": cid}, decode=True
        )
    )
    actions = [e["Action"] for e in docker]
    assert {"create", "start", "die", "destroy"} <= set(actions), actions
    die = next(e for e in docker if e["Action"] == "die")
    assert summary["exit_code"] == int(die["Actor"]["Attributes"]["exitCode"]) == 0
    by_phase = {r["phase"]: r for r in rows}
    assert by_phase["hostname"]["details"]["hostname"] == cid[:12]
    assert by_phase["exec"]["details"]["argv"] == ["echo", marker]

    # the recording: replay reads it, and it tells the same story
    rp = subprocess.run([*BEEFINE, "replay", str(rec), "--print", "--json"], capture_output=True, timeout=120)
    assert rp.returncode == 0 and b"incomplete" not in rp.stderr, rp.stderr.decode()
    all_probes()
    header, events = read_recording(rec)
    assert header.command[-3:] == ["--", "echo", marker] or marker in header.command
    eng = StoryEngine()
    eng.feed(events)
    assert events.complete
    assert eng.timeline().found() == summary["found"]

    # the text story, over ssh too: a line per phase found, with its state
    rc, err, held, procs = _remote(sshd, lab, ["trace", image, "--", "echo", marker], tmp_path / "text.out")
    assert rc == 0, err[-2000:]
    text = (tmp_path / "text.out").read_text()
    assert text.startswith("container ") and "exit code 0" in text.splitlines()[0]
    titles = {r["phase"]: r["title"] for r in rows}
    for name in summary["found"]:
        assert any(line.startswith(titles[name]) for line in text.splitlines()), (name, text)
    assert "tracing " in err and "bfremote" in err
    _nothing_left(lab_client, held, procs)


def test_sigterm_of_the_client_mid_run_removes_the_container_on_the_host(
    sshd: Sshd, lab: Any, lab_client: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:12]
    out = tmp_path / "story.txt"
    argv = [*BEEFINE, "trace", lab.images["small"], "--remote", f"root@bfremote:{sshd.port}"]
    with open(out, "wb") as f:
        client = subprocess.Popen(
            [*argv, "--network", "none", "--", "sleep", "300"],
            stdout=f,
            stderr=subprocess.PIPE,
            env=_remote_env(sshd, lab, tag, tmp_path / "spool.jsonl"),
        )
    try:
        agent = _find_agent(tag)
        deadline = time.monotonic() + 300
        running: list[Any] = []
        while not running:
            assert time.monotonic() < deadline and client.poll() is None, "the traced container never ran"
            running = lab_client.containers.list(filters={"label": "beefine.run", "status": "running"})
            time.sleep(0.2)
        cid = running[0].id
        client.send_signal(signal.SIGTERM)
        assert client.wait(180) == 130
        assert client.stderr is not None
        err = client.stderr.read().decode()
        assert "interrupted" in err and "Traceback" not in err
        # the story so far was printed, of that container
        assert out.read_text().startswith(f"container {cid[:12]}")
        assert not lab_client.containers.list(all=True, filters={"id": cid}), "the container stayed"
        deadline = time.monotonic() + 60
        while not _gone(agent.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(agent.pid), "the agent still runs"
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
