"""The syscalls probe's decoding, without root: records packed exactly as bpf/syscalls.bpf.c's
struct sc_rec, names from this machine's syscall table, flags named as the other probes name them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from beefine_tui.errors import UsageError
from beefine_tui.events.model import EventReader
from beefine_tui.probes import syscall_table, syscalls
from beefine_tui.probes.base import ProbeOptions, Target, pairs_enter_exit
from beefine_tui.probes.decode_context import DecodeContext
from beefine_tui.resources import bpf_dir

TABLE = syscall_table.load()
needs_table = pytest.mark.skipif(not TABLE.source, reason="no asm/unistd_64.h (linux-libc-dev) here")


def _nr(name: str) -> int:
    nr = TABLE.number(name)
    assert nr is not None, name
    return nr


def _rec(nr: int, args: tuple[int, ...], ret: int, *, dur: int = 1500, flags: int = 0, ns: int = 0) -> bytes:
    a = (*args, *(0,) * (6 - len(args)))
    return syscalls.SC_REC.pack(
        10, 1, 100, 101, 0, b"app", nr, *a, ret, dur, ns, ns + 1 if ns else 0, flags, 0
    )


def test_layout_matches_c_assert() -> None:
    src = (bpf_dir() / "syscalls.bpf.c").read_text()
    m = re.search(r"sizeof\(struct sc_rec\) == (\d+)", src)
    assert m is not None and int(m.group(1)) == syscalls.SC_REC.size == 128


def test_parse_unistd() -> None:
    text = "#ifndef X\n#define __NR_read 0\n#define __NR_write 1\n#define __NR_futex_waitv 449\n#endif\n"
    assert syscall_table.parse_unistd(text) == {0: "read", 1: "write", 449: "futex_waitv"}


def test_table_is_this_machines_header() -> None:
    """Cross-checks the installed header against Python's own compiled-in view of the same numbers
    where one exists (os has none; the header's read/write/exit_group are the x86-64 ABI's)."""
    if not TABLE.source:
        pytest.skip("no unistd_64.h")
    assert TABLE.source.endswith("asm/unistd_64.h") and Path(TABLE.source).is_file()
    assert (TABLE.name(0), TABLE.name(1), TABLE.name(231)) == ("read", "write", "exit_group")
    assert TABLE.name(99999) == "syscall_99999"


def test_format_args_parsed_after_syscall_nr() -> None:
    fmt = (
        "name: sys_enter_openat\nID: 782\nformat:\n"
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
        "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
        "\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n"
        "\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n"
        "\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;\n"
        "\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;\n"
    )
    assert syscall_table.parse_format_args(fmt) == ("dfd", "filename", "flags", "mode")


@needs_table
def test_openat_reads_like_strace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscall_table, "arg_names", lambda _n: ("dfd", "filename", "flags", "mode"))
    syscalls._formatters.cache_clear()
    raw = _rec(_nr("openat"), (0xFFFFFF9C, 0x7FFD1000, 0o2000000, 0), 3, dur=12_000)
    ev = syscalls.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.text == "openat(AT_FDCWD, 0x7ffd1000, O_RDONLY|O_CLOEXEC, 0) = 3 <0.000012>"
    assert ev.args == syscalls.SyscallArgs(
        syscall="openat",
        nr=_nr("openat"),
        args=[0xFFFFFF9C, 0x7FFD1000, 0o2000000, 0, 0, 0],
        ret=3,
        dur_ns=12_000,
    )
    assert ev.args["decoded"] == {"dfd": "AT_FDCWD", "flags": "O_RDONLY|O_CLOEXEC", "mode": "0"}
    assert ev.args["args"][:3] == [0xFFFFFF9C, 0x7FFD1000, 0o2000000]
    assert (ev.pid, ev.tid, ev.comm, ev.probe, ev.kind) == (100, 101, "app", "syscalls", "syscall")
    syscalls._formatters.cache_clear()


OPENAT_FORMAT = (
    "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
    "\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n"
    "\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n"
    "\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;\n"
)
MOUNT_FORMAT = (
    "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
    "\tfield:char * dev_name;\toffset:16;\tsize:8;\tsigned:0;\n"
    "\tfield:char * dir_name;\toffset:24;\tsize:8;\tsigned:0;\n"
    "\tfield:char * type;\toffset:32;\tsize:8;\tsigned:0;\n"
)
READ_FORMAT = (
    "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
    "\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;\n"
    "\tfield:char * buf;\toffset:24;\tsize:8;\tsigned:0;\n"
)


def test_string_arg_is_the_path_from_the_format() -> None:
    """openat's filename; mount's target, not its source; read's buf is data, never read as a string."""
    assert syscall_table.parse_string_arg(OPENAT_FORMAT) == 1
    assert syscall_table.parse_string_arg(MOUNT_FORMAT) == 1
    assert syscall_table.parse_string_arg(READ_FORMAT) is None


def test_path_cases_group_numbers_by_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    at = {"open": 0, "openat": 1, "mkdirat": 1}
    monkeypatch.setattr(syscall_table, "string_arg", lambda n: at.get(n))
    table = syscall_table.SyscallTable({2: "open", 257: "openat", 258: "mkdirat", 0: "read"})
    assert syscalls.path_cases(table) == "case 2: return 1; case 257: case 258: return 2;"
    assert syscalls.path_cases(syscall_table.SyscallTable({0: "read"})) == ""


@needs_table
def test_path_read_is_shown_quoted_like_strace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscall_table, "arg_names", lambda _n: ("dfd", "filename", "flags", "mode"))
    monkeypatch.setattr(syscall_table, "string_arg", lambda n: 1 if n == "openat" else None)
    syscalls._formatters.cache_clear()
    raw = _rec(_nr("openat"), (0xFFFFFF9C, 0x7FFD1000, 0, 0), -2, flags=syscalls.SC_PATH)
    ev = syscalls.decode(raw + b'/etc/a "b"\0'.ljust(syscalls.SC_PATH_LEN, b"\0"), DecodeContext())
    assert ev is not None and isinstance(ev.args, syscalls.SyscallArgs)
    assert ev.args.path == '/etc/a "b"'
    assert ev.text.startswith('openat(AT_FDCWD, "/etc/a \\"b\\"", O_RDONLY, 0) = -1 ENOENT')
    # a slot of the flight recorder has room for a path; without SC_PATH it holds none
    no_path = syscalls.decode(
        _rec(_nr("openat"), (0, 0x7FFD1000, 0, 0), 3) + bytes(syscalls.SC_PATH_LEN), DecodeContext()
    )
    assert no_path is not None and no_path.args.get("path") is None and "0x7ffd1000" in no_path.text
    # an empty path is one (fstatat(fd, "", AT_EMPTY_PATH)), and a cut one says so
    empty = syscalls.decode(raw + bytes(syscalls.SC_PATH_LEN), DecodeContext())
    assert empty is not None and empty.args.get("path") == "" and '""' in empty.text
    assert syscalls.quote_path("x" * (syscalls.SC_PATH_LEN - 1)).endswith('"...')
    syscalls._formatters.cache_clear()


@needs_table
def test_error_gets_its_errno_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscall_table, "arg_names", lambda _n: ("dfd", "filename", "statbuf", "flag"))
    syscalls._formatters.cache_clear()
    ev = syscalls.decode(
        _rec(_nr("newfstatat"), (0xFFFFFF9C, 0x5000_0000, 0x7000_0000, 0), -2), DecodeContext()
    )
    assert ev is not None
    assert ev.args["error"] == "ENOENT"
    assert " = -1 ENOENT <" in ev.text
    syscalls._formatters.cache_clear()


@needs_table
def test_clone_mount_unshare_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscall_table, "arg_names", lambda _n: None)  # tracefs silent: all six args
    syscalls._formatters.cache_clear()
    ctx = DecodeContext()
    ev = syscalls.decode(_rec(_nr("unshare"), (0x6C020000,), 0), ctx)
    assert ev is not None
    assert ev.args["decoded"]["arg0"] == "CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET"
    ev = syscalls.decode(_rec(_nr("mount"), (1, 2, 3, 0x1000 | 0x4000, 0), 0), ctx)
    assert ev is not None and ev.args["decoded"]["arg3"] == "MS_BIND|MS_REC"
    ev = syscalls.decode(_rec(_nr("clone"), (0x01200011,), 42), ctx)
    assert ev is not None and ev.args["decoded"]["arg0"] == "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    assert ev.text.count(",") == 5  # six arguments when tracefs does not name them
    syscalls._formatters.cache_clear()


@needs_table
def test_exit_group_never_returns() -> None:
    ev = syscalls.decode(
        _rec(_nr("exit_group"), (3,), 0, dur=0, flags=syscalls.SC_NORETURN, ns=7), DecodeContext()
    )
    assert ev is not None
    assert ev.text.startswith("exit_group(3") and ev.text.endswith("= ?")
    assert ev.args["noreturn"] is True and "error" not in ev.args and ev.args.get("error") is None
    assert (ev.args["ns_pid"], ev.args["ns_tid"]) == (7, 8)


def test_unknown_number_named_by_number() -> None:
    ev = syscalls.decode(_rec(4000, (), 0), DecodeContext())
    assert ev is not None and ev.args["syscall"] == "syscall_4000" and ev.text.startswith("syscall_4000(")


def test_pid_args_are_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscall_table, "arg_names", lambda _n: ("upid", "stat_addr", "options", "ru"))
    syscalls._formatters.cache_clear()
    call, _dec = syscalls.format_call("wait4", (0xFFFFFFFF, 0x7FFE0000, 1, 0, 0, 0))
    assert call == "wait4(-1, 0x7ffe0000, 1, 0)"
    syscalls._formatters.cache_clear()


@needs_table
def test_render_filters_by_pidns_and_names_exit_numbers() -> None:
    text = syscalls.render(ProbeOptions(target=Target(pidns=(4, 4026532000))))
    assert "-DFILTER_PIDNS_INO=4026532000ULL" in text
    assert f"-DNR_EXIT_GROUP={_nr('exit_group')}" in text and f"-DNR_EXIT={_nr('exit')}" in text
    assert "TRACEPOINT_PROBE(raw_syscalls, sys_enter)" in text
    assert pairs_enter_exit(text)  # the "calls in progress are not reported" note is given


def test_flight_order_oldest_first() -> None:
    assert syscalls.flight_order(0, 4) == []
    assert syscalls.flight_order(3, 4) == [0, 1, 2]
    assert syscalls.flight_order(4, 4) == [0, 1, 2, 3]
    assert syscalls.flight_order(6, 4) == [2, 3, 0, 1]  # slots 0 and 1 were overwritten by calls 5, 6


def test_flight_recorder_only_for_a_container() -> None:
    assert "-DFLIGHT_SLOTS=10000" in syscalls.render(ProbeOptions(target=Target(pidns=(4, 4026532000))))
    assert "-DFLIGHT_SLOTS" not in syscalls.render(ProbeOptions())  # host-wide: no single container
    assert "-DFLIGHT_SLOTS" not in syscalls.render(ProbeOptions(target=Target(pidns=(4, 5)), flight_slots=0))
    with pytest.raises(UsageError, match="flight recorder keeps"):
        syscalls.render(ProbeOptions(target=Target(pidns=(4, 5)), flight_slots=-1))


def test_syscall_notes_cite_their_man_page() -> None:
    from beefine_tui.story.syscall_notes import SYSCALL_NOTES, note_for

    for name in ("futex", "epoll_wait", "mmap", "brk", "clock_nanosleep", "read", "write"):
        assert name in SYSCALL_NOTES
    for _name, (line, page) in SYSCALL_NOTES.items():
        assert re.fullmatch(r"[a-z_0-9]+\(2\)", page) and line.endswith(".")
    assert note_for("brk").endswith("(brk(2))") and note_for("nosuchcall") == ""


def test_x86_64_reads_arguments_from_raw_tracepoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """x86-64: raw tracepoints (no perf record built for every call of the machine); elsewhere the
    classic raw_syscalls tracepoints, which copy the arguments themselves."""
    monkeypatch.setattr(syscalls.platform, "machine", lambda: "x86_64")
    assert "-DREGS_X86_64=1" in syscalls.render(ProbeOptions())
    monkeypatch.setattr(syscalls.platform, "machine", lambda: "aarch64")
    assert "-DREGS_X86_64" not in syscalls.render(ProbeOptions())
    src = (bpf_dir() / "syscalls.bpf.c").read_text()
    assert "RAW_TRACEPOINT_PROBE(sys_enter)" in src and "TRACEPOINT_PROBE(raw_syscalls, sys_enter)" in src


class _Table(dict[int, object]):
    """A BCC table as the flight recorder reads it: Key(i), [key], len()."""

    @staticmethod
    def Key(i: int) -> int:
        return i


class _Value:
    def __init__(self, value: int) -> None:
        self.value = value


@needs_table
def test_flight_dump_is_a_typed_note_then_the_calls_oldest_first() -> None:
    """Five calls made into three slots: the note says 3 of 5, then calls 3, 4, 5 in order, each the
    struct a live decode makes with `flight` set."""
    nr = _nr("getpid")
    recs = {i: _rec(nr, (), 100 + i) for i in range(5)}
    flight = _Table({i % 3: recs[i] for i in range(5)})  # slots 0 and 1 overwritten by calls 4 and 5
    bpf = {b"flight": flight, b"flight_head": _Table({0: _Value(5)})}
    out = syscalls.FlightRecorder().dump(bpf, DecodeContext(), "asked")
    note, calls = out[0], out[1:]
    assert note.kind == "status" and note.args == syscalls.FlightDumpArgs(
        state="note",
        note="flight recorder: the last 3 of 5 syscalls of the container (asked)",
        kept=3,
        made=5,
        reason="asked",
    )
    assert note.args.get("flight_dump") is True and note.text == "syscalls: " + note.args["note"]
    assert [e.args["ret"] for e in calls] == [102, 103, 104]
    live = syscalls.decode(recs[2], DecodeContext())
    assert live is not None and isinstance(live.args, syscalls.SyscallArgs)
    assert calls[0].args == msgspec.structs.replace(live.args, flight=True) and calls[0].text == live.text


@needs_table
def test_schema1_line_upgrades() -> None:
    """A v1 syscall line (names beside the numbers, `error` and `decoded` stored) reads as the struct,
    and shows the same line."""
    regs = [4294967196, 140724603453440, 524288, 0, 0, 0]
    v1 = {
        "syscall": "openat",
        "nr": _nr("openat"),
        "args": regs,
        "ret": -2,
        "dur_ns": 4000,
        "error": "ENOENT",
        "decoded": {"dfd": "AT_FDCWD", "flags": "O_RDONLY|O_CLOEXEC", "mode": "0"},
        "ns_pid": 1,
        "ns_tid": 1,
        "flight": True,
    }
    line = {"ts": 1, "probe": "syscalls", "kind": "syscall", "args": v1, "text": "openat(...) = -1 ENOENT"}
    ev = EventReader(schema=1).decode(json.dumps(line))
    assert ev.args == syscalls.SyscallArgs(
        syscall="openat",
        nr=_nr("openat"),
        args=regs,
        ret=-2,
        dur_ns=4000,
        ns_pid=1,
        ns_tid=1,
        flight=True,
    )
    assert ev.args["error"] == "ENOENT" and ev.text.endswith(" = -1 ENOENT <0.000004>")


TRACE = """# tracer: nop
#
  python3-4242 [001] ..... 812.000001: sys_cachestat(fd: 0x000001c3, cstat_range: 0x000001c3, cstat: 0x1c3)
  python3-4242 [001] ..... 812.000002: sys_mseal(start: 0x000001ce, len: 0x000001ce, flags: 0x000001ce)
  python3-4242 [001] ..... 812.000003: sys_lsm_list_modules(ids: 0x00000001, size: 0x1cd, flags: 0x1cd)
  python3-4242 [001] ..... 812.000004: sys_newcall()
"""


def test_newer_numbers_read_from_the_kernels_trace() -> None:
    tried = set(range(451, 470))
    # each event names its call; its first argument is the number the helper called (all args = nr)
    assert syscall_table.parse_trace(TRACE, tried) == {451: "cachestat", 462: "mseal"}


def test_newer_names_are_what_tracefs_lists_beyond_the_header(tmp_path: Path) -> None:
    for name in ("read", "cachestat", "mseal"):
        (tmp_path / "events" / "syscalls" / f"sys_enter_{name}").mkdir(parents=True)
        (tmp_path / "events" / "syscalls" / f"sys_exit_{name}").mkdir(parents=True)
    assert syscall_table.tracefs_names(tmp_path) == {"read", "cachestat", "mseal"}
    assert syscall_table.tracefs_names(tmp_path / "absent") == set()


def test_discovery_needs_root_and_something_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "events" / "syscalls" / "sys_enter_read").mkdir(parents=True)
    assert syscall_table.discover_newer({0: "read"}, tmp_path) == {}  # nothing newer: no helper started
    monkeypatch.setattr(syscall_table.os, "geteuid", lambda: 1000)
    (tmp_path / "events" / "syscalls" / "sys_enter_mseal").mkdir(parents=True)
    assert syscall_table.discover_newer({0: "read"}, tmp_path) == {}  # not root: "syscall_<nr>" stays


def test_newer_numbers_join_the_header_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscall_table, "header_names", lambda: ({0: "read", 450: "x"}, "/h/unistd_64.h"))
    monkeypatch.setattr(syscall_table, "discover_newer", lambda known: {462: "mseal"})
    syscall_table.load.cache_clear()
    try:
        t = syscall_table.load()
        assert (t.name(0), t.name(462), t.name(463)) == ("read", "mseal", "syscall_463")
        assert t.source == "/h/unistd_64.h" and t.newer == {462: "mseal"}
    finally:
        syscall_table.load.cache_clear()
