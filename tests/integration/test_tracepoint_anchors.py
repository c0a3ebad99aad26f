"""Tracepoint anchors on the real kernel (probes/tracepoint_anchors.py): a runner of the app's
session detaches with an anchor held on each of its tracepoints. Its programs are then attached to
nothing and run no more (the kernel's run counts), the anchors are perf events of this process, a
second run attaches the same programs again and sees its own exec, and once the cache closes no
anchor is left."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Sequence

import pytest

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.probes import exec as exec_probe
from beefine_tui.probes import program_cache
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.bcc_runner import BccRunner
from beefine_tui.probes.inventory import list_programs, stats_on
from beefine_tui.probes.tracepoint_anchors import TracepointAnchors, open_anchor, tracepoint_id
from tests.integration.probe_harness import attached_prog_ids, collect_until
from tests.waiting import settles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def perf_event_fds() -> set[int]:
    """This process's fds that are perf events (anchors among them)."""
    out: set[int] = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "anon_inode:[perf_event]":
                out.add(int(name))
        except OSError:
            continue  # closed meanwhile (the listing's own fd)
    return out


def run_cnt(ids: set[int]) -> int:
    return sum(p.run_cnt or 0 for p in list_programs() if p.id in ids)


def traced_exec(marker: str) -> tuple[list[Event], set[int]]:
    """One runner of the exec probe (host-wide) until our own `/bin/sh -c true MARKER` is seen, then
    stopped: its events and its programs' kernel ids."""
    bus = Bus()
    sub = bus.subscribe("test")
    runner = BccRunner([exec_probe.program(ProbeOptions(target=Target()))], ProbeOptions(target=Target()))
    try:
        runner.start(bus.publish)
        subprocess.run(["/bin/sh", "-c", "true", marker], check=True, timeout=30)

        def seen(evs: Sequence[Event]) -> bool:
            return any(e.kind == "exec" and marker in e.args.get("argv", []) for e in evs)

        events = collect_until(sub, seen, 30)
        assert seen(events), f"our exec {marker} never arrived"
    finally:
        runner.stop()
    sub.close()
    return events, runner.prog_ids()


def test_a_detach_leaves_anchors_and_no_program_attached() -> None:
    before = perf_event_fds()
    cache = program_cache.ProgramCache()
    cache.anchors = anchors = TracepointAnchors(linger_s=3600)  # held until the cache closes
    previous = program_cache.install(cache)
    try:
        with stats_on():
            _, ids = traced_exec(f"beefine-anchor-{uuid.uuid4().hex[:8]}")
            # an anchor on every tracepoint the program was attached to, none refused
            (entry,) = cache.idle()
            assert anchors.held() == sorted(tp.decode() for tp, _ in entry.attach), entry.attach
            assert not anchors.refused, anchors.refused
            held = anchors.held()
            # detached: the kernel lists none of them on a tracepoint, and they run no more
            assert ids and not ids & attached_prog_ids()
            runs = run_cnt(ids)
            for _ in range(5):
                subprocess.run(["/bin/true"], check=True, timeout=30)
            assert run_cnt(ids) == runs, "a program ran on a tracepoint after its detach"
            # the anchors are perf events of this process, one per tracepoint
            assert len(perf_event_fds() - before) == len(held)
            # the next run takes the same programs and attaches them beside the anchors
            second = f"beefine-anchor-{uuid.uuid4().hex[:8]}"
            events, again = traced_exec(second)
            assert again == ids
            assert [e for e in events if e.kind == "exec" and second in e.args.get("argv", [])]
            assert not ids & attached_prog_ids()
    finally:
        program_cache.install(previous)
        cache.close()
    assert anchors.held() == []
    assert perf_event_fds() <= before, "an anchor outlived the cache"


def test_idle_anchors_are_closed_in_the_background() -> None:
    before = perf_event_fds()
    anchors = TracepointAnchors(linger_s=0.2)
    try:
        anchors.hold(["syscalls:sys_enter_getppid", "sched:sched_process_free"])
        assert not anchors.refused, anchors.refused
        settles(lambda: anchors.held() == [], lambda: f"still held: {anchors.held()}", timeout=60)
        settles(lambda: perf_event_fds() <= before, "an anchor's fd stayed open", timeout=10)
    finally:
        anchors.close()


def test_an_unknown_tracepoint_is_refused_with_its_reason() -> None:
    with pytest.raises(OSError):
        tracepoint_id("nosuchcategory:nosuchevent")
    anchors = TracepointAnchors()
    anchors.hold(["nosuchcategory:nosuchevent"])
    assert anchors.held() == [] and "nosuchcategory:nosuchevent" in anchors.refused
    anchors.close()
    fd = open_anchor("syscalls:sys_enter_getppid")
    os.close(fd)
