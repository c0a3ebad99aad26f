"""Compiling ahead for real (probes/precompile.py): the app context compiles the story's probes at
its start, loaded and attached to nothing (bpftool's list of attached programs has none of them);
the Image monitor's own source then starts a run on the session lab and loads no program at all
(this process's BPF programs, read from /proc/self/fdinfo, are the same before and after the probes
started: a compile would have loaded new ones), its story is right, and after the app context
closes bpftool lists none of the programs any more."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from beefine_tui.appcontext import AppContext
from beefine_tui.docker.lab import LabInfo
from beefine_tui.probes.bcc_runner import BccRunner
from beefine_tui.probes.fdinfo import fd_ids
from beefine_tui.probes.xdp_runner import XdpRunner
from beefine_tui.screens.image_monitor import GROUPS, ImageMonitorSource
from tests.integration.probe_harness import attached_prog_ids, loaded_prog_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_the_image_monitor_after_the_apps_precompile_compiles_nothing(lab: LabInfo, lab_client: Any) -> None:
    ctx = AppContext(docker_host=lab.docker_host, lab=lab)
    cache = ctx.keep_programs()
    assert ctx.precompiler is not None
    mine_before = fd_ids("prog")
    run = None
    try:
        ctx.precompile_at_start()
        assert ctx.precompiler.idle(300)
        progress = ctx.precompile_progress()
        assert progress is not None
        assert not progress.failed, progress.failed
        idle = cache.idle()
        precompiled = set().union(*(e.prog_ids for e in idle))
        story = {e.key[0] for e in idle if any("-DLINEAGE_ROOT=" in f for f in e.key[2])}
        assert {"exec", "fork", "files", "mounts"} <= story, story
        assert progress.compiled == len(idle)
        # loaded (the kernel lists them), attached to nothing
        assert precompiled and precompiled <= loaded_prog_ids()
        assert precompiled == fd_ids("prog") - mine_before
        assert not precompiled & attached_prog_ids()

        # the Image monitor's own way to a run: every group ticked, the image already present
        groups = [g for _, _, gs in GROUPS for g in gs]
        source = ImageMonitorSource(ctx)
        mine_idle = fd_ids("prog")
        run = source.prepare(lab.images["small"], groups, False, lambda _args: None)
        runners = [r for s in run.sessions for r in s.runners if isinstance(r, BccRunner)]
        # XDP on lo (the lab registry is on 127.0.0.1) is its own small program, never kept
        xdp = set().union(
            *(r.prog_ids() for s in run.sessions for r in s.runners if isinstance(r, XdpRunner))
        )
        assert fd_ids("prog") - xdp == mine_idle, "a BCC program was loaded: something compiled again"
        loaded = sorted(p for r in runners for p in r.loaded)
        assert sorted(p for r in runners for p in r.reused) == loaded and set(loaded) == story
        assert cache.misses == 0 and cache.hits == len(loaded)
        ids = set().union(*(r.prog_ids() for r in runners))
        assert ids <= precompiled and ids <= attached_prog_ids()
        result = run.run()
        timeline = run.finish()
        assert result.exit_code == 0
        assert timeline.phase("exec").state == "done"
        assert timeline.phase("hostname").details["hostname"] == result.container_id[:12]
        run.stop()  # the probes detach on a thread of their own after finish(): stop waits for it
        assert not ids & attached_prog_ids()  # detached at the run's end, kept loaded
        assert ids <= set().union(*(e.prog_ids for e in cache.idle()))
    finally:
        if run is not None:
            run.stop()
        ctx.close()
    assert not precompiled & loaded_prog_ids(), precompiled & loaded_prog_ids()
    assert not any(t.name == "beefine-precompile" and t.is_alive() for t in threading.enumerate())
