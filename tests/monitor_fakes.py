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
HOST_CPUS = 12  # what the stand-in daemon says of its host (not this machine's)
HOST_MEMORY = 48 << 30


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

    def stats(self, ref: str, stream: bool = False) -> dict[str, Any]:
        """The Engine API's one-shot stats (the dashboard's `stats` when no cgroup is read)."""
        self._find(ref)
        return {"pids_stats": {"current": 1}}

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


class FakeContainer:
    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self.id = str(attrs["Id"])
        self.name = str(attrs["Name"]).lstrip("/")


class FakeContainers:
    """`client.containers.get`, which probes/attribution.py target_for_container uses."""

    def __init__(self, api: FakeAPI) -> None:
        self.api = api

    def get(self, ref: str) -> FakeContainer:
        return FakeContainer(self.api.inspect_container(ref))


class FakeDocker:
    def __init__(self, pid: int | None = None) -> None:
        self.api = FakeAPI(os.getpid() if pid is None else pid)
        self.containers = FakeContainers(self.api)

    def info(self) -> dict[str, Any]:
        return {
            "ServerVersion": "20.10-fake",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "1",
            "DockerRootDir": "/var/lib/docker",
            "NCPU": HOST_CPUS,
            "MemTotal": HOST_MEMORY,
            "ContainersRunning": 1,
        }

    def close(self) -> None:
        pass


EXEC_PID = 4_000_000  # the pid of the exec events a stream of this agent reports (no such process)


class ExecSession:
    """A probe stream without BPF: an exec event in the followed container every half second (the
    view's pump subscribes once the session is started: one event alone could come before it)."""

    def __init__(self, container_id: str | None, bus: Any) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(container_id, bus), daemon=True)
        self._thread.start()

    def _run(self, container_id: str | None, bus: Any) -> None:
        import time

        from beefine_tui.events.model import Event
        from beefine_tui.probes.exec import ExecArgs

        while not self._stop.wait(0.5):
            ev = Event(
                ts=time.monotonic_ns(),
                probe="exec",
                kind="exec",
                pid=EXEC_PID,
                ppid=1,
                comm="sh",
                container=container_id,
                args=ExecArgs(filename="/bin/echo", argv=["echo", "fake-live-exec"]),
            )
            bus.publish([ev])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def main() -> int:
    """An agent whose Docker is a FakeDocker (its container's init is $FAKE_MONITOR_PID) and whose
    probe streams are ExecSessions."""
    from beefine_tui.agent.server import Agent
    from beefine_tui.appcontext import AppContext
    from beefine_tui.probes.catalog import all_probes

    all_probes()
    ctx = AppContext(docker_host="fake://monitor", bpf_allowed=False)
    ctx._client = FakeDocker(int(os.environ.get("FAKE_MONITOR_PID") or os.getpid()))  # type: ignore[assignment]

    def start(names: Any, options: Any, bus: Any) -> ExecSession:
        return ExecSession(options.target.container_id, bus)

    return Agent(sys.stdin.buffer, sys.stdout.buffer, ctx=ctx, start_session=start).run()


if __name__ == "__main__":
    sys.exit(main())
