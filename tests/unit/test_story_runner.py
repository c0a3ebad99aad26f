"""The container runner against a fake Docker client: labels, the pull stream as events, clear errors,
and removal that happens exactly once however often stop() is called."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import docker.errors
import pytest
import requests

from beefine_tui.docker.runner import ContainerRun, remove_image
from beefine_tui.errors import BeefineError, DockerUnavailableError, NotFoundError, UsageError
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
            def create(
                self, image: str, cmd: Any, labels: dict[str, str], detach: bool, **options: Any
            ) -> FakeContainer:
                outer.created.append({"image": image, "cmd": cmd, "labels": labels, "options": options})
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
    stream: list[dict[str, Any]] = [
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
    r, got = run(client)
    with pytest.raises(NotFoundError) as ei:
        r.run()
    assert "manifest unknown" in ei.value.message
    assert not client.created
    # the story learns why the pull failed from the same bus
    done = [e for e in got if e.kind == "pull_done"]
    assert len(done) == 1 and done[0].args["error"] == "manifest unknown"
    r.stop()


class RemovingApi:
    """docker's low-level remove_image: records the call, answers like the daemon does."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, bool]] = []

    def remove_image(self, image: str, force: bool = False) -> Any:
        self.calls.append((image, force))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class RemovingClient:
    def __init__(self, answer: Any) -> None:
        self.api = RemovingApi(answer)


def _api_error(status: int, msg: str) -> docker.errors.APIError:
    resp = requests.Response()
    resp.status_code = status
    return docker.errors.APIError(msg, response=resp, explanation=msg)


def test_fresh_pull_removes_only_that_reference_never_forced() -> None:
    client = RemovingClient([{"Untagged": "r/x:1"}, {"Deleted": "sha256:a"}, {"Deleted": "sha256:b"}])
    said = remove_image(client, "r/x:1")
    assert client.api.calls == [("r/x:1", False)]
    assert said.startswith("removed r/x:1")


def test_fresh_pull_says_when_another_tag_keeps_the_layers() -> None:
    client = RemovingClient([{"Untagged": "r/x:1"}])
    assert "another tag keeps its layers" in remove_image(client, "r/x:1")


def test_fresh_pull_of_an_absent_image_removes_nothing() -> None:
    client = RemovingClient(docker.errors.ImageNotFound("No such image: r/x:1"))
    assert "nothing to remove" in remove_image(client, "r/x:1")


def test_fresh_pull_refuses_an_image_a_container_uses() -> None:
    msg = 'conflict: unable to remove repository reference "r/x:1" (must force) - container 0123abcd is using'
    client = RemovingClient(_api_error(409, msg))
    with pytest.raises(UsageError) as ei:
        remove_image(client, "r/x:1")
    assert "used by a container" in ei.value.message and "0123abcd" in ei.value.message
    assert "nothing ran" in ei.value.message
    assert client.api.calls == [("r/x:1", False)]  # asked once, never retried with force


def test_fresh_pull_other_daemon_errors_are_clear() -> None:
    client = RemovingClient(_api_error(500, "driver failed"))
    with pytest.raises(BeefineError) as ei:
        remove_image(client, "r/x:1")
    assert "could not remove r/x:1: driver failed" in ei.value.message


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


def test_docker_run_options_are_passed_to_create() -> None:
    client = FakeClient([], [0])
    r, _ = run(client, ["true"])
    r.create_options = {"security_opt": ["no-new-privileges"], "read_only": True}
    r.create()
    assert client.created[0]["options"] == {"security_opt": ["no-new-privileges"], "read_only": True}
    r.stop()


def test_a_container_whose_create_was_interrupted_is_found_by_its_run_label_and_removed() -> None:
    """Ctrl-C or SIGTERM (SystemExit) during create: the daemon made the container but we never got its
    id; stop() must still remove it (found by beefine.run=<tag>), and the labels name us as owner."""
    client = FakeClient([], [])
    made = client.container
    listed: list[Any] = []

    def create(image: str, cmd: Any, labels: dict[str, str], detach: bool, **options: Any) -> FakeContainer:
        client.created.append({"labels": labels})
        raise KeyboardInterrupt  # after the daemon made it, before the reply was read

    def list_(all: bool, filters: dict[str, str], sparse: bool = False) -> list[FakeContainer]:
        listed.append(filters)
        ours = filters == {"label": f"beefine.run={r.run_tag}"}
        return [made] if ours and not made.removed else []

    client.containers.create = create  # type: ignore[method-assign]
    client.containers.list = list_  # type: ignore[attr-defined]
    r, _ = run(client)
    with pytest.raises(KeyboardInterrupt):
        r.create()
    r.stop()
    r.stop()  # idempotent
    # looked again after removing it: a create the daemon finished late is caught too
    assert made.removed == 1 and len(listed) == 2
    labels = client.created[0]["labels"]
    assert labels["beefine.owner.pid"] == str(os.getpid()) and labels["beefine.owner.boot"]


def test_stop_before_create_lists_nothing() -> None:
    client = FakeClient([], [])
    r, _ = run(client)
    r.stop()
    assert client.container.removed == 0
