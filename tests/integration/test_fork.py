"""fork probe and the in-kernel pid/lineage filters: a tracked process's fork and its child's exec
arrive; a sibling's do not; --pid without lineage does not follow the child."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Sequence

import pytest

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.session import ProbeSession

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# a shell that waits for a line on stdin, then forks /bin/true with a marker (not the last command,
# so the shell forks instead of exec'ing it directly)
SCRIPT = "read x; /bin/true {marker}; exit 0"


def collect_until(
    sub: Subscription, done: Callable[[Sequence[Event]], bool], timeout: float = 15
) -> list[Event]:
    events: list[Event] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done(events):
        events.extend(sub.get(0.1))
    return events


def spawn(marker: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["/bin/sh", "-c", SCRIPT.format(marker=marker)], stdin=subprocess.PIPE)


def go(p: subprocess.Popen[bytes]) -> None:
    assert p.stdin is not None
    p.stdin.write(b"go\n")
    p.stdin.close()
    assert p.wait(timeout=30) == 0


def run_pair(target_of: Callable[[int], Target]) -> tuple[list[Event], int, int, str, str]:
    mine, sibling = f"beefine-mine-{uuid.uuid4().hex[:8]}", f"beefine-sib-{uuid.uuid4().hex[:8]}"
    a, b = spawn(mine), spawn(sibling)
    try:
        bus = Bus()
        sub = bus.subscribe("test")
        with ProbeSession(["fork", "exec"], ProbeOptions(target=target_of(a.pid)), bus, strict=True):
            go(b)  # sibling first: anything of it would be in the stream before ours
            go(a)
            events = collect_until(
                sub, lambda evs: any(e.kind == "exit" and e.pid == a.pid for e in evs), timeout=10
            )
        events += sub.get(0.5)
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait()
    return events, a.pid, b.pid, mine, sibling


def test_lineage_sees_child_not_sibling() -> None:
    events, a, b, mine, sibling = run_pair(lambda pid: Target(lineage_root=pid))
    forks = [e for e in events if e.kind == "fork" and e.pid == a]
    assert len(forks) == 1, forks
    child = forks[0].args["child_pid"]
    assert forks[0].args["thread"] is False and forks[0].comm == "sh"
    execs = [e for e in events if e.kind == "exec" and e.args["argv"] == ["/bin/true", mine]]
    assert len(execs) == 1 and execs[0].pid == child
    assert any(e.kind == "exit" and e.pid == child and e.args["code"] == 0 for e in events)
    assert any(e.kind == "exit" and e.pid == a and e.args["code"] == 0 for e in events)
    assert not [e for e in events if e.pid == b or sibling in str(e.args)], "sibling leaked through"


def test_pid_only_does_not_follow_children() -> None:
    events, a, b, _mine, sibling = run_pair(lambda pid: Target(pids=frozenset({pid})))
    forks = [e for e in events if e.kind == "fork" and e.pid == a]
    assert len(forks) == 1, forks  # the fork happens in the tracked process
    child = forks[0].args["child_pid"]
    assert not [e for e in events if e.pid == child], "the child was followed without lineage"
    assert not [e for e in events if e.pid == b or sibling in str(e.args)]
    assert any(e.kind == "exit" and e.pid == a for e in events)


def test_thread_is_marked() -> None:
    import os
    import threading

    bus = Bus()
    sub = bus.subscribe("test")
    with ProbeSession(["fork"], ProbeOptions(target=Target(pids=frozenset({os.getpid()}))), bus, strict=True):
        t = threading.Thread(target=lambda: None, name="beefine-test-thread")
        t.start()
        tid = t.native_id
        t.join()
        events = collect_until(sub, lambda evs: any(e.args.get("child_tid") == tid for e in evs))
    mine = [e for e in events if e.kind == "fork" and e.args.get("child_tid") == tid]
    assert len(mine) == 1
    assert mine[0].args["thread"] is True and mine[0].args["child_pid"] == os.getpid()
    assert "CLONE_THREAD" in mine[0].args["flags"]
