"""Changing isolation through Docker: the cgroup files hold the new values; a rejected change leaves
them as they were; pause freezes the cgroup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from beefine_tui.docker.cgroups import CgroupReader
from beefine_tui.docker.limits import pause, unpause, update_limits
from beefine_tui.errors import BeefineError, NotFoundError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def sleeper(lab: Any, lab_client: Any, labels: dict[str, str]) -> tuple[Any, CgroupReader]:
    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "600"], detach=True, labels=labels, mem_limit="64m", pids_limit=50
    )
    c.reload()
    return c, CgroupReader.for_pid(c.attrs["State"]["Pid"])


def test_update_writes_cgroup_files(lab: Any, lab_client: Any, cleanup_containers: dict[str, str]) -> None:
    c, cg = sleeper(lab, lab_client, cleanup_containers)
    change = update_limits(lab_client, c.id, memory=96 << 20, cpus=0.3, pids=25)
    assert "Memory=100663296" in change.text()
    lim = cg.limits()
    assert lim.memory_bytes == 96 << 20
    assert lim.cpus == 0.3
    assert lim.pids_max == 25
    if cg.version == 1:  # the raw files, independently of the reader
        assert Path(cg.dirs["memory"], "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
        assert Path(cg.dirs["pids"], "pids.max").read_text().strip() == "25"
    c.reload()
    assert c.attrs["HostConfig"]["Memory"] == 96 << 20 and c.attrs["HostConfig"]["PidsLimit"] == 25
    # and back down below the old value (memsw must follow or the kernel refuses)
    update_limits(lab_client, c.id, memory=32 << 20)
    assert cg.limits().memory_bytes == 32 << 20


def test_rejected_memory_changes_nothing(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c, cg = sleeper(lab, lab_client, cleanup_containers)
    before = cg.limits()
    with pytest.raises(BeefineError) as ei:
        update_limits(lab_client, c.id, memory=4 << 20)
    assert "Minimum memory limit" in ei.value.message
    after = cg.limits()
    assert after.memory_bytes == before.memory_bytes == 64 << 20
    assert after.pids_max == before.pids_max == 50


def test_pause_and_unpause_freeze_the_cgroup(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c, cg = sleeper(lab, lab_client, cleanup_containers)
    pause(lab_client, c.id)
    try:
        assert cg.usage().frozen is True
        c.reload()
        assert c.status == "paused"
    finally:
        unpause(lab_client, c.id)
    assert cg.usage().frozen is False


def test_unknown_container(lab: Any, lab_client: Any) -> None:
    with pytest.raises(NotFoundError):
        update_limits(lab_client, "no-such-container-beefine", pids=10)
