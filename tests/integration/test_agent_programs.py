"""Users' programs through the agent over a real sshd on 127.0.0.1: `load` compiles and attaches the
program on the host, held by the agent's process (the kernel's fdinfo of that pid; bpftool has the
id) and never by the client's; its events (an exec of a path only this test runs) come through the
stream; `unload` frees it (bpftool no longer knows the id). A program the verifier rejects comes back
as the verifier's message, log and line, as a local load gives them. Killing the ssh client leaves
nothing: the agent ends and its program is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from beefine_tui.agent import protocol as P
from beefine_tui.agent.client import AgentClient, AgentCommandError, AgentProgramError, connect
from beefine_tui.errors import ProbeLoadError
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.probes.user_program import UserBccProgram
from tests.integration.test_remote import _env, _find_agent, _gone, _prog_exists, _wait
from tests.integration.test_user_program import GOOD, VERIFIER_REJECT
from tests.ssh_fixtures import Sshd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _connect(sshd: Sshd, lab: Any, monkeypatch: pytest.MonkeyPatch, tag: str) -> AgentClient:
    for k in ("BEEFINE_SSH", "BEEFINE_AGENT_COMMAND"):
        monkeypatch.setenv(k, _env(sshd, lab, tag)[k])
    return connect(f"root@bfremote:{sshd.port}")


def _events_of(client: AgentClient, stream: int, timeout: float, want: Any) -> list[Any]:
    got: list[Any] = []

    def arrived() -> bool:
        for m in client.stream_messages(0.1):
            if isinstance(m, P.Events) and m.stream == stream:
                got.extend(m.events)
        return any(want(e) for e in got)

    _wait(arrived, timeout, "the program's event never came through the agent")
    return got


def test_load_unload_and_the_verifiers_refusal_over_ssh(
    sshd: Sshd, lab: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:12]
    unique = tmp_path / f"bfag-{tag}"
    shutil.copy("/bin/true", unique)
    client = _connect(sshd, lab, monkeypatch, tag)
    try:
        agent = _find_agent(tag)
        assert {"load", "unload"} <= set(client.hello["capabilities"])
        loaded = client.request("load", source=GOOD, origin="good.c")
        ids = set(loaded["prog_ids"])
        assert loaded["name"] == "g-good" and loaded["engine"] == "bcc" and ids
        assert loaded["columns"] == ["pid", "filename"]
        assert all(_prog_exists(i) for i in ids)
        assert ids <= prog_ids_of_pid(agent.pid), "the agent's process must hold the program"
        assert not ids & prog_ids_of_pid(os.getpid()) and not ids & prog_ids_of_pid(client.proc.pid)

        subprocess.run([str(unique)], check=True)
        evs = _events_of(client, loaded["stream"], 60, lambda e: e.args.get("filename") == str(unique))
        ev = next(e for e in evs if e.args.get("filename") == str(unique))
        assert ev.probe == "user:g-good" and ev.kind == "events"

        # only what this agent loaded, by the id it gave
        with pytest.raises(AgentCommandError) as refused:
            client.request("unload", program=loaded["program"] + 100)
        assert refused.value.code == P.BAD_ARGS and "loaded by this agent" in refused.value.message
        done = client.request("unload", program=loaded["program"])
        assert done["program"] == loaded["program"]
        _wait(lambda: not any(_prog_exists(i) for i in ids), 30, "the unloaded program is still loaded")
        with pytest.raises(AgentCommandError):
            client.request("unload", program=loaded["program"])  # once only

        # the verifier's refusal, as a local load of the same text gives it
        with pytest.raises(AgentProgramError) as e:
            client.request("load", source=VERIFIER_REJECT, origin="reject.c")
        local = UserBccProgram(VERIFIER_REJECT, "reject.c")
        with pytest.raises(ProbeLoadError) as here:
            local.start(lambda batch: None)
        local.stop()
        far = e.value
        assert far.message == f"{client.label}: {here.value.message}"
        assert "the verifier rejected" in far.message and far.line == here.value.line == 8
        # the logs differ only in kernel addresses: the same first line, and the user's line named
        assert (
            far.log.splitlines()[0]
            == here.value.log.splitlines()[0]
            == ("R0 invalid mem access 'map_value_or_null'")
        )
        assert "*val += 1; @ user.c:8" in far.log
        assert client.request("streams") == []  # nothing of the refused program runs
    finally:
        client.close()
    _wait(lambda: _gone(agent.pid), 60, "the agent still runs after bye")


def test_killing_the_ssh_client_unloads_the_program(
    sshd: Sshd, lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:12]
    client = _connect(sshd, lab, monkeypatch, tag)
    try:
        agent = _find_agent(tag)
        loaded = client.request("load", source=GOOD)
        ids = set(loaded["prog_ids"])
        assert ids and ids <= prog_ids_of_pid(agent.pid)
        client.proc.kill()  # the ssh client itself: no bye, no unload
        _wait(lambda: _gone(agent.pid), 60, "the agent still runs after its ssh client was killed")
        _wait(lambda: not any(_prog_exists(i) for i in ids), 30, "the program outlived its agent")
    finally:
        client.close(timeout=5)
