"""Compiling probes before anyone asks: one background thread fills the session's program cache
(program_cache.py) with the BCC programs a view is about to load (the story's, at the app's start;
a view's own, when it opens), loaded and attached to nothing, so the view's first start only
attaches them (milliseconds) instead of running clang (~1 s per probe, ~6.5 s for the story's).

One compile at a time (BCC's compiler is serialised anyway, bcc_compile.COMPILE_LOCK), in the order
asked, a view just opened first. A program the cache has, holds or builds is skipped, and a runner
asking for a program this thread is compiling waits for it (ProgramCache.take): no text is compiled
twice. A job may be a plan: a function run on this thread that names the programs (finding the
Docker daemon the story follows is blocking work, not for the UI thread). What fails to precompile is
only noted: the view's own start compiles it again and reports the error where it is seen.

Progress (`progress()`) is a plain snapshot the UI reads on a timer: "compiling probes 3/9".
No Textual, no BCC import here (bcc_runner.precompile does the compile).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from beefine_tui.errors import BeefineError
from beefine_tui.probes import program_cache
from beefine_tui.probes.bcc_program import BccProgram
from beefine_tui.probes.bcc_runner import PRECOMPILED, precompile

Plan = Callable[[], Sequence[BccProgram]]
Compile = Callable[[BccProgram, program_cache.ProgramCache], str]
MAX_QUEUED = 64  # jobs waiting; more are refused (and counted): a view then compiles its own
JOIN_TIMEOUT_S = 30.0  # stop() waits for the compile in progress (clang cannot be interrupted)


@dataclass(frozen=True)
class Progress:
    done: int = 0  # programs handled in this round (compiled, already there, or failed)
    total: int = 0  # programs asked for in this round; a round ends when the queue is empty
    current: str = ""  # the probe being compiled
    failed: tuple[str, ...] = ()  # "probe: why", this session
    compiled: int = 0  # programs this precompiler compiled, this session
    refused: int = 0  # jobs refused because the queue was full, this session

    @property
    def active(self) -> bool:
        return self.done < self.total or bool(self.current)

    def line(self) -> str:
        """What the status line says while it works; empty once done."""
        if not self.active:
            return ""
        now = f" ({self.current})" if self.current else ""
        return f"compiling probes {min(self.done + 1, self.total)}/{self.total}{now}"


@dataclass
class _State:
    done: int = 0
    total: int = 0
    current: str = ""
    failed: list[str] = field(default_factory=list)
    compiled: int = 0
    refused: int = 0


class Precompiler:
    def __init__(self, cache: program_cache.ProgramCache, compile: Compile | None = None) -> None:
        """`compile` does one program (default: bcc_runner.precompile; a fake in UI tests)."""
        self.cache = cache
        self._compile = compile
        self._jobs: deque[BccProgram | Plan] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._state = _State()
        self._thread: threading.Thread | None = None
        self._working = False  # a job (a program or a plan) is being handled
        self._stopped = False

    @staticmethod
    def key(prog: BccProgram) -> program_cache.CacheKey:
        return (prog.probe, prog.text, tuple(prog.cflags))

    def request(self, jobs: Sequence[BccProgram | Plan], first: bool = False) -> int:
        """Queue programs (or plans naming them) to compile; `first` puts them before what waits
        (a view just opened). Returns how many were queued."""
        added = 0
        with self._wake:
            if self._stopped:
                return 0
            if not self._jobs and not self._working:
                self._state.done = self._state.total = 0  # a new round
            queued = {self.key(j) for j in self._jobs if isinstance(j, BccProgram)}
            fresh: list[BccProgram | Plan] = []
            for job in jobs:
                if isinstance(job, BccProgram):
                    k = self.key(job)
                    if k in queued or self.cache.has(k):
                        continue
                    queued.add(k)
                if len(self._jobs) + len(fresh) >= MAX_QUEUED:
                    self._state.refused += 1
                    continue
                fresh.append(job)
            if first:
                self._jobs.extendleft(reversed(fresh))
            else:
                self._jobs.extend(fresh)
            added = len(fresh)
            self._state.total += sum(isinstance(j, BccProgram) for j in fresh)
            if added:
                self._ensure_thread()
                self._wake.notify()
        return added

    def progress(self) -> Progress:
        with self._lock:
            s = self._state
            return Progress(s.done, s.total, s.current, tuple(s.failed), s.compiled, s.refused)

    def idle(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the queue to empty (tests, bench); True when it did."""
        import time

        deadline = time.monotonic() + timeout
        with self._wake:
            while self._jobs or self._working:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.2))
        return True

    def stop(self) -> None:
        """Drop what waits and end the thread, after the compile in progress (bounded). Idempotent."""
        with self._wake:
            self._stopped = True
            self._jobs.clear()
            self._wake.notify_all()
            t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(JOIN_TIMEOUT_S)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="beefine-precompile", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._jobs and not self._stopped:
                    self._wake.wait(1.0)
                if self._stopped:
                    self._wake.notify_all()
                    return
                job = self._jobs.popleft()
                self._working = True
                if isinstance(job, BccProgram):
                    self._state.current = job.probe
            try:
                if isinstance(job, BccProgram):
                    self._one(job)
                else:
                    self._expand(job)
            finally:
                with self._wake:
                    self._working = False
                    self._wake.notify_all()

    def _expand(self, plan: Plan) -> None:
        try:
            progs = list(plan())
        except Exception as e:  # no daemon, a probe not available: the view says it when it starts
            msg = e.message if isinstance(e, BeefineError) else f"{type(e).__name__}: {e}"
            with self._wake:
                self._state.failed.append(f"plan: {msg}")
                self._wake.notify_all()
            return
        self.request(progs, first=True)

    def _one(self, prog: BccProgram) -> None:
        outcome, why = "", ""
        try:
            outcome = (self._compile or precompile)(prog, self.cache)
        except Exception as e:
            why = e.message if isinstance(e, BeefineError) else f"{type(e).__name__}: {e}"
        with self._wake:
            s = self._state
            s.done += 1
            s.current = ""
            if why:
                s.failed.append(f"{prog.probe}: {why}")
            elif outcome == PRECOMPILED:
                s.compiled += 1
            self._wake.notify_all()


def stop_quietly(p: Precompiler | None) -> None:
    if p is not None:
        with contextlib.suppress(Exception):
            p.stop()
