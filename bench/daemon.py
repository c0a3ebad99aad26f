"""Where the remote benchmarks run their containers: the Docker daemon given with --docker-host (and
an --image it has), or a lab of their own, seeded, removed when the bench's ExitStack closes.
Imported by remote_trace, remote_monitor and remote_image_monitor; running this file itself does
nothing (`make bench` runs every file here)."""

from __future__ import annotations

import contextlib
import os


def daemon_and_image(
    stack: contextlib.ExitStack, docker_host: str | None, image: str | None, lab_prefix: str
) -> tuple[str, str]:
    """(DOCKER_HOST, image to run). Without --docker-host a lab named lab_prefix + pid is started and
    its small image used; the lab is removed when `stack` closes."""
    if docker_host:
        if not image:
            raise SystemExit("--docker-host needs --image")
        return docker_host, image
    from beefine_tui.docker import lab as labmod

    info = stack.enter_context(
        labmod.running_lab(f"{lab_prefix}{os.getpid() % 100000}", seed=True, timeout=180)
    )
    return info.docker_host, info.images["small"]
