"""A probe session: the named probes running together and publishing to one bus.

BCC probes are grouped into one BccRunner (one poll thread for all of them); probes of other engines
(bpftrace, xdp, bpftool) get their module's own runner. A probe that cannot load becomes a `status`
event with its error and the others keep running, unless `strict=True`. The TUI, the story engine and
the CLI all use this class.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from beefine_tui.errors import BeefineError, ProbeLoadError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import status_event
from beefine_tui.probes import catalog
from beefine_tui.probes.base import ProbeOptions, Runner
from beefine_tui.probes.bcc_program import BccProgram
from beefine_tui.probes.bcc_runner import BccRunner

PENDING = "pending"
RUNNING = "running"
FAILED = "failed"
UNAVAILABLE = "unavailable"
STOPPED = "stopped"


@dataclass
class ProbeState:
    name: str
    state: str = PENDING
    error: str = ""
    hint: str = ""


def bcc_programs(names: Sequence[str], options: ProbeOptions) -> list[BccProgram]:
    """The BCC programs a session of these probes would load here, with these options (the same
    text and cflags: what a program cache is keyed by). Probes of other engines or not available
    here are left out."""
    known = catalog.all_probes()
    out: list[BccProgram] = []
    for n in names:
        p = known.get(n)
        make = getattr(p.module, "program", None) if p is not None else None
        if p is not None and p.spec.engine == "bcc" and make is not None and p.available().ok:
            out.append(make(options))
    return out


class ProbeSession:
    def __init__(
        self, names: Sequence[str], options: ProbeOptions, bus: Bus, *, strict: bool = False
    ) -> None:
        if not names:
            raise ProbeLoadError("no probes named", "name at least one probe (see `beefine-tui probe list`)")
        seen: list[str] = []
        for n in names:
            if n not in seen:
                seen.append(n)
        self.probes = [catalog.get(n) for n in seen]  # NotFoundError for unknown names, before anything
        self.names = tuple(seen)
        self.options = options
        self.bus = bus
        self.strict = strict
        self.states: dict[str, ProbeState] = {n: ProbeState(n) for n in self.names}
        self.runners: list[Runner] = []
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    # ---- lifecycle

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _fail(self, name: str, state: str, err: BeefineError | Exception) -> None:
        msg = err.message if isinstance(err, BeefineError) else f"{type(err).__name__}: {err}"
        hint = err.hint if isinstance(err, BeefineError) else ""
        self.states[name] = ProbeState(name, state, msg, hint)
        self.bus.publish([status_event(name, state, msg + (f" ({hint})" if hint else ""))])

    def _start(self) -> None:
        bcc_programs: list[BccProgram] = []
        others = []
        for probe in self.probes:
            avail = probe.available()
            if not avail.ok:
                err = ProbeLoadError(f"probe {probe.name} is not available here: {avail.reason}")
                if self.strict:
                    raise err
                self._fail(probe.name, UNAVAILABLE, err)
                continue
            make_program = getattr(probe.module, "program", None)
            if probe.spec.engine == "bcc" and make_program is not None:
                try:
                    bcc_programs.append(make_program(self.options))
                except BeefineError as e:
                    if self.strict:
                        raise
                    self._fail(probe.name, FAILED, e)
            else:
                others.append(probe)

        if bcc_programs:
            runner = BccRunner(bcc_programs, self.options, strict=self.strict)
            self._adopt(runner)
            try:
                runner.start(self.bus.publish)
            except ProbeLoadError:
                # every program failed (or strict): their errors are in runner.errors
                if self.strict or not runner.errors:
                    raise
            for name, err in runner.errors.items():
                self.states[name] = ProbeState(name, FAILED, err.message, err.hint)
                if not runner.loaded:  # the runner published nothing: say it here
                    self.bus.publish([status_event(name, FAILED, err.message)])
            for name in runner.loaded:
                self.states[name].state = RUNNING
            if not runner.loaded:
                with self._lock:
                    if runner in self.runners:
                        self.runners.remove(runner)

        for probe in others:
            try:
                r = probe.module.make_runner(self.options)
                self._adopt(r)
                r.start(self.bus.publish)
                self.states[probe.name].state = RUNNING
            except BeefineError as e:
                if self.strict:
                    raise
                self._fail(probe.name, FAILED, e)

    def _adopt(self, runner: Runner) -> None:
        """Register a runner before starting it, so a stop() from another thread (the TUI closing
        while a worker starts probes) reaches it; refuse once stopped."""
        with self._lock:
            if self._stopped:
                raise ProbeLoadError("the probe session was stopped while it was starting")
            self.runners.append(runner)

    def stop(self) -> None:
        """Idempotent. Stops every runner, newest first; one failing does not skip the others."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            runners, self.runners = list(reversed(self.runners)), []
        for r in runners:
            with contextlib.suppress(Exception):
                r.stop()
        for st in self.states.values():
            if st.state == RUNNING:
                st.state = STOPPED

    def prog_ids_by_probe(self) -> dict[str, set[int]]:
        """Kernel ids of each running probe's BPF programs (their run counts are per probe)."""
        with self._lock:
            runners = list(self.runners)
        out: dict[str, set[int]] = {}
        for r in runners:
            by_probe = getattr(r, "prog_ids_by_probe", None)
            if callable(by_probe):
                for probe, ids in by_probe().items():
                    out.setdefault(probe, set()).update(ids)
                continue
            ids_of = getattr(r, "prog_ids", None)
            if callable(ids_of) and len(r.probes) == 1:  # one probe per bpftrace process
                out.setdefault(r.probes[0], set()).update(ids_of())
        return out

    def periodic_for(self, probe: str) -> Any:
        """A running probe's housekeeping object (the syscalls probe's flight recorder: request()
        asks for a dump, which comes in the event stream), or None."""
        with self._lock:
            runners = list(self.runners)
        for r in runners:
            if isinstance(r, BccRunner):
                found = r.periodic_for(probe)
                if found is not None:
                    return found
        return None

    @property
    def running(self) -> bool:
        return self._started and not self._stopped and any(s.state == RUNNING for s in self.states.values())

    def errors(self) -> dict[str, str]:
        return {n: s.error for n, s in self.states.items() if s.error}

    def __enter__(self) -> ProbeSession:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
