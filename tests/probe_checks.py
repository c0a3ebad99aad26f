"""Checks every built-in probe's unit tests make the same way: its v1 lines upgrade, its args survive
the recorder's JSON, its program handles every tracepoint it lists. Plain functions (not fixtures):
each probe's test file calls them on its own samples."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec

from beefine_tui.events.model import Args, Event, EventReader
from beefine_tui.probes.base import ProbeOptions, ProbeSpec


def assert_v1_lines_upgrade(lines: Sequence[tuple[str | bytes, Args]]) -> None:
    """Each schema-1 line reads back as the struct the decoder makes now."""
    reader = EventReader(schema=1)
    for line, want in lines:
        assert reader.decode(line).args == want, line


def assert_round_trips(samples: Iterable[Args]) -> None:
    """What the recorder writes reads back as the same struct (the tag picks the type), with the
    same line shown."""
    reader = EventReader()
    for args in samples:
        ev = Event(ts=1, probe="p", kind=args.kinds[0], args=args)
        back = reader.decode(msgspec.json.encode(ev))
        assert back.args == args and type(back.args) is type(args) and back.text == ev.text


def assert_each_tracepoint_handled(spec: ProbeSpec, render: Callable[[ProbeOptions], str]) -> None:
    """The BCC program has a TRACEPOINT_PROBE for every tracepoint the spec lists (what `probe list`
    shows and availability checks)."""
    text = render(ProbeOptions())
    for tp in spec.tracepoints:
        cat, name = tp.split(":")
        assert f"TRACEPOINT_PROBE({cat}, {name})" in text, tp
