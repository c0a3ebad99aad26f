"""Options that would do nothing, or values that make no sense, are refused with exit 2 and a message
naming the option, before anything is started (these run without root: the checks come first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.badinput.conftest import assert_clear, cli_inproc, listing

CASES: list[tuple[list[str], str]] = [
    # probe run: options for one probe, given to others
    (["probe", "run", "exec", "--path-prefix", "/var"], "--path-prefix applies only to the files probe"),
    (["probe", "run", "exec", "fork", "--interface", "lo"], "--interface applies only to the xdp probe"),
    (["probe", "run", "files", "--sample-every", "4"], "--sample-every applies only to the xdp probe"),
    (["probe", "run", "bt-tcp", "--ring-pages", "64"], "--ring-pages applies only to BCC and xdp probes"),
    (
        ["probe", "run", "exec", "--docker-host", "unix:///x.sock"],
        "--docker-host is used only with --container",
    ),
    (["probe", "run", "exec", "--force"], "--force applies to --record"),
    (["probe", "run", "exec", "--ebpf", "--record", "r.jsonl"], "--ebpf only prints the programs"),
    (["probe", "run", "exec", "--ebpf", "--json"], "--ebpf only prints the programs"),
    (["probe", "run", "nosuchprobe"], "no probe named 'nosuchprobe'"),
    (["probe", "run", "exec", "--duration", "nan"], "--duration must be a positive"),
    (["probe", "run", "exec", "--duration", "-1"], "--duration must be a positive"),
    (["probe", "run", "exec", "--pid", "0"], "--pid must be a positive"),
    (["probe", "run", "exec", "--pid", "abc"], "invalid int value"),
    (["probe", "run", "exec", "--ring-pages", "3"], "not valid"),
    (["probe", "run", "xdp", "--interface", "lo", "--sample-every", "-2"], "--sample-every takes"),
    (["probe"], "say what to do"),
    # progs, lab, stats, inspect, image
    (["progs", "--interval", "2"], "--interval is the measuring window of --stats"),
    (["progs", "--stats", "--interval", "0"], "--interval must be between"),
    (["lab", "status", "--timeout", "5"], "--timeout go with `lab up` only"),
    (["lab", "down", "--no-seed"], "go with `lab up` only"),
    (["lab", "up", "--name", "bad name!"], "bad lab name"),
    (["lab", "launch"], "invalid choice"),
    (["stats", "--watch", "0"], "--watch 0.0: out of range"),
    (["inspect", " "], "no container given"),
    (["image", "No Spaces"], "beefine-tui:"),
    # tui
    (["tui", "--speed", "2"], "--speed goes with --replay"),
    (["tui", "--lab", "--docker-host", "unix:///x.sock"], "give --lab or --docker-host, not both"),
    (["tui", "--open", "no-such-view"], "no-such-view"),
    # trace: checked before any probe, daemon or lab is started
    (["trace", "busybox", "--explain", "--json"], "--explain is for the text story"),
    (["trace", "docker.io/library/busybox", "--xdp"], "--xdp counts a local registry's packets on lo"),
    (["trace", "busybox", "--timeout", "0"], "--timeout must be a positive"),
    (["trace", "busybox", "--timeout", "inf"], "--timeout must be a positive"),
    (["trace", "busybox", "--events"], "--events needs --json"),
    (["trace", "busybox", "--force"], "--force applies to --record"),
    (["trace", "No Spaces"], "beefine-tui:"),
    (["trace", "busybox", "--probes", "nosuchgroup"], "unknown probe group"),
    (["trace", "busybox", "--bogus"], "unrecognized arguments: --bogus"),
    (["trace", "small", "--lab", "--remote", "db1"], "--lab starts a private lab on this machine"),
    (["trace", "busybox", "--remote=-oProxyCommand=x"], "is not a host name"),
    (["helpers", "--type", "no-such-type"], "no-such-type"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_refused(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # a refused --record must not leave its file behind
    r = cli_inproc(capsys, *argv)
    assert_clear(r, 2, message)
    assert listing(tmp_path) == {}


def test_replay_with_a_daemon_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.badinput.test_replay_files import make_recording

    make_recording(tmp_path / "r.jsonl")
    r = cli_inproc(capsys, "tui", "--replay", str(tmp_path / "r.jsonl"), "--lab")
    assert_clear(r, 2, "--replay uses no Docker daemon")


def test_tui_needs_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    # under pytest stdin/stdout are not a terminal: the TUI says so instead of drawing into a pipe
    assert_clear(cli_inproc(capsys, "tui"), 2, "the TUI needs a terminal")


@pytest.mark.parametrize("command", [["probe", "run", "exec"], ["trace", "--lab", "small"]])
def test_record_onto_an_existing_file_is_refused_before_anything_starts(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no root, no lab, no BPF needed to say no: the path is checked first
    src = tmp_path / "prog.c"
    src.write_text("int x;\n")
    r = cli_inproc(capsys, *command, "--record", str(src))
    assert_clear(r, 2, "already exists; not overwriting it")
    assert src.read_text() == "int x;\n" and listing(tmp_path) == {"prog.c": (7, src.lstat().st_mode)}
