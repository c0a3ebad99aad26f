"""The BCC runner: compiles BPF C programs at start, reads their output buffers from one thread,
decodes records into Events and hands them to a sink in batches, and turns in-kernel loss counters
into `lost` events.

Each probe is a `BccProgram` (bcc_program.py: C text, cflags, ring buffers with a decoder). Several
programs in one runner are compiled as separate BPF objects (one failing to load does not take the
others down) and share one poll thread (output_poll.py: one epoll with a timeout over every buffer,
rings read through mmap on x86-64, elsewhere through libbpf's consumer in BCC). Compiles are
serialised process-wide (bcc_compile.COMPILE_LOCK): BCC's compiler is not thread-safe. Separate
objects cost a fixed ~0.5 s each on this VM (a one-tracepoint program compiles in 0.47 s; exec 1.1 s,
fork 0.56 s, files 1.1 s, measured at load ~3.5); one combined object would save that per extra
probe but needs every program's names made unique, and one bad probe would stop all. Perf buffers
are used instead of ring buffers where the kernel has none (< 5.8) or when BEEFINE_FORCE_PERF=1.
Loss of output records is counted in the kernel in both modes (a failed ringbuf_output/perf_submit
increments the program's `lost` array) and reported as source "kernel" for ring buffers, "perf" for
perf buffers. BCC's `lost_cb` is kept only as a cross-check (`perf_lost_cb`): the kernel emits
PERF_RECORD_LOST only when a later sample fits, so it misses the loss at the end of a burst
(measured: 710 of 42593 lost samples never reported that way).

Nothing here imports bcc at module import time.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from beefine_tui import privileges
from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.model import Event, lost_event, note_event, status_event
from beefine_tui.probes import program_cache
from beefine_tui.probes.attribution import Attributor, descendants
from beefine_tui.probes.base import (
    PAIRED_CALLS_NOTE,
    ProbeOptions,
    Runner,
    Sink,
    import_bcc,
    pairs_enter_exit,
)
from beefine_tui.probes.bcc_compile import COMPILE_LOCK, capture_stderr, load_error, release_compiler_heap
from beefine_tui.probes.bcc_program import (
    EXCLUDE_SELF_FLAG,
    BccProgram,
    Periodic,
    declared_maps,
    use_perf_buffers,
)
from beefine_tui.probes.decode_context import DecodeContext, Decoder, attributed
from beefine_tui.probes.fdinfo import fd_ids
from beefine_tui.probes.mmap_ring import mmap_ring_supported
from beefine_tui.probes.output_poll import OutputBuffers, drain_interval, run_poll_loop
from beefine_tui.probes.tracepoint_anchors import TracepointAnchors, busy_with

JOIN_TIMEOUT_S = 5.0
# Closing a tracepoint's perf event waits for an RCU grace period in the kernel (perf_trace_event_unreg
# -> tracepoint_synchronize_unregister): ~70 ms each, 10.7 s for the 149 of a trace when BCC's
# cleanup() closes them one by one. Closed from several threads the waits overlap: 5-6 s
# (bench/fault_matrix.py --detach prints the figures); the last of a tracepoint's closes waits under
# the kernel's event_mutex, so with an anchor held on each tracepoint (the app's session does:
# probes/tracepoint_anchors.py) only the overlapping part is left (bench/attach_time.py).
DETACH_THREADS = 16

# slots of the `lost` array in bpf/common.h
LOST_SLOTS = 4


@dataclass
class _Loaded:
    prog: BccProgram
    bpf: Any
    lost_seen: int = 0  # table-full losses reported so far
    output_seen: int = 0  # output-buffer losses reported so far
    perf_lost_cb: int = 0  # what BCC's lost_cb said (a cross-check only, see the module docstring)
    parse_lost: int = 0
    parse_reported: int = 0
    prog_ids: set[int] = field(default_factory=set)
    buffers: OutputBuffers | None = None  # opened by _prepare
    attached_ns: int = 0  # when its tracepoints were attached: its "running" status carries this time
    entry: program_cache.CachedProgram | None = None  # given back to the program cache at stop
    reused: bool = False  # taken from the cache (no compile)
    held: program_cache.CacheKey | None = None  # released at stop when no entry goes back


_NO_CACHE_GIVEN: Any = object()


def _attachments(bpf: Any, prog: BccProgram) -> tuple[tuple[bytes, bytes], ...]:
    """(tracepoint, function) of everything a fresh BPF() attached: TRACEPOINT_PROBE functions are
    attached by BCC under the name tracepoint__<cat>__<name>, the others are listed in prog.attach."""
    explicit = {tp.encode(): fn.encode() for tp, fn in prog.attach}
    out = []
    for tp in list(getattr(bpf, "tracepoint_fds", {})):
        fn = explicit.get(tp, b"tracepoint__" + tp.replace(b":", b"__"))
        out.append((tp, fn))
    return tuple(out)


class BccRunner(Runner):
    """Loads BccPrograms and streams their events. See the module docstring."""

    def __init__(
        self,
        programs: Sequence[BccProgram],
        options: ProbeOptions,
        *,
        strict: bool = True,
        cache: program_cache.ProgramCache | None = _NO_CACHE_GIVEN,
    ):
        super().__init__()
        # compiled objects are taken from and given back to the session's cache (program_cache)
        self._cache = program_cache.current() if cache is _NO_CACHE_GIVEN else cache
        self._stop_event.set()  # not running until start()
        self._programs = list(programs)
        self.options = options
        self.strict = strict
        self.ctx = DecodeContext(options.target)
        self.attributor = Attributor(options.target, self.ctx.procs)  # one process table for both
        self.errors: dict[str, ProbeLoadError] = {}
        self._loaded: list[_Loaded] = []
        self._thread: threading.Thread | None = None
        self._sink: Sink | None = None
        self._batch: list[Event] = []
        # re-entrant: a signal handler on the thread that is inside stop() may call stop() again
        self._stop_lock = threading.RLock()
        self._stopped = False
        self._starting = False
        self.compile_seconds: dict[str, float] = {}
        # Beefine's own tgids kept out in the kernel; the ones a target names explicitly stay in
        self._unsubscribe_self: Callable[[], None] | None = None
        t = options.target
        self._explicit = set(t.pids) | ({t.lineage_root} if t.lineage_root is not None else set())

    @property
    def probes(self) -> tuple[str, ...]:
        return tuple(p.probe for p in self._programs)

    @property
    def loaded(self) -> tuple[str, ...]:
        return tuple(ld.prog.probe for ld in self._loaded)

    @property
    def reused(self) -> tuple[str, ...]:
        """The probes whose compiled object came from the program cache (no compile this time)."""
        return tuple(ld.prog.probe for ld in self._loaded if ld.reused)

    def prog_ids_by_probe(self) -> dict[str, set[int]]:
        """Kernel ids of each probe's BPF programs (bench/trace_overhead.py reads their run stats)."""
        return {ld.prog.probe: set(ld.prog_ids) for ld in self._loaded}

    def periodic_for(self, probe: str) -> Periodic | None:
        """The housekeeping object of a probe's program (its own API, e.g. the flight recorder's
        request()), or None."""
        for prog in self._programs:
            if prog.probe == probe:
                return prog.periodic
        return None

    def prog_ids(self) -> set[int]:
        """Kernel ids of the BPF programs this runner loaded (for cleanup checks)."""
        out: set[int] = set()
        for ld in self._loaded:
            out |= ld.prog_ids
        return out

    # ---- start

    def start(self, sink: Sink) -> None:
        privileges.require_bpf()
        with self._stop_lock:
            if self._thread is not None or self._stopped or self._starting:
                raise RuntimeError("BccRunner.start called twice, or after stop")
            self._starting = True
        self._sink = sink
        perf = use_perf_buffers()
        try:
            with busy_with(self._anchors()):
                self._load_all(perf)
            with self._stop_lock:
                if self._stopped:
                    raise ProbeLoadError("stopped while starting")
                self._starting = False
                self._stop_event.clear()
        except BaseException:
            with self._stop_lock:
                self._cleanup()
                self._stopped = True
                self._starting = False
            raise
        now = time.monotonic_ns()
        sink(
            [status_event(ld.prog.probe, "running", ts=ld.attached_ns or now) for ld in self._loaded]
            + [
                note_event(ld.prog.probe, PAIRED_CALLS_NOTE, ts=ld.attached_ns or now)
                for ld in self._loaded
                if pairs_enter_exit(ld.prog.text)
            ]
            + [status_event(p, "failed", str(e.message), ts=now) for p, e in self.errors.items()]
        )
        self._thread = threading.Thread(target=self._run, name="beefine-bcc-poll", daemon=True)
        self._thread.start()

    def _load_all(self, perf: bool) -> None:
        for prog in self._programs:
            if self._stopped:  # stop() was called from another thread while we compiled
                raise ProbeLoadError("stopped while starting")
            try:
                self._loaded.append(self._load(prog, perf))
            except ProbeLoadError as e:
                self.errors[prog.probe] = e
                if self.strict:
                    raise
        if not self._loaded:
            first = next(iter(self.errors.values()), None)
            if first is not None:
                raise first
            raise ProbeLoadError("no BPF programs to load")

    def _anchors(self) -> TracepointAnchors | None:
        """The session's tracepoint anchors (probes/tracepoint_anchors.py), when a cache keeps them."""
        return program_cache.anchors_of(self._cache)

    def _load(self, prog: BccProgram, perf: bool) -> _Loaded:
        cache = self._cache
        key: program_cache.CacheKey = (prog.probe, prog.text, tuple(prog.cflags))
        # only objects read through MmapRing are kept: BCC binds perf readers and libbpf ring
        # consumers to the object for its lifetime
        cacheable = cache is not None and not cache.closed and not perf and mmap_ring_supported()
        if cacheable:
            assert cache is not None
            t0 = time.perf_counter()
            # a precompile of this very key under way: wait for it rather than compile it twice
            entry = cache.take(key, program_cache.BUILD_WAIT_S, cancelled=lambda: self._stopped)
            if entry is not None:
                ld = self._reuse(prog, entry)
                if ld is not None:
                    ld.held = key
                    self.compile_seconds[prog.probe] = time.perf_counter() - t0
                    return ld
            try:
                ld = self._compile(prog, perf, key, cacheable)
            except BaseException:
                cache.release(key)
                raise
            ld.held = key
            return ld
        return self._compile(prog, perf, key, cacheable)

    def _compile(self, prog: BccProgram, perf: bool, key: program_cache.CacheKey, cacheable: bool) -> _Loaded:
        BPF = import_bcc().BPF

        holder: list[Any] = []
        exc: Exception | None = None
        attached_ns = 0
        with COMPILE_LOCK:
            # inside the lock: the fds that appear are this program's, not another runner's
            before = fd_ids("prog")
            t0 = time.perf_counter()
            with capture_stderr() as captured:
                try:
                    holder.append(BPF(text=prog.text.encode(), cflags=list(prog.cflags)))
                    for tp, fn in prog.attach:
                        holder[0].attach_tracepoint(tp=tp, fn_name=fn)
                    attached_ns = time.monotonic_ns()
                except Exception as e:
                    exc = e
            elapsed = time.perf_counter() - t0
            new_ids = fd_ids("prog") - before
            release_compiler_heap()
        log = captured[0] if captured else ""
        if exc is not None:
            for b in holder:
                with contextlib.suppress(Exception):
                    b.cleanup()
            raise load_error(prog.probe, exc, log, prog.text) from None
        bpf = holder[0]
        self.compile_seconds[prog.probe] = elapsed
        # stamped at attach, not once every program is compiled (seconds later): a probe's "running"
        # must not come after the events it caught while the next program compiled
        ld = _Loaded(prog, bpf, prog_ids=new_ids, attached_ns=attached_ns)
        # raw tracepoints (the syscalls probe) are attached by BCC itself and not closed by
        # detach_tracepoints: a kept object would stay attached to every syscall of the machine
        if cacheable and not getattr(bpf, "raw_tracepoint_fds", None):
            ld.entry = program_cache.CachedProgram(key, bpf, set(new_ids), _attachments(bpf, prog))
        self._prepare(ld, perf)
        return ld

    def _reuse(self, prog: BccProgram, entry: program_cache.CachedProgram) -> _Loaded | None:
        """A cached object made ready as if freshly compiled: its maps emptied (the last run's
        lineage, calls in flight, loss counts), seeded, then its tracepoints attached again. None
        (the object freed) when any of it fails: the caller compiles instead."""
        bpf = entry.bpf
        ld = _Loaded(prog, bpf, prog_ids=set(entry.prog_ids), entry=entry, reused=True)
        try:
            for name in declared_maps(prog.text):
                self._empty_map(bpf, name)
            self._prepare(ld, perf=False)
            for tp, fn in entry.attach:
                bpf.attach_tracepoint(tp=tp, fn_name=fn)
            ld.attached_ns = time.monotonic_ns()
        except Exception:
            if ld.buffers is not None:
                ld.buffers.close()
            detach_tracepoints([bpf], anchors=self._anchors())
            with contextlib.suppress(Exception):
                bpf.cleanup()
            return None
        return ld

    @staticmethod
    def _empty_map(bpf: Any, name: str) -> None:
        try:
            table = bpf[name.encode()]
        except KeyError:
            return  # declared under an #ifdef this build left out
        if hasattr(table, "clearitem"):  # arrays cannot delete: zero every slot
            for i in range(len(table)):
                table.clearitem(i)
        else:
            for k in list(table.keys()):
                with contextlib.suppress(KeyError):
                    del table[k]

    def _prepare(self, ld: _Loaded, perf: bool) -> None:
        """Open the object's output buffers, seed its maps (setup, filter, ourselves excluded)."""
        prog, bpf = ld.prog, ld.bpf
        try:
            ld.buffers = buffers = OutputBuffers(bpf, self.ctx)
            for rb in prog.buffers:
                decode = attributed(rb.decode, self.attributor)
                cb = self._callback(ld, decode)
                if perf:
                    buffers.open_perf(rb.name, cb, self.options.ring_pages, self._lost_callback(ld))
                elif not buffers.open_ring(rb.name, decode, cb):
                    ld.entry = None  # bound to BCC's consumer for its life: not one to keep
            if prog.setup is not None:
                prog.setup(bpf)
            self._seed_filter(bpf)
            if EXCLUDE_SELF_FLAG in prog.cflags:
                self._exclude_self(bpf)
        except Exception as e:
            if ld.buffers is not None:
                ld.buffers.close()
            with contextlib.suppress(Exception):
                bpf.cleanup()
            if isinstance(e, ProbeLoadError):
                raise
            raise ProbeLoadError(f"probe {prog.probe}: cannot open its buffers: {e}") from None

    def _seed_filter(self, bpf: Any) -> None:
        t = self.options.target
        seeds = set(t.pids)
        if t.lineage_root is not None:
            seeds.add(t.lineage_root)
            seeds |= descendants(t.lineage_root)
        if not seeds:
            return
        table = bpf[b"tracked"]
        for pid in seeds:
            table[table.Key(pid)] = table.Leaf(1)

    def _exclude_self(self, bpf: Any) -> None:
        """Fill the program's `excluded` map with our own tgids, and keep it up to date as helpers
        (bpftrace) are spawned and reaped while this runner lives."""
        from beefine_tui.probes import own_pids

        table = bpf[b"excluded"]
        for pid in own_pids.current() - self._explicit:
            table[table.Key(pid)] = table.Leaf(1)

        def update(pid: int, added: bool) -> None:
            if pid in self._explicit:
                return
            with self._stop_lock:
                if self._stopped:
                    return  # maps are being freed
                with contextlib.suppress(Exception):  # a full map leaves that helper visible
                    if added:
                        table[table.Key(pid)] = table.Leaf(1)
                    else:
                        del table[table.Key(pid)]

        unsubscribe = own_pids.subscribe(update)
        previous = self._unsubscribe_self

        def unsubscribe_all() -> None:
            unsubscribe()
            if previous is not None:
                previous()

        self._unsubscribe_self = unsubscribe_all

    def _callback(self, ld: _Loaded, decode: Decoder) -> Callable[[Any, Any, int], int]:
        batch = self._batch
        ctx = self.ctx
        string_at = ctypes.string_at

        def cb(_cpu_or_ctx: Any, data: Any, size: int) -> int:
            try:
                ev = decode(string_at(data, size), ctx)
            except Exception:
                ld.parse_lost += 1
                return 0
            if ev is not None:
                batch.append(ev)
            return 0

        return cb

    def _lost_callback(self, ld: _Loaded) -> Callable[[int], None]:
        def lost_cb(count: int) -> None:
            ld.perf_lost_cb += count

        return lost_cb

    # ---- poll thread

    def _run(self) -> None:
        try:
            fds = [fd for ld in self._loaded if ld.buffers is not None for fd in ld.buffers.fds()]
            run_poll_loop(
                self._stop_event,
                fds,
                self._batch,
                drain=self._drain,
                flush=self._flush,
                housekeeping=self._housekeeping,
                interval=lambda: drain_interval([ld.buffers for ld in self._loaded]),
            )
        except Exception as e:  # report, never die silently
            self._batch.append(status_event(",".join(self.loaded), "failed", f"poll thread: {e}"))
            self._flush()

    def _drain(self) -> None:
        for ld in sorted(self._loaded, key=_lineage_first):
            if ld.buffers is not None:
                ld.parse_lost += ld.buffers.drain(self._batch)

    def _flush(self) -> None:
        if self._batch and self._sink is not None:
            out = self._batch[:]
            self._batch.clear()
            self._sink(out)

    def read_lost(self, ld: _Loaded) -> tuple[int, int]:
        """(output records lost, table-full losses) from the program's `lost` array."""
        counts = [0] * LOST_SLOTS
        with contextlib.suppress(Exception):
            table = ld.bpf[b"lost"]
            for i in range(LOST_SLOTS):
                counts[i] = int(table[table.Key(i)].value)
        return counts[0], sum(counts[1:])

    @staticmethod
    def take_lost_window(ld: _Loaded) -> tuple[int, int] | None:
        """(first, last) ts of the kernel's losses since the last call (bpf/common.h lost_when), and
        start the next window; None when the program has no such map or it says nothing."""
        try:
            table = ld.bpf[b"lost_when"]
            first = int(table[table.Key(0)].value)
            last = int(table[table.Key(1)].value)
            table[table.Key(0)] = table.Leaf(0)
        except Exception:
            return None
        if not last:
            return None
        return (first or last, last)

    def _housekeeping(self) -> None:
        now = time.monotonic_ns()
        output_source = "perf" if use_perf_buffers() else "kernel"
        for ld in self._loaded:
            output, tables = self.read_lost(ld)
            # read only when there is loss to report: the common case costs no map access
            win = self.take_lost_window(ld) if output > ld.output_seen or tables > ld.lost_seen else None
            if output > ld.output_seen:
                self._batch.append(
                    lost_event(ld.prog.probe, output - ld.output_seen, output_source, ts=now, window=win)
                )
                ld.output_seen = output
            if tables > ld.lost_seen:
                self._batch.append(
                    lost_event(ld.prog.probe, tables - ld.lost_seen, "kernel", ts=now, window=win)
                )
                ld.lost_seen = tables
            if ld.parse_lost > ld.parse_reported:
                n = ld.parse_lost - ld.parse_reported
                ld.parse_reported = ld.parse_lost
                self._batch.append(lost_event(ld.prog.probe, n, "parse", ts=now))
            if ld.prog.periodic is not None:
                try:
                    self._batch.extend(map(self.attributor.attribute, ld.prog.periodic(ld.bpf, self.ctx)))
                except Exception as e:
                    self._batch.append(status_event(ld.prog.probe, "warning", f"housekeeping: {e}"))

    # ---- stop

    def stop(self) -> None:
        """Idempotent; detaches everything. Safe to call from any thread (not from the poll thread's
        own callbacks)."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self._stop_event.set()
            if self._starting:
                return  # start() is compiling on another thread: it sees _stopped and cleans up
            if self._cache is not None:
                for ld in self._loaded:
                    if ld.entry is not None:
                        self._cache.returning(ld.entry)  # a run started meanwhile waits for it
            # detached before the poll thread's final drain: once the perf events are closed (each
            # close waits for the programs running on it) nothing more is written, so the drain
            # takes every record, and a kept object's ring holds nothing of this run for the next
            detach_tracepoints([ld.bpf for ld in self._loaded], anchors=self._anchors())
            t = self._thread
            if t is not None and t is not threading.current_thread():
                t.join(JOIN_TIMEOUT_S)
            self._cleanup()
            if self._sink is not None:
                now = time.monotonic_ns()
                with contextlib.suppress(Exception):
                    self._sink([status_event(ld.prog.probe, "stopped", ts=now) for ld in self._loaded])

    def _cleanup(self) -> None:
        unsubscribe, self._unsubscribe_self = self._unsubscribe_self, None
        if unsubscribe is not None:
            unsubscribe()
        for ld in self._loaded:
            if ld.buffers is not None:
                ld.buffers.close()
        detach_tracepoints([ld.bpf for ld in self._loaded], anchors=self._anchors())
        for ld in self._loaded:
            if ld.entry is not None and self._cache is not None:
                self._cache.give(ld.entry)  # loaded, attached to nothing: see program_cache
                continue
            if ld.held is not None and self._cache is not None:
                self._cache.release(ld.held)
            with contextlib.suppress(Exception):
                ld.bpf.cleanup()


# Drain order: forks first, then execs, then the rest. A fork names the child's parent and container,
# so the records of that child drained after it find it in the process table instead of reading /proc
# for it (~110 us a read, bench/trace_overhead.py).
_DRAIN_RANK = {"fork": 0, "exec": 1}


def _lineage_first(ld: _Loaded) -> int:
    return _DRAIN_RANK.get(ld.prog.probe, len(_DRAIN_RANK))


def detach_tracepoints(
    bpfs: Sequence[Any], threads: int | None = None, anchors: TracepointAnchors | None = None
) -> None:
    """Close the tracepoint perf events of these BCC objects from `threads` threads at once (see
    DETACH_THREADS), then forget them, so each BPF.cleanup() only closes program fds (fast). With
    `anchors`, an anchor is held on each of their tracepoints first, so no close waits for the
    kernel's unregister (probes/tracepoint_anchors.py)."""
    tracepoints: list[str] = []
    fds: list[int] = []
    for b in bpfs:
        tp_fds = getattr(b, "tracepoint_fds", None)
        if isinstance(tp_fds, dict):
            tracepoints += [tp.decode() if isinstance(tp, bytes) else str(tp) for tp in tp_fds]
            fds += list(tp_fds.values())
            tp_fds.clear()
    if not fds:
        return
    from concurrent.futures import ThreadPoolExecutor

    from bcc import lib

    def close(fd: int) -> None:
        with contextlib.suppress(Exception):
            lib.bpf_close_perf_event_fd(fd)

    workers = max(1, min(DETACH_THREADS if threads is None else threads, len(fds)))
    with busy_with(anchors):
        if anchors is not None:
            anchors.hold(tracepoints)
        with ThreadPoolExecutor(workers, thread_name_prefix="beefine-detach") as pool:
            list(pool.map(close, fds))


# what precompile() reports for one program
PRECOMPILED, ALREADY, NOT_KEPT = "compiled", "already", "not kept"
# functions BCC would attach at load that a kept object must not have (see program_cache)
_NOT_KEEPABLE = (b"raw_tracepoint__", b"kprobe__", b"kretprobe__", b"kfunc__", b"kretfunc__", b"lsm__")
_load_only_class: Any = None


def _load_only(BPF: Any) -> Any:
    """bcc.BPF whose constructor loads the TRACEPOINT_PROBE functions without attaching them (BCC's
    own _trace_autoload attaches at once); what they would attach to is listed in `autoload`."""
    global _load_only_class
    if _load_only_class is None:
        from bcc import lib

        class LoadOnly(BPF):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.autoload: list[tuple[bytes, bytes]] = []
                self.not_keepable = False
                super().__init__(*args, **kwargs)

            def _trace_autoload(self) -> None:
                for i in range(lib.bpf_num_functions(self.module)):
                    name = lib.bpf_function_name(self.module, i)
                    if name.startswith(b"tracepoint__"):
                        self.load_func(name, BPF.TRACEPOINT)
                        self.autoload.append((name[len(b"tracepoint__") :].replace(b"__", b":"), name))
                    elif name.startswith(_NOT_KEEPABLE):
                        self.not_keepable = True

        _load_only_class = LoadOnly
    return _load_only_class


def keepable(prog: BccProgram) -> bool:
    """Whether a program's object can be kept idle in a program cache at all (see program_cache):
    ring buffers read through mmap, no raw tracepoints."""
    return not use_perf_buffers() and mmap_ring_supported() and "RAW_TRACEPOINT_PROBE" not in prog.text


def precompile(prog: BccProgram, cache: program_cache.ProgramCache) -> str:
    """Compile and load `prog` into `cache`, attached to nothing, so the runner that later asks for
    the same text and cflags only attaches it. PRECOMPILED; ALREADY when the cache has it, holds it
    or builds it; NOT_KEPT when no cache could keep it (it is freed). Raises ProbeLoadError."""
    key: program_cache.CacheKey = (prog.probe, prog.text, tuple(prog.cflags))
    if not keepable(prog):
        return NOT_KEPT
    if not cache.begin_build(key):
        return ALREADY
    entry: program_cache.CachedProgram | None = None
    try:
        LoadOnly = _load_only(import_bcc().BPF)
        bpf: Any = None
        exc: Exception | None = None
        with COMPILE_LOCK:
            before = fd_ids("prog")
            with capture_stderr() as captured:
                try:
                    bpf = LoadOnly(text=prog.text.encode(), cflags=list(prog.cflags))
                    for _tp, fn in prog.attach:
                        bpf.load_func(fn.encode(), bpf.TRACEPOINT)
                except Exception as e:
                    exc = e
            new_ids = fd_ids("prog") - before
        if exc is not None or bpf is None:
            if bpf is not None:
                with contextlib.suppress(Exception):
                    bpf.cleanup()
            raise load_error(
                prog.probe, exc or RuntimeError("no object"), captured[0] if captured else "", prog.text
            )
        if bpf.not_keepable:
            with contextlib.suppress(Exception):
                bpf.cleanup()
            return NOT_KEPT
        attach = tuple(bpf.autoload) + tuple((tp.encode(), fn.encode()) for tp, fn in prog.attach)
        entry = program_cache.CachedProgram(key, bpf, set(new_ids), attach, uses=0)
        return PRECOMPILED
    finally:
        cache.end_build(key, entry)
