from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from beefine_tui.errors import NotFoundError
from beefine_tui.probes import attribution

MISSING_PID = 2**22 + 4321  # above the default pid_max of 4194304


def test_target_for_pid() -> None:
    t = attribution.target_for_pid(os.getpid())
    assert t.pids == frozenset({os.getpid()})
    assert t.lineage_root is None and not t.is_host


def test_missing_pid() -> None:
    with pytest.raises(NotFoundError, match=str(MISSING_PID)):
        attribution.target_for_pid(MISSING_PID)
    with pytest.raises(NotFoundError):
        attribution.target_lineage(MISSING_PID)
    with pytest.raises(NotFoundError):
        attribution.target_for_pid(0)


def test_lineage_and_descendants() -> None:
    t = attribution.target_lineage(os.getpid())
    assert t.lineage_root == os.getpid()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in attribution.descendants(os.getpid())
        assert os.getpid() not in attribution.descendants(child.pid)
    finally:
        child.kill()
        child.wait()


class _NotFound(Exception):
    pass


class FakeContainer:
    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self.id = "f" * 64
        self.name = "fake"


class FakeClient:
    def __init__(self, container: FakeContainer | None) -> None:
        self._c = container

        class Containers:
            def get(_self, _id: str) -> FakeContainer:
                import docker.errors

                if self._c is None:
                    raise docker.errors.NotFound("no such container")
                return self._c

        self.containers = Containers()


def test_container_not_found() -> None:
    with pytest.raises(NotFoundError, match="no container 'ghost'"):
        attribution.target_for_container(FakeClient(None), "ghost")


def test_container_exited() -> None:
    c = FakeContainer({"State": {"Running": False, "Pid": 0, "Status": "exited"}})
    with pytest.raises(NotFoundError, match="not running"):
        attribution.target_for_container(FakeClient(c), "fake")


def test_container_running_uses_its_namespaces() -> None:
    # our own process stands in for the container's init process
    c = FakeContainer({"State": {"Running": True, "Pid": os.getpid(), "Status": "running"}})
    t = attribution.target_for_container(FakeClient(c), "fake")
    st = os.stat(f"/proc/{os.getpid()}/ns/pid")
    assert t.pidns == (st.st_dev, st.st_ino)
    assert t.mntns == os.stat(f"/proc/{os.getpid()}/ns/mnt").st_ino
    assert t.container_id == "f" * 64 and t.container_name == "fake"


def test_cgroup_v2_id_on_hybrid_host_is_none_or_int() -> None:
    v = attribution.cgroup_v2_id(os.getpid())
    assert v is None or v > 0


def test_cgroup_v2_id_is_the_inode_of_the_cgroup_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # a stand-in pure-v2 root: cgroup.controllers marks v2; our own "0::<path>" line names the dir
    with open(f"/proc/{os.getpid()}/cgroup") as f:
        v2 = [line.rstrip("\n").split(":", 2)[2] for line in f if line.startswith("0::")]
    if not v2:
        pytest.skip("no cgroup v2 line for this process")
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    d = tmp_path / v2[0].lstrip("/")
    d.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(attribution, "CGROUP2_ROOT", tmp_path)
    assert attribution.cgroup_v2_id(os.getpid()) == os.stat(d).st_ino
    (tmp_path / "cgroup.controllers").unlink()  # v1 or hybrid: no id
    assert attribution.cgroup_v2_id(os.getpid()) is None
