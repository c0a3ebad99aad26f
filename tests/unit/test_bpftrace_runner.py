"""The bpftrace runner's pure parts and its protocol (bpftrace_protocol.py): JSON lines, errors,
records, filters. No root, no bpftrace."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from beefine_tui import privileges
from beefine_tui.errors import UsageError
from beefine_tui.events.model import Event
from beefine_tui.probes import bpftrace_runner, program_cache
from beefine_tui.probes.base import Target
from beefine_tui.probes.bpftrace_errors import load_error, parse_errors
from beefine_tui.probes.bpftrace_protocol import READY_TAG, OutputDecoder, parse_json_line, split_record
from beefine_tui.probes.bpftrace_runner import (
    READY_MAGIC,
    BpftraceRunner,
    check_user_script,
    filter_params,
    with_ready_probe,
)
from beefine_tui.probes.tracepoint_anchors import TracepointAnchors

MEMLOCK = (
    "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace. If your program is not loading, "
    'you can try "ulimit -l 8192" to fix the problem'
)


def test_parse_json_line_plain() -> None:
    assert parse_json_line('{"type": "attached_probes", "data": {"probes": 3}}') == {
        "type": "attached_probes",
        "data": {"probes": 3},
    }
    assert parse_json_line("") is None
    assert parse_json_line("Attaching 3 probes...") is None
    assert parse_json_line("[1, 2]") is None  # not an object


def test_parse_json_line_repairs_sign_extended_escapes() -> None:
    # bpftrace 0.17 escapes the bytes of "é" (c3 a9) as \uffffffc3\uffffffa9: invalid JSON
    raw = '{"type": "printf", "data": "caf\\uffffffc3\\uffffffa9\\n"}'
    assert parse_json_line(raw) == {"type": "printf", "data": "café\n"}


def test_parse_errors_with_line_and_column_and_memlock_dropped() -> None:
    stderr = "\n".join(
        [
            MEMLOCK,
            '/tmp/x/user.bt:3:20-21: ERROR: syntax error, unexpected }, expecting ) or ","',
            'BEGIN { printf("x" }',
            "                   ~",
        ]
    )
    errs = parse_errors(stderr)
    assert len(errs) == 1
    assert errs[0].line == 3 and errs[0].column == 20
    assert errs[0].message.startswith("syntax error")
    e = load_error("user", stderr, 1)
    assert e.line == 3
    assert "line 3, column 20" in e.message
    assert "RLIMIT_MEMLOCK" not in e.log
    assert 'printf("x" }' in e.log


def test_load_error_without_location() -> None:
    e = load_error("bt-x", "ERROR: tracepoint not found: syscalls:nope\n", 1)
    assert e.line is None and "tracepoint not found" in e.message
    e2 = load_error("bt-x", "", 139)
    assert "status 139" in e2.message


def test_split_record() -> None:
    rec = split_record("clone\t100\t5\t6\t1\tbash\t17\t42")
    assert rec is not None
    assert (rec.kind, rec.ts, rec.pid, rec.tid, rec.ppid, rec.comm) == ("clone", 100, 5, 6, 1, "bash")
    assert rec.fields == ["17", "42"]
    # the last field keeps its tabs when the number of fields is known
    rec2 = split_record("x\t1\t2\t3\t4\tc\ta\tb\tc", 2)
    assert rec2 is not None and rec2.fields == ["a", "b\tc"]
    assert split_record("x\t1\t2\t3\t4\tc\ta", 2) is None
    assert split_record("x\tnot-a-number\t2\t3\t4\tc") is None
    assert split_record("hello world") is None


def test_decoder_printf_split_across_messages_and_unknown_lines() -> None:
    d = OutputDecoder("user")
    assert d.feed({"type": "printf", "data": "hel"}) == []
    evs = d.feed({"type": "printf", "data": "lo\nworld\n"})
    assert [e.args["line"] for e in evs] == ["hello", "world"]
    assert all(e.kind == "printf" and e.probe == "user" for e in evs)
    assert d.feed({"type": "printf", "data": "tail"}) == []
    assert [e.args["line"] for e in d.flush()] == ["tail"]


def test_decoder_lost_map_attached_and_ready() -> None:
    d = OutputDecoder("p")
    assert d.feed({"type": "attached_probes", "data": {"probes": 4}}) == []
    assert d.attached == 4
    (lost,) = d.feed({"type": "lost_events", "data": {"events": 7}})
    # bpftrace does not say when it lost them: no window
    assert lost.kind == "lost"
    assert lost.args.as_dict() == {"source": "perf", "count": 7, "first_ts": None, "last_ts": None}
    (m,) = d.feed({"type": "map", "data": {"@c": {"bash": 3}}})
    assert m.kind == "map" and m.args["name"] == "@c" and m.args["values"] == {"bash": 3}
    (h,) = d.feed({"type": "hist", "data": {"@h": [{"min": 0, "max": 0, "count": 1}]}})
    assert h.kind == "map" and h.args["type"] == "hist"
    # our readiness marker is swallowed, its nonce remembered
    assert d.feed({"type": "printf", "data": f"{READY_TAG}\t12345\n"}) == []
    assert 12345 in d.ready_nonces


def test_decoder_uses_line_decoder_and_survives_its_bugs() -> None:
    def decode(line: str) -> Event | None:
        if line.startswith("boom"):
            raise ValueError("bad record")
        if line.startswith("k\t"):
            return Event(ts=1, probe="p", kind="k", pid=int(line.split("\t")[1]))
        return None

    d = OutputDecoder("p", decode)
    evs = d.feed({"type": "printf", "data": "k\t5\nboom\nother\n"})
    assert [e.kind for e in evs] == ["k", "printf", "printf"]
    assert "ValueError" in evs[1].args["parse_error"]
    assert evs[2].args.as_dict() == {"line": "other"}


def test_decoder_filters_several_pids_and_attributes_container() -> None:
    def decode(line: str) -> Event | None:
        return Event(ts=1, probe="p", kind="k", pid=int(line))

    cid = "a" * 64
    target = Target(pids=frozenset({10, 11}), container_id=cid)
    d = OutputDecoder("p", decode, target)
    evs = d.feed({"type": "printf", "data": "10\n12\n11\n"})
    assert [e.pid for e in evs] == [10, 11]
    # the runner, not the decoder, attributes the container (the same rule as BCC's runner)
    runner = BpftraceRunner("p", "BEGIN {}", decode_line=decode, target=target)
    batch: list[Event] = []
    runner._handle_line(True, b'{"type": "printf", "data": "10\\n12\\n11\\n"}', batch)
    assert [(e.pid, e.container) for e in batch] == [(10, cid), (11, cid)]


def test_filter_params() -> None:
    assert filter_params(Target()) == ["0", "0", "0", "0", "0"]
    t = Target(pidns=(4, 4026532000), mntns=4026531999, pids=frozenset({999_999_999}))
    # a pid that does not exist has no netns: 0, never an exception
    assert filter_params(t) == ["4026532000", "4026531999", "0", "999999999", "0"]
    assert filter_params(Target(lineage_root=77))[2] == "77"
    assert filter_params(Target(pids=frozenset({1, 2})))[3] == "0"  # several: filtered in Python


def test_ready_probe_appended_last_once() -> None:
    text = with_ready_probe("BEGIN { }\n")
    assert text.rstrip().endswith("}")
    assert text.index("BEGIN") < text.index(f"{READY_MAGIC:#x}")
    assert with_ready_probe(text) == text


def test_user_script_checks() -> None:
    with pytest.raises(UsageError):
        check_user_script("   \n")
    with pytest.raises(UsageError):
        check_user_script("BEGIN {}\x00")
    check_user_script("BEGIN { exit(); }")


def test_emitted_count_reveals_records_never_delivered() -> None:
    d = OutputDecoder("p")
    d.feed({"type": "printf", "data": "a\nb\n"})
    (l1,) = d.feed({"type": "lost_events", "data": {"events": 3}})
    (l2,) = d.feed({"type": "map", "data": {"@__beefine_emitted": 10}})
    assert l1.args["count"] == 3
    assert l2.kind == "lost" and l2.args.shown() == {
        "source": "perf",
        "count": 5,
    }  # 10 - 2 received - 3 reported
    # nothing missing: no event at all
    d2 = OutputDecoder("p")
    d2.feed({"type": "printf", "data": "a\n"})
    assert d2.feed({"type": "map", "data": {"@__beefine_emitted": 1}}) == []


def test_start_holds_the_anchor_closer_off_while_bpftrace_attaches(monkeypatch: pytest.MonkeyPatch) -> None:
    # the closer's closes hold the kernel's event_mutex, which bpftrace's attach needs: a close
    # started during an attach would make it wait (probes/tracepoint_anchors.py)
    closed: list[int] = []
    anchors = TracepointAnchors(linger_s=0.0, open_fn=lambda tp: 7, close_fn=closed.append)
    cache = program_cache.ProgramCache(anchors=anchors)
    previous = program_cache.install(cache)
    seen_during_attach: list[list[int]] = []

    def attach(self: BpftraceRunner, sink: object) -> None:
        anchors.hold(["syscalls:sys_enter_openat"])  # as a BCC runner detaching meanwhile would
        threading.Event().wait(0.6)  # the closer looks every 0.2 s: time for it to be wrong
        seen_during_attach.append(list(closed))

    monkeypatch.setattr(BpftraceRunner, "_start", attach)
    try:
        BpftraceRunner("p", "BEGIN {}").start(lambda evs: None)
        assert seen_during_attach == [[]]  # nothing closed while it attached
        anchors.close()
        assert closed == [7]
    finally:
        program_cache.install(previous)
        cache.close()


def test_availability_names_missing_tracefs_and_missing_tracepoints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bpftrace_runner, "bpftrace_path", lambda: "/usr/bin/bpftrace")
    monkeypatch.setattr(privileges, "bpftrace_refusal", lambda: "")
    monkeypatch.setattr(privileges, "tracefs_root", lambda: None)
    monkeypatch.setattr(privileges, "tracefs_problem", lambda: "tracefs is not mounted")
    assert bpftrace_runner.bpftrace_available().ok  # no tracepoints asked: tracefs not needed
    no_tracefs = bpftrace_runner.bpftrace_available(["syscalls:sys_enter_setns"])
    assert (no_tracefs.ok, no_tracefs.reason) == (False, "tracefs is not mounted")

    (tmp_path / "events" / "syscalls" / "sys_enter_setns").mkdir(parents=True)
    monkeypatch.setattr(privileges, "tracefs_root", lambda: tmp_path)
    assert bpftrace_runner.bpftrace_available(["syscalls:sys_enter_setns"]).ok
    missing = bpftrace_runner.bpftrace_available(["syscalls:sys_enter_setns", "cgroup:cgroup_mkdir"])
    assert (missing.ok, missing.reason) == (False, "tracepoints missing on this kernel: cgroup:cgroup_mkdir")
