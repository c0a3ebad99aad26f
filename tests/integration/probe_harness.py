"""The harness of the kernel probes' integration tests: a child that waits on stdin is traced (and only
it, by lineage), runs the test's code, and the runner's programs must be gone after stop()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event
from beefine_tui.probes.base import ProbeOptions, Target

GATE = "import sys\nsys.stdin.readline()\n"


def _bpftool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bpftool", *args, "-j"], capture_output=True, text=True, check=True, timeout=60)


def attached_prog_ids() -> set[int]:
    """Programs this process has attached to tracepoints, as the kernel lists them (bpftool)."""
    out = subprocess.run(
        ["bpftool", "perf", "list", "-j"], capture_output=True, text=True, check=True, timeout=60
    )
    return {int(e["prog_id"]) for e in json.loads(out.stdout or "[]") if e.get("pid") == os.getpid()}


def loaded_prog_ids() -> set[int]:
    """Every BPF program loaded on the machine (bpftool)."""
    out = subprocess.run(
        ["bpftool", "prog", "list", "-j"], capture_output=True, text=True, check=True, timeout=60
    )
    return {int(p["id"]) for p in json.loads(out.stdout or "[]")}


# the kernel frees a dead process's programs after it is gone (RCU grace periods, ~70 ms per
# tracepoint, longer on a busy machine): wait for that, bounded, before calling them leaked
PROG_FREE_WAIT_S = 60.0


def progs_still_loaded(ids: Iterable[int], wait_s: float = PROG_FREE_WAIT_S) -> list[int]:
    """Which of `ids` the kernel still holds once up to `wait_s` has passed (at once if none)."""
    progs = sorted(ids)
    deadline = time.monotonic() + wait_s
    while progs:
        loaded = loaded_prog_ids()
        progs = [i for i in progs if i in loaded]
        if not progs or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    return progs


def prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


def collect_until(sub: Subscription, done: Callable[[Sequence[Event]], bool], timeout: float) -> list[Event]:
    events: list[Event] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done(events):
        events.extend(sub.get(0.1))
    return events


def run_traced(
    mod: ModuleType,
    code: str,
    done: Callable[[Sequence[Event]], bool],
    timeout: float = 30.0,
    during: Callable[[], None] | None = None,
    *,
    argv: Sequence[str] = (),
    path_prefix: str | None = None,
) -> tuple[list[Event], str]:
    """Start a child that waits on stdin, trace it (and only it, by lineage) with `mod`, let it run
    `code`, collect events until `done`, stop, and check the runner's programs are gone. `during` runs
    in this (untraced) process while tracing, to make noise that must not show up. `argv` reaches the
    child as sys.argv[1:]; `path_prefix` is ProbeOptions.path_prefix (probes that filter by path)."""
    child = subprocess.Popen(
        [sys.executable, "-c", GATE + code, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    bus = Bus()
    sub = bus.subscribe("test")
    runner = mod.make_runner(ProbeOptions(target=Target(lineage_root=child.pid), path_prefix=path_prefix))
    ids: set[int] = set()
    try:
        runner.start(bus.publish)
        ids = runner.prog_ids()
        assert ids and all(prog_exists(i) for i in ids)
        if during is not None:
            during()  # noise from outside the filter, made while tracing
        out, err = child.communicate("go\n", timeout=timeout)
        assert child.returncode == 0, f"child failed: {err}"
        events = collect_until(sub, done, timeout)
    finally:
        runner.stop()
        if child.poll() is None:
            child.kill()
            child.wait()
    runner.stop()  # idempotent
    events += sub.get(0.2)
    assert not [i for i in ids if prog_exists(i)], "BPF programs left loaded after stop()"
    return [e for e in events if e.kind not in ("status", "lost")], out
