from __future__ import annotations

import pytest

from beefine_tui.appcontext import AppContext
from beefine_tui.errors import BeefineError, DockerUnavailableError
from beefine_tui.probes.base import ProbeOptions


class Thing:
    def __init__(self, log: list[str], name: str, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    def stop(self) -> None:
        self.log.append(self.name)
        if self.fail:
            raise RuntimeError(f"{self.name} failed to stop")


def test_close_stops_newest_first_and_one_failure_does_not_skip_the_rest() -> None:
    log: list[str] = []
    errors: list[BaseException] = []
    ctx = AppContext()
    for name, fail in (("a", False), ("b", True), ("c", False)):
        ctx.own(Thing(log, name, fail))
    ctx.close(on_error=errors.append)
    assert log == ["c", "b", "a"]
    assert [str(e) for e in errors] == ["b failed to stop"]
    ctx.close()  # idempotent
    assert log == ["c", "b", "a"]


def test_what_is_owned_after_close_is_stopped_at_once() -> None:
    # a worker that finishes while the app exits must not leave its session running
    log: list[str] = []
    ctx = AppContext()
    ctx.close()
    assert ctx.closed
    ctx.own(Thing(log, "late"))
    assert log == ["late"]


def test_no_probes_start_after_close() -> None:
    ctx = AppContext()
    ctx.close()
    with pytest.raises(BeefineError, match="closing"):
        ctx.start_probes(["exec"], ProbeOptions())


def test_disowned_things_are_not_stopped_by_close() -> None:
    log: list[str] = []
    ctx = AppContext()
    t = Thing(log, "mine")
    ctx.own(t)
    ctx.disown(t)
    ctx.close()
    assert log == []


def test_no_daemon_gives_the_reason_and_what_to_do() -> None:
    ctx = AppContext(docker_host=None, docker_error="no daemon at /var/run/docker.sock")
    with pytest.raises(DockerUnavailableError) as e:
        ctx.docker_client()
    assert "no daemon" in e.value.message
    assert "lab up" in e.value.hint


def test_release_outliving_removes_containers_first_and_keeps_them_owned() -> None:
    log: list[str] = []

    class Run:
        def remove_outliving(self) -> None:
            log.append("remove")

        def stop(self) -> None:
            log.append("stop run")

    class Probes:
        def stop(self) -> None:
            log.append("stop probes")

    ctx = AppContext()
    ctx.own(Run())
    ctx.own(Probes())
    ctx.release_outliving()
    assert log == ["remove"]
    ctx.close()
    assert log == ["remove", "stop probes", "stop run"]


def test_kept_programs_are_freed_after_the_sessions_stop_at_close() -> None:
    """The program cache lives as long as the app: sessions stopped by close() give their objects
    back first, then every kept object is freed and runners no longer find a cache."""
    from beefine_tui.probes import program_cache

    freed: list[str] = []
    before = program_cache.current()
    ctx = AppContext()
    try:
        cache = ctx.keep_programs()
        assert ctx.keep_programs() is cache and program_cache.current() is cache
        cache.free = lambda e: freed.append(str(e.bpf))
        cache.give(program_cache.CachedProgram(("exec", "", ()), "idle", set(), ()))

        class Session:
            def stop(self) -> None:  # a runner giving its object back as it stops
                cache.give(program_cache.CachedProgram(("fork", "", ()), "in use", set(), ()))

        ctx.own(Session())
        ctx.close()
        assert sorted(freed) == ["idle", "in use"]
        assert cache.closed and program_cache.current() is None
    finally:
        program_cache.install(before)
