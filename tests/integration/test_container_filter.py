"""Container attribution against a real container in the lab: an exec inside it (docker exec) arrives,
attributed to the container; the same exec on the host does not; an exited container is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from beefine_tui.errors import NotFoundError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes import exec as exec_probe
from beefine_tui.probes.attribution import target_for_container
from beefine_tui.probes.base import ProbeOptions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_container_sees_inside_not_host(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "300"], detach=True, labels=cleanup_containers, network_mode="none"
    )
    try:
        c.reload()
        target = target_for_container(lab_client, c.name)
        assert target.container_id == c.id and target.pidns is not None
        assert target.pidns[1] != os.stat("/proc/self/ns/pid").st_ino
        inside, host = f"beefine-in-{uuid.uuid4().hex[:8]}", f"beefine-host-{uuid.uuid4().hex[:8]}"
        bus = Bus()
        sub = bus.subscribe("test")
        with exec_probe.make_runner(ProbeOptions(target=target)) as runner:
            runner.start(bus.publish)
            subprocess.run(["/bin/echo", host], check=True, stdout=subprocess.DEVNULL)
            res = c.exec_run(["/bin/echo", inside])
            assert res.exit_code == 0 and inside in res.output.decode()
            events: list[Event] = []
            end = time.monotonic() + 20
            while time.monotonic() < end and not any(
                e.kind == "exit" and e.pid in {x.pid for x in events if x.kind == "exec"} for e in events
            ):
                events.extend(sub.get(0.1))
        events += sub.get(0.3)
    finally:
        c.remove(force=True)
    execs = [e for e in events if e.kind == "exec" and inside in e.args["argv"]]
    assert len(execs) == 1, execs
    assert execs[0].container == c.id
    assert execs[0].args["filename"] == "/bin/echo" and execs[0].args["ret"] == 0
    assert any(e.kind == "exit" and e.pid == execs[0].pid and e.args["code"] == 0 for e in events)
    assert not [e for e in events if host in str(e.args)], "a host exec passed the container filter"
    # every event is from inside the container
    assert all(e.container == c.id for e in events if e.kind in ("exec", "exit"))


def test_exited_container_is_refused(lab: Any, lab_client: Any, cleanup_containers: dict[str, str]) -> None:
    c = lab_client.containers.run(lab.images["small"], ["true"], detach=True, labels=cleanup_containers)
    c.wait(timeout=60)
    with pytest.raises(NotFoundError, match="is not running"):
        target_for_container(lab_client, c.id)
    r = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "probe", "run", "exec", "--container", c.id[:12]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_HOST": lab.docker_host},
    )
    assert r.returncode == 2 and "is not running" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "beefine_tui",
            "probe",
            "run",
            "exec",
            "--container",
            "beefine-no-such-container",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_HOST": lab.docker_host},
    )
    assert r.returncode == 2 and "no container 'beefine-no-such-container'" in r.stderr


def test_cli_container_filter(lab: Any, lab_client: Any, cleanup_containers: dict[str, str]) -> None:
    """`probe run exec --container NAME --json`: the docker exec inside is printed with the container's
    id; the host exec is not."""
    import json
    import signal

    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "300"], detach=True, labels=cleanup_containers, network_mode="none"
    )
    inside, host = f"beefine-in-{uuid.uuid4().hex[:8]}", f"beefine-host-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "beefine_tui", "probe", "run", "exec", "--container", c.name, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DOCKER_HOST": lab.docker_host},
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the first line is the "running" status
            lines.append(line)
            if '"state":"running"' in line:
                break
        subprocess.run(["/bin/echo", host], check=True, stdout=subprocess.DEVNULL)
        assert c.exec_run(["/bin/echo", inside]).exit_code == 0
        for line in proc.stdout:
            lines.append(line)
            if inside in line:
                break
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=30)
        lines += out.splitlines()
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        c.remove(force=True)
    events = [json.loads(x) for x in lines if x.strip()]
    mine = [e for e in events if e["kind"] == "exec" and inside in e["args"]["argv"]]
    assert len(mine) == 1 and mine[0]["container"] == c.id
    assert not [e for e in events if host in json.dumps(e["args"])]
