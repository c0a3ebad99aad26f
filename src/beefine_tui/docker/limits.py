"""Change a running container's isolation through Docker: memory, CPU and pids limits, pause/unpause.

POST /containers/{id}/update (Docker Engine API, ContainerUpdate) takes Memory, MemorySwap,
NanoCpus, PidsLimit...; the daemon writes the cgroup files and rejects what it cannot apply
(e.g. "Minimum memory limit allowed is 6MB"), in which case nothing is changed. Pause uses the
freezer cgroup (v1 freezer.state / v2 cgroup.freeze).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from beefine_tui.errors import BeefineError, DockerUnavailableError, NotFoundError, UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class LimitChange(msgspec.Struct, kw_only=True):
    """What was asked and sent; shown as an event in the monitor."""

    container: str
    action: str  # "update", "pause", "unpause"
    request: dict[str, Any] = msgspec.field(default_factory=dict)
    warnings: list[str] = msgspec.field(default_factory=list)

    def text(self) -> str:
        if self.action != "update":
            return f"{self.action} {self.container[:12]}"
        parts = ", ".join(f"{k}={v}" for k, v in self.request.items())
        return f"update {self.container[:12]}: {parts}"


def parse_size(s: str) -> int:
    """'64m', '1.5g', '512MiB', '100000' -> bytes (binary units, as `docker run -m`)."""
    m = _SIZE.match(s)
    if not m:
        raise UsageError(f"not a size: {s!r}", "use a number with an optional unit: 64m, 1g, 512MiB")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_cpus(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise UsageError(f"not a number of CPUs: {s!r}", "use e.g. 0.5 or 2") from None
    if v < 0:
        raise UsageError(f"CPUs cannot be negative: {s!r}", "use 0 for no limit, or e.g. 0.5")
    return v


def update_request(
    memory: int | None = None, cpus: float | None = None, pids: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if memory is not None:
        if memory <= 0:
            # 0 means "unchanged" to ContainerUpdate; a limit cannot be lifted from a running container
            raise UsageError("memory limit must be positive", "set a larger limit instead, e.g. 1g")
        body["Memory"] = memory
        # memory+swap (v1 memory.memsw.limit_in_bytes) must stay >= memory or the kernel refuses the
        # write; set it to twice the memory, what `docker run -m` does when --memory-swap is not given.
        # (MemorySwap -1 is stored by the daemon but runc 1.1 on v1 leaves the old memsw limit in place.)
        body["MemorySwap"] = 2 * memory
    if cpus is not None:
        body["NanoCpus"] = round(cpus * 1e9)
    if pids is not None:
        # PidsLimit 0 or -1 means unlimited (Engine API v1.41)
        body["PidsLimit"] = pids if pids > 0 else -1
    if not body:
        raise UsageError("no limit given", "give at least one of memory, cpus or pids")
    return body


def _call(fn: Any, what: str, ref: str) -> Any:
    import docker.errors
    import requests

    try:
        return fn()
    except docker.errors.NotFound as e:
        raise NotFoundError(f"no container {ref!r}", "it may have been removed") from e
    except docker.errors.APIError as e:
        msg = (e.explanation or str(e)).strip()
        raise BeefineError(
            f"Docker rejected {what}: {msg}", "the cgroup files show the limits in force now"
        ) from e
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise DockerUnavailableError(f"the Docker daemon did not answer ({what}): {e}") from e


def update_limits(
    client: Any,
    ref: str,
    memory: int | None = None,
    cpus: float | None = None,
    pids: int | None = None,
) -> LimitChange:
    """Apply new limits; raises BeefineError with Docker's reason when rejected (nothing changed)."""
    body = update_request(memory, cpus, pids)
    api = client.api

    def go() -> Any:
        url = api._url("/containers/{0}/update", ref)
        return api._result(api._post_json(url, data=body), True)

    res = _call(go, "the new limits", ref) or {}
    return LimitChange(container=ref, action="update", request=body, warnings=list(res.get("Warnings") or []))


def pause(client: Any, ref: str) -> LimitChange:
    _call(lambda: client.api.pause(ref), "pause", ref)
    return LimitChange(container=ref, action="pause")


def unpause(client: Any, ref: str) -> LimitChange:
    _call(lambda: client.api.unpause(ref), "unpause", ref)
    return LimitChange(container=ref, action="unpause")
