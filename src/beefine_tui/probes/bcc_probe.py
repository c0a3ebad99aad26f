"""What a built-in BCC probe module is made of (`BccProbe`), and the checks such modules share: can a
BCC probe load here, where tracefs is, what fields a tracepoint has.
"""

from __future__ import annotations

import contextlib
import importlib.util
import platform
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from beefine_tui import privileges
from beefine_tui.privileges import TRACEFS_ROOTS, tracefs_root
from beefine_tui.probes.base import Availability, ProbeOptions, ProbeSpec, Runner
from beefine_tui.probes.bcc_program import (
    BccProgram,
    Periodic,
    RingBuffer,
    Setup,
    base_cflags,
    program_text,
    render_program,
)
from beefine_tui.probes.bcc_runner import BccRunner
from beefine_tui.probes.decode_context import Decoder


class BccProbe:
    """The functions a built-in BCC probe module exposes (see probes/catalog.py), built from its parts:
    one BPF program in bpf/<spec.source>, one `events` ring buffer decoded by `decode`.

    `cflags(options)` adds to base_cflags; `required` are the tracepoints `available()` checks (default:
    the spec's); `prepare()` runs before each program is built (a cache to refresh); `periodic()` makes
    the program's housekeeping object, one per program; `setup(options)` gives what seeds its maps
    after load. A module binds them at its top level:
    `available, program, render, make_runner = PROBE.available, PROBE.program, ...`."""

    def __init__(
        self,
        spec: ProbeSpec,
        decode: Decoder,
        *,
        cflags: Callable[[ProbeOptions], Sequence[str]] | None = None,
        required: Sequence[str] | None = None,
        prepare: Callable[[], None] | None = None,
        periodic: Callable[[], Periodic] | None = None,
        setup: Callable[[ProbeOptions], Setup] | None = None,
    ) -> None:
        self.spec = spec
        self.decode = decode
        self._cflags = cflags
        self._required = tuple(required) if required is not None else spec.tracepoints
        self._prepare = prepare
        self._periodic = periodic
        self._setup = setup

    def available(self) -> Availability:
        return bcc_availability(self._required)

    def program(self, options: ProbeOptions) -> BccProgram:
        if self._prepare is not None:
            self._prepare()
        extra = self._cflags(options) if self._cflags is not None else ()
        return BccProgram(
            probe=self.spec.name,
            text=program_text(self.spec.source),
            cflags=(*base_cflags(options), *extra),
            buffers=(RingBuffer("events", self.decode),),
            periodic=self._periodic() if self._periodic is not None else None,
            setup=self._setup(options) if self._setup is not None else None,
        )

    def render(self, options: ProbeOptions) -> str:
        return render_program(self.program(options))

    def make_runner(self, options: ProbeOptions) -> Runner:
        return BccRunner([self.program(options)], options)


def tracepoint_has_field(tp: str, name: str) -> bool:
    """Whether tracefs's format for "category/event" lists a field (BCC builds args from it)."""
    for root in TRACEFS_ROOTS:
        p = Path(root, "events", tp, "format")
        with contextlib.suppress(OSError):
            return re.search(rf"\b{re.escape(name)};", p.read_text()) is not None
    return False


BCC_MISSING = Availability(
    False,
    "BCC's Python module is missing: install python3-bpfcc (Debian/Ubuntu) and use a venv made "
    "with --system-site-packages",
)


def bcc_found() -> bool:
    """Is BCC's module there? Looked up, not imported: cheap, and a BCC that is there but fails to
    import is reported with its real error when a program loads (base.import_bcc), not as missing."""
    return importlib.util.find_spec("bcc") is not None


def bcc_availability(tracepoints: Sequence[str]) -> Availability:
    """Can a BCC probe attaching to these tracepoints ("category:name") load here? Cheap: no BPF load."""
    if not bcc_found():
        return BCC_MISSING
    why = privileges.bpf_refusal("load this probe")
    if why:
        return Availability(False, why + ": run it with sudo")
    root = tracefs_root()
    if root is None:
        # not mounted, or mounted but unreadable for this user: each said as what it is
        return Availability(False, privileges.tracefs_problem())
    missing = [tp for tp in tracepoints if not (root / "events" / tp.replace(":", "/")).is_dir()]
    if missing:
        return Availability(False, "this kernel has no tracepoint " + ", ".join(missing))
    build = Path("/lib/modules", platform.release(), "build")
    if not build.exists():
        return Availability(
            False,
            f"no kernel headers at {build}: install linux-headers-{platform.release()} (BCC compiles "
            "programs at run time)",
        )
    return Availability(True)
