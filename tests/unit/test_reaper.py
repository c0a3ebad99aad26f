"""What a dead beefine-tui left is found by pid AND start time AND boot id: a live owner (another
beefine-tui, another test's lab) is never touched, a reused pid is not the owner."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import docker.errors
import pytest

from beefine_tui.docker import ownership, reaper


def test_this_process_is_a_live_owner() -> None:
    assert reaper.dead_owner(reaper.owner_labels()) is None


def test_a_reused_pid_is_not_the_owner() -> None:
    # the recorded owner started earlier in this boot than the process now holding its pid. Halved,
    # not an hour back: a time since boot of 0 or less reads as a record without one (older
    # versions), which compares the epoch start instead, and this failed within an hour of boot
    labels = reaper.owner_labels()
    since = float(labels[reaper.OWNER_SINCE_BOOT])
    assert since / 2 > ownership.SAME_TICK_S
    labels[reaper.OWNER_SINCE_BOOT] = f"{since / 2:.2f}"
    assert reaper.dead_owner(labels) == os.getpid()


def _step_the_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """What a stepped or slewed clock does to /proc/stat's btime, and so to psutil's create_time()."""
    import psutil._pslinux as pslinux

    real = pslinux.boot_time
    monkeypatch.setattr(pslinux, "boot_time", lambda: real() + seconds)


def test_a_stepped_clock_does_not_make_a_live_owner_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    # btime moved by one second made every owner look dead, and a concurrent beefine-tui removed
    # a live test session's labs (seen in a full run beside other sessions)
    labels = reaper.owner_labels()
    _step_the_clock(monkeypatch, 1.0)
    assert reaper.dead_owner(labels) is None


def test_labels_of_older_versions_are_judged_by_their_epoch_start(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = reaper.owner_labels()
    del labels[reaper.OWNER_SINCE_BOOT]
    _step_the_clock(monkeypatch, 1.0)
    assert reaper.dead_owner(labels) is None
    labels[reaper.OWNER_START] = str(float(labels[reaper.OWNER_START]) - 3600)
    assert reaper.dead_owner(labels) == os.getpid()


def test_another_boot_means_dead_even_if_the_pid_and_time_match() -> None:
    labels = reaper.owner_labels()
    labels[reaper.OWNER_BOOT] = "00000000-0000-0000-0000-000000000000"
    assert reaper.dead_owner(labels) == os.getpid()


def test_an_exited_process_is_dead() -> None:
    p = subprocess.Popen(["sleep", "0"])
    labels = reaper.owner_labels(p.pid)
    p.wait()
    assert reaper.dead_owner(labels) == p.pid


def test_containers_without_owner_labels_are_never_judged() -> None:
    assert reaper.dead_owner({"beefine": "1"}) is None
    assert reaper.dead_owner({reaper.OWNER_PID: "x", reaper.OWNER_START: "1"}) is None


class FakeContainer:
    def __init__(self, short_id: str, labels: dict[str, str], fail: str = "") -> None:
        self.short_id, self.fail = short_id, fail
        self.attrs = {"Id": short_id, "Labels": labels}  # what a sparse list gives
        self.removed = False

    def remove(self, force: bool = False) -> None:
        if self.fail:
            raise RuntimeError(self.fail)
        self.removed = force


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = self
        self._all = containers
        self.filters: Any = None

    def list(self, all: bool = False, sparse: bool = False, filters: Any = None) -> list[FakeContainer]:
        self.filters = filters
        if not sparse:
            # docker-py inspects each listed container: one removed meanwhile fails the whole list
            raise docker.errors.NotFound("No such container: eee (removed after the list)")
        return self._all


def test_reap_removes_only_containers_of_dead_owners() -> None:
    dead = reaper.owner_labels()
    dead[reaper.OWNER_SINCE_BOOT] = "1.00"
    mine = FakeContainer("aaa", {"beefine": "1", **reaper.owner_labels()})
    left = FakeContainer("bbb", {"beefine": "1", **dead})
    old = FakeContainer("ccc", {"beefine": "1"})
    stuck = FakeContainer("ddd", {"beefine": "1", **dead}, fail="device busy")
    client = FakeClient([mine, left, old, stuck])
    removed, failed = reaper.reap_containers(client)
    assert client.filters == {"label": "beefine=1"}
    assert removed == [("bbb", os.getpid())]
    assert left.removed and not mine.removed and not old.removed
    assert failed == ["container ddd: device busy"]


@pytest.mark.parametrize(
    ("labs", "containers", "failed", "expected"),
    [
        ([], [], [], ""),
        (["app-12"], [], [], "removed what a killed beefine-tui left: lab app-12"),
        (
            ["a", "b"],
            [("c1", 7), ("c2", 7)],
            [],
            "removed what a killed beefine-tui left: labs a, b; 2 containers (c1, c2) of pid 7",
        ),
        ([], [], ["lab x: busy"], "could not remove: lab x: busy"),
    ],
)
def test_one_line_says_what_was_removed(
    labs: list[str], containers: list[tuple[str, int]], failed: list[str], expected: str
) -> None:
    assert reaper.Reaped(labs, containers, failed).line() == expected
