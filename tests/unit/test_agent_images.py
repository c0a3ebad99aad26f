"""The agent's `images` command (the Image monitor's pick list over --remote), with a stand-in Docker
client: every tag once, sorted; a daemon that fails is a `failed` error, never a traceback; hello
names the capability."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from beefine_tui.agent import protocol as P
from tests.unit.test_agent_trace import Harness


class FakeImages:
    def __init__(self, tags: list[list[str]] | None) -> None:
        self.tags = tags

    def list(self) -> list[Any]:
        if self.tags is None:
            raise ConnectionError("the daemon went away")
        return [SimpleNamespace(tags=t) for t in self.tags]


@pytest.fixture
def h() -> Iterator[Harness]:
    har = Harness()
    yield har
    if not har.inp.closed:
        har.close()


def _with_daemon(h: Harness, tags: list[list[str]] | None) -> None:
    client = SimpleNamespace(images=FakeImages(tags))
    h.agent._docker = lambda: client  # type: ignore[method-assign]


def test_images_lists_every_tag_once_sorted(h: Harness) -> None:
    _with_daemon(h, [["busybox:latest", "127.0.0.1:5000/small:1"], [], ["busybox:latest", "alpine:3"]])
    h.cmd("images", 7)
    m = h.read()
    assert isinstance(m, P.Reply) and m.id == 7
    assert m.result == {"images": ["127.0.0.1:5000/small:1", "alpine:3", "busybox:latest"]}


def test_a_failing_daemon_is_a_clear_error(h: Harness) -> None:
    _with_daemon(h, None)
    h.cmd("images", 8)
    m = h.read()
    assert isinstance(m, P.Error) and m.id == 8 and m.code == P.FAILED
    assert "did not list its images: the daemon went away" in m.message


def test_hello_names_images() -> None:
    har = Harness()
    try:
        har.cmd("hello", 1, protocol=P.PROTOCOL)
        m = har.read()
        assert isinstance(m, P.Reply) and "images" in m.result["capabilities"]
    finally:
        har.close()
