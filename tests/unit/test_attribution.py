from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from beefine_tui.errors import NotFoundError
from beefine_tui.events.model import Event, lost_event, status_event
from beefine_tui.probes import attribution, bt_namespaces, fork, mounts
from beefine_tui.probes import exec as ex
from beefine_tui.probes import user_program as up
from beefine_tui.probes.base import Target
from beefine_tui.probes.bpftrace_runner import BpftraceRunner
from beefine_tui.probes.decode_context import DecodeContext, attributed
from beefine_tui.probes.user_program.bcc_program import OutputTable

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


# --------------------------------------------------------------------------------------------------
# one rule for parent pid and container, whichever engine saw the event

CID = "c0" * 32
GONE = MISSING_PID  # a short-lived process: already gone from /proc when its event is decoded


@pytest.fixture
def parent_in_container(monkeypatch: pytest.MonkeyPatch) -> int:
    """This test process stands in for a live parent inside container CID (its cgroup says so)."""
    me = os.getpid()
    real = attribution.container_id_for_pid
    monkeypatch.setattr(attribution, "container_id_for_pid", lambda pid: CID if pid == me else real(pid))
    return me


def test_proc_table_reads_proc_and_forgets() -> None:
    table = attribution.ProcTable()
    info = table.info(os.getpid())
    assert info.ppid == os.getppid() and info.comm and not info.gone
    table.forget(os.getpid())
    assert os.getpid() not in table
    assert table.info(GONE).gone


def test_proc_table_is_bounded() -> None:
    table = attribution.ProcTable(cache_size=3)
    for pid in range(10_000_000, 10_000_010):
        table.note_fork(os.getpid(), pid, "x")
    assert len(table) == 3
    assert table.info(10_000_009).ppid == os.getpid()


def test_target_container_wins() -> None:
    a = attribution.Attributor(Target(container_id="d" * 64))
    ev = a.attribute(Event(ts=1, probe="p", kind="k", pid=1))
    assert ev.container == "d" * 64


def test_live_process_keeps_its_own_cgroup(parent_in_container: int) -> None:
    # a live process's own cgroup is the answer, even when it is None (a host process)
    a = attribution.Attributor()
    assert a.attribute(Event(ts=1, probe="p", kind="k", pid=parent_in_container)).container == CID
    assert a.attribute(Event(ts=1, probe="p", kind="k", pid=1)).container is None


def test_loss_and_status_events_are_left_alone() -> None:
    a = attribution.Attributor(Target(container_id=CID))
    for ev in (lost_event("p", 3, "kernel"), status_event("p", "running")):
        assert a.attribute(ev) is ev


def _bcc_exec(parent: int) -> Event | None:
    """An exec record of GONE whose kernel side knew the parent, decoded as BccRunner does."""
    argv = b"/bin/true\0"
    raw = ex.EXEC_HEAD.pack(
        5, ex.EXEC_KIND, GONE, GONE, parent, b"true", 0, 1, len(argv), 0, 0, b"/bin/true"
    ) + argv.ljust(ex.MAX_ARGS * 128, b"\0")
    return attributed(ex.decode, attribution.Attributor())(raw, DecodeContext())


def _bcc_mount_after_fork(parent: int) -> Event | None:
    """A mount record of GONE carries no parent: BccRunner knows it from the fork event it saw."""
    attributor = attribution.Attributor()
    fork_raw = fork.FORK_REC.pack(4, 1, parent, parent, 0, b"sh", GONE, 0, 0)
    attributed(fork.decode, attributor)(fork_raw, DecodeContext())
    mount_raw = mounts.REC.pack(5, 3, GONE, GONE, 0, b"sh", 0, 0, 0, 0, 0, 0, 0, b"", b".", b".")
    return attributed(mounts.decode, attributor)(mount_raw, DecodeContext())


def _bpftrace(parent: int) -> Event | None:
    """A bt-namespaces line (bpftrace prints the parent it read from the task), through the runner."""
    before = ",".join(["4026531836"] * 7)
    line = f"unshare\t5\t{GONE}\t{GONE}\t{parent}\tunshare\t1140850688\t0\t{before}\t{before}"
    runner = BpftraceRunner("bt-namespaces", "BEGIN {}", decode_line=bt_namespaces.decode)
    batch: list[Event] = []
    runner._handle_line(True, json.dumps({"type": "printf", "data": line + "\n"}).encode(), batch)
    return batch[0] if batch else None


def _user_bcc(parent: int) -> Event | None:
    """A user's BCC program's record with pid and ppid fields, through UserBccProgram's own recording."""
    prog = up.UserBccProgram("int f(void *ctx) { return 0; }")
    values = {"pid": GONE, "ppid": parent, "comm": "true"}
    prog.outputs["events"] = OutputTable("events", 0, tuple(values), lambda data, size: dict(values))
    return prog._event("events", 0, 0)


@pytest.mark.parametrize("engine", [_bcc_exec, _bcc_mount_after_fork, _bpftrace, _user_bcc])
def test_short_lived_process_is_attributed_alike_by_every_engine(
    engine: Callable[[int], Event | None], parent_in_container: int
) -> None:
    ev = engine(parent_in_container)
    assert ev is not None and ev.pid == GONE
    assert (ev.ppid, ev.container) == (parent_in_container, CID)
