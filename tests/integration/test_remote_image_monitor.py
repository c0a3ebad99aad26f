"""The Image monitor over --remote through a real sshd on 127.0.0.1 (tests/ssh_fixtures.py) and a real
agent tracing on the lab's daemon: the view's run of the lab's small image finds the phases a local
`trace` of the same image finds, of the container Docker made (its own events, its hostname); while
it ran, only the agent (and its bpftrace children) held BPF programs, never this process; afterwards
nothing of ours is left on the host: no container labelled beefine.run, no agent process, no
program it held. A run stopped from here (leaving the view), a run whose connection is cut (SIGKILL of
the ssh client) and a run under an app that quits each have their container removed on the host,
and their agent's programs freed; the cut run is not started again on the reconnected agent. A fresh
pull on the host shows one bar per layer the lab registry's manifest lists, each full at the end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.widgets import Checkbox, Input, ProgressBar, Static

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.client import AgentConnectionError
from beefine_tui.agent.remote_image import RemoteImageSource, RemoteTraceRun
from beefine_tui.app import BeefineApp
from beefine_tui.docker.image_structure import from_registry
from beefine_tui.probes.catalog import all_probes
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.screens.image_monitor import ImageMonitorView
from tests.integration.probe_harness import progs_still_loaded
from tests.ssh_fixtures import Sshd, tagged_agents
from tests.waiting import settles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
BEEFINE = [sys.executable, "-m", "beefine_tui"]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Held:
    """Samples, on a thread, the BPF programs the test's agents and their bpftrace children hold."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.ids: set[int] = set()
        self.procs: dict[int, psutil.Process] = {}
        self.here: set[int] = set()  # programs this process held (there must be none)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            self.here |= prog_ids_of_pid(os.getpid())
            for agent in tagged_agents(self.tag):
                try:
                    kids = [k for k in agent.children(recursive=True) if k.name() == "bpftrace"]
                    for p in (agent, *kids):
                        self.procs.setdefault(p.pid, p)
                        self.ids |= prog_ids_of_pid(p.pid)
                except (OSError, psutil.Error):
                    pass  # ended between the listing and the reading

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def remote(
    sshd: Sshd, lab: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Any, str]]:
    all_probes()
    tag = f"im{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("BEEFINE_SSH", f"ssh -F {sshd.client_config('bfimage')}")
    monkeypatch.setenv(
        "BEEFINE_AGENT_COMMAND",
        f"env BEEFINE_AGENT_TAG={tag} BEEFINE_TRACE_SPOOL={tmp_path / 'spool.jsonl'} "
        f"PYTHONPATH={REPO / 'src'} DOCKER_HOST={lab.docker_host} {sys.executable} -m beefine_tui agent",
    )
    ctx = R.connect_remotes([f"root@bfimage:{sshd.port}"])
    try:
        yield ctx, tag
    finally:
        ctx.close()


def _nothing_left(lab_client: Any, held: Held, tag: str) -> None:
    assert held.ids, "the agent never held a BPF program: nothing was traced over there"
    assert not held.here, "this process loaded BPF: only the agent may"
    assert not lab_client.containers.list(all=True, filters={"label": "beefine.run"}), "a container stayed"
    settles(lambda: all(_gone(p) for p in held.procs), "the agent or its bpftrace processes still run", 60)
    assert not progs_still_loaded(held.ids), "programs the agent held are still loaded"


def test_the_views_remote_run_finds_what_a_local_trace_finds(
    remote: tuple[Any, str], lab: Any, lab_client: Any
) -> None:
    ctx, tag = remote
    image = lab.images["small"]
    local = subprocess.run(
        [*BEEFINE, "trace", image, "--docker-host", lab.docker_host, "--json"],
        capture_output=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr.decode()[-2000:]
    local_summary = json.loads(local.stdout.splitlines()[-1])

    since = time.time()
    held = Held(tag)
    app = BeefineApp(ctx)

    async def drive() -> Any:
        async with app.run_test(size=(160, 50)) as pilot:
            view = app.shell.open_view("image-monitor")
            assert isinstance(view, ImageMonitorView), view
            for _ in range(500):
                if view.is_mounted and view.query("#im-image"):
                    break
                await pilot.pause(0.02)
            assert isinstance(view.source, RemoteImageSource)
            view.query_one("#im-image", Input).value = image
            view.action_run()
            status = view.query_one("#im-status", Static)
            deadline = time.monotonic() + 600
            while view.running or "exit code" not in str(status.render()):
                assert time.monotonic() < deadline, str(status.render())
                assert "Traceback" not in str(status.render())
                await pilot.pause(0.2)
            return view.run_obj.timeline(), str(status.render())

    try:
        tl, said = asyncio.run(drive())
    finally:
        held.stop()
    summary = tl.summary()
    assert "done: exit code 0" in said and "bfimage" in said, said
    assert summary["exit_code"] == local_summary["exit_code"] == 0
    assert summary["found"] == local_summary["found"], (summary["found"], local_summary["found"])
    assert {"exec", "hostname", "exit"} <= set(summary["found"]), summary["found"]
    # the container Docker made on the host, by its own account, and the kernel's in the story
    cid = summary["container"]
    docker = lab_client.events(
        since=int(since) - 1, until=int(time.time()) + 1, filters={"container": cid}, decode=True
    )
    actions = [e["Action"] for e in docker]
    assert {"create", "start", "die", "destroy"} <= set(actions), actions
    assert tl.phase("hostname").details.get("hostname") == cid[:12]
    ctx.close()  # the app's exit: bye, the agent ends
    _nothing_left(lab_client, held, tag)


def _sleeping_run(ctx: Any, image: str) -> tuple[RemoteTraceRun, threading.Thread, dict[str, Any]]:
    """A run of `sleep 300` (the view's run with a command: what leaving or a cut interrupts), its
    run() on a thread as the view's worker; returns once Docker says the container runs."""
    run = RemoteTraceRun(
        ctx.link(),
        image,
        {"image": image, "command": ["sleep", "300"], "groups": ["process"], "options": {"network": "none"}},
        release=ctx.disown,
    )
    ctx.own(run)
    run.start()
    out: dict[str, Any] = {}

    def wait() -> None:
        try:
            out["result"] = run.run()
        except BaseException as e:
            out["error"] = e

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    return run, t, out


def _running(lab_client: Any, t: threading.Thread) -> str:
    deadline = time.monotonic() + 300
    while True:
        got = lab_client.containers.list(filters={"label": "beefine.run", "status": "running"})
        if got:
            return str(got[0].id)
        assert time.monotonic() < deadline and t.is_alive(), "the traced container never ran"
        time.sleep(0.2)


def test_leaving_stops_the_run_on_the_host(remote: tuple[Any, str], lab: Any, lab_client: Any) -> None:
    ctx, tag = remote
    held = Held(tag)
    try:
        run, t, out = _sleeping_run(ctx, lab.images["small"])
        cid = _running(lab_client, t)
        run.stop(wait=False)  # what the view does as it is left: it must not block
        t.join(120)
        assert not t.is_alive() and out.get("result") is not None, out
        assert out["result"].interrupted == "stopped"
        assert not lab_client.containers.list(all=True, filters={"id": cid}), "the container stayed"
        assert run not in ctx.owned()
        assert run.timeline().container_id == cid  # the story of that container, so far
    finally:
        held.stop()
    ctx.close()
    _nothing_left(lab_client, held, tag)


def test_a_cut_connection_removes_the_run_and_is_not_resumed(
    remote: tuple[Any, str], lab: Any, lab_client: Any
) -> None:
    ctx, tag = remote
    held = Held(tag)
    try:
        run, t, out = _sleeping_run(ctx, lab.images["small"])
        cid = _running(lab_client, t)
        first = tagged_agents(tag)
        assert len(first) == 1
        ids_first = prog_ids_of_pid(first[0].pid)
        link = ctx.link()
        assert link.client is not None
        os.kill(link.client.proc.pid, signal.SIGKILL)  # the ssh client: the connection is cut
        t.join(120)
        assert not t.is_alive() and isinstance(out.get("error"), AgentConnectionError), out
        assert "ssh was killed" in out["error"].message or "lost" in out["error"].message, out["error"]
        settles(
            lambda: not lab_client.containers.list(all=True, filters={"id": cid}), "the container stayed", 120
        )
        settles(lambda: _gone(first[0].pid), "the cut agent still runs", 60)
        assert not progs_still_loaded(ids_first), "the cut agent's programs are still loaded"
        # the link reconnects (a new agent): the run is not started again there
        settles(lambda: link.status.state == "up", link.describe, 60)
        assert run.stopped  # what the link reads before it starts a stream again
        new = link.client_or_raise()
        assert new.request("streams", timeout=30) == []  # the new agent runs no trace
        assert not lab_client.containers.list(all=True, filters={"label": "beefine.run"})
        second = [p for p in tagged_agents(tag) if p.pid != first[0].pid]
        assert second and not prog_ids_of_pid(second[0].pid)
        run.finish()
        assert run not in ctx.owned()
    finally:
        held.stop()
    ctx.close()
    _nothing_left(lab_client, held, tag)


def test_quitting_mid_run_removes_the_container_then_ends_the_agent(
    remote: tuple[Any, str], lab: Any, lab_client: Any
) -> None:
    ctx, tag = remote
    held = Held(tag)
    try:
        run, t, out = _sleeping_run(ctx, lab.images["small"])
        cid = _running(lab_client, t)
        # the app's exit, in its order: what outlives us first, then everything owned, then the links
        ctx.release_outliving()
        ctx.close()
        t.join(120)
        assert not t.is_alive(), "the run's worker never ended"
        # cut short, said as such: the stop's reply, or the connection's end if bye came first
        res = out.get("result")
        assert (res is not None and res.interrupted) or isinstance(out.get("error"), AgentConnectionError), (
            out
        )
        assert not lab_client.containers.list(all=True, filters={"id": cid}), "the container stayed"
        assert run.stopped and run not in ctx.owned()
    finally:
        held.stop()
    _nothing_left(lab_client, held, tag)


def test_a_fresh_pull_on_the_host_shows_a_bar_per_layer_of_the_manifest(
    remote: tuple[Any, str], lab: Any, lab_client: Any
) -> None:
    ctx, tag = remote
    image = lab.images["layered"]
    # the registry's own manifest: the blobs a pull fetches, which Docker's progress names by 12 hex
    want = {li.digest.removeprefix("sha256:")[:12] for li in from_registry(image, list_files=False).layers}
    assert len(want) >= 2
    held = Held(tag)
    app = BeefineApp(ctx)

    async def drive() -> tuple[dict[str, tuple[float, float | None]], str, Any]:
        async with app.run_test(size=(160, 50)) as pilot:
            view = app.shell.open_view("image-monitor")
            assert isinstance(view, ImageMonitorView), view
            for _ in range(500):
                if view.is_mounted and view.query("#im-image"):
                    break
                await pilot.pause(0.02)
            view.query_one("#im-image", Input).value = image
            view.query_one("#im-fresh", Checkbox).value = True
            view.action_run()
            status = view.query_one("#im-status", Static)
            deadline = time.monotonic() + 600
            while view.running or "exit code" not in str(status.render()):
                assert time.monotonic() < deadline, str(status.render())
                await pilot.pause(0.2)
            bars = {b.id.removeprefix("bar-"): (b.progress, b.total) for b in view.query(ProgressBar) if b.id}
            return bars, str(status.render()), view.run_obj.timeline()

    try:
        bars, said, tl = asyncio.run(drive())
    finally:
        held.stop()
    assert "done: exit code 0" in said, said
    assert set(bars) == want, (bars, want)
    assert all(total and progress == total for progress, total in bars.values()), bars
    assert tl.phase("pull").state == "done" and "pull" in tl.found()
    ctx.close()
    _nothing_left(lab_client, held, tag)
