"""syscalls probe against strace on the same container process for the same window.

The container's shell waits on a FIFO (blocked in openat), so nothing runs until both tracers are in
place: our probe (filtered by the container's pid namespace) is attached first, then `strace -f -c`
attaches to the shell. The host opens the FIFO through /proc/PID/root (a host process: outside the
filter), the shell runs a known loop (cat of a file, usleep, a failing stat) and finally execs
`sleep`; once it sleeps our probe stops, then strace is interrupted (its detach would otherwise show
us the restarted sleep). Tolerance: each count within 2 of strace's, for the calls in flight at
strace's attach (the interrupted FIFO open) and the sleep's start, which neither reports fully
(measured on this VM: every count and error count equal).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event, EventReader
from beefine_tui.probes import syscall_table, syscalls
from beefine_tui.probes.attribution import target_for_container
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.probes.bcc_runner import BccRunner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

LOOPS = 15
LOOP = (
    "mkfifo /go; read x < /go; "
    f"for i in $(seq {LOOPS}); do "
    "cat /etc/hostname >/dev/null; usleep 20000; stat /nonexistent 2>/dev/null; done; "
    "exec sleep 1000"
)
TOLERANCE = 2


def _current_syscall(pid: int) -> str | None:
    """The name of the syscall `pid` is blocked in, from /proc/PID/syscall (the kernel's own view)."""
    try:
        first = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return None
    return syscall_table.load().name(int(first)) if first.isdigit() else None


def _wait(cond: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def parse_strace_c(text: str) -> dict[str, tuple[int, int]]:
    """{syscall: (calls, errors)} from `strace -c -U calls,errors,name` output."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2] != "total":
            out[parts[2]] = (int(parts[0]), int(parts[1]))
        elif len(parts) == 2 and parts[0].isdigit() and parts[1] != "total":
            out[parts[1]] = (int(parts[0]), 0)
    return out


def test_parse_strace_c() -> None:
    text = (
        "calls    errors syscall\n--------- --------- ----------------\n"
        " 16 15 newfstatat\n 3 openat\n 19 1 total\n"
    )
    assert parse_strace_c(text) == {"newfstatat": (16, 15), "openat": (3, 0)}


def test_container_loop_matches_strace(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], tmp_path: Path
) -> None:
    if not syscall_table.load().source:
        pytest.skip("no syscall table (linux-libc-dev's asm/unistd_64.h)")
    c = lab_client.containers.run(
        lab.images["small"], ["sh", "-c", LOOP], detach=True, labels=cleanup_containers, network_mode="none"
    )
    strace: subprocess.Popen[bytes] | None = None
    try:
        c.reload()
        pid = int(c.attrs["State"]["Pid"])
        _wait(lambda: _current_syscall(pid) == "openat", 30, "the shell to block opening its FIFO")
        target = target_for_container(lab_client, c.id)
        bus = Bus()
        sub = bus.subscribe("test")
        events: list[Event] = []
        out = tmp_path / "strace.txt"
        with syscalls.make_runner(ProbeOptions(target=target)) as runner:
            runner.start(bus.publish)
            strace = subprocess.Popen(
                ["strace", "-f", "-c", "-U", "calls,errors,name", "-o", str(out), "-p", str(pid)],
                stderr=subprocess.PIPE,
            )
            # strace says "Process N attached" on stderr once it has seized the process
            assert strace.stderr is not None
            line = strace.stderr.readline().decode()
            assert "attached" in line, line
            with open(f"/proc/{pid}/root/go", "w") as f:  # a host process: not in the container
                f.write("go\n")
            _wait(
                lambda: (
                    Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
                    and _current_syscall(pid) in ("nanosleep", "clock_nanosleep")
                ),
                60,
                "the loop to end in sleep",
            )
            end = time.monotonic() + 1
            while time.monotonic() < end:
                events.extend(sub.get(0.1))
        events += sub.get(0.5)
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=30)
        theirs = parse_strace_c(out.read_text())
    finally:
        if strace is not None and strace.poll() is None:
            strace.kill()
            strace.wait()
        c.remove(force=True)

    calls = [e for e in events if e.kind == "syscall"]
    assert not [e for e in events if e.kind == "lost"], "events were lost"
    assert all(e.container == c.id for e in calls)
    assert all(e.args.get("ns_pid") for e in calls)  # a pid inside the container for every call
    ours_n = Counter(e.args["syscall"] for e in calls)
    ours_err = Counter(e.args["syscall"] for e in calls if "error" in e.args)
    # same names (a call strace saw only once, in flight at its attach, may be missing from ours)
    theirs_names = {n for n, (k, _e) in theirs.items() if k > TOLERANCE}
    assert theirs_names <= set(ours_n), (theirs_names - set(ours_n), theirs)
    assert set(ours_n) - set(theirs) <= {"exit_group"} | {n for n in ours_n if ours_n[n] <= TOLERANCE}, (
        ours_n,
        theirs,
    )
    for name, (n, errs) in theirs.items():
        assert abs(ours_n[name] - n) <= TOLERANCE, (name, ours_n[name], n)
        assert abs(ours_err[name] - errs) <= TOLERANCE, (name, ours_err[name], errs)
    # the known loop, exactly: one failing stat per iteration, one open of /etc/hostname per cat
    stat_name = next(n for n in ("newfstatat", "statx", "stat", "lstat") if ours_err.get(n))
    enoent = [e for e in calls if e.args["syscall"] == stat_name and e.args.get("error") == "ENOENT"]
    assert len(enoent) == LOOPS
    # strace -c leaves out exit_group (it never returns); here each forked child ends in one
    forks = sum(1 for e in calls if e.args["syscall"] in ("clone", "fork", "vfork") and e.args["ret"] > 0)
    assert forks and ours_n["exit_group"] == forks
    sleeps = [e for e in calls if e.args["syscall"] in ("nanosleep", "clock_nanosleep")]
    assert len(sleeps) == LOOPS and all(e.args["dur_ns"] > 0 for e in sleeps)
    assert isinstance(runner, BccRunner)
    ours = runner.prog_ids()
    assert ours
    # a raw tracepoint's program is freed after an RCU grace period, once detached: wait for it
    _wait(lambda: not (ours & _live_prog_ids()), 30, "the programs to be unloaded")


def _live_prog_ids() -> set[int]:
    import json

    out = subprocess.run(["bpftool", "prog", "list", "-j"], capture_output=True, text=True, check=True).stdout
    return {int(p["id"]) for p in json.loads(out)}


# --------------------------------------------------------------------------------- the headless CLI

ENDING = "mkfifo /go; read x < /go; for i in 1 2 3 4 5; do stat /nonexistent 2>/dev/null; done; exit 3"


def _cli(lab: Any, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "beefine_tui", "syscalls", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DOCKER_HOST": lab.docker_host},
    )


def _run_cli_to_the_end(lab: Any, pid: int, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    """`syscalls ARGS` once it says it is tracing, then the container's pid `pid` released from its
    FIFO; returns the process (ended) and what it wrote."""
    proc = _cli(lab, *args)
    try:
        assert proc.stderr is not None
        assert "tracing the syscalls" in proc.stderr.readline()
        with open(f"/proc/{pid}/root/go", "w") as f:
            f.write("go\n")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, out, err


def _blocked_container(lab: Any, lab_client: Any, labels: dict[str, str], script: str) -> tuple[Any, int]:
    c = lab_client.containers.run(
        lab.images["small"], ["sh", "-c", script], detach=True, labels=labels, network_mode="none"
    )
    c.reload()
    pid = int(c.attrs["State"]["Pid"])
    _wait(lambda: _current_syscall(pid) == "openat", 30, "the shell to block opening its FIFO")
    return c, pid


def test_cli_json_until_container_ends(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], tmp_path: Path
) -> None:
    """The stream ends by itself when the container does; the failing stats and exit_group(3) are
    there, from inside the container, and --record saved the same events."""
    c, pid = _blocked_container(lab, lab_client, cleanup_containers, ENDING)
    rec = tmp_path / "rec.jsonl"
    proc = _cli(lab, c.name, "--json", "--record", str(rec))
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if '"state":"running"' in line:
                break
        with open(f"/proc/{pid}/root/go", "w") as f:
            f.write("go\n")
        out, err = proc.communicate(timeout=60)
        lines += out.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert c.wait(timeout=30)["StatusCode"] == 3  # docker's own account of the end
    assert proc.returncode == 0, err
    assert "ended" in err and "Traceback" not in err
    reader = EventReader()  # the --json stream is the recording's schema: read it back as events
    events = [reader.decode(x) for x in lines if x.strip()]
    calls = [e for e in events if e.kind == "syscall"]
    assert all(e.container == c.id for e in calls)
    assert all(isinstance(e.args, syscalls.SyscallArgs) for e in calls)
    enoent = [e for e in calls if e.args.get("error") == "ENOENT" and "stat" in e.args["syscall"]]
    assert len(enoent) == 5 and all(e.args["ret"] == -2 for e in enoent)  # raw -errno on the wire
    last = [e for e in calls if e.pid == pid][-1]
    assert last.args["syscall"] == "exit_group" and last.args["args"][0] == 3
    assert last.text.startswith("exit_group(3")
    assert last.args["ns_pid"] == 1  # the shell is the container's pid 1
    from beefine_tui.replay import open_recording

    _hdr, recording = open_recording(rec)
    saved = [e for e in recording if e.kind == "syscall"]
    assert len(saved) == len(calls)


def test_cli_summary_json(lab: Any, lab_client: Any, cleanup_containers: dict[str, str]) -> None:
    c, pid = _blocked_container(lab, lab_client, cleanup_containers, ENDING)
    proc, out, err = _run_cli_to_the_end(lab, pid, c.id[:12], "--summary", "--json")
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["container"] == c.id and doc["lost"] == {}
    rows = {r["syscall"]: r for r in doc["syscalls"]}
    stat = next(r for n, r in rows.items() if "stat" in n and r["errors"])
    assert stat["errnos"] == {"ENOENT": 5} and stat["errors"] == 5
    assert rows["exit_group"]["calls"] >= 1
    assert doc["calls"] == sum(r["calls"] for r in doc["syscalls"])


# --------------------------------------------------------------------------------- flight recorder

FAILING_END = (
    "mkfifo /go; read x < /go; for i in 1 2 3; do [ -e /nonexistent ]; done; [ -e /nope-last ]; exit 3"
)


@pytest.mark.parametrize("slots", [10_000, 8])
def test_flight_recorder_dumps_the_end(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], tmp_path: Path, slots: int
) -> None:
    """A container that ends with a failing stat and exit 3: the dump, written by itself when the
    container's pid 1 exits, ends with that stat (ENOENT) and exit_group(3); it holds exactly the last
    `slots` calls of the live stream recorded alongside, and says how many were made in all."""
    c, pid = _blocked_container(lab, lab_client, cleanup_containers, FAILING_END)
    rec = tmp_path / "all.jsonl"
    proc, out, err = _run_cli_to_the_end(
        lab, pid, c.name, "--flight", "--json", "--flight-slots", str(slots), "--record", str(rec)
    )
    assert c.wait(timeout=30)["StatusCode"] == 3
    assert proc.returncode == 0, err
    reader = EventReader()
    dump = [reader.decode(x) for x in out.splitlines() if x.strip()]
    note, calls = dump[0], dump[1:]
    assert (
        isinstance(note.args, syscalls.FlightDumpArgs) and note.args.reason == "the container's pid 1 exited"
    )
    assert all(isinstance(e.args, syscalls.SyscallArgs) and e.args.flight for e in calls)
    mine = [e for e in calls if e.pid == pid]
    assert mine[-1].args["syscall"] == "exit_group" and mine[-1].text.startswith("exit_group(3")
    assert mine[-2].args.get("error") == "ENOENT" and "stat" in mine[-2].args["syscall"]
    # against the live stream of the same run: the dump is its tail, and the count is exact
    from beefine_tui.replay import open_recording

    _hdr, recording = open_recording(rec)
    saved = list(recording)
    assert not [e for e in saved if e.kind == "lost"]
    live = [e for e in saved if e.kind == "syscall" and not e.args.get("flight")]
    assert note.args.made == len(live)
    assert len(calls) == min(slots, len(live)) == note.args.kept
    assert [e.text for e in calls] == [e.text for e in live[-len(calls) :]]


def test_a_kept_program_cache_never_keeps_the_syscalls_probe_attached(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    """In the TUI a stopped probe's compiled object is kept for the next run, detached. The syscalls
    probe's raw tracepoints are not closed by that detach: it must not be kept, or it would go on
    running on every syscall of the machine after its pane closed."""
    from beefine_tui.probes import program_cache

    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "60"], detach=True, labels=cleanup_containers, network_mode="none"
    )
    cache = program_cache.ProgramCache()
    previous = program_cache.install(cache)
    try:
        target = target_for_container(lab_client, c.id)
        with syscalls.make_runner(ProbeOptions(target=target)) as runner:
            runner.start(Bus().publish)
            assert isinstance(runner, BccRunner)
            ids = runner.prog_ids()
            assert ids & _attached_ids(), "the probe was never attached"
        kept = set().union(*(e.prog_ids for e in cache.idle()))
    finally:
        program_cache.install(previous)
        cache.close()
        c.remove(force=True)
    assert not ids & kept, "the syscalls probe was kept by the cache"
    _wait(lambda: not ids & _attached_ids(), 10, "the probe's raw tracepoints to be detached")


def _attached_ids() -> set[int]:
    out = subprocess.run(["bpftool", "perf", "list", "-j"], capture_output=True, text=True, check=True)
    return {int(e["prog_id"]) for e in json.loads(out.stdout or "[]") if e.get("pid") == os.getpid()}


def test_a_call_newer_than_the_header_is_named() -> None:
    """cachestat is 451 on every architecture since Linux 6.5 (include/uapi/asm-generic/unistd.h), past
    bookworm's 6.1 header: a traced child calls it by number with a bad descriptor, and the probe names
    it, with the errno the child itself saw."""
    from tests.integration.probe_harness import GATE, collect_until, prog_exists

    header, _ = syscall_table.header_names()
    if "cachestat" in header.values() or "cachestat" not in syscall_table.tracefs_names():
        pytest.skip("the header already has cachestat, or this kernel has no cachestat")
    assert syscall_table.load().name(451) == "cachestat" and 451 in syscall_table.load().newer
    code = (
        "import ctypes, errno\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r = libc.syscall(ctypes.c_long(451), ctypes.c_long(-1), 0, 0, 0)\n"
        "print(r, errno.errorcode[ctypes.get_errno()])\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", GATE + code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    bus = Bus()
    sub = bus.subscribe("test")
    runner = syscalls.make_runner(ProbeOptions(target=Target(lineage_root=child.pid)))
    try:
        runner.start(bus.publish)
        assert isinstance(runner, BccRunner)
        ids = runner.prog_ids()
        out, _ = child.communicate("go\n", timeout=30)
        events = collect_until(sub, lambda evs: any(e.args.get("nr") == 451 for e in evs), 30)
    finally:
        runner.stop()
        if child.poll() is None:
            child.kill()
            child.wait()
    ret, err = out.split()
    assert ret == "-1"
    calls = [e for e in events if e.args.get("nr") == 451]
    assert len(calls) == 1, calls
    ev = calls[0]
    assert ev.args["syscall"] == "cachestat" and ev.text.startswith("cachestat(")
    assert ev.args["error"] == err  # EBADF, as the child saw it
    _wait(lambda: not any(prog_exists(i) for i in ids), 10, "the probe's programs to be unloaded")


PATH_LOOP = (
    "mkfifo /go; read x < /go; "
    "for i in 1 2 3; do cat /etc/hostname >/dev/null; stat /nonexistent 2>/dev/null; ls /etc >/dev/null; "
    "done; "
    "exec sleep 1000"
)
# strace's line for a call with a path: `PID  openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3`
_STRACE_PATH = re.compile(r'^\d+\s+(?P<name>\w+)\([^"]*?"(?P<path>(?:[^"\\]|\\.)*)"')


def test_paths_read_from_the_caller_match_strace(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str], tmp_path: Path
) -> None:
    """The path of each file call, read from the caller's memory, is the one strace prints for the same
    calls of the same process (strace reads it with ptrace, we with bpf_probe_read_user_str)."""
    if not syscall_table.load().source or syscall_table.string_arg("openat") is None:
        pytest.skip("no syscall table or no tracefs formats: paths are not read")
    c = lab_client.containers.run(
        lab.images["small"],
        ["sh", "-c", PATH_LOOP],
        detach=True,
        labels=cleanup_containers,
        network_mode="none",
    )
    strace: subprocess.Popen[bytes] | None = None
    try:
        c.reload()
        pid = int(c.attrs["State"]["Pid"])
        _wait(lambda: _current_syscall(pid) == "openat", 30, "the shell to block opening its FIFO")
        bus = Bus()
        sub = bus.subscribe("test")
        events: list[Event] = []
        out = tmp_path / "strace.txt"
        with syscalls.make_runner(ProbeOptions(target=target_for_container(lab_client, c.id))) as runner:
            runner.start(bus.publish)
            strace = subprocess.Popen(
                ["strace", "-f", "-e", "trace=%file", "-o", str(out), "-p", str(pid)], stderr=subprocess.PIPE
            )
            assert strace.stderr is not None
            line = strace.stderr.readline().decode()
            assert "attached" in line, line
            with open(f"/proc/{pid}/root/go", "w") as f:
                f.write("go\n")
            _wait(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep", 60, "the loop to end")
            end = time.monotonic() + 1
            while time.monotonic() < end:
                events.extend(sub.get(0.1))
        events += sub.get(0.5)
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=30)
        theirs = Counter(
            (m["name"], json.loads(f'"{m["path"]}"'))
            for m in map(_STRACE_PATH.match, out.read_text().splitlines())
            if m is not None and m["name"] not in ("execve", "execveat")  # not read by us: see string_arg
        )
    finally:
        if strace is not None and strace.poll() is None:
            strace.kill()
            strace.wait()
        c.remove(force=True)

    calls = [(e, e.args) for e in events if isinstance(e.args, syscalls.SyscallArgs)]
    ours = Counter((a.syscall, a.path) for _e, a in calls if a.path is not None)
    assert theirs[("newfstatat", "/nonexistent")] + theirs[("statx", "/nonexistent")] == 3, theirs
    assert theirs[("openat", "/etc/hostname")] == 3, theirs
    for key, n in theirs.items():
        assert ours[key] == n, (key, ours[key], n)
    # the same line as strace's, up to the path
    hostname = next(e for e, a in calls if a.path == "/etc/hostname")
    assert hostname.text.startswith('openat(AT_FDCWD, "/etc/hostname", O_RDONLY'), hostname.text
