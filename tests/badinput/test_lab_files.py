"""What lab daemons leave outside /run/beefine (plugin and shim socket directories) is removed when
the last daemon is gone, never while another daemon may use it, and never with someone's files in it;
the lab's registry login is found only for a lab's own registry."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from beefine_tui.docker import lab


@pytest.fixture
def shared(tmp_path: Path) -> list[Path]:
    dirs = [
        tmp_path / "docker/plugins",
        tmp_path / "docker",
        tmp_path / "containerd/s",
        tmp_path / "containerd",
    ]
    dirs[0].mkdir(parents=True)
    dirs[2].mkdir(parents=True)
    return dirs


def test_removed_when_no_daemon_runs(shared: list[Path]) -> None:
    assert lab.remove_shared_daemon_dirs(shared, ["bash", "python3"]) == [str(d) for d in shared]
    assert not any(d.exists() for d in shared)


@pytest.mark.parametrize("other", ["dockerd", "containerd", "containerd-shim-runc-v2"])
def test_kept_while_another_daemon_runs(shared: list[Path], other: str) -> None:
    assert lab.remove_shared_daemon_dirs(shared, ["bash", other]) == []
    assert all(d.exists() for d in shared)


def test_someones_files_are_kept(shared: list[Path]) -> None:
    (shared[2] / "a-shim.sock").write_text("")
    removed = lab.remove_shared_daemon_dirs(shared, [])
    assert removed == [str(shared[0]), str(shared[1])]
    assert (shared[2] / "a-shim.sock").exists()


def test_private_files_are_0600_even_over_an_older_0644(tmp_path: Path) -> None:
    p = tmp_path / "lab.json"
    p.write_text("{}")
    p.chmod(0o644)
    lab.write_private(p, '{"name": "x"}')
    assert stat.S_IMODE(p.stat().st_mode) == 0o600 and json.loads(p.read_text()) == {"name": "x"}


def test_private_write_never_follows_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep")
    (tmp_path / "lab.json").symlink_to(target)
    with pytest.raises(OSError):
        lab.write_private(tmp_path / "lab.json", "{}")
    assert target.read_text() == "keep"


def test_registry_login_only_for_a_labs_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab, "RUN_DIR", tmp_path)
    sd = tmp_path / "lab-x"
    sd.mkdir()
    (sd / "lab.json").write_text(json.dumps({"registry": "127.0.0.1:5123"}))
    (sd / "registry-auth.json").write_text(json.dumps({"username": "beefine", "password": "pw"}))
    assert lab.registry_auth("127.0.0.1:5123") == {"username": "beefine", "password": "pw"}
    assert lab.registry_auth("127.0.0.1:5999") is None
    assert lab.registry_auth("docker.io") is None
    (sd / "registry-auth.json").write_text("not json")
    assert lab.registry_auth("127.0.0.1:5123") is None  # a broken file is no login, not a traceback
