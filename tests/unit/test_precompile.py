"""The precompiler's queue and progress without BPF (probes/precompile.py): programs compiled one at
a time in the order asked (a view just opened first), none twice, plans expanded on its thread,
failures noted, progress a snapshot, stop bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from beefine_tui.errors import ProbeLoadError
from beefine_tui.probes.bcc_program import BccProgram
from beefine_tui.probes.precompile import Precompiler
from beefine_tui.probes.program_cache import CachedProgram, ProgramCache


def prog(name: str, flag: str = "") -> BccProgram:
    return BccProgram(probe=name, text=f"/* {name} */", cflags=(flag,) if flag else ())


class FakeCompile:
    """Records what it compiles, into the cache as a real precompile would; `gate` holds each one."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.done: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail

    def __call__(self, p: BccProgram, cache: ProgramCache) -> str:
        key = Precompiler.key(p)
        if not cache.begin_build(key):
            return "already"
        entry = None
        try:
            self.gate.wait(30)
            if p.probe in self.fail:
                raise ProbeLoadError(f"probe {p.probe}: BPF program does not compile")
            self.done.append(p.probe + "".join(p.cflags))
            entry = CachedProgram(key, p.probe, set(), ())
            return "compiled"
        finally:
            cache.end_build(key, entry)


def wait_for(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.005)


def test_compiled_in_order_once_each_then_idle() -> None:
    cache, fake = ProgramCache(free=lambda e: None), FakeCompile()
    pre = Precompiler(cache, fake)
    fake.gate.clear()
    assert pre.request([prog("exec"), prog("files"), prog("exec")]) == 2  # a duplicate is not queued
    wait_for(lambda: pre.progress().current == "exec")
    assert pre.request([prog("mounts")], first=True) == 1  # a view just opened: before what waits
    p = pre.progress()
    assert p.active and p.total == 3 and p.line().startswith("compiling probes 1/3")
    fake.gate.set()
    assert pre.idle(30)
    assert fake.done == ["exec", "mounts", "files"]  # exec was under way when mounts came
    p = pre.progress()
    assert not p.active and p.line() == "" and (p.done, p.total, p.compiled) == (3, 3, 3)
    # all in the cache now: asking again queues nothing, a new round starts from 0
    assert pre.request([prog("exec"), prog("exec", "-DX=1")]) == 1
    assert pre.idle(30) and fake.done[-1] == "exec-DX=1" and pre.progress().total == 1
    pre.stop()


def test_a_plan_runs_on_the_precompile_thread() -> None:
    cache, fake = ProgramCache(free=lambda e: None), FakeCompile()
    pre = Precompiler(cache, fake)
    threads: list[str] = []

    def plan() -> list[BccProgram]:
        threads.append(threading.current_thread().name)
        return [prog("exec"), prog("fork")]

    pre.request([plan])
    assert pre.idle(30)
    assert threads == ["beefine-precompile"] and fake.done == ["exec", "fork"]
    pre.stop()


def test_failures_are_noted_and_the_rest_goes_on() -> None:
    cache, fake = ProgramCache(free=lambda e: None), FakeCompile(fail=("files",))

    def no_daemon() -> list[BccProgram]:
        raise ProbeLoadError("no Docker daemon")

    pre = Precompiler(cache, fake)
    pre.request([no_daemon, prog("files"), prog("exec")])
    assert pre.idle(30)
    p = pre.progress()
    assert fake.done == ["exec"] and p.compiled == 1
    assert p.failed == ("plan: no Docker daemon", "files: probe files: BPF program does not compile")
    pre.stop()


def test_stop_drops_what_waits_and_refuses_more() -> None:
    cache, fake = ProgramCache(free=lambda e: None), FakeCompile()
    pre = Precompiler(cache, fake)
    fake.gate.clear()
    pre.request([prog("exec"), prog("files")])
    wait_for(lambda: pre.progress().current == "exec")
    stopper = threading.Thread(target=pre.stop)
    stopper.start()
    wait_for(lambda: pre.request([prog("mounts")]) == 0)  # stopped: what waited is dropped
    fake.gate.set()  # the compile under way ends; files is never started
    stopper.join(30)
    assert not stopper.is_alive() and fake.done == ["exec"]


def test_the_queue_is_bounded() -> None:
    from beefine_tui.probes import precompile

    cache, fake = ProgramCache(free=lambda e: None), FakeCompile()
    pre = Precompiler(cache, fake)
    fake.gate.clear()
    n = precompile.MAX_QUEUED + 5
    added = pre.request([prog(f"p{i}") for i in range(n)])
    assert added <= precompile.MAX_QUEUED and pre.progress().refused >= 5
    fake.gate.set()
    pre.stop()
