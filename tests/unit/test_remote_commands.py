"""Which headless commands take --remote: those whose output a host's agent can make take it and say
so in --help; those that read local files (replay, diff, export) or build things here (new-probe,
lab) say nothing of it; bad combinations are refused clearly before any connection."""

from __future__ import annotations

import pytest

from beefine_tui.cli import build_parser, main

REMOTE = ("doctor", "syscalls", "helpers", "image", "inspect", "stats", "progs")
LOCAL = ("replay", "diff", "export", "new-probe", "lab")


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", REMOTE)
def test_commands_with_remote_say_so(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--remote" in _help(command, capsys)


@pytest.mark.parametrize("command", LOCAL)
def test_commands_of_local_files_say_nothing_of_remote(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--remote" not in _help(command, capsys)


def test_image_lab_with_remote_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "small", "--lab", "--remote", "far"]) == 2
    err = capsys.readouterr().err
    assert "--lab" in err and "Traceback" not in err
