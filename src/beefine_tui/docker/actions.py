"""What the dashboard does to a container: stop, restart, remove, stream its logs, and the command
that opens a shell in it. No Textual here; errors come back as BeefineErrors with Docker's reason.

Logs are streamed (`follow`), never read whole: `LogStream` yields lines as Docker sends them and
`close()` ends the stream from another thread (it closes the HTTP response the reader blocks on).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from typing import Any

from beefine_tui.docker.limits import _call
from beefine_tui.errors import BeefineError

STOP_TIMEOUT_S = 10  # what `docker stop` waits before SIGKILL
LOG_TAIL = 500  # lines of history before following
MAX_LINE = 4096  # characters: a line longer than this is cut (a log with no newline must not grow forever)


def stop(client: Any, ref: str, timeout: int = STOP_TIMEOUT_S) -> str:
    _call(lambda: client.api.stop(ref, timeout=timeout), "stop", ref)
    return f"stopped {ref[:12]}"


def restart(client: Any, ref: str, timeout: int = STOP_TIMEOUT_S) -> str:
    _call(lambda: client.api.restart(ref, timeout=timeout), "restart", ref)
    return f"restarted {ref[:12]}"


def remove(client: Any, ref: str) -> str:
    """Remove, running or not (like `docker rm -f`); its anonymous volumes stay, as with the CLI."""
    _call(lambda: client.api.remove_container(ref, force=True), "remove", ref)
    return f"removed {ref[:12]}"


def shell_command(docker_host: str | None, ref: str, shell: str = "sh") -> list[str]:
    """`docker exec -it REF sh` against the daemon the app uses (the docker CLI is needed)."""
    cli = shutil.which("docker")
    if cli is None:
        raise BeefineError(
            "the docker command is not installed", "apt-get install docker.io (or docker-ce-cli)"
        )
    host = ["-H", docker_host] if docker_host else []
    return [cli, *host, "exec", "-it", ref, shell]


class LogStream:
    """A container's logs, the last `tail` lines then new ones as they come, line by line."""

    def __init__(self, client: Any, ref: str, tail: int = LOG_TAIL) -> None:
        self.client, self.ref, self.tail = client, ref, tail
        self._stream: Any = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def lines(self) -> Iterator[str]:
        stream = _call(
            lambda: self.client.api.logs(self.ref, stream=True, follow=True, tail=self.tail),
            "logs",
            self.ref,
        )
        with self._lock:
            self._stream = stream
            if self._closed.is_set():
                self._close_stream()
                return
        partial = ""
        try:
            for chunk in stream:
                text = partial + chunk.decode("utf-8", "replace")
                *whole, partial = text.split("\n")
                yield from (line[:MAX_LINE] for line in whole)
                if len(partial) > MAX_LINE:
                    yield partial[:MAX_LINE] + "…"
                    partial = ""
        except Exception:
            if not self._closed.is_set():
                raise
        if partial and not self._closed.is_set():
            yield partial[:MAX_LINE]

    def _close_stream(self) -> None:
        s = self._stream
        if s is not None:
            with contextlib.suppress(Exception):  # the response may already be gone: best effort
                s.close()

    def close(self) -> None:
        """End `lines()` from any thread (idempotent)."""
        with self._lock:
            self._closed.set()
            self._close_stream()
