"""`beefine-tui probe`: argument handling and bad input, without root or BPF."""

from __future__ import annotations

import json

import pytest

from beefine_tui.cli import main

MISSING_PID = 2**22 + 4321


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {r["name"]: r for r in rows}
    for name in ("exec", "fork", "files"):
        assert by_name[name]["engine"] == "bcc"
        assert isinstance(by_name[name]["available"], bool)
        assert by_name[name]["description"]
        if not by_name[name]["available"]:
            assert by_name[name]["reason"]


def test_list_human(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "list"]) == 0
    out = capsys.readouterr().out
    assert "exec" in out and "process" in out


def test_no_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe"]) == 2
    assert "probe list" in capsys.readouterr().err


def test_unknown_probe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "run", "nosuchprobe"]) == 2
    err = capsys.readouterr().err
    assert "no probe named 'nosuchprobe'" in err and "known probes" in err


def test_missing_pid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "run", "exec", "--pid", str(MISSING_PID)]) == 2
    assert f"no process with pid {MISSING_PID}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--follow-children"], "--follow-children needs --pid"),
        (["--duration", "0"], "--duration must be a positive"),
        (["--duration", "-3"], "--duration must be a positive"),
        (["--pid", "-5"], "--pid must be a positive"),
        (["--ring-pages", "3"], "not valid"),
        (["--path-prefix", "/" * 300], "at most"),
    ],
)
def test_bad_options(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["probe", "run", "exec", "files", "--ebpf", *argv])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_pid_and_container_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["probe", "run", "exec", "--pid", "1", "--container", "x"])
    assert e.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_ebpf_prints_programs_without_loading(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "run", "exec", "files", "--ebpf", "--path-prefix", "/var/lib/docker"]) == 0
    out = capsys.readouterr().out
    assert "// ===== exec (bcc) =====" in out and "// ===== files (bcc) =====" in out
    assert "sys_enter_execve" in out and "-DPATH_PREFIX_LEN=15" in out


def test_summary_counts() -> None:
    from beefine_tui.commands.probe import Summary
    from beefine_tui.events.model import Event, lost_event, status_event

    s = Summary(["exec"])
    s.add(
        [
            Event(ts=1, probe="exec", kind="exec"),
            lost_event("exec", 5, "kernel"),
            lost_event("exec", 2, "bus"),
        ]
    )
    s.add([status_event("exec", "running")])
    assert s.received["exec"] == 1
    assert s.lost["exec"]["kernel"] == 5 and s.lost["exec"]["bus"] == 2
    assert "exec" in s.lines()[1]


def test_session_rejects_unknown_names_before_starting() -> None:
    from beefine_tui.errors import NotFoundError
    from beefine_tui.events.bus import Bus
    from beefine_tui.probes.base import ProbeOptions
    from beefine_tui.probes.session import ProbeSession

    with pytest.raises(NotFoundError):
        ProbeSession(["exec", "nosuchprobe"], ProbeOptions(), Bus())
    s = ProbeSession(["exec", "exec"], ProbeOptions(), Bus())
    assert s.names == ("exec",)
    s.stop()  # never started: harmless, idempotent
    s.stop()
    assert not s.running


def test_beefine_itself_is_left_out_unless_include_self(capsys: pytest.CaptureFixture[str]) -> None:
    """By default the programs skip Beefine's own tgids in the kernel; --include-self drops the filter."""
    assert main(["probe", "run", "files", "--ebpf"]) == 0
    out = capsys.readouterr().out
    assert "-DEXCLUDE_SELF=1" in out and "BPF_HASH(excluded" in out
    assert main(["probe", "run", "files", "--ebpf", "--include-self"]) == 0
    assert "-DEXCLUDE_SELF=1" not in capsys.readouterr().out


def test_own_pids_tracks_helpers() -> None:
    import os

    from beefine_tui.probes import own_pids

    seen: list[tuple[int, bool]] = []
    unsubscribe = own_pids.subscribe(lambda pid, added: seen.append((pid, added)))
    try:
        own_pids.add_child(4_000_001)
        assert own_pids.current() == {os.getpid(), 4_000_001}
        own_pids.remove_child(4_000_001)
        own_pids.remove_child(4_000_001)  # reaped twice: said once
    finally:
        unsubscribe()
    own_pids.add_child(4_000_002)
    own_pids.remove_child(4_000_002)
    assert seen == [(4_000_001, True), (4_000_001, False)]
    assert own_pids.current() == {os.getpid()}
