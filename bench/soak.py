"""Soak (a benchmark, not a test: it prints figures, asserts nothing): the real app for a long time
under a steady flood, with a container creation traced every minute (issue 16).

The real app runs in a private tmux server (120x40) with the files probe open live, host-wide
(`--open probe:files`), on a private lab's daemon. A separate Python process floods it with failed
opens: os.open() of one missing path under a private directory, paced to --rate in 10 ms chunks,
counting exactly how many it made. Meanwhile:

- every 5 s: the RSS of the app (children included); per minute min/median/max;
- every ~2 s: `p` (pause/resume the log) sent with `tmux send-keys`, timed until `capture-pane` shows
  the "paused" line appear (or go); per minute p50/p99. tmux and the polling (~5 ms) are included:
  this is what a user at the terminal gets, not the app's own handler time (bench/ui_latency.py);
- every --trace-every s: `beefine-tui trace --json <lab small image> -- true` (headless, in a thread,
  with a timeout): did it finish, how many phases;
- received + lost = offered: ctrl+r records the view's bus (from the app's cwd, a private work dir)
  before the flood starts and again after it stopped and drained; the recording is read with
  read_recording: the flood's opens in it are "received", its `lost` events are "lost" (all of them:
  they also count other host activity the probe lost, so only received + lost >= offered can be
  checked, exact when nothing was lost);
- at the end the app quits with ctrl+q and we look for what is left: the app and its children, the
  BPF programs it held (ids seen during the run, against `bpftool prog show -j`), containers labelled
  beefine in the lab, the lab's state dir after `lab down`, the tmux socket, the flood, the recording.

Where it departs from the issue's words, and why: the recording holds every flood event (about 350
bytes each, 50k/s: ~30 GiB for 30 minutes, read back at ~160k events/s here, so ~10 minutes), so the
work dir's free space is checked first (--workdir to put it elsewhere) and the work dir is removed at
the end. The recording's event times (CLOCK_MONOTONIC, as the probe's) also split received and lost
per minute, which shows whether loss comes with the traces. The flood is a separate process so its
pacing neither takes the GIL of this script's key timing nor counts in the app's RSS.

    sudo .venv/bin/python bench/soak.py                       # 30 minutes at 50,000 ev/s
    sudo .venv/bin/python bench/soak.py --duration 180        # a 3-minute check
    sudo .venv/bin/python bench/soak.py --rate 20000 --trace-every 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psutil

from beefine_tui.docker import lab
from beefine_tui.errors import BeefineError, NotFoundError
from beefine_tui.events.model import LOST
from beefine_tui.probes.inventory import prog_ids_of_pid
from beefine_tui.replay import open_recording

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# the tmux server passes its environment on: COLUMNS/LINES would make Textual ignore the pane size
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
ENV["PYTHONPATH"] = str(REPO / "src")
EVENT_BYTES = 400  # a generous size of one recorded open event, for the free-space check
PAUSED = "⏸ paused"

# paced failed opens of one missing path; prints its exact count every second and at the end
FLOOD = r"""
import os, sys, time
path, rate, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
n = 0
t0 = time.monotonic()
last = t0
chunk = max(1, rate // 100)
while True:
    now = time.monotonic()
    if now - t0 >= duration:
        break
    for _ in range(chunk):
        try:
            os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
    n += chunk
    if now - last >= 1.0:
        print(n, flush=True)
        last = now
    ahead = n / rate - (time.monotonic() - t0)
    if ahead > 0:
        time.sleep(ahead)
print("done", n, flush=True)
"""


class Stop(Exception):
    """SIGTERM/SIGHUP: unwind through every finally, like ctrl+c."""


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def pct(xs: list[float], q: int) -> float:
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]


class Tmux:
    """A private tmux server (its own socket), so kill-server only ever kills ours."""

    def __init__(self) -> None:
        self.socket = f"beefine-soak-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.target = "soak"

    def run(self, *args: str, check: bool = True) -> str:
        p = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=15, env=ENV
        )
        if check and p.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {p.stderr.strip()}")
        return p.stdout

    def start(self, command: str) -> int:
        self.run(
            "new-session",
            "-d",
            "-s",
            self.target,
            "-x",
            "120",
            "-y",
            "40",
            "-e",
            "TERM=xterm-256color",
            command,
        )
        self.run("set-option", "-t", self.target, "remain-on-exit", "on")
        return int(self.run("display-message", "-p", "-t", self.target, "#{pane_pid}").strip())

    def send(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.target, *keys)

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.target, check=False)

    def wait_for(self, cond: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if cond(screen):
                return screen
            time.sleep(0.2)
        raise RuntimeError(f"the screen never showed {what} within {timeout:.0f} s; last screen:\n{screen}")

    def socket_path(self) -> Path:
        return Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / self.socket

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=15, env=ENV)
        self.socket_path().unlink(missing_ok=True)  # tmux leaves its socket file behind


@dataclass
class Minute:
    rss: list[int] = field(default_factory=list)
    keys: list[float] = field(default_factory=list)
    key_timeouts: int = 0
    traces: list[str] = field(default_factory=list)
    skipped: int = 0
    offered: int = 0  # the flood's count when the minute was reported (it reports once a second)


class Flood:
    """The offered load: a child process and the count it last reported."""

    def __init__(self, path: str, rate: int, duration: float) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", FLOOD, path, str(rate), str(duration)], stdout=subprocess.PIPE, text=True
        )
        self.count = 0
        self.done = False
        self._reader = threading.Thread(target=self._read, name="flood-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if parts and parts[0] == "done":
                self.count, self.done = int(parts[1]), True
            elif parts:
                self.count = int(parts[0])

    def wait(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        self._reader.join(5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Tracer:
    """One `beefine-tui trace` at a time, in a thread: the sampling loop never waits for it."""

    def __init__(self, docker_host: str, image: str, timeout: float) -> None:
        self.docker_host, self.image, self.timeout = docker_host, image, timeout
        self.thread: threading.Thread | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.results: list[str] = []  # one line per finished trace, saying when it started

    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, when: float) -> None:
        self.thread = threading.Thread(target=self._run, args=(when,), name="soak-trace", daemon=True)
        self.thread.start()

    def _run(self, when: float) -> None:
        cmd = [PYTHON, "-m", "beefine_tui", "trace", "--docker-host", self.docker_host, "--json"]
        cmd += ["--timeout", "60", self.image, "--", "true"]
        t0 = time.monotonic()
        self.proc = proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tempfile.gettempdir()
        )
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            self.results.append(f"TIMEOUT after {self.timeout:.0f} s (started at {when:.0f} s)")
            return
        phases = 0
        for line in out.splitlines():
            with contextlib.suppress(ValueError):
                if "phase" in json.loads(line):
                    phases += 1
        took = time.monotonic() - t0
        if proc.returncode == 0:
            self.results.append(f"OK, {phases} phases, {took:.1f} s (started at {when:.0f} s)")
        else:
            tail = (err.strip().splitlines() or ["no message"])[-1][:100]
            self.results.append(
                f"FAILED rc={proc.returncode} ({phases} phases, {took:.1f} s, "
                f"started at {when:.0f} s): {tail}"
            )

    def wait(self) -> None:
        """Let a trace that is running finish (its own timeout bounds it)."""
        if self.thread is not None:
            self.thread.join(self.timeout + 60)

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        if self.thread is not None:
            self.thread.join(60)


def rss_tree(pid: int, seen: set[int]) -> int:
    """RSS of pid and its descendants (bytes); remembers every descendant pid in `seen`."""
    p = psutil.Process(pid)
    total = p.memory_info().rss
    for c in p.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += c.memory_info().rss
            seen.add(c.pid)
    return total


def time_key(tmux: Tmux, timeout: float = 5.0) -> float | None:
    """Send `p` and wait until the "paused" line flips: milliseconds, or None on timeout."""
    before = PAUSED in tmux.capture()
    t0 = time.perf_counter()
    tmux.send("p")
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if (PAUSED in tmux.capture()) != before:
            return (time.perf_counter() - t0) * 1000
        time.sleep(0.005)
    return None


def bpf_prog_ids() -> set[int]:
    p = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True, timeout=60)
    try:
        return {int(x["id"]) for x in json.loads(p.stdout or "[]")}
    except (ValueError, KeyError, TypeError):
        return set()


def strip_line(screen: str) -> str:
    line = next((ln for ln in screen.splitlines() if "lost " in ln and "kernel" in ln), "(no strip)")
    return line[line.find("Probe ") :].strip()  # without the sidebar's column


def wait_recording(workdir: Path, before: set[Path], timeout: float) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(workdir.glob("beefine-*.jsonl")) - before
        if new:
            return new.pop()
        time.sleep(0.2)
    raise RuntimeError(f"ctrl+r made no recording in {workdir} within {timeout:.0f} s")


@dataclass
class Counted:
    received: int = 0  # the flood's opens
    lost: Counter[str] = field(default_factory=Counter)  # per probe/source
    total: int = 0  # every event
    # per minute of the flood (events carry CLOCK_MONOTONIC times, the clock `start` was read on)
    received_min: Counter[int] = field(default_factory=Counter)
    lost_min: Counter[int] = field(default_factory=Counter)
    complete: bool = False
    problem: str = ""


def count_recording(path: Path, flood_path: str, start_ns: int, last_minute: int) -> Counted:
    _header, rec = open_recording(path)
    c = Counted()
    for ev in rec:
        c.total += 1
        minute = min(max(0, (ev.ts - start_ns) // 60_000_000_000), last_minute)
        if ev.kind == LOST:
            n = int(ev.args.get("count", 0))
            c.lost[f"{ev.probe}/{ev.args.get('source', '?')}"] += n
            c.lost_min[minute] += n
        elif ev.kind == "open" and ev.args.get("path") == flood_path:
            c.received += 1
            c.received_min[minute] += 1
    c.complete = bool(rec.complete)
    c.problem = str(getattr(rec, "problem", "") or "")
    return c


def lab_containers(docker_host: str) -> list[str]:
    p = subprocess.run(
        ["docker", "-H", docker_host, "ps", "-a", "-q", "--filter", "label=beefine"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if p.returncode != 0:
        return [f"(docker ps failed: {p.stderr.strip()[:100]})"]
    return p.stdout.split()


@contextlib.contextmanager
def signals_stop() -> Iterator[None]:
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    # a shell starts a background job with SIGINT ignored: ctrl+c (or kill -INT) must still clean up
    old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def report_minute(i: int, m: Minute, offered: int) -> None:
    m.offered = offered
    rss = sorted(m.rss)
    mib = [rss[0] / 2**20, statistics.median(rss) / 2**20, rss[-1] / 2**20] if rss else []
    mem = "RSS min/median/max " + ("/".join(f"{x:6.1f}" for x in mib) + " MiB" if mib else "none")
    keys = (
        f"key p50 {pct(m.keys, 50):6.1f} ms p99 {pct(m.keys, 99):7.1f} ms (n={len(m.keys)}"
        + (f", {m.key_timeouts} no change in 5 s" if m.key_timeouts else "")
        + ")"
    )
    skipped = [f"{m.skipped} skipped (one still ran)"] if m.skipped else []
    trace = "; ".join(m.traces + skipped) or "-"
    print(f"min {i + 1:3d}: offered {offered:>11,}  {mem}  {keys}  trace: {trace}", flush=True)


def soak(args: argparse.Namespace, workdir: Path) -> None:
    name = f"soak{os.getpid()}"
    flood_path = str(workdir / "flood" / "missing")
    (workdir / "flood").mkdir()
    left: list[str] = []
    progs_before = bpf_prog_ids()
    app_progs: set[int] = set()
    app_pid = 0
    descendants: set[int] = set()
    tmux = Tmux()
    flood: Flood | None = None
    tracer: Tracer | None = None
    info: lab.LabInfo | None = None
    minutes: dict[int, Minute] = defaultdict(Minute)
    try:
        t0 = time.monotonic()
        info = lab.up(name, seed=True)
        print(f"lab {name} up in {time.monotonic() - t0:.1f} s ({info.docker_host})", flush=True)
        cmd = (
            f"cd {workdir} && exec env PYTHONPATH={REPO / 'src'} {PYTHON} -m beefine_tui "
            f"--docker-host {info.docker_host} --open probe:files"
        )
        app_pid = tmux.start(cmd)
        app_ctime = psutil.Process(app_pid).create_time()
        tmux.wait_for(lambda s: "Probe files  running" in s, 120, "the files probe running")
        app_progs |= prog_ids_of_pid(app_pid)
        print(f"app pid {app_pid} running the files probe ({len(app_progs)} BPF programs)", flush=True)

        existing = set(workdir.glob("beefine-*.jsonl"))
        tmux.send("C-r")
        tmux.wait_for(lambda s: "● REC" in s, 30, "REC in the status strip")
        recording = wait_recording(workdir, existing, 10)

        # the same key with no flood first: what tmux, the polling and the idle app cost
        idle: list[float] = []
        for _ in range(10):
            ms = time_key(tmux)
            if ms is not None:
                idle.append(ms)
            time.sleep(0.5)
        if idle:
            print(
                f"key latency before the flood: p50 {pct(idle, 50):.1f} ms, "
                f"p99 {pct(idle, 99):.1f} ms, n={len(idle)}"
            )
        if PAUSED in tmux.capture():
            tmux.send("p")

        flood = Flood(flood_path, args.rate, args.duration)
        tracer = Tracer(info.docker_host, info.images["small"], args.trace_timeout)
        start = time.monotonic()
        start_ns = time.monotonic_ns()
        next_rss = start
        next_key = start + 1.0
        next_trace = start + min(10.0, args.trace_every)  # the first one soon, under load
        reported = 0
        last_minute = max(0, int((args.duration - 1e-9) // 60))
        trace_seen = 0
        while True:
            now = time.monotonic()
            elapsed = now - start
            # the last few polls after --duration belong to the last minute, not a new one
            minute = min(int(elapsed // 60), last_minute)
            if minute > reported:
                report_minute(reported, minutes[reported], flood.count)
                reported = minute
            if flood.proc.poll() is not None and elapsed >= args.duration:
                break
            minutes[minute].traces += tracer.results[trace_seen:]
            trace_seen = len(tracer.results)
            if now >= next_rss:
                next_rss += 5.0
                try:
                    minutes[minute].rss.append(rss_tree(app_pid, descendants))
                except psutil.Error:
                    raise RuntimeError("the app exited during the soak") from None
                app_progs |= prog_ids_of_pid(app_pid)
            if now >= next_trace:
                next_trace += args.trace_every
                if tracer.busy():
                    minutes[minute].skipped += 1
                else:
                    tracer.start(elapsed)
            if now >= next_key:
                next_key = now + 2.0
                ms = time_key(tmux)
                if ms is None:
                    minutes[minute].key_timeouts += 1
                else:
                    minutes[minute].keys.append(ms)
            time.sleep(0.05)
        tracer.wait()
        minutes[reported].traces += tracer.results[trace_seen:]
        if reported in minutes:
            report_minute(reported, minutes[reported], flood.count)
        flood.wait(30)
        offered = flood.count if flood.done else -1
        minutes[reported].offered = flood.count  # its final count, not the last once-a-second one

        if PAUSED in tmux.capture():
            tmux.send("p")
        # what the probe had read from the ring buffer but not yet published: give it time to drain
        time.sleep(5)
        screen = tmux.capture()
        tmux.send("C-r")
        tmux.wait_for(lambda s: "● REC" not in s, 60, "the recording stopped")
        tmux.wait_for(lambda s: "Recorded " in s, 60, "the recording's summary")
        t1 = time.monotonic()
        counted = count_recording(recording, flood_path, start_ns, last_minute)
        received, lost, total = counted.received, counted.lost, counted.total
        complete, problem = counted.complete, counted.problem
        read_s = time.monotonic() - t1
        all_lost = sum(lost.values())
        size = recording.stat().st_size

        print()
        print(f"status strip before the recording stopped: {strip_line(screen)}")
        print(
            f"recording: {total:,} events, {size / 2**30:.2f} GiB, "
            f"{'complete' if complete else 'INCOMPLETE ' + problem}, read in {read_s:.0f} s"
        )
        rate = offered / args.duration if offered > 0 else 0
        print(
            f"offered (flood's own count)   {offered:>12,}  ({rate:,.0f}/s)"
            if offered >= 0
            else "offered: unknown"
        )
        print(f"received (flood's opens)      {received:>12,}")
        print(f"lost (all, per probe/source)  {all_lost:>12,}  {dict(lost) or ''}")
        if offered >= 0:
            print(f"received + lost >= offered:   {received + all_lost >= offered}")
            print(f"received <= offered:          {received <= offered}")
            if all_lost == 0:
                print(f"received == offered (no loss): {received == offered}")
        print("per minute, from the recording (offered: the flood's count at each report, +-1 s):")
        prev = 0
        for i in sorted(minutes):
            m_off = minutes[i].offered - prev
            prev = minutes[i].offered
            print(
                f"  min {i + 1:3d}: offered ~{m_off:>10,}  received {counted.received_min[i]:>10,}  "
                f"lost {counted.lost_min[i]:>9,}"
            )
        samples = sorted(r for m in minutes.values() for r in m.rss)
        if samples:
            firsts = minutes[0].rss[:1] or samples[:1]
            last = max(minutes)
            lasts = minutes[last].rss[-1:] or samples[-1:]
            print(
                f"RSS: first {firsts[0] / 2**20:.1f} MiB, last {lasts[0] / 2**20:.1f} MiB, "
                f"max {samples[-1] / 2**20:.1f} MiB"
            )
        keys = [k for m in minutes.values() for k in m.keys]
        if keys:
            print(
                f"key latency overall: p50 {pct(keys, 50):.1f} ms, p99 {pct(keys, 99):.1f} ms, n={len(keys)}"
            )
        traces = [t for m in minutes.values() for t in m.traces]
        ok = sum(t.startswith("OK") for t in traces)
        skipped = sum(m.skipped for m in minutes.values())
        print(
            f"creation traces: {ok} OK of {len(traces)} run, {skipped} skipped (the previous one still ran)"
        )

        # quit the way a user does, then look for what is left
        tmux.send("C-q")
        t_quit = time.monotonic()
        while time.monotonic() < t_quit + 60 and _alive(app_pid, app_ctime):
            time.sleep(0.2)
        print(f"ctrl+q -> app exited: {time.monotonic() - t_quit:.1f} s", flush=True)
    except (KeyboardInterrupt, Stop) as e:
        print(f"\nstopped early ({type(e).__name__} {e}): cleaning up", flush=True)
    except (RuntimeError, BeefineError) as e:
        print(f"\nsoak failed: {e}", flush=True)
    finally:
        with signals_ignored():
            if flood is not None:
                flood.kill()
            if tracer is not None:
                tracer.stop()
            if app_pid and _alive(app_pid, None):
                # after a failure or an early stop: the tmux server's SIGHUP makes the app clean up
                print(f"app pid {app_pid} still running: stopping it with its tmux server", flush=True)
            tmux.kill()
            if app_pid:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and psutil.pid_exists(app_pid) and _alive(app_pid, None):
                    time.sleep(0.2)
            left += _leftovers(info, app_pid, descendants, app_progs, progs_before, tmux, flood)
            if info is not None:
                try:
                    lab.down(name)
                except NotFoundError:
                    left.append(f"lab {name} was gone before lab down")
                except BeefineError as e:
                    left.append(f"lab down failed: {e}")
                if lab.state_dir_for(name).exists():
                    left.append(f"lab state dir {lab.state_dir_for(name)} still there")
            shutil.rmtree(workdir, ignore_errors=True)
            if workdir.exists():
                left.append(f"work dir {workdir}")
    print("left at the end: " + ("; ".join(left) if left else "nothing left"), flush=True)


def _alive(pid: int, ctime: float | None) -> bool:
    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE and (ctime is None or p.create_time() == ctime)
    except psutil.Error:
        return False


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "?"


def _leftovers(
    info: lab.LabInfo | None,
    app_pid: int,
    descendants: set[int],
    app_progs: set[int],
    progs_before: set[int],
    tmux: Tmux,
    flood: Flood | None,
) -> list[str]:
    left = []
    if app_pid and _alive(app_pid, None):
        left.append(f"app pid {app_pid}")
    alive = sorted(p for p in descendants if _alive(p, None))
    if alive:
        left.append(f"app children {alive}")
    progs_now = bpf_prog_ids()
    held = sorted(app_progs & progs_now)
    if held:
        left.append(f"BPF programs the app held: {held}")
    new = progs_now - progs_before - app_progs
    if new:
        # the machine is shared: say whose they are rather than count them as ours
        from beefine_tui.probes.inventory import holders

        pids = {p for prog, ps in holders().items() if prog in new for p in ps}
        names = sorted(f"{_name(p)}({p})" for p in pids)
        print(f"(BPF programs loaded since the start, not the app's: {len(new)}; held now by {names[:8]})")
    if info is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            cs = lab_containers(info.docker_host)
            if cs:
                left.append(f"containers labelled beefine in the lab: {cs}")
    if tmux.socket_path().exists():
        left.append(f"tmux socket {tmux.socket_path()}")
    if flood is not None and flood.proc.poll() is None:
        left.append(f"flood pid {flood.proc.pid}")
    return left


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Cleanup runs to the end: a second ctrl+c or SIGTERM must not leave half of it undone."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old: dict[int, Any] = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=1800.0, help="seconds of flood (default 1800)")
    ap.add_argument("--rate", type=int, default=50_000, help="failed opens per second (default 50000)")
    ap.add_argument("--trace-every", type=float, default=60.0, help="seconds between creation traces")
    ap.add_argument("--trace-timeout", type=float, default=180.0, help="seconds one trace may take")
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp"), help="where the recording goes")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (BPF, the lab): sudo .venv/bin/python bench/soak.py", file=sys.stderr)
        return 2
    if args.duration <= 0 or args.rate <= 0 or args.trace_every <= 0 or args.trace_timeout <= 0:
        print("soak: --duration, --rate, --trace-every and --trace-timeout must be above 0", file=sys.stderr)
        return 2
    for tool in ("tmux", "bpftool", "docker"):
        if shutil.which(tool) is None:
            print(f"soak: {tool} is not installed (scripts/setup.sh installs it)", file=sys.stderr)
            return 2
    if not args.workdir.is_dir():
        print(f"soak: --workdir {args.workdir} is not a directory", file=sys.stderr)
        return 2
    need = args.rate * args.duration * EVENT_BYTES
    free = shutil.disk_usage(args.workdir).free
    if free < need * 1.2:
        print(
            f"soak: the recording needs about {need / 2**30:.1f} GiB, {args.workdir} has "
            f"{free / 2**30:.1f} GiB free: give --workdir on a larger disk, or a shorter --duration",
            file=sys.stderr,
        )
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="beefine-soak-", dir=args.workdir))
    print(
        f"soak: {args.duration:.0f} s at {args.rate:,} failed opens/s, "
        f"a trace every {args.trace_every:.0f} s, "
        f"work dir {workdir}",
        flush=True,
    )
    with signals_stop():
        soak(args, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
