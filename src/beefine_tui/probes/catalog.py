"""The built-in probes. Each lives in its own module of this package and exposes:

    SPEC: ProbeSpec
    def available() -> Availability            # on this kernel, now; cheap, no BPF load
    def render(options: ProbeOptions) -> str   # the exact program text that would be loaded
    def make_runner(options: ProbeOptions) -> Runner

Modules without SPEC (runners, decoders, ...) are skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

import beefine_tui.probes as _pkg
from beefine_tui.errors import NotFoundError
from beefine_tui.probes.base import Availability, ProbeSpec


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
