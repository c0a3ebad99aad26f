"""User programs for real (root, BCC, the running kernel): each test makes its own event (runs a
uniquely named copy of /bin/true), expects exactly it, and checks its BPF programs are gone after."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from beefine_tui.errors import ProbeLoadError
from beefine_tui.events.model import Event
from beefine_tui.probes import inventory as inv
from beefine_tui.probes.user_program import UserBccProgram, UserBpftraceProgram
from beefine_tui.probes.user_program.bcc_program import KPROBE_MESSAGE, kprobes_available

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def bpftool_prog_ids() -> set[int]:
    return {p.id for p in inv.list_programs()}


def my_prog_fds() -> set[int]:
    return inv.prog_ids_of_pid(os.getpid())


def my_perf_attachments() -> list[inv.Attachment]:
    return [a for a in inv.list_perf() if a.pid == os.getpid()]


@pytest.fixture
def unique_cmd(tmp_path: Path) -> Path:
    """A copy of /bin/true whose path no other process will exec."""
    p = tmp_path / f"bftg-{uuid.uuid4().hex[:10]}"
    shutil.copy("/bin/true", p)
    p.chmod(0o755)
    return p


@pytest.fixture
def no_leak() -> Iterator[None]:
    """Whatever the test does, our process holds no more BPF programs or perf attachments after."""
    before = my_prog_fds()
    yield
    assert my_prog_fds() <= before
    assert my_perf_attachments() == []


def wait_for(events: list[Event], pred: Callable[[Event], bool], timeout: float = 30.0) -> Event:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in list(events):
            if pred(ev):
                return ev
        time.sleep(0.05)
    raise AssertionError(f"no matching event among {len(events)}")


PERF_PROGRAM = r"""
// name: g-perf
// description: execs of one path, through a perf buffer, counted per pid
struct rec {
    u32 pid;
    char comm[16];
    char filename[128];
    int flags[2];
};
BPF_PERF_OUTPUT(execs);
BPF_HASH(per_pid, u32, u64, 1024);

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    struct rec r = {};
    r.pid = bpf_get_current_pid_tgid() >> 32;
    r.flags[1] = 7;
    bpf_get_current_comm(&r.comm, sizeof(r.comm));
    bpf_probe_read_user_str(&r.filename, sizeof(r.filename), args->filename);
    per_pid.increment(r.pid);
    execs.perf_submit(args, &r, sizeof(r));
    return 0;
}
"""


def test_perf_output_decoded_and_maps_readable(unique_cmd: Path, no_leak: None) -> None:
    prog = UserBccProgram(PERF_PROGRAM, "perf.c")
    got: list[Event] = []
    prog.start(got.extend)
    try:
        assert prog.columns == ("pid", "comm", "filename", "flags")
        assert prog.output_columns == {"execs": ("pid", "comm", "filename", "flags")}
        assert prog.map_names == ("per_pid",)
        assert prog.prog_ids and set(prog.prog_ids) <= bpftool_prog_ids()
        proc = subprocess.run([str(unique_cmd)], check=True)
        assert proc.returncode == 0
        ev = wait_for(got, lambda e: e.args.get("filename") == str(unique_cmd))
        assert ev.probe == "user:g-perf" and ev.kind == "execs"
        assert ev.args["flags"] == [0, 7]
        assert ev.pid == ev.args["pid"] > 0
        snap = prog.snapshot_maps()
        assert set(snap) == {"per_pid"}
        assert any(k == ev.pid and v >= 1 for k, v in snap["per_pid"])
    finally:
        ids = prog.prog_ids
        prog.stop()
        prog.stop()  # idempotent
    assert not set(ids) & bpftool_prog_ids()
    assert prog.snapshot_maps() == {}


COMPILE_ERROR = """// name: g-broken
struct rec { u32 pid; };
BPF_RINGBUF_OUTPUT(events, 8);

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    undeclared_variable = 1;
    return 0;
}
"""


def test_compile_error_reports_the_users_line(no_leak: None) -> None:
    prog = UserBccProgram(COMPILE_ERROR, "broken.c")
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    assert e.value.line == 7  # BCC inserted the tracepoint's struct above: clang alone would say 18
    assert "undeclared identifier 'undeclared_variable'" in e.value.message
    assert "undeclared_variable = 1;" in e.value.log
    prog.stop()


VERIFIER_REJECT = """// name: g-reject
BPF_HASH(counts, u32, u64);

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    u32 key = 1;
    u64 *val = counts.lookup(&key);
    *val += 1;
    return 0;
}
"""

GOOD = """// name: g-good
struct rec { u32 pid; char filename[128]; };
BPF_RINGBUF_OUTPUT(events, 8);

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    struct rec r = {};
    r.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_probe_read_user_str(&r.filename, sizeof(r.filename), args->filename);
    events.ringbuf_output(&r, sizeof(r), 0);
    return 0;
}
"""


def test_verifier_rejection_is_readable_and_the_next_program_loads(unique_cmd: Path, no_leak: None) -> None:
    bad = UserBccProgram(VERIFIER_REJECT, "reject.c")
    with pytest.raises(ProbeLoadError) as e:
        bad.start(lambda batch: None)
    err = e.value
    assert "the verifier rejected tracepoint__syscalls__sys_enter_execve" in err.message
    assert "map_value_or_null" in err.message
    assert err.line == 8
    assert err.log.splitlines()[0] == "R0 invalid mem access 'map_value_or_null'"
    assert "*val += 1; @ user.c:8" in err.log
    bad.stop()

    good = UserBccProgram(GOOD, "good.c")
    got: list[Event] = []
    good.start(got.extend)
    try:
        subprocess.run([str(unique_cmd)], check=True)
        ev = wait_for(got, lambda e: e.args.get("filename") == str(unique_cmd))
        assert ev.kind == "events" and ev.probe == "user:g-good"
    finally:
        good.stop()


KPROBE = """// name: g-kprobe
int kprobe__do_sys_openat2(struct pt_regs *ctx) { return 0; }
"""


@pytest.mark.skipif(kprobes_available(), reason="this kernel has kprobes")
def test_kprobe_gives_the_clear_message(no_leak: None) -> None:
    prog = UserBccProgram(KPROBE, "k.c")
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    assert KPROBE_MESSAGE in e.value.message
    assert e.value.line == 2


HALFWAY = """// name: g-halfway
TRACEPOINT_PROBE(syscalls, sys_enter_execve) { return 0; }
int tracepoint__syscalls__sys_enter_no_such_call(void *args) { return 0; }
"""


def test_failure_halfway_leaves_nothing(no_leak: None) -> None:
    prog = UserBccProgram(HALFWAY, "halfway.c")
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    assert "cannot attach tracepoint__syscalls__sys_enter_no_such_call" in e.value.message
    assert "no tracepoint syscalls:sys_enter_no_such_call" in e.value.message
    assert e.value.line == 3
    # no_leak checks the first, attached function was detached and unloaded


def test_stop_from_inside_the_sink_frees_everything(unique_cmd: Path, no_leak: None) -> None:
    prog = UserBccProgram(GOOD, "good.c")
    got: list[Event] = []

    def sink(batch: Sequence[Event]) -> None:
        got.extend(batch)
        prog.stop()  # runs on the poll thread, inside BCC's poll

    prog.start(sink)
    ids = prog.prog_ids
    subprocess.run([str(unique_cmd)], check=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(ids) & my_prog_fds():
        time.sleep(0.05)
    assert got
    assert not set(ids) & bpftool_prog_ids()


def test_unknown_tracepoint_in_the_macro_names_its_line(no_leak: None) -> None:
    src = "// name: g-notp\n\nTRACEPOINT_PROBE(syscalls, sys_enter_not_a_call) { return 0; }\n"
    prog = UserBccProgram(src, "notp.c")
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    assert "no tracepoint syscalls:sys_enter_not_a_call" in e.value.message
    assert e.value.line == 3


def test_program_without_output_table_still_loads_with_a_warning(no_leak: None) -> None:
    src = (
        "BPF_ARRAY(hits, u64, 1);\n"
        "TRACEPOINT_PROBE(syscalls, sys_enter_execve) { hits.increment(0); return 0; }\n"
    )
    prog = UserBccProgram(src, "maps-only.c")
    prog.start(lambda batch: None)
    try:
        assert prog.columns == ()
        assert any("no BPF_PERF_OUTPUT" in w for w in prog.warnings)
        subprocess.run(["/bin/true"], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not prog.snapshot_maps()["hits"][0][1]:
            time.sleep(0.05)
        assert prog.snapshot_maps()["hits"][0][1] >= 1
    finally:
        prog.stop()


def test_bpftrace_script_error_has_its_line() -> None:
    script = (
        '// name: g-bt-bad\ntracepoint:syscalls:sys_enter_execve\n{\n  printf("%d\\n", no_such_fn(pid));\n}\n'
    )
    prog = UserBpftraceProgram(script, "bad.bt")
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    assert e.value.line == 4
    assert "no_such_fn" in e.value.message
    pid = prog.pid
    prog.stop()
    if pid is not None:  # bpftrace exited and was reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.skipif(kprobes_available(), reason="this kernel has kprobes")
def test_bpftrace_kprobe_gives_the_clear_message() -> None:
    prog = UserBpftraceProgram('BEGIN { }\nkprobe:do_sys_openat2 { printf("x\\n"); }\n', "k.bt")
    with pytest.raises(ProbeLoadError) as e:
        prog.start(lambda batch: None)
    assert "kprobes are not available on this kernel" in e.value.message
    assert e.value.line == 2
    assert prog.pid is None  # refused before bpftrace ran
