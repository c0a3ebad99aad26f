"""The container runner against a fake Docker client: labels, the pull stream as events, clear errors,
and removal that happens exactly once however often stop() is called."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import docker.errors
import pytest
import requests

from beefine_tui.docker.runner import ContainerRun
from beefine_tui.errors import DockerUnavailableError, NotFoundError
from beefine_tui.events.model import Event


class FakeContainer:
    def __init__(self, wait_results: list[Any]) -> None:
        self.id = "f" * 64
        self.name = "fake"
        self.attrs = {"GraphDriver": {"Data": {"MergedDir": "/d/overlay2/mnt1/merged"}}}
        self.removed = 0
        self.wait_results = wait_results

    def start(self) -> None:
        pass

    def wait(self, timeout: float) -> dict[str, int]:
        r = self.wait_results.pop(0)
        if isinstance(r, BaseException):
            raise r
        return {"StatusCode": int(r)}

    def remove(self, force: bool) -> None:
        self.removed += 1


class FakeClient:
    def __init__(self, stream: list[dict[str, Any]], wait_results: list[Any]) -> None:
        self.stream = stream
        self.container = FakeContainer(wait_results)
        self.created: list[dict[str, Any]] = []
        outer = self

        class Api:
            def pull(
                self, repo: str, tag: str | None, stream: bool, decode: bool
            ) -> Iterator[dict[str, Any]]:
                yield from outer.stream

        class Containers:
            def create(self, image: str, cmd: Any, labels: dict[str, str], detach: bool) -> FakeContainer:
                outer.created.append({"image": image, "cmd": cmd, "labels": labels})
                return outer.container

        class Images:
            def get(self, name: str) -> Any:
                raise docker.errors.ImageNotFound("no")

        self.api = Api()
        self.containers = Containers()
        self.images = Images()


def run(client: FakeClient, cmd: list[str] | None = None) -> tuple[ContainerRun, list[Event]]:
    got: list[Event] = []

    def sink(batch: Sequence[Event]) -> None:
        got.extend(batch)

    return ContainerRun(client, "127.0.0.1:5/x:1", cmd, sink=sink), got


def test_pull_create_start_wait_and_remove_once() -> None:
    stream = [
        {"status": "Pulling from x", "id": "1"},
        {"status": "Downloading", "id": "abcdefabcdef", "progressDetail": {"current": 5, "total": 10}},
        {"status": "Pull complete", "id": "abcdefabcdef"},
    ]
    client = FakeClient(stream, [requests.exceptions.ReadTimeout(), 7])
    r, got = run(client, ["true"])
    progress: list[dict[str, Any]] = []
    r.on_progress = progress.append
    res = r.run()
    assert res.pulled and res.exit_code == 7 and res.mount_id == "mnt1"
    labels = client.created[0]["labels"]
    assert labels["beefine"] == "1" and labels["beefine.run"] == r.run_tag
    kinds = [e.kind for e in got]
    assert kinds[0] == "pull_start" and "container_create" in kinds and kinds[-1] == "container_exit"
    assert all(e.args["run"] == r.run_tag for e in got)
    assert progress[1] == {"id": "abcdefabcdef", "status": "Downloading", "current": 5, "total": 10}
    r.stop()
    r.stop()
    assert client.container.removed == 1


def test_pull_error_in_stream_is_not_found() -> None:
    client = FakeClient([{"error": "manifest unknown"}], [])
    r, _ = run(client)
    with pytest.raises(NotFoundError) as ei:
        r.run()
    assert "manifest unknown" in ei.value.message
    assert not client.created
    r.stop()


def test_daemon_lost_while_waiting() -> None:
    err = requests.exceptions.ConnectionError("Connection refused")
    client = FakeClient([], [err])
    r, _ = run(client)
    r.create()
    r.start()
    with pytest.raises(DockerUnavailableError):
        r.wait()
    r.stop()
    assert client.container.removed == 1
