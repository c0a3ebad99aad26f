"""The split pane for real (root, a private lab dockerd): tail one container's syscalls beside the
current view. A command run inside the container appears there; the same command on the host does not."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Input

from beefine_tui.app import BeefineApp
from beefine_tui.appcontext import AppContext
from beefine_tui.screens.probe_view import ProbeView
from tests.tui.conftest import FrozenClock, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def tui_lab() -> Iterator[Any]:
    from beefine_tui.docker import lab

    name = f"tui{os.getpid()}"
    try:
        info = lab.up(name, seed=True, timeout=120)
    except BaseException:
        with contextlib.suppress(Exception):
            lab.down(name)
        raise
    try:
        yield info
    finally:
        lab.down(name)


async def test_split_pane_tails_only_the_container(tui_lab: Any) -> None:
    import docker

    client = docker.DockerClient(base_url=tui_lab.docker_host, timeout=60)
    label = {"beefine": "1", "beefine.test": f"tui-split-{uuid.uuid4().hex[:8]}"}
    name = f"bftui-{uuid.uuid4().hex[:8]}"
    container = client.containers.run(
        tui_lab.images["small"], ["sleep", "300"], name=name, detach=True, labels=label, network_mode="none"
    )
    ctx = AppContext(docker_host=tui_lab.docker_host)
    app = BeefineApp(ctx, clock=FrozenClock())
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+t")
            await wait_until(pilot, lambda: bool(app.shell.query_one("#split").query(ProbeView)))
            view = app.shell.query_one("#split").query_one(ProbeView)
            await wait_until(pilot, lambda: bool(view.query("#container")))
            view.query_one("#container", Input).value = name
            view.start()
            await wait_until(
                pilot, lambda: view.session is not None or view.strip.state == "error", tries=9000
            )
            assert view.session is not None, str(view.query_one(".notice").render())
            token = f"tok{uuid.uuid4().hex[:10]}"
            subprocess.run(["/bin/echo", f"host-{token}"], capture_output=True, check=True)
            container.exec_run(["/bin/echo", f"inside-{token}"])

            def seen() -> bool:
                return any(f"inside-{token}" in line for line in view.event_log.lines())

            await wait_until(pilot, seen, tries=3000)
            assert not any(f"host-{token}" in line for line in view.event_log.lines())
            await pilot.press("ctrl+t")  # closing the split stops its session
            await wait_until(pilot, lambda: not app.shell.query_one("#split").query(ProbeView))
            await wait_until(pilot, lambda: not ctx._owned, tries=1000)
    finally:
        ctx.close()
        with contextlib.suppress(Exception):
            container.remove(force=True)
        client.close()
