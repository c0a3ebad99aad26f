"""cgroups probe on the real kernel: a traced child creates a cgroup of its own, moves a grandchild into
it and removes it (cgroup v1 `pids` hierarchy here; the unified root on a pure v2 host). Exactly those
three events arrive with the path; the cgroup is gone afterwards whatever happened."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from beefine_tui.probes import cgroups
from tests.integration.probe_harness import run_traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# ---- the tests


def hierarchy_root() -> tuple[Path, str]:
    """Where to make a test cgroup: v1's pids hierarchy (this machine), else the v2 root."""
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists():
        return v1, "pids"
    v2 = Path("/sys/fs/cgroup")
    if (v2 / "cgroup.controllers").exists():
        return v2, "cgroup2"
    pytest.skip("no cgroup v1 pids hierarchy and no cgroup v2 root here")


@pytest.fixture
def test_cgroup() -> Iterator[tuple[Path, str]]:
    root, controllers = hierarchy_root()
    d = root / f"beefine-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        yield d, controllers
    finally:
        # whatever the child did: move stragglers out, then remove the directory
        with contextlib.suppress(OSError):
            for pid in (d / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
        for _ in range(50):
            if not d.exists():
                break
            with contextlib.suppress(OSError):
                d.rmdir()
            time.sleep(0.1)
        assert not d.exists(), f"test cgroup {d} left behind"


def test_mkdir_attach_rmdir(test_cgroup: tuple[Path, str]) -> None:
    d, controllers = test_cgroup
    code = f"""
import os, signal
d = {str(d)!r}
os.mkdir(d)
pid = os.fork()
if pid == 0:
    signal.pause()
    os._exit(0)
with open(d + "/cgroup.procs", "w") as f:
    f.write(str(pid))
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
os.rmdir(d)
print(pid)
"""
    noise = d.parent / f"{d.name}-noise"

    def outside() -> None:  # the same work from this untraced process must not show up
        noise.mkdir()
        noise.rmdir()

    events, out = run_traced(
        cgroups, code, lambda evs: any(e.kind == "cgroup_rmdir" for e in evs), during=outside
    )
    gc = int(out.split()[-1])
    path = "/" + d.name
    assert [e.kind for e in events] == ["cgroup_mkdir", "cgroup_attach", "cgroup_rmdir"], events
    mk, at, rm = events
    assert mk.args["path"] == path and at.args["path"] == path and rm.args["path"] == path
    assert mk.args["level"] == 1 and mk.args["controllers"] == controllers
    assert mk.args["hierarchy"] == at.args["hierarchy"] == rm.args["hierarchy"]
    assert mk.args["id"] == at.args["id"] == rm.args["id"] and mk.args["id"] > 0
    assert at.args["target_pid"] == gc and at.args["target_comm"].startswith("python")
    assert mk.pid == at.pid == rm.pid != gc  # the child did the work; the grandchild was moved
    assert "container_id" not in mk.args
    assert mk.text == f"made {controllers}:{path}"


def test_a_300_character_cgroup_path_is_marked_cut(test_cgroup: tuple[Path, str]) -> None:
    """Nested cgroups whose deepest path (from the hierarchy's root) is 300 characters: its mkdir and
    rmdir carry the first 255 bytes, "…" and truncated: true; the shallower ones come whole."""
    d, _controllers = test_cgroup
    parts = [d.name, "c" * 90, "c" * 90]
    deep_rel = "/" + "/".join(parts)
    parts.append("z" * (300 - len(deep_rel) - 1))
    rels = ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
    assert len(rels[-1]) == 300
    code = f"""
import os
dirs = [os.path.join({str(d.parent)!r}, rel.lstrip("/")) for rel in {rels!r}]
for x in dirs:
    os.mkdir(x)
for x in reversed(dirs):
    os.rmdir(x)
"""
    events, _ = run_traced(
        cgroups, code, lambda evs: sum(1 for e in evs if e.kind == "cgroup_rmdir") >= len(rels)
    )
    made = [e for e in events if e.kind == "cgroup_mkdir"]
    assert [e.args["path"] for e in made] == [*rels[:-1], rels[-1][:255] + "…"]
    assert made[-1].args["truncated"] is True
    assert not [e for e in made[:-1] if e.args["truncated"]]
    removed = [e for e in events if e.kind == "cgroup_rmdir"]
    assert removed[0].args["path"] == rels[-1][:255] + "…" and removed[0].args["truncated"] is True
