"""Benchmark (not a test): per-event cost of the mounts, namespaces, security and cgroups decoders on
hand-built BPF records, in microseconds: decode (record -> Event with its typed args), JSON encode (what
the recorder writes) and `text` (the one line, made only for rows on screen). No root, no BPF.

Run it on another checkout's sources to compare (the code before a change):

    .venv/bin/python bench/typed_decode.py [--n 100000]
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/typed_decode.py
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

import msgspec

from beefine_tui.events.model import Event
from beefine_tui.probes import cgroups, mounts, namespaces, security
from beefine_tui.probes.decode_context import DecodeContext

Decoder = Callable[[bytes, DecodeContext], Event | None]


def records() -> dict[str, tuple[Decoder, bytes]]:
    """One record of a common kind per probe, as runc makes them (bpf/*.bpf.c layouts)."""
    comm = b"runc:[2:INIT]"
    return {
        # runc's bind of a mount through /proc/self/fd (MS_BIND|MS_REC)
        "mount": (
            mounts.decode,
            mounts.REC.pack(
                1, 1, 100, 100, 0, comm, 0, 0x5000, 0, 0, 0, 0, 0, b"", b"/a", b"/proc/self/fd/7"
            ),
        ),
        "clone": (
            namespaces.decode,
            namespaces.REC.pack(1, 1, 100, 100, 0, comm, 4321, 0x01200011, *[0] * 6, b""),
        ),
        # PR_CAPBSET_DROP CAP_SYS_ADMIN
        "prctl": (security.decode, security.REC.pack(1, 2, 100, 100, 0, comm, 0, 24, 21, 0, *[0] * 10, b"")),
        "cgroup_attach": (
            cgroups.decode,
            cgroups.REC.pack(1, 2, 100, 100, 0, comm, 77, 3, 2, 4242, 0, comm, b"/docker/" + b"ab" * 32),
        ),
    }


def per_event_us(fn: Callable[[], object], n: int) -> float:
    return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="calls per measure (best of 3)")
    n = ap.parse_args().n
    ctx = DecodeContext()
    enc = msgspec.json.Encoder()
    print(f"{'kind':14} {'decode':>9} {'encode':>9} {'text':>9}   (us/event, best of 3 x {n})")
    for name, (decode, raw) in records().items():
        ev = decode(raw, ctx)
        assert ev is not None, name
        d = per_event_us(lambda: decode(raw, ctx), n)  # noqa: B023 (called before the loop moves on)
        e = per_event_us(lambda: enc.encode(ev), n)  # noqa: B023
        t = per_event_us(lambda: ev.text, n)  # noqa: B023
        print(f"{name:14} {d:9.2f} {e:9.2f} {t:9.2f}")


if __name__ == "__main__":
    main()
