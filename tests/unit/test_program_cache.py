"""The program cache's bookkeeping without BPF: an object is handed to one user at a time, only for
exactly the same probe, text and cflags; the oldest goes past the limit; close frees all, and what
comes back later is freed at once. Plus which maps a reused object gets emptied."""

from __future__ import annotations

from typing import Any

from beefine_tui.probes import program_cache
from beefine_tui.probes.bcc_program import declared_maps, program_text
from beefine_tui.probes.program_cache import CachedProgram, ProgramCache


def entry(key: program_cache.CacheKey, tag: str) -> CachedProgram:
    return CachedProgram(key=key, bpf=tag, prog_ids={1}, attach=())


def cache_logging_frees(max_idle: int = 4) -> tuple[ProgramCache, list[Any]]:
    freed: list[Any] = []
    return ProgramCache(max_idle=max_idle, free=lambda e: freed.append(e.bpf)), freed


KEY = ("exec", "text", ("-DA=1",))


def test_taken_once_and_only_for_the_same_key() -> None:
    cache, freed = cache_logging_frees()
    assert cache.take(KEY) is None  # nothing compiled yet: a miss
    cache.give(entry(KEY, "a"))
    assert cache.take(("exec", "text", ("-DA=2",))) is None  # other cflags (another daemon's pid)
    assert cache.take(("exec", "other text", ("-DA=1",))) is None
    got = cache.take(KEY)
    assert got is not None and got.bpf == "a" and got.uses == 2
    assert cache.take(KEY) is None  # in use: never shared between two runners
    assert (cache.hits, cache.misses) == (1, 4)
    assert freed == []


def test_oldest_freed_past_the_limit() -> None:
    cache, freed = cache_logging_frees(max_idle=2)
    for tag in ("a", "b", "c"):
        cache.give(entry((tag, "", ()), tag))
    assert freed == ["a"]
    assert [e.bpf for e in cache.idle()] == ["b", "c"]


def test_close_frees_everything_and_later_returns() -> None:
    cache, freed = cache_logging_frees()
    cache.give(entry(KEY, "a"))
    cache.close()
    assert freed == ["a"] and cache.idle() == [] and cache.closed
    cache.give(entry(KEY, "late"))  # a runner stopping after the app's close
    assert freed == ["a", "late"] and cache.take(KEY) is None


def test_install_returns_the_previous() -> None:
    a, b = ProgramCache(), ProgramCache()
    before = program_cache.install(a)
    try:
        assert program_cache.current() is a
        assert program_cache.install(b) is a and program_cache.current() is b
    finally:
        program_cache.install(before)


def test_declared_maps_of_a_program() -> None:
    text = """
    BPF_ARRAY(lost, u64, 4);
    BPF_HASH(pending, u32, struct mount_rec, 256);
    BPF_PERCPU_ARRAY(scratch, struct mount_rec, 1);
    BPF_TABLE("lru_hash", u32, struct owner, listeners, 1024);
    BPF_RINGBUF_OUTPUT(events, 8);
    """
    assert declared_maps(text) == ["lost", "pending", "scratch", "listeners"]


def test_every_builtin_programs_state_is_found() -> None:
    """common.h's tables (lineage, loss counters, ourselves) are in every program's text."""
    for name in ("exec.bpf.c", "files.bpf.c", "mounts.bpf.c"):
        maps = declared_maps(program_text(name))
        assert {"lost", "tracked", "excluded"} <= set(maps), (name, maps)
        assert "events" not in maps


def test_a_take_waits_for_the_precompile_of_its_key() -> None:
    """A run started while the precompiler compiles its probe gets that object, not a second compile."""
    import threading

    cache, _ = cache_logging_frees()
    assert cache.begin_build(KEY)
    assert not cache.begin_build(KEY)  # one build of a key at a time
    got: list[CachedProgram | None] = []
    taker = threading.Thread(target=lambda: got.append(cache.take(KEY, wait_s=30)))
    taker.start()
    taker.join(0.3)
    assert taker.is_alive() and got == []  # still waiting: the build has not ended
    cache.end_build(KEY, entry(KEY, "pre"))
    taker.join(30)
    assert [g.bpf if g else None for g in got] == ["pre"]
    assert (cache.hits, cache.misses, cache.waited) == (1, 0, 1)


def test_a_failed_precompile_wakes_the_waiter_with_a_miss() -> None:
    import threading

    cache, _ = cache_logging_frees()
    assert cache.begin_build(KEY)
    got: list[CachedProgram | None] = [entry(KEY, "sentinel")]
    taker = threading.Thread(target=lambda: got.__setitem__(0, cache.take(KEY, wait_s=30)))
    taker.start()
    cache.end_build(KEY, None)
    taker.join(30)
    assert got == [None] and cache.misses == 1  # the runner compiles it itself, with its error


def test_a_take_gives_up_waiting_when_cancelled() -> None:
    cache, _ = cache_logging_frees()
    assert cache.begin_build(KEY)
    assert cache.take(KEY, wait_s=30, cancelled=lambda: True) is None


def test_the_precompiler_skips_what_a_runner_holds_or_the_cache_has() -> None:
    cache, _ = cache_logging_frees()
    assert cache.take(KEY) is None  # a runner compiles it: held
    assert cache.has(KEY) and not cache.begin_build(KEY)
    cache.give(entry(KEY, "a"))  # back from that runner: idle
    assert cache.has(KEY) and not cache.begin_build(KEY)
    assert cache.take(KEY) is not None  # taken again, then not kept (say, a failed reuse)
    cache.release(KEY)
    assert not cache.has(KEY) and cache.begin_build(KEY)


def test_a_closed_cache_builds_nothing_and_frees_a_late_build() -> None:
    cache, freed = cache_logging_frees()
    assert cache.begin_build(KEY)
    cache.close()
    cache.end_build(KEY, entry(KEY, "late"))
    assert freed == ["late"] and not cache.begin_build(KEY)


def test_a_take_waits_for_an_object_on_its_way_back() -> None:
    """A new run while the last one's runner detaches gets that object back, not a second compile."""
    import threading

    cache, _ = cache_logging_frees()
    assert cache.take(KEY) is None  # the first run compiled it
    mine = entry(KEY, "first")
    cache.returning(mine)  # its runner stops: detaching takes seconds
    assert cache.has(KEY) and not cache.begin_build(KEY)
    got: list[CachedProgram | None] = []
    taker = threading.Thread(target=lambda: got.append(cache.take(KEY, wait_s=30)))
    taker.start()
    taker.join(0.3)
    assert taker.is_alive()
    cache.give(mine)
    taker.join(30)
    assert [g.bpf if g else None for g in got] == ["first"] and cache.waited == 1
    assert not mine.returning
