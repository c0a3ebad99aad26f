from __future__ import annotations

import json

import pytest

from beefine_tui import cli


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "beefine-tui" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["no-such-command"])
    assert e.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_lab_clean_removes_what_down_orphans_finds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # which labs are orphaned or stale is lab.py's decision (tested with real labs in
    # tests/integration/test_lab.py); here: the CLI asks it once and reports its answer
    from beefine_tui.docker import lab

    calls: list[object] = []

    def down_orphans(names: object = None) -> list[str]:
        calls.append(names)
        return ["t1", "app-9"]

    monkeypatch.setattr(lab, "down_orphans", down_orphans)
    assert cli.main(["lab", "clean", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": ["t1", "app-9"]}
    assert calls == [None]  # every lab, not one name


def test_lab_clean_takes_no_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lab", "clean", "--name", "x"]) != 0
    assert "give no --name" in capsys.readouterr().err
