"""Talking to a Docker daemon: a raw unix-socket GET (for pings that must not hang), and an SDK client
checked with a ping, with errors that say what is wrong.

The low layer of beefine_tui.docker: the lab (which starts daemons) and client (which chooses one) both
build on it, so neither needs the other to connect. `docker` (the SDK) is imported only when connecting,
so commands that never talk to Docker do not pay for it.
"""

from __future__ import annotations

import http.client
import os
import socket
from typing import TYPE_CHECKING

from beefine_tui.errors import DockerUnavailableError

if TYPE_CHECKING:
    import docker

PING_TIMEOUT = 2.0


def unix_http_get(sock_path: str, url: str, timeout: float) -> tuple[int, bytes]:
    """GET `url` over a unix socket (the Docker API); raises OSError when nothing answers."""

    class _Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(sock_path)
            except OSError:
                s.close()
                raise
            self.sock = s

    conn = _Conn("localhost", timeout=timeout)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except http.client.HTTPException as e:
        raise OSError(str(e)) from e
    finally:
        conn.close()


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
