"""Runs a bpftrace script as a subprocess and turns its JSON output into Events (reading the output
is bpftrace_protocol.py's job; this module runs the process, knows when it is attached, batches and
stops). Errors (parse, semantic, attach) go to stderr as `file:line:col-col: ERROR: message`
followed by the offending line and a `~~~` marker (bpftrace_errors.py).

Lifecycle: bpftrace runs in its own process group (start_new_session) so stop() can signal it
and any helper it forked. stop() sends SIGINT (bpftrace then prints its maps and exits), waits
briefly, then SIGKILLs the group and reaps it. Closing the pipes never depends on the reader
thread being alive.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from beefine_tui import privileges
from beefine_tui.errors import ProbeLoadError, UsageError
from beefine_tui.events.model import Event, note_event, status_event
from beefine_tui.probes import own_pids, program_cache
from beefine_tui.probes.attribution import Attributor
from beefine_tui.probes.base import (
    PAIRED_CALLS_NOTE,
    Availability,
    ProbeOptions,
    ProbeSpec,
    Runner,
    Sink,
    Target,
    pairs_enter_exit,
)
from beefine_tui.probes.bpftrace_errors import MEMLOCK_WARNING, clean_stderr, load_error, parse_errors
from beefine_tui.probes.bpftrace_protocol import (
    EMITTED_MAP,
    READY_TAG,
    LineDecoder,
    OutputDecoder,
    parse_json_line,
)
from beefine_tui.probes.bpftrace_spawn import child_setup, signal_group, spawner
from beefine_tui.probes.flags import TRUNCATED_MARK, ret_args
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.probes.tracepoint_anchors import busy_with
from beefine_tui.resources import bpftrace_script

BPFTRACE = "bpftrace"
ATTACH_TIMEOUT_S = 30.0  # bpftrace compiles with LLVM and resolves BTF: seconds on a busy machine
STOP_GRACE_S = 2.0  # after SIGINT, time for bpftrace to print its maps and exit
STOP_MAX_S = 10.0  # after SIGINT, bpftrace may take this long while it still prints its backlog
DRAIN_MAX_S = 0.5  # before SIGINT, wait up to this long for bpftrace's output backlog to go quiet
DRAIN_QUIET_S = 0.2
BATCH_MAX = 512
# bpftrace cuts str() at BPFTRACE_STRLEN bytes with the NUL: 64 by default, which silently cut a Docker
# cgroup path ("/docker/" + 64 hex). bpftrace 0.17 accepts up to 200, but cgroups.bt's attach printf
# (two strings) then overflows the 512-byte BPF stack; 160 did too, 128 loads (namespaces.bt's
# sethostname does not even load with 128, so only scripts printing paths ask for it: builtin_runner).
# A string read back with BUILTIN_STRLEN - 1 bytes may have been cut and is marked so (`cut_string`).
BUILTIN_STRLEN = 128
DEFAULT_STRLEN = 64  # bpftrace's own default, what the other built-in scripts run with
BATCH_INTERVAL_S = 0.05
POLL_TIMEOUT_S = 0.1
STDERR_KEEP = 200  # lines of stderr kept for error messages (bounded)


# bpftrace prints "attached_probes" before it loads and attaches anything, and runs BEGIN before the
# other probes are attached (bpftrace 0.17 src/bpftrace.cpp, BPFtrace::run). Tracepoints are attached
# in the order they appear in the script. So the runner appends this probe LAST and, once bpftrace
# said "attached_probes", calls prctl(READY_MAGIC, nonce) (an unknown option: EINVAL, no effect)
# until the line with its nonce comes back: then every probe above it is live.
READY_MAGIC = 0x62656566  # "beef"
READY_PROBE = (
    "\n// beefine-tui readiness marker: attached last, see bpftrace_runner.READY_PROBE\n"
    f"tracepoint:syscalls:sys_enter_prctl /args->option == {READY_MAGIC:#x}/ "
    f'{{ printf("{READY_TAG}\\t%llu\\n", args->arg2); }}\n'
)


def with_ready_probe(script: str) -> str:
    return script if READY_TAG in script else script.rstrip("\n") + "\n" + READY_PROBE


def _poke_ready(nonce: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(
            ctypes.c_int(READY_MAGIC),
            ctypes.c_ulong(nonce),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )


# --- parameters and filters ---------------------------------------------------------------------
def ns_inode(pid: int, ns: str) -> int:
    """Inode of /proc/<pid>/ns/<ns>, 0 if the process is gone."""
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return 0


def filter_params(target: Target) -> list[str]:
    """Positional parameters every built-in script takes, in order:

    $1 pid namespace inode (matched against the task's pid_ns_for_children; 0 = any)
    $2 mount namespace inode (0 = any)
    $3 lineage root pid: that process and every descendant forked after start (0 = none)
    $4 exact pid (tgid) when the target names exactly one (0 = any; several are filtered here)
    $5 network namespace inode, for hooks that run outside process context (tcp; 0 = any)
    """
    pidns = target.pidns[1] if target.pidns else 0
    mntns = target.mntns or 0
    lineage = target.lineage_root or 0
    exact = next(iter(target.pids)) if len(target.pids) == 1 else 0
    netns = 0
    for pid in (*sorted(target.pids), target.lineage_root):
        if pid:
            netns = ns_inode(pid, "net")
            if netns:
                break
    return [str(pidns), str(mntns), str(lineage), str(exact), str(netns)]


def bpftrace_path() -> str | None:
    return shutil.which(BPFTRACE)


def bpftrace_available(tracepoints: Sequence[str] = ()) -> Availability:
    """Cheap: is bpftrace installed, are we privileged, do the tracepoints exist (tracefs)?"""
    if bpftrace_path() is None:
        return Availability(
            False, "bpftrace is not installed (apt-get install bpftrace; `make setup` does it)"
        )
    why = privileges.bpftrace_refusal()
    if why:
        return Availability(False, why)
    if tracepoints:
        root = privileges.tracefs_root()
        if root is None:
            return Availability(False, privileges.tracefs_problem())
        missing = [tp for tp in tracepoints if not (root / "events" / tp.replace(":", "/")).is_dir()]
        if missing:
            return Availability(False, "tracepoints missing on this kernel: " + ", ".join(missing))
    return Availability(True)


def header_comment(script_name: str, params: Sequence[str]) -> str:
    return f"// beefine-tui: bpftrace -f json {script_name} {' '.join(params)}\n"


# --- the runner ---------------------------------------------------------------------------------
class BpftraceRunner(Runner):
    """One bpftrace process running one script. See the module docstring for the lifecycle."""

    def __init__(
        self,
        probe: str,
        script: str,
        params: Sequence[str] = (),
        *,
        decode_line: LineDecoder | None = None,
        target: Target | None = None,
        script_name: str = "script.bt",
        attach_timeout: float = ATTACH_TIMEOUT_S,
        strlen: int | None = None,
    ) -> None:
        super().__init__()
        self._stop_event.set()  # not running until start()
        self._probe = probe
        self._script = script
        self._params = [str(p) for p in params]
        self._decoder = OutputDecoder(probe, decode_line, target)
        self._attributor = Attributor(target)
        self._script_name = os.path.basename(script_name) or "script.bt"
        self._attach_timeout = attach_timeout
        self._strlen = strlen  # BPFTRACE_STRLEN for this script (None: bpftrace's default)
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_KEEP)
        self._attached = threading.Event()  # bpftrace said "attached_probes" (not yet true)
        self._ready = threading.Event()  # our readiness marker came back: every probe is live
        self._nonce = int.from_bytes(os.urandom(6), "little") or 1
        self._exited = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self._sink: Sink | None = None
        self.events_out = 0
        self.killed = False  # stop() had to SIGKILL bpftrace: its final report is missing
        self._last_output = time.monotonic()
        self.lost_perf = 0
        self.error: str | None = None

    @property
    def probes(self) -> tuple[str, ...]:
        return (self._probe,)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def prog_ids(self) -> set[int]:
        """The BPF programs the bpftrace process holds (from its fds; empty once it has exited)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return set()

        return prog_ids_of_pid(proc.pid)

    @property
    def stderr_text(self) -> str:
        return "\n".join(self._stderr)

    def start(self, sink: Sink) -> None:
        # the anchors' closer holds the kernel's event_mutex for each close, which bpftrace's own
        # attach needs too: it waits while this attaches (probes/tracepoint_anchors.py)
        with busy_with(program_cache.anchors_of(program_cache.current())):
            self._start(sink)

    def _start(self, sink: Sink) -> None:
        exe = bpftrace_path()
        if exe is None:
            raise ProbeLoadError(
                f"cannot run {self._probe}: bpftrace is not installed",
                "install it (apt-get install bpftrace, or `make setup`)",
            )
        with self._lock:
            if self._proc is not None:
                raise RuntimeError("BpftraceRunner.start() called twice")
            self._sink = sink
            self._tmpdir = tempfile.mkdtemp(prefix="beefine-bt-")
            path = os.path.join(self._tmpdir, self._script_name)
            with open(path, "w") as f:
                f.write(with_ready_probe(self._script))
            self._stop_event.clear()
            try:
                me = os.getpid()
                self._proc = spawner.popen(
                    [exe, "-B", "line", "-f", "json", path, *self._params],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,  # its own group: stop() signals all of it
                    preexec_fn=lambda: child_setup(me),
                    close_fds=True,
                    env={
                        **os.environ,
                        "BPFTRACE_NO_CPP_DEMANGLE": "1",
                        **({"BPFTRACE_STRLEN": str(self._strlen)} if self._strlen else {}),
                    },
                )
            except OSError as e:
                self._cleanup_files()
                self._stop_event.set()
                raise ProbeLoadError(f"cannot start bpftrace: {e}") from e
            own_pids.add_child(self._proc.pid)  # BCC probes leave our helper out (include_self)
            self._thread = threading.Thread(target=self._reader, name=f"bpftrace-{self._probe}", daemon=True)
            self._thread.start()
        deadline = time.monotonic() + self._attach_timeout
        while not self._ready.is_set():
            if self._exited.is_set() or time.monotonic() > deadline:
                break
            if self._attached.is_set():
                _poke_ready(self._nonce)
            self._ready.wait(0.02)
        if self._ready.is_set():
            self._cleanup_files()  # parsed and attached: the text is no longer needed
            if pairs_enter_exit(self._script):
                self._emit([note_event(self._probe, PAIRED_CALLS_NOTE)])
            return
        # failed: collect stderr, tear down, raise a clear error
        if not self._exited.is_set():
            self.stop()
            raise ProbeLoadError(
                f"bpftrace did not attach {self._probe} within {self._attach_timeout:.0f} s",
                "the machine may be very busy; bpftrace's output: "
                + (clean_stderr(self.stderr_text)[-500:] or "none"),
                log=clean_stderr(self.stderr_text),
            )
        rc = self._proc.poll() if self._proc else None
        if rc == 0 and self._attached.is_set() and not parse_errors(self.stderr_text):
            # it ran and ended by itself before the marker came back (exit() in BEGIN): not an error
            self._emit([status_event(self._probe, "exited")])
            self.stop()
            return
        self.stop()
        raise load_error(self._probe, self.stderr_text, rc)

    # reader thread: the only reader of the pipes while running
    def _reader(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        fds = {proc.stdout.fileno(): b"", proc.stderr.fileno(): b""}
        out_fd = proc.stdout.fileno()
        batch: list[Event] = []
        last_flush = time.monotonic()
        open_fds = set(fds)
        try:
            while open_fds:
                try:
                    ready, _, _ = select.select(list(open_fds), [], [], POLL_TIMEOUT_S)
                except (OSError, ValueError):
                    break
                for fd in ready:
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        open_fds.discard(fd)
                        if fds[fd]:
                            self._handle_line(fd == out_fd, fds[fd], batch)
                            fds[fd] = b""
                        continue
                    if fd == out_fd:
                        self._last_output = time.monotonic()
                    buf = fds[fd] + chunk
                    *lines, rest = buf.split(b"\n")
                    fds[fd] = rest
                    if len(rest) > 1 << 20:  # a runaway line: cut it rather than grow without bound
                        lines.append(rest)
                        fds[fd] = b""
                    for ln in lines:
                        self._handle_line(fd == out_fd, ln, batch)
                now = time.monotonic()
                if batch and (len(batch) >= BATCH_MAX or now - last_flush >= BATCH_INTERVAL_S):
                    self._emit(batch)
                    batch = []
                    last_flush = now
            batch.extend(self._decoder.flush())
        except Exception as e:  # never die silently: report and end
            self.error = f"{type(e).__name__}: {e}"
            batch.append(status_event(self._probe, "failed", self.error))
        finally:
            rc = None
            with contextlib.suppress(Exception):
                rc = proc.wait(timeout=STOP_GRACE_S if self._ready.is_set() else 5.0)
            if self._ready.is_set() and EMITTED_MAP in self._script and not self._decoder.emitted_seen:
                # killed (by stop's SIGKILL, or from outside) before its final count: what was still
                # in its buffers is gone and cannot be counted; say so rather than stay silent
                batch.append(
                    status_event(
                        self._probe,
                        "incomplete",
                        "bpftrace ended before reporting how many records it emitted; "
                        "records still in its buffers were lost uncounted",
                    )
                )
            if self._ready.is_set() and not self._stop_event.is_set():
                # bpftrace ended on its own while we were running (exit() in a script, crash, kill)
                errs = parse_errors(self.stderr_text)
                if rc not in (0, None) or errs:
                    msg = errs[0].message if errs else f"bpftrace exited with status {rc}"
                    self.error = msg
                    batch.append(status_event(self._probe, "failed", msg))
                else:
                    batch.append(status_event(self._probe, "exited"))
            if batch:
                self._emit(batch)
            self._exited.set()

    def _handle_line(self, is_stdout: bool, raw: bytes, batch: list[Event]) -> None:
        text = raw.decode("utf-8", errors="replace")
        if not is_stdout:
            if text.strip() and not MEMLOCK_WARNING.search(text):
                self._stderr.append(text)
            return
        msg = parse_json_line(text)
        attribute = self._attributor.attribute
        if msg is None:
            if text.strip():
                ev = self._decoder._line(text)
                if ev is not None:
                    batch.append(attribute(ev))
            return
        events = self._decoder.feed(msg)
        if msg.get("type") == "attached_probes":
            self._attached.set()
        if not self._ready.is_set() and self._nonce in self._decoder.ready_nonces:
            self._ready.set()
        for ev in events:
            if ev.kind == "lost" and ev.args.get("source") == "perf":
                self.lost_perf += int(ev.args.get("count", 0))
        batch.extend(map(attribute, events))

    def _emit(self, batch: list[Event]) -> None:
        sink = self._sink
        if sink is None:
            return
        self.events_out += len(batch)
        try:
            sink(batch)
        except Exception as e:  # the sink must not block or raise; if it does, keep reading
            self.error = f"sink failed: {type(e).__name__}: {e}"

    def stop(self) -> None:
        with self._lock:
            first = not self._stopped
            self._stopped = True
            self._stop_event.set()
            proc = self._proc
        if proc is not None:
            if proc.poll() is None and self._ready.is_set():
                # let bpftrace print what its perf buffers still hold: it drops that backlog on exit
                deadline = time.monotonic() + DRAIN_MAX_S
                while time.monotonic() < deadline and time.monotonic() - self._last_output < DRAIN_QUIET_S:
                    time.sleep(0.05)
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGINT)
                # it drains its perf buffers, runs END and prints its maps: give it time while it
                # makes progress (output keeps coming), up to STOP_MAX_S
                t0 = time.monotonic()
                self._last_output = max(self._last_output, t0)
                while proc.poll() is None:
                    now = time.monotonic()
                    if now - t0 > STOP_MAX_S or now - self._last_output > STOP_GRACE_S:
                        break
                    time.sleep(0.05)
                self.killed = proc.poll() is None
            # whatever is left of the group (bpftrace itself if it ignored SIGINT, helpers it forked)
            signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
            if proc.returncode is not None:
                own_pids.remove_child(proc.pid)  # reaped: the pid may be reused by anyone
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=STOP_GRACE_S + 1.0)
        if proc is not None and (t is None or not t.is_alive()):
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if first:
            self._cleanup_files()

    def _cleanup_files(self) -> None:
        d, self._tmpdir = self._tmpdir, None
        if d:
            shutil.rmtree(d, ignore_errors=True)


# --- users' own scripts -------------------------------------------------------------------------
def check_user_script(text: str) -> None:
    """Reject what cannot be a bpftrace script before running anything."""
    if not text.strip():
        raise UsageError(
            "the bpftrace script is empty", 'write at least one probe, e.g. BEGIN { printf("hi\\n"); }'
        )
    if "\x00" in text:
        raise UsageError("the bpftrace script contains NUL bytes: is it a binary file?")


def run_user_script(
    text: str,
    sink: Sink,
    *,
    name: str = "user",
    params: Sequence[str] = (),
    target: Target | None = None,
    attach_timeout: float = ATTACH_TIMEOUT_S,
) -> BpftraceRunner:
    """Load and start a user's own script. Its printf lines arrive as kind "printf" {line}, maps
    printed at exit as kind "map" {name, type, values}. Raises ProbeLoadError (with .line) when
    bpftrace rejects it; the returned runner must be stopped by the caller."""
    check_user_script(text)
    runner = BpftraceRunner(
        name, text, params, target=target, script_name=f"{name}.bt", attach_timeout=attach_timeout
    )
    runner.start(sink)
    return runner


# --- built-in scripts: what every bt_<name> module shares -----------------------------------------
def builtin_params(options: ProbeOptions) -> list[str]:
    """filter_params, then $6: Beefine's own pid, which the scripts leave out in the kernel (0 with
    include_self, or when the target names our pid). Helpers (other bpftrace processes) are not known
    to a script before it starts; BCC probes exclude them through probes/own_pids.py."""
    t = options.target
    me = os.getpid()
    ours = not options.include_self and me not in t.pids and me != t.lineage_root
    return [*filter_params(t), str(me if ours else 0)]


def render_builtin(spec: ProbeSpec, options: ProbeOptions) -> str:
    """The exact text loaded for a built-in script: a comment with the command line, then the file."""
    text = header_comment(spec.source, builtin_params(options)) + bpftrace_script(spec.source)
    return with_ready_probe(text)


def builtin_runner(
    spec: ProbeSpec, options: ProbeOptions, decode_line: LineDecoder, *, strlen: int | None = None
) -> BpftraceRunner:
    """`strlen`: BPFTRACE_STRLEN for scripts that print long strings (paths); a larger one costs BPF
    stack in every probe of the script, so the others keep bpftrace's default."""
    return BpftraceRunner(
        spec.name,
        render_builtin(spec, options),
        builtin_params(options),
        decode_line=decode_line,
        target=options.target,
        script_name=spec.source,
        strlen=strlen,
    )


def cut_string(value: str, args: dict[str, Any], strlen: int = BUILTIN_STRLEN) -> str:
    """A str() field of a built-in script run with BPFTRACE_STRLEN `strlen`: one as long as str() can
    return may have been cut, so it gets the marker and the event says truncated (events/SCHEMA.md)."""
    if len(value.encode()) < strlen - 1:
        return value
    args["truncated"] = True
    return value + TRUNCATED_MARK


__all__ = [
    "BpftraceRunner",
    "builtin_params",
    "builtin_runner",
    "filter_params",
    "render_builtin",
    "ret_args",
    "run_user_script",
]
