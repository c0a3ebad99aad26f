"""A stand-in Docker SDK client for the Container monitor's agent commands (unit and TUI tests: no
root, no Docker). Its one running container's init is a real process of the test's (a `sleep` child,
or this process), so the /proc, namespace and cgroup reads behind the commands read something real;
pause, unpause and limit updates are recorded, and a memory limit under 6 MiB is refused as the
daemon refuses it. Run as a script, it is an agent (agent/server.py's, unchanged) over stdin/stdout
using this client: what a TUI test reaches through a stand-in ssh."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

CID = "b" * 12 + "e" * 52
NAME = "fakeweb"
STOPPED_ID = "5" * 64
MIN_MEMORY = 6 << 20


class FakeResponse:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


class FakeAPI:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.paused = False
        self.memory = 0
        self.calls: list[tuple[str, Any]] = []

    def containers(self, all: bool = False) -> list[dict[str, Any]]:
        rows = [{"Id": CID, "Names": [f"/{NAME}"], "Image": "busybox", "State": self._state()}]
        if all:
            rows.append({"Id": STOPPED_ID, "Names": ["/fakeold"], "Image": "busybox", "State": "exited"})
        return rows

    def _state(self) -> str:
        return "paused" if self.paused else "running"

    def _find(self, ref: str) -> str:
        import docker.errors

        for cid, name in ((CID, NAME), (STOPPED_ID, "fakeold")):
            if ref == name or (len(ref) >= 4 and cid.startswith(ref)):
                return cid
        raise docker.errors.NotFound(f"No such container: {ref}")

    def inspect_container(self, ref: str) -> dict[str, Any]:
        cid = self._find(ref)
        running = cid == CID
        return {
            "Id": cid,
            "Name": f"/{NAME}" if running else "/fakeold",
            "Image": "sha256:" + "1" * 64,
            "State": {
                "Status": self._state() if running else "exited",
                "Running": running,
                "Pid": self.pid if running else 0,
                "ExitCode": 0,
            },
            "Config": {"Image": "busybox", "Hostname": cid[:12], "Cmd": ["sleep", "300"]},
            "HostConfig": {"NetworkMode": "bridge", "Memory": self.memory, "PidsLimit": 0},
            "Mounts": [],
        }

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return {"RootFS": {"Layers": ["sha256:" + "2" * 64]}}

    def pause(self, ref: str) -> None:
        self.calls.append(("pause", self._find(ref)))
        self.paused = True

    def unpause(self, ref: str) -> None:
        self.calls.append(("unpause", self._find(ref)))
        self.paused = False

    # what docker/limits.py update_limits reaches of the SDK's APIClient
    def _url(self, path: str, ref: str) -> str:
        return path.format(self._find(ref))

    def _post_json(self, url: str, data: dict[str, Any]) -> FakeResponse:
        import docker.errors

        memory = data.get("Memory")
        if memory is not None and memory < MIN_MEMORY:
            raise docker.errors.APIError(
                "400 Client Error", explanation="Minimum memory limit allowed is 6MB"
            )
        self.calls.append(("update", data))
        if memory is not None:
            self.memory = memory
        return FakeResponse({"Warnings": []})

    def _result(self, response: FakeResponse, json: bool = False) -> dict[str, Any]:
        return response.body


class FakeDocker:
    def __init__(self, pid: int | None = None) -> None:
        self.api = FakeAPI(os.getpid() if pid is None else pid)

    def info(self) -> dict[str, Any]:
        return {"CgroupDriver": "cgroupfs", "CgroupVersion": "1", "DockerRootDir": "/var/lib/docker"}

    def close(self) -> None:
        pass


def main() -> int:
    """An agent whose Docker is a FakeDocker: its container's init is $FAKE_MONITOR_PID."""
    from beefine_tui.agent.server import Agent
    from beefine_tui.appcontext import AppContext

    ctx = AppContext(docker_host="fake://monitor", bpf_allowed=False)
    ctx._client = FakeDocker(int(os.environ.get("FAKE_MONITOR_PID") or os.getpid()))  # type: ignore[assignment]
    return Agent(sys.stdin.buffer, sys.stdout.buffer, ctx=ctx).run()


if __name__ == "__main__":
    sys.exit(main())
