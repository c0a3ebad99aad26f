"""Which Docker daemon to talk to, connecting to it with clear errors, and the app's daemon-or-lab choice.

No Textual imports here; `docker` (the SDK) is imported only when connecting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from beefine_tui.errors import BeefineError, DockerUnavailableError

if TYPE_CHECKING:
    import docker

    from beefine_tui.docker.lab import LabInfo

SYSTEM_SOCKET = "/var/run/docker.sock"
APP_LAB_NAME = "app"
PING_TIMEOUT = 2.0


def _socket_path(docker_host: str) -> str | None:
    if docker_host.startswith("unix://"):
        return docker_host[len("unix://") :]
    if docker_host.startswith("/"):
        return docker_host
    return None


def ping(docker_host: str, timeout: float = PING_TIMEOUT) -> bool:
    """Does a Docker daemon answer /_ping at `docker_host` within `timeout`? Never raises."""
    path = _socket_path(docker_host)
    if path is not None:
        from beefine_tui.docker.lab import unix_http_get

        try:
            status, _ = unix_http_get(path, "/_ping", timeout)
        except OSError:
            return False
        return status == 200
    try:
        client = connect(docker_host, timeout=timeout)
    except DockerUnavailableError:
        return False
    client.close()
    return True


def resolve_docker_host(explicit: str | None) -> str | None:
    """explicit (--docker-host) > $DOCKER_HOST > the system socket if a daemon answers there > None.

    An explicit value or DOCKER_HOST is returned as given even if nothing answers: the user asked for it,
    and `connect` will say what is wrong with it."""
    if explicit:
        return explicit if "://" in explicit else f"unix://{explicit}"
    env = os.environ.get("DOCKER_HOST")
    if env:
        return env
    if Path(SYSTEM_SOCKET).exists() and ping(f"unix://{SYSTEM_SOCKET}"):
        return f"unix://{SYSTEM_SOCKET}"
    return None


def explain_unreachable(docker_host: str) -> DockerUnavailableError:
    """Why nothing answers at `docker_host`, as an error with a fix."""
    path = _socket_path(docker_host)
    hint = (
        "start Docker (sudo systemctl start docker), or run `sudo beefine-tui lab up` and use its DOCKER_HOST"
    )
    if path is not None:
        if not os.path.exists(path):
            return DockerUnavailableError(f"no Docker socket at {path}", hint)
        if not os.access(path, os.R_OK | os.W_OK):
            return DockerUnavailableError(
                f"permission denied on the Docker socket {path}",
                "run as root (sudo beefine-tui ...) or as a member of the socket's group",
            )
        return DockerUnavailableError(f"the Docker daemon at {path} does not answer", hint)
    return DockerUnavailableError(f"the Docker daemon at {docker_host} does not answer", hint)


def connect(docker_host: str, timeout: float = 10) -> docker.DockerClient:
    """An SDK client for `docker_host`, checked with a ping; DockerUnavailableError saying why not."""
    import docker
    import docker.errors
    import requests

    path = _socket_path(docker_host)
    if path is not None:
        # a short raw ping first: the SDK would otherwise wait its full timeout on a stuck socket
        if not ping(docker_host, timeout=min(PING_TIMEOUT, timeout)):
            raise explain_unreachable(docker_host)
        base_url = f"unix://{path}"
    else:
        base_url = docker_host
    try:
        # the client asks the daemon for its API version here, so this is also the first contact
        client = docker.DockerClient(base_url=base_url, timeout=int(max(1, timeout)))
    except docker.errors.DockerException as e:
        if "Connection" in str(e) or "Timeout" in str(e):
            raise DockerUnavailableError(
                f"the Docker daemon at {docker_host} does not answer",
                "start Docker, or run `sudo beefine-tui lab up` and use its DOCKER_HOST",
            ) from e
        raise DockerUnavailableError(
            f"cannot use the Docker address {docker_host!r}: {e}",
            "use unix:///path/to/docker.sock or tcp://host:port",
        ) from e
    try:
        client.ping()
    except (docker.errors.APIError, docker.errors.DockerException, requests.RequestException, OSError) as e:
        client.close()
        raise DockerUnavailableError(
            f"the Docker daemon at {docker_host} does not answer: {type(e).__name__}",
            "start Docker, or run `sudo beefine-tui lab up` and use its DOCKER_HOST",
        ) from e
    return client


class _Signalled(SystemExit):
    pass


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP (a dropped SSH session) into SystemExit in the main thread, so `with` and
    `finally` blocks run and whatever we made is removed. No-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Signalled(128 + signum)

    sigs = (signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        if old[s] is not signal.SIG_IGN:  # nohup's choice is respected
            signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def docker_for_app(
    explicit: str | None, *, announce: Callable[[str], None] | None = None
) -> Iterator[tuple[str, LabInfo | None]]:
    """The daemon the app should use: an explicit/DOCKER_HOST/system one when given or answering, else the
    lab named "app", started here and always downed at exit (exceptions, Ctrl-C, SIGTERM, SIGHUP).

    Raises BeefineError (with the lab's reason) when no daemon answers and the lab cannot start.
    `announce` (e.g. a print to stderr before the TUI opens) is told when a lab is being started."""
    host = resolve_docker_host(explicit)
    if host is not None:
        yield host, None
        return
    from beefine_tui.docker import lab

    with exit_on_signals():
        # app labs of earlier runs that were killed before they could clean up (SIGKILL, OOM)
        with contextlib.suppress(BeefineError):
            lab.down_orphans(
                n for n in lab.lab_names() if n == APP_LAB_NAME or n.startswith(APP_LAB_NAME + "-")
            )
        # another beefine-tui already runs the app lab (it will down it when it exits): make our own
        name = APP_LAB_NAME if lab.status(APP_LAB_NAME) is None else f"{APP_LAB_NAME}-{os.getpid()}"
        if announce is not None:
            announce(f"no Docker daemon answers: starting the embedded lab {name!r} (a few seconds)")
        try:
            info = lab.up(name)
        except BeefineError as e:
            raise DockerUnavailableError(
                f"no Docker daemon answers and the embedded lab could not start: {e.message}", e.hint
            ) from e
        try:
            yield info.docker_host, info
        finally:
            lab.down(name)
