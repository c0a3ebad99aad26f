"""The program cache for real (probes/program_cache.py): two story runs in one process, as the
Image monitor makes them. The second attaches the very programs the first compiled (same kernel ids,
no compile), its events arrive and decode into its own story and nothing of the first run's; between
and after the runs bpftool sees none of them attached, and once the cache is closed none loaded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from beefine_tui.docker.lab import LabInfo
from beefine_tui.docker.runner import find_daemon
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes import program_cache
from beefine_tui.probes.base import Target
from beefine_tui.probes.bcc_runner import BccRunner
from beefine_tui.story.trace import DEFAULT_GROUPS, TraceRun, daemon_target, probes_for, start_sessions
from tests.integration.probe_harness import attached_prog_ids, loaded_prog_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def story_run(lab: LabInfo, client: Any, target: Target, names: list[str], marker: str) -> dict[str, Any]:
    data_root = str(client.info()["DockerRootDir"])
    daemon = find_daemon(lab.docker_host, data_root)
    bus = Bus()
    seen = bus.subscribe("test")  # everything this run's bus carries
    sessions = start_sessions(names, target, bus)
    try:
        runners = [r for s in sessions for r in s.runners if isinstance(r, BccRunner)]
        ids: set[int] = set().union(*(r.prog_ids() for r in runners))
        attached = attached_prog_ids()
        tr = TraceRun(
            client, lab.images["small"], bus, command=["echo", marker],
            exec_roots=daemon.exec_roots, data_root=data_root,
        )  # fmt: skip
        tr.check_image()
        tr.start_pump()
        try:
            result = tr.run(timeout=60)
        finally:
            tr.stop()
    finally:
        for s in sessions:
            s.stop()
    events: list[Event] = []
    while batch := seen.get(0.2):
        events += batch
    seen.close()
    return {
        "ids": ids,
        "attached": attached,
        "after": attached_prog_ids(),
        "reused": sorted(p for r in runners for p in r.reused),
        "loaded": sorted(p for r in runners for p in r.loaded),
        "timeline": tr.timeline(),
        "result": result,
        "events": events,
    }


def test_second_story_run_attaches_the_first_runs_programs(lab: LabInfo, lab_client: Any) -> None:
    data_root = str(lab_client.info()["DockerRootDir"])
    daemon = find_daemon(lab.docker_host, data_root)
    assert daemon.dockerd_pid is not None
    target = daemon_target(daemon)
    names, notes = probes_for(DEFAULT_GROUPS)
    assert not notes, notes
    cache = program_cache.ProgramCache()
    previous = program_cache.install(cache)
    try:
        first = story_run(lab, lab_client, target, names, "beefine-first")
        idle = set().union(*(e.prog_ids for e in cache.idle()))
        second = story_run(lab, lab_client, target, names, "beefine-second")
    finally:
        program_cache.install(previous)
        cache.close()
    gone = loaded_prog_ids()

    # the first run compiled every BCC probe, the second compiled none: the same kernel programs
    assert first["reused"] == [] and first["loaded"]
    assert second["reused"] == second["loaded"] == first["loaded"]
    assert second["ids"] == first["ids"] == idle and first["ids"]
    # attached while running (the kernel's list), and attached to nothing between and after the runs
    for run in (first, second):
        assert run["ids"] <= run["attached"], run["ids"] - run["attached"]
        assert not run["ids"] & run["after"]
    # each story is its own: the entrypoint's argv, the container's hostname
    for run, marker in ((first, "beefine-first"), (second, "beefine-second")):
        tl, res = run["timeline"], run["result"]
        assert res.exit_code == 0
        assert tl.phase("exec").details["argv"] == ["echo", marker]
        assert tl.phase("hostname").details["hostname"] == res.container_id[:12]
        mine = [e for e in run["events"] if e.probe == "exec" and marker in json.dumps(e.args, default=str)]
        assert mine, f"no exec event of {marker} in its own run"
    # nothing of the first run reached the second (a kept ring buffer must start empty)
    stale = [e for e in second["events"] if "beefine-first" in json.dumps(e.args, default=str)]
    assert not stale, stale[:3]
    # closed: the kernel freed them
    assert not first["ids"] & gone, first["ids"] & gone
