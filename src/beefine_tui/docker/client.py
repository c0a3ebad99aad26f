"""Which Docker daemon to talk to, and the app's daemon-or-lab choice.

Connecting itself lives in beefine_tui.docker.connection (re-exported here: `client.connect`); this module
sits above both it and the lab, which it may start. No Textual imports here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from beefine_tui.docker import lab
from beefine_tui.docker.connection import PING_TIMEOUT, connect, explain_unreachable, ping, unix_http_get
from beefine_tui.errors import BeefineError, DockerUnavailableError, NotFoundError

SYSTEM_SOCKET = "/var/run/docker.sock"
APP_LAB_NAME = "app"
__all__ = [
    "APP_LAB_NAME",
    "PING_TIMEOUT",
    "SYSTEM_SOCKET",
    "connect",
    "docker_for_app",
    "exit_on_signals",
    "explain_unreachable",
    "ping",
    "resolve_docker_host",
    "unix_http_get",
]


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
) -> Iterator[tuple[str, lab.LabInfo | None]]:
    """The daemon the app should use: an explicit/DOCKER_HOST/system one when given or answering, else the
    lab named "app", started here and always downed at exit (exceptions, Ctrl-C, SIGTERM, SIGHUP).

    Raises BeefineError (with the lab's reason) when no daemon answers and the lab cannot start.
    `announce` (e.g. a print to stderr before the TUI opens) is told when a lab is being started."""
    host = resolve_docker_host(explicit)
    if host is not None:
        yield host, None
        return
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
            # the app removes its lab first on every way out (what outlives it goes before its probes):
            # already gone is the normal case, not an error to end a clean quit with (exit 2)
            with contextlib.suppress(NotFoundError):
                lab.down(name)
