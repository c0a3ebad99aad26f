"""The built-in probes. Each lives in its own module of this package and exposes:

    SPEC: ProbeSpec
    def available() -> Availability            # on this kernel, now; cheap, no BPF load
    def render(options: ProbeOptions) -> str   # the exact program text that would be loaded
    def make_runner(options: ProbeOptions) -> Runner

Modules without SPEC (runners, decoders, ...) are skipped. The tables built on the probes (each
kind's explanation, the story's probe groups) are derived here from the specs, so a probe is defined
in its own module only.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

import beefine_tui.probes as _pkg
from beefine_tui.errors import NotFoundError
from beefine_tui.probes.base import GROUPS, Availability, KindNote, ProbeSpec


@dataclass(frozen=True)
class Probe:
    spec: ProbeSpec
    module: ModuleType

    @property
    def name(self) -> str:
        return self.spec.name

    def available(self) -> Availability:
        fn = getattr(self.module, "available", None)
        return fn() if fn else Availability(True)


_cache: dict[str, Probe] | None = None


def all_probes() -> dict[str, Probe]:
    global _cache
    if _cache is None:
        found: dict[str, Probe] = {}
        for info in pkgutil.iter_modules(_pkg.__path__):
            mod = importlib.import_module(f"{_pkg.__name__}.{info.name}")
            spec = getattr(mod, "SPEC", None)
            if isinstance(spec, ProbeSpec):
                found[spec.name] = Probe(spec, mod)
        _cache = dict(sorted(found.items()))
    return _cache


def get(name: str) -> Probe:
    probes = all_probes()
    if name not in probes:
        raise NotFoundError(
            f"no probe named {name!r}",
            "known probes: " + ", ".join(probes) + " (see `beefine-tui probe list`)",
        )
    return probes[name]


def kind_notes() -> dict[str, KindNote]:
    """Each kind a built-in probe explains -> its note. A kind two probes explain (a BCC probe and
    its bpftrace alternative share their kinds) keeps the first by probe name; tests/unit/test_catalog.py
    holds both to the same note."""
    notes: dict[str, KindNote] = {}
    for probe in all_probes().values():
        for note in probe.spec.explains:
            notes.setdefault(note.kind, note)
    return notes


def story_groups() -> dict[str, tuple[tuple[str, ...], ...]]:
    """The story's probe groups in GROUPS order: per group its slots in order, each slot the names of
    the probes that can fill it, preferred first (ProbeSpec.story)."""
    slots: dict[str, dict[int, list[tuple[int, str]]]] = {}
    for probe in all_probes().values():
        place = probe.spec.story
        if place is not None:
            slots.setdefault(probe.spec.group, {}).setdefault(place.slot, []).append((place.rank, probe.name))
    order = {g: i for i, g in enumerate(GROUPS)}
    return {
        g: tuple(tuple(name for _, name in sorted(alts)) for _, alts in sorted(slots[g].items()))
        for g in sorted(slots, key=lambda g: (order.get(g, len(order)), g))
    }
