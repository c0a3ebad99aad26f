"""Choosing and connecting to a Docker daemon, without one: precedence and the error messages."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from beefine_tui.docker import client
from beefine_tui.errors import DockerUnavailableError, NotFoundError


@pytest.fixture
def no_system_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    sock = tmp_path / "docker.sock"
    monkeypatch.setattr(client, "SYSTEM_SOCKET", str(sock))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    yield sock


def test_explicit_beats_env(monkeypatch: pytest.MonkeyPatch, no_system_daemon: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///from/env.sock")
    assert client.resolve_docker_host("unix:///explicit.sock") == "unix:///explicit.sock"
    assert client.resolve_docker_host("/bare/path.sock") == "unix:///bare/path.sock"
    assert client.resolve_docker_host(None) == "unix:///from/env.sock"


def test_nothing_answers_gives_none(no_system_daemon: Path) -> None:
    assert client.resolve_docker_host(None) is None


def test_a_dead_system_socket_is_not_used(no_system_daemon: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(no_system_daemon))  # exists, but nobody accepts
    try:
        assert client.resolve_docker_host(None) is None
    finally:
        s.close()


def test_a_silent_daemon_times_out_quickly(no_system_daemon: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(no_system_daemon))
    s.listen()  # accepts into the backlog but never answers
    try:
        assert client.ping(f"unix://{no_system_daemon}", timeout=0.3) is False
    finally:
        s.close()


def test_connect_to_missing_socket_says_so(tmp_path: Path) -> None:
    with pytest.raises(DockerUnavailableError, match="no Docker socket at") as e:
        client.connect(f"unix://{tmp_path}/nope.sock", timeout=1)
    assert "lab up" in e.value.hint


def test_connect_to_a_socket_nobody_serves(tmp_path: Path) -> None:
    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file stays, nothing listens
    with pytest.raises(DockerUnavailableError, match="does not answer"):
        client.connect(f"unix://{path}", timeout=1)


def test_connect_with_a_nonsense_address() -> None:
    with pytest.raises(DockerUnavailableError):
        client.connect("ftp://example", timeout=1)


def test_permission_denied_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "docker.sock"
    path.write_text("")
    monkeypatch.setattr(client.os, "access", lambda p, mode: False)
    err = client.explain_unreachable(f"unix://{path}")
    assert "permission denied" in err.message and "root" in err.hint


def test_signals_become_system_exit_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as e, client.exit_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between bytecodes
            pass
    assert e.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before


def test_sighup_too() -> None:
    with pytest.raises(SystemExit) as e, client.exit_on_signals():
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            pass
    assert e.value.code == 128 + signal.SIGHUP


def test_app_uses_a_given_daemon_without_a_lab() -> None:
    with client.docker_for_app("unix:///some/where.sock") as (host, lab):
        assert host == "unix:///some/where.sock" and lab is None


def test_the_app_lab_removed_by_the_app_first_ends_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app downs its lab itself before its probes detach; the daemon context then found no lab and
    a clean ctrl+q ended with "there is no lab named 'app'" and exit status 2 (seen in tmux)."""
    labs: set[str] = set()

    def up(name: str) -> SimpleNamespace:
        labs.add(name)
        return SimpleNamespace(name=name, docker_host=f"unix:///run/{name}.sock")

    def down(name: str) -> None:
        if name not in labs:
            raise NotFoundError(f"there is no lab named {name!r}")
        labs.remove(name)

    monkeypatch.setattr(client, "resolve_docker_host", lambda explicit: None)
    monkeypatch.setattr(client.lab, "lab_names", lambda: sorted(labs))
    monkeypatch.setattr(client.lab, "down_orphans", lambda names: list(names) and [])
    monkeypatch.setattr(client.lab, "status", lambda name: None)
    monkeypatch.setattr(client.lab, "up", up)
    monkeypatch.setattr(client.lab, "down", down)
    with client.docker_for_app(None) as (host, info):
        assert info is not None and host == f"unix:///run/{info.name}.sock" and labs == {info.name}
        client.lab.down(info.name)  # what the app's clean-up does on quit
    assert labs == set()
