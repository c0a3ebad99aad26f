"""The strace -c like summary of syscall events, and the `syscalls` command's refusals (no root)."""

from __future__ import annotations

import pytest

from beefine_tui import cli
from beefine_tui.commands.syscalls import format_line
from beefine_tui.events.model import Event, FreeArgs, lost_event
from beefine_tui.events.syscall_summary import SyscallSummary


def _ev(name: str, dur: int, error: str | None = None) -> Event:
    args: dict[str, object] = {"syscall": name, "dur_ns": dur, "ret": -2 if error else 0}
    if error:
        args["error"] = error
    return Event(
        ts=1,
        probe="syscalls",
        kind="syscall",
        pid=5,
        args=FreeArgs(fields=args, line=f"{name}() = 0"),
    )


def test_counts_errors_and_times() -> None:
    s = SyscallSummary()
    s.add(
        [
            _ev("read", 1000),
            _ev("read", 3000),
            _ev("newfstatat", 500, "ENOENT"),
            lost_event("syscalls", 3, "kernel"),
        ]
    )
    s.add([_ev("newfstatat", 1500, "ENOENT"), _ev("newfstatat", 100, "EACCES")])
    dumped = _ev("read", 1000)
    s.add(
        [
            Event(
                ts=2,
                probe="syscalls",
                kind="syscall",
                args=FreeArgs(fields={**dumped.args.as_dict(), "flight": True}),
            )
        ]
    )
    assert (s.calls, s.errors, s.total_ns) == (5, 3, 6100)
    read = s.rows["read"]
    assert (read.calls, read.errors, read.total_ns, read.avg_ns, read.max_ns) == (2, 0, 4000, 2000, 3000)
    assert s.errnos == {("newfstatat", "ENOENT"): 2, ("newfstatat", "EACCES"): 1}
    assert [r.name for r in s.sorted_rows("time")] == ["read", "newfstatat"]
    assert [r.name for r in s.sorted_rows("calls")] == ["newfstatat", "read"]
    assert [r.name for r in s.sorted_rows("name")] == ["newfstatat", "read"]
    with pytest.raises(ValueError):
        s.sorted_rows("bogus")


def test_table_reads_like_strace_c() -> None:
    s = SyscallSummary()
    s.add([_ev("read", 1_000_000), _ev("read", 3_000_000), _ev("openat", 4_000_000, "ENOENT")])
    lines = s.table_lines()
    assert lines[0].split() == ["%", "time", "seconds", "usecs/call", "calls", "errors", "syscall"]
    assert lines[2].split() == ["50.00", "0.004000", "2000", "2", "read"]
    assert lines[3].split() == ["50.00", "0.004000", "4000", "1", "1", "openat"]
    assert lines[-1].split() == ["100.00", "0.008000", "2666", "3", "1", "total"]
    d = s.as_dict("calls")
    assert d["calls"] == 3 and d["syscalls"][0]["syscall"] == "read"  # type: ignore[index]
    assert d["syscalls"][1]["errnos"] == {"ENOENT": 1}  # type: ignore[index]


def test_line_shows_pid_inside_container() -> None:
    ev = Event(
        ts=0,
        probe="syscalls",
        kind="syscall",
        pid=4021,
        tid=4022,
        comm="cat",
        args=FreeArgs(fields={"ns_pid": 7}, line="x() = 0"),
    )
    assert format_line(ev, 0).endswith("[4021/7 tid 4022] cat x() = 0")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["syscalls", "c1", "--duration", "0"], "--duration must be a positive"),
        (["syscalls", "c1", "--force"], "--force applies to --record"),
    ],
)
def test_bad_options_are_refused_clearly(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_sort_key_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["syscalls", "c1", "--sort", "bogus"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_flight_and_summary_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["syscalls", "c1", "--flight", "--summary"]) == 2
    assert "choose one" in capsys.readouterr().err
    assert cli.main(["syscalls", "c1", "--flight", "--flight-slots", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
