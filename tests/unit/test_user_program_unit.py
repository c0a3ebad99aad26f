"""User programs engine, without root: metadata, line mapping, clang and verifier log parsing,
struct layouts and decoding, engine detection, and the errors a user can cause."""

from __future__ import annotations

import ctypes as ct
from pathlib import Path

import pytest

from beefine_tui.errors import NotFoundError, ProbeLoadError, UsageError
from beefine_tui.events.model import now_ns
from beefine_tui.probes import user_program as up
from beefine_tui.probes.user_program import diagnostics, layout, metadata, precheck


def test_metadata_is_read_from_comments() -> None:
    text = "// name: my exec!\n// description: every exec\n// columns: pid, comm  filename\nint x;\n"
    meta = up.parse_metadata(text, "fallback")
    assert meta.name == "my-exec"
    assert meta.description == "every exec"
    assert meta.columns == ("pid", "comm", "filename")


def test_metadata_defaults_to_the_file_name() -> None:
    meta = up.parse_metadata("int x;\n", "from file")
    assert meta.name == "from-file"
    assert meta.description == ""
    assert metadata.sanitize_name("///") == "program"


def test_line_directives_number_every_line_but_not_inside_macros() -> None:
    src = "int a;\n#define X(y) \\\n  (y)\nint b;"
    out = diagnostics.add_line_directives(src).split("\n")
    assert out[0] == '#line 1 "user.c"'
    assert out[1] == "int a;"
    assert out[2] == '#line 2 "user.c"'
    assert out[3] == "#define X(y) \\"
    assert out[4] == "  (y)"  # no directive inside the continued macro
    assert out[5] == '#line 4 "user.c"'
    assert out[6] == "int b;"


CLANG_LOG = """user.c:20:5: error: use of undeclared identifier 'undeclared_thing'
    undeclared_thing = 3;
    ^
/virtual/include/bcc/helpers.h:3:1: error: something in a header
1 error generated."""


def test_clang_error_line_is_corrected_by_the_echoed_source_line() -> None:
    # BCC inserted 11 lines before a TRACEPOINT_PROBE: clang says 20, the text is on line 9
    source = "\n".join(["// x"] * 8 + ["    undeclared_thing = 3;"] + ["}"] * 15)
    errors = diagnostics.parse_clang_errors(CLANG_LOG, source)
    assert errors[0].line == 9
    assert errors[0].in_user_file
    assert "undeclared identifier" in errors[0].message
    assert errors[1].line is None and not errors[1].in_user_file


def test_clang_error_line_kept_when_it_matches() -> None:
    source = "\n".join(["// x"] * 19 + ["    undeclared_thing = 3;"])
    assert diagnostics.parse_clang_errors(CLANG_LOG, source)[0].line == 20


VERIFIER_LOG = """bpf: Failed to load program: Permission denied
0: R1=ctx() R10=fp0
;  @ user.c:3
6: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,map=counts,ks=4,vs=8)
;  @ user.c:5
7: (79) r1 = *(u64 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0

HINT: The 'map_value_or_null' error can happen if you dereference a pointer value from a map lookup."""


def test_verifier_reason_and_line() -> None:
    reason, line = diagnostics.verifier_reason(VERIFIER_LOG)
    assert reason == "R0 invalid mem access 'map_value_or_null'"
    assert line == 5


def test_verifier_log_gets_the_users_source_lines() -> None:
    src = "a\nb\nu64 *v = m.lookup(&k);\nd\n*v += 1;"
    out = diagnostics.annotate_verifier_log(VERIFIER_LOG, src)
    assert "; u64 *v = m.lookup(&k); @ user.c:3" in out
    assert "; *v += 1; @ user.c:5" in out


def _check(**kw: object) -> precheck.PrecheckResult:
    return precheck.PrecheckResult(ok=False, **kw)  # type: ignore[arg-type]


def test_precheck_compile_failure_becomes_probe_load_error_with_line() -> None:
    source = "\n".join(["// x"] * 8 + ["    undeclared_thing = 3;"] + ["}"] * 15)
    prog = up.UserBccProgram(source, "t.c")
    with pytest.raises(ProbeLoadError) as e:
        prog._raise_for_precheck(_check(stage="compile", log=CLANG_LOG))
    assert e.value.line == 9
    assert "line 9" in e.value.message and "undeclared identifier" in e.value.message
    assert "undeclared_thing = 3" in e.value.log


def test_precheck_verifier_failure_puts_the_reason_first() -> None:
    src = "a\nb\nc\nd\n*v += 1;"
    prog = up.UserBccProgram(src, "t.c")
    with pytest.raises(ProbeLoadError) as e:
        prog._raise_for_precheck(_check(stage="load", log=VERIFIER_LOG, function="tracepoint__a__b"))
    err = e.value
    assert "tracepoint__a__b" in err.message
    assert "map_value_or_null" in err.message
    assert err.line == 5
    assert err.log.splitlines()[0] == "R0 invalid mem access 'map_value_or_null'"
    assert err.hint.startswith("The 'map_value_or_null' error")  # BCC's own hint


@pytest.mark.parametrize(
    ("desc", "ctype"),
    [
        ("u64", ct.c_ulonglong),
        ("unsigned int", ct.c_uint),
        ("pid_t", ct.c_int),
        ("bool", ct.c_bool),
        ("__u64", ct.c_ulonglong),
        ("const char *", ct.c_uint64),
        ("enum foo", ct.c_int),
    ],
)
def test_ctype_for_scalars(desc: str, ctype: object) -> None:
    assert layout.ctype_for(desc) is ctype


def test_ctype_for_arrays_and_unknown_types() -> None:
    t = layout.ctype_for("char[16]")
    assert ct.sizeof(t) == 16
    assert ct.sizeof(layout.ctype_for("int [3]")) == 12
    with pytest.raises(ValueError, match="not supported"):
        layout.ctype_for("struct inner")


def test_decoder_copies_fields_out_as_plain_values() -> None:
    fields = [("ts", "u64"), ("pid", "u32"), ("comm", "char[16]"), ("arr", "int[3]"), ("ok", "bool")]
    cls = layout.make_struct(fields)
    rec = cls()
    rec.ts, rec.pid, rec.comm, rec.ok = 123, 42, b"sh\xff", True
    rec.arr[0], rec.arr[2] = 7, -1
    buf = ct.create_string_buffer(bytes(rec), ct.sizeof(cls))
    values = layout.make_decoder(cls)(ct.addressof(buf), ct.sizeof(cls))
    assert values == {"ts": 123, "pid": 42, "comm": "sh\ufffd", "arr": [7, 0, -1], "ok": True}


def test_decoder_pads_a_short_record() -> None:
    cls = layout.make_struct([("a", "u32"), ("b", "u32")])
    buf = ct.create_string_buffer(b"\x05\x00\x00\x00", 4)
    assert layout.make_decoder(cls)(ct.addressof(buf), 4) == {"a": 5, "b": 0}


def test_event_lifts_common_fields() -> None:
    now = now_ns()
    ev = layout.event_from_fields("user:x", "events", {"ts": now, "pid": 7, "tid": 8, "comm": "sh", "n": 1})
    assert (ev.ts, ev.pid, ev.tid, ev.comm, ev.kind, ev.probe) == (now, 7, 8, "sh", "events", "user:x")
    assert ev.args["n"] == 1
    # a "ts" that is not a monotonic timestamp (far future) is not trusted
    ev2 = layout.event_from_fields("user:x", "events", {"ts": now + 10**15})
    assert ev2.ts < now + 10**15


@pytest.mark.parametrize(
    ("text", "engine"),
    [
        ('tracepoint:syscalls:sys_enter_execve { printf("x\\n"); }', "bpftrace"),
        ('BEGIN { printf("hi\\n"); }', "bpftrace"),
        ("TRACEPOINT_PROBE(syscalls, sys_enter_execve) { return 0; }", "bcc"),
        ("#include <uapi/linux/ptrace.h>\nint x;", "bcc"),
        ("BPF_HASH(x);", "bcc"),
        ("#include <linux/sched.h>\ntracepoint:sched:sched_switch { @[comm] = count(); }", "bpftrace"),
        ("int x;", "bcc"),
    ],
)
def test_detect_engine(text: str, engine: str) -> None:
    assert up.detect_engine(text) == engine


def test_load_picks_by_extension(tmp_path: Path) -> None:
    c = tmp_path / "a.c"
    c.write_text("// name: aa\nTRACEPOINT_PROBE(syscalls, sys_enter_execve) { return 0; }\n")
    bt = tmp_path / "b.bt"
    bt.write_text('tracepoint:syscalls:sys_enter_execve { printf("x\\n"); }\n')
    pc = up.load_user_program(str(c))
    pb = up.load_user_program(bt)
    assert isinstance(pc, up.UserBccProgram) and pc.probe == "user:aa" and pc.origin == str(c)
    assert isinstance(pb, up.UserBpftraceProgram) and pb.probe == "user:b"
    pasted = up.load_user_program('BEGIN { printf("hi\\n"); }')
    assert isinstance(pasted, up.UserBpftraceProgram) and pasted.origin == "pasted"


def test_compile_warnings_name_the_users_line() -> None:
    log = (
        "user.c:3:9: warning: unused variable 'x' [-Wunused-variable]\n    int x;\n        ^\n"
        "/virtual/include/bcc/helpers.h:1:1: warning: not ours\n"
    )
    assert diagnostics.compile_warnings(log, "a\nb\n    int x;\n") == [
        "line 3: unused variable 'x' [-Wunused-variable]"
    ]


def test_path_like_text_that_names_no_file_is_not_compiled(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        up.load_user_program(str(tmp_path / "prog.txt"))
    with pytest.raises(NotFoundError):
        up.load_user_program("./nope")
    f = tmp_path / "noext"
    f.write_text('tracepoint:syscalls:sys_enter_execve { printf("x\\n"); }\n')
    assert isinstance(up.load_user_program(f" {f} "), up.UserBpftraceProgram)  # by content


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        up.load_user_program(str(tmp_path / "missing.c"))
    d = tmp_path / "dir.c"
    d.mkdir()
    with pytest.raises(UsageError, match="directory"):
        up.load_user_program(str(d))
    b = tmp_path / "bin.c"
    b.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(UsageError, match="UTF-8"):
        up.load_user_program(str(b))
    e = tmp_path / "empty.c"
    e.write_text("  \n")
    with pytest.raises(UsageError, match="empty"):
        up.load_user_program(str(e))
    big = tmp_path / "big.c"
    big.write_text("x" * (up.MAX_SOURCE_BYTES + 1))
    with pytest.raises(UsageError, match="larger"):
        up.load_user_program(str(big))
    with pytest.raises(UsageError, match="NUL"):
        up.UserBccProgram("int x;\x00", "t.c")


def test_bpftrace_columns_decode_tab_separated_lines() -> None:
    prog = up.UserBpftraceProgram('// columns: pid, comm, file\nBEGIN { printf("x\\n"); }\n', "t.bt")
    assert prog.columns == ("pid", "comm", "file", "line")
    ev = prog.decode_line("42\tsh\t/bin/true")
    assert ev is not None
    assert ev.args.as_dict() == {"pid": 42, "comm": "sh", "file": "/bin/true", "line": "42\tsh\t/bin/true"}
    assert (ev.pid, ev.comm, ev.kind, ev.probe) == (42, "sh", "printf", "user:t")
    assert prog.decode_line("only\ttwo") is None  # falls back to a plain printf line


def test_stop_before_start_is_harmless() -> None:
    prog = up.UserBccProgram("TRACEPOINT_PROBE(syscalls, sys_enter_execve) { return 0; }", "t.c")
    prog.stop()
    prog.stop()
    assert prog.snapshot_maps() == {}
    assert not prog.running


def test_function_entry_line_is_renumbered_to_the_tracepoint_probe_line() -> None:
    log = (
        ";  @ user.c:14\n0: (b7) r1 = 1\n;  @ user.c:3\n;  @ user.c:0\n;  @ user.c:14\n"
        "R0 invalid mem access 'x'\n"
    )
    fixed = diagnostics.fix_entry_line(log, 2)
    assert fixed.count("@ user.c:2") == 2 and "user.c:14" not in fixed
    assert "@ user.c:3" in fixed and "@ user.c:0" in fixed
    assert diagnostics.verifier_reason(fixed) == ("R0 invalid mem access 'x'", 2)
    assert diagnostics.fix_entry_line(log, None) == log
    assert diagnostics.fix_entry_line(log, 20) == log  # never moved later


def test_verifier_line_zero_is_not_a_source_line() -> None:
    log = ";  @ user.c:5\n7: (79) r1 = *(u64 *)(r0 +0)\n;  @ user.c:0\nR0 invalid mem access 'x'\n"
    assert diagnostics.verifier_reason(log)[1] == 5


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("R0 invalid mem access 'map_value_or_null'", "against NULL"),
        ("invalid func unknown#195896080", "not offered to this program type"),
        ("unknown func bpf_xdp_adjust_head#44", "not offered to this program type"),
        ("back-edge from insn 12 to 5", "bound every loop"),
        ("invalid indirect read from stack R2 off -40+0 size 24", "initialise the struct"),
        ("something the table does not know", "in the log below"),
    ],
)
def test_verifier_hint_follows_the_reason(reason: str, expected: str) -> None:
    from beefine_tui.probes.user_program.diagnostics import verifier_hint

    assert expected in verifier_hint(reason)
