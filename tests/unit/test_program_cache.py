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
