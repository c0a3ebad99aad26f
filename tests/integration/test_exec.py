"""exec probe on the real kernel: our own exec arrives exactly once with argv and exit code; a failed
execve is reported with ENOENT; the runner's programs are gone after stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event
from beefine_tui.probes import exec as exec_probe
from beefine_tui.probes.base import ProbeOptions, Runner, Target
from beefine_tui.probes.bcc_runner import BccRunner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def prog_exists(prog_id: int) -> bool:
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, timeout=30)
    return r.returncode == 0


def collect_until(
    sub: Subscription, done: Callable[[Sequence[Event]], bool], timeout: float = 15
) -> list[Event]:
    events: list[Event] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done(events):
        events.extend(sub.get(0.1))
    return events


def test_exec_argv_exit_code_and_enoent() -> None:
    marker = f"beefine-exec-{uuid.uuid4().hex[:10]}"
    bus = Bus()
    sub = bus.subscribe("test")
    runner = exec_probe.make_runner(ProbeOptions(target=Target(lineage_root=os.getpid())))
    assert isinstance(runner, BccRunner)
    runner.start(bus.publish)
    ids = runner.prog_ids()
    try:
        assert ids, "the runner recorded no program ids"
        assert all(prog_exists(i) for i in ids)
        rc = subprocess.run(["/bin/sh", "-c", "exit 3", marker]).returncode
        assert rc == 3
        with pytest.raises(FileNotFoundError):
            subprocess.run([f"/nonexistent/{marker}", "x"])

        def done(evs: Sequence[Event]) -> bool:
            execs = [e for e in evs if e.kind == "exec" and marker in " ".join(e.args["argv"])]
            pids = {e.pid for e in execs if e.args["ret"] == 0}
            return len(execs) >= 2 and any(e.kind == "exit" and e.pid in pids for e in evs)

        events = collect_until(sub, done)
    finally:
        runner.stop()
    runner.stop()  # idempotent
    events += sub.get(0.5)

    ok = [e for e in events if e.kind == "exec" and e.args["argv"] == ["/bin/sh", "-c", "exit 3", marker]]
    assert len(ok) == 1, ok
    ev = ok[0]
    assert ev.args["filename"] == "/bin/sh" and ev.args["ret"] == 0 and "error" not in ev.args
    assert ev.comm == "sh" and ev.probe == "exec" and ev.pid > 0 and ev.ts > 0
    assert ev.ppid == os.getpid()  # recorded at fork in the kernel: right even once sh is gone
    exits = [e for e in events if e.kind == "exit" and e.pid == ev.pid]
    assert len(exits) == 1, exits
    assert exits[0].args["code"] == 3 and exits[0].args["signal"] is None
    assert exits[0].ppid == os.getpid()
    assert exits[0].args["duration_ns"] is not None and exits[0].args["duration_ns"] >= 0

    failed = [e for e in events if e.kind == "exec" and e.args["filename"] == f"/nonexistent/{marker}"]
    assert len(failed) == 1, failed
    assert failed[0].args["ret"] == -2 and failed[0].args["error"] == "ENOENT"
    assert failed[0].args["argv"] == [f"/nonexistent/{marker}", "x"]

    # execve is reported at its exit, paired with its enter: the probe says at start what that leaves out
    assert [e.args["state"] for e in events if e.kind == "status"] == ["running", "note", "stopped"]
    assert not any(prog_exists(i) for i in ids), "BPF programs left attached after stop()"


def test_signal_death_is_reported() -> None:
    bus = Bus()
    sub = bus.subscribe("test")
    runner = exec_probe.make_runner(ProbeOptions(target=Target(lineage_root=os.getpid())))
    runner.start(bus.publish)
    try:
        p = subprocess.Popen(["/bin/sleep", "30"])
        collect_until(sub, lambda evs: any(e.kind == "exec" and e.pid == p.pid for e in evs))
        p.kill()
        p.wait()
        events = collect_until(sub, lambda evs: any(e.kind == "exit" and e.pid == p.pid for e in evs))
    finally:
        runner.stop()
    exits = [e for e in events if e.kind == "exit" and e.pid == p.pid]
    assert len(exits) == 1
    assert exits[0].args["signal"] == 9 and exits[0].args["code"] is None


def test_broken_program_is_reported_and_others_keep_running() -> None:
    from beefine_tui.errors import ProbeLoadError
    from beefine_tui.probes.bcc_program import BccProgram
    from beefine_tui.probes.bcc_runner import BccRunner

    broken = BccProgram(
        probe="broken",
        text="TRACEPOINT_PROBE(syscalls, sys_enter_getpid)\n{\n    return no_such_thing;\n}\n",
    )
    opts = ProbeOptions(target=Target(lineage_root=os.getpid()))
    with pytest.raises(ProbeLoadError) as e:
        BccRunner([broken], opts).start(lambda batch: None)
    assert e.value.line == 3 and "no_such_thing" in e.value.message

    marker = f"beefine-ok-{uuid.uuid4().hex[:8]}"
    bus = Bus()
    sub = bus.subscribe("test")
    runner = BccRunner([broken, exec_probe.program(opts)], opts, strict=False)
    runner.start(bus.publish)
    try:
        assert runner.loaded == ("exec",) and set(runner.errors) == {"broken"}
        subprocess.run(["/bin/true", marker], check=True)
        events = collect_until(sub, lambda evs: any(marker in str(e.args) for e in evs))
    finally:
        runner.stop()
    failed = [e for e in events if e.kind == "status" and e.probe == "broken"]
    assert failed and failed[0].args["state"] == "failed" and "no_such_thing" in failed[0].args["error"]
    assert any(e.kind == "exec" and e.args["argv"] == ["/bin/true", marker] for e in events)


def test_two_runners_started_from_two_threads() -> None:
    """BCC's compiler is not thread-safe: the runner serialises compiles, so screens and the story can
    start sessions from worker threads at the same time."""
    import threading

    from beefine_tui.probes import fork as fork_probe

    opts = ProbeOptions(target=Target(lineage_root=os.getpid()))
    runners = [exec_probe.make_runner(opts), fork_probe.make_runner(opts)]
    assert all(isinstance(r, BccRunner) for r in runners)
    errors: list[BaseException] = []

    def start(r: Runner) -> None:
        try:
            r.start(lambda batch: None)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        ids = [r.prog_ids() for r in runners if isinstance(r, BccRunner)]
        assert all(ids) and not (ids[0] & ids[1])
    finally:
        for r in runners:
            r.stop()
    assert not any(prog_exists(i) for s in ids for i in s)


def test_long_argv_is_truncated_and_marked() -> None:
    marker = f"beefine-long-{uuid.uuid4().hex[:8]}"
    long_arg = "L" * 300
    argv = ["/bin/true", marker, long_arg, *[f"a{i}" for i in range(30)]]
    bus = Bus()
    sub = bus.subscribe("test")
    with exec_probe.make_runner(ProbeOptions(target=Target(lineage_root=os.getpid()))) as runner:
        runner.start(bus.publish)
        subprocess.run(argv, check=True)
        events = collect_until(sub, lambda evs: any(marker in str(e.args) for e in evs))
    ev = next(e for e in events if e.kind == "exec" and marker in e.args["argv"])
    assert ev.args["truncated"] is True
    got = ev.args["argv"]
    assert len(got) == exec_probe.MAX_ARGS + 1 and got[-1] == "…"  # 20 copied, then the marker
    assert got[:2] == argv[:2]
    assert got[2] == "L" * 127 + "…"  # 128-byte slot: 127 characters and the NUL
    assert got[3:20] == argv[3:20]


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
def test_stop_while_starting_leaves_nothing(delay: float) -> None:
    """The TUI may close while a worker thread is still compiling a session's probes: whenever stop()
    lands, nothing stays attached and start() returns or raises promptly."""
    import threading

    from beefine_tui.probes.fdinfo import fd_ids
    from beefine_tui.probes.session import ProbeSession

    before = fd_ids("prog")
    session = ProbeSession(["exec", "fork", "files"], ProbeOptions(target=Target(pids=frozenset({1}))), Bus())
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            session.start()
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    t = threading.Thread(target=start)
    t.start()
    time.sleep(delay)
    session.stop()
    t.join(120)
    assert not t.is_alive() and len(outcome) == 1
    if outcome[0] is not None:
        assert "stopped while" in str(outcome[0])
    session.stop()
    assert not session.running
    assert fd_ids("prog") == before, "BPF programs left after stop during start"


def _wait_exec(pid: int, comm: str) -> None:
    """Until the child runs `comm` (before its exec it is a fork of this Python, with our handlers)."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == comm:
                    return
        except OSError:
            return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never became {comm}")


def _no_core() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


THREADED = (
    "import threading, time\n"
    "for _ in range(3):\n"
    "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_exit_status_matches_waitpid() -> None:
    """Children killed by TERM, HUP, INT, USR1, PIPE, ALRM, KILL, SEGV (signals sent from this untraced
    process), a multi-threaded one killed by TERM, and one exiting 3: the probe's account of each equals
    what waitpid() says. TERM and the like take the kernel's group-exit fast path, where the signal
    delivered is SIGKILL: before the fix 0 of 6 such exits read right."""
    import signal as sigmod

    sigs = [
        sigmod.SIGTERM,
        sigmod.SIGHUP,
        sigmod.SIGINT,
        sigmod.SIGUSR1,
        sigmod.SIGPIPE,
        sigmod.SIGALRM,
        sigmod.SIGKILL,
        sigmod.SIGSEGV,
    ]
    bus = Bus()
    sub = bus.subscribe("test")
    expected: dict[int, int] = {}  # pid -> os.waitstatus_to_exitcode of its wait status
    with exec_probe.make_runner(ProbeOptions(target=Target(lineage_root=os.getpid()))) as runner:
        runner.start(bus.publish)
        for sig in sigs:
            p = subprocess.Popen(["sleep", "60"], preexec_fn=_no_core)
            _wait_exec(p.pid, "sleep")
            os.kill(p.pid, sig)
            _, status = os.waitpid(p.pid, 0)
            p.returncode = expected[p.pid] = os.waitstatus_to_exitcode(status)
        threaded = subprocess.Popen(
            [sys.executable, "-c", THREADED], stdout=subprocess.PIPE, text=True, preexec_fn=_no_core
        )
        assert threaded.stdout is not None and threaded.stdout.readline().strip() == "ready"
        os.kill(threaded.pid, sigmod.SIGTERM)
        _, status = os.waitpid(threaded.pid, 0)
        threaded.returncode = expected[threaded.pid] = os.waitstatus_to_exitcode(status)
        threaded.stdout.close()
        p = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
        _, status = os.waitpid(p.pid, 0)
        p.returncode = expected[p.pid] = os.waitstatus_to_exitcode(status)

        def done(evs: Sequence[Event]) -> bool:
            return set(expected) <= {e.pid for e in evs if e.kind == "exit"}

        events = collect_until(sub, done)
    events += sub.get(0.3)
    assert sorted(expected.values()) == sorted([-int(s) for s in sigs] + [-int(sigmod.SIGTERM), 3])
    exits = {e.pid: e for e in events if e.kind == "exit" and e.pid in expected}
    seen: dict[int, int | None] = {}
    for pid, ev in exits.items():
        code, sig = ev.args["code"], ev.args["signal"]
        seen[pid] = code if code is not None else (-sig if sig else None)
    assert seen == expected, {pid: (exits[pid].args["status"] if pid in exits else None) for pid in expected}
    # and in words, as the views show it
    for pid, want in expected.items():
        words = exits[pid].args["status"]
        assert words == (f"exited {want}" if want >= 0 else f"killed by {sigmod.Signals(-want).name}")


def test_exec_of_a_300_character_path_is_marked_cut() -> None:
    """exec of a real program at a 300-character path (and of a 255-character one, exactly what the
    buffer holds): the filename is the first 255 bytes with "…" and truncated: true for the first, whole
    for the second; argv[0] (the same path, cut at 127 bytes) is marked too."""
    import shutil
    import tempfile

    root = tempfile.mkdtemp(prefix="beefine-exec-long-")
    paths = []
    for length in (300, 255):
        d = os.path.join(root, str(length))
        while length - len(d) > 101:
            d = os.path.join(d, "d" * 99)
        os.makedirs(d)
        p = os.path.join(d, "t" * (length - len(d) - 1))
        shutil.copy("/bin/true", p)
        assert len(p) == length
        paths.append(p)
    bus = Bus()
    sub = bus.subscribe("test")
    try:
        with exec_probe.make_runner(ProbeOptions(target=Target(lineage_root=os.getpid()))) as runner:
            runner.start(bus.publish)
            for p in paths:
                subprocess.run([p], check=True)

            def done(evs: Sequence[Event]) -> bool:
                return sum(1 for e in evs if e.kind == "exec" and e.args["filename"].startswith(root)) >= 2

            events = collect_until(sub, done)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    execs = {
        e.args["filename"]: e for e in events if e.kind == "exec" and e.args["filename"].startswith(root)
    }
    cut = paths[0][:255] + "…"
    assert set(execs) == {cut, paths[1]}, sorted(execs)
    assert execs[cut].args["truncated"] is True and execs[cut].args["ret"] == 0
    assert execs[cut].args["argv"] == [paths[0][:127] + "…"]
    assert execs[paths[1]].args["argv"] == [paths[1][:127] + "…"]  # argv slots hold 127 bytes


def test_container_exits_match_docker_and_the_shell(
    lab: Any, lab_client: Any, cleanup_containers: dict[str, str]
) -> None:
    """In a real container: a sleep killed by SIGTERM from a shell inside (the shell's own $? says 143)
    reads "killed by SIGTERM"; `docker stop` of a container whose init ignores SIGTERM (the kernel
    drops default-action signals to a pid namespace's init) ends it with a real SIGKILL, which is what
    the probe says and what docker inspect's exit code 137 says."""
    from beefine_tui.probes.attribution import target_for_container

    c = lab_client.containers.run(
        lab.images["small"], ["sleep", "300"], detach=True, labels=cleanup_containers, network_mode="none"
    )
    try:
        c.reload()
        init_pid = int(c.attrs["State"]["Pid"])
        bus = Bus()
        sub = bus.subscribe("test")
        with exec_probe.make_runner(ProbeOptions(target=target_for_container(lab_client, c.name))) as runner:
            runner.start(bus.publish)
            # kill only once the child runs sleep: before its exec it is a fork of the shell
            script = (
                'sleep 302 & while [ "$(cat /proc/$!/comm)" != sleep ]; do :; done; '
                "kill -TERM $!; wait $!; echo $?"
            )
            res = c.exec_run(["sh", "-c", script])
            assert res.exit_code == 0 and "143" in res.output.decode().split()
            c.stop(timeout=1)
            state = lab_client.api.inspect_container(c.id)["State"]

            def done(evs: Sequence[Event]) -> bool:
                return any(e.kind == "exit" and e.pid == init_pid for e in evs)

            events = collect_until(sub, done, 30)
    finally:
        c.remove(force=True)
    assert state["ExitCode"] == 137  # 128 + SIGKILL
    init_exit = [e for e in events if e.kind == "exit" and e.pid == init_pid]
    assert [e.args["status"] for e in init_exit] == ["killed by SIGKILL"]
    sleeps = [e for e in events if e.kind == "exec" and e.args["argv"] == ["sleep", "302"]]
    assert len(sleeps) == 1, sleeps
    (term,) = [e for e in events if e.kind == "exit" and e.pid == sleeps[0].pid]
    assert term.args["status"] == "killed by SIGTERM" and term.container == c.id
