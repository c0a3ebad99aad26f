"""Benchmark (not a test): what the syscalls probe's decoder costs per event in Python, without BPF.

Builds records laid out as bpf/syscalls.bpf.c's sc_rec (a mix of openat, read, futex and a failing
newfstatat, the calls a container's loop makes) and times, best of --rounds:
  decode   syscalls.decode() of each record into an Event
  encode   those Events as JSON lines (what a recording and --json write)
  text     ev.text of each (what a view formats; only the rows on screen are, in the app)
Prints microseconds per event for each. Runs without root; run it on two checkouts to compare
(PYTHONPATH=<other checkout>/src .venv/bin/python bench/syscalls_decode.py).

    .venv/bin/python bench/syscalls_decode.py [--events 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any


def records(n: int) -> list[bytes]:
    from beefine_tui.probes import syscall_table, syscalls

    table = syscall_table.load()
    calls = [
        ("openat", (0xFFFFFF9C, 0x7FFD1000, 0o2000000, 0), 3),
        ("read", (3, 0x7FFD2000, 4096), 12),
        ("futex", (0x7F001000, 128, 0, 0, 0, 0), 0),
        ("newfstatat", (0xFFFFFF9C, 0x5000, 0x7FFD3000, 0), -2),
    ]
    out: list[bytes] = []
    for i in range(n):
        name, args, ret = calls[i % len(calls)]
        nr = table.number(name)
        if nr is None:
            raise SystemExit(f"{name} is not in this machine's syscall table")
        a = (*args, *(0,) * (6 - len(args)))
        out.append(syscalls.SC_REC.pack(i, 1, 100, 101, 0, b"app", nr, *a, ret, 1500, 1, 1, 0, 0))
    return out


def best(rounds: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    opts = ap.parse_args()
    if opts.events < 1 or opts.rounds < 1:
        raise SystemExit("--events and --rounds must be at least 1")

    from beefine_tui.events.record import encode_events
    from beefine_tui.probes import syscalls
    from beefine_tui.probes.decode_context import DecodeContext

    raws = records(opts.events)
    ctx = DecodeContext()
    decode = syscalls.decode
    events = [e for r in raws if (e := decode(r, ctx)) is not None]
    n = len(events)
    t_decode = best(opts.rounds, lambda: [decode(r, ctx) for r in raws])
    t_encode = best(opts.rounds, lambda: encode_events(events))
    t_text = best(opts.rounds, lambda: [e.text for e in events])
    print(f"syscalls decoder, {n} events, best of {opts.rounds}")
    for what, t in (("decode", t_decode), ("encode", t_encode), ("text", t_text)):
        print(f"  {what:<7} {t / n * 1e6:6.2f} us/event")
    print(f"  sample line: {events[0].text}")


if __name__ == "__main__":
    main()
