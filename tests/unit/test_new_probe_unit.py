"""`beefine-tui new-probe`: writes the templates, refuses to overwrite, rejects bad names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from beefine_tui import cli, templates
from beefine_tui.commands import new_probe
from beefine_tui.errors import UsageError
from beefine_tui.probes.user_program import detect_engine, parse_metadata


@pytest.mark.parametrize(("engine", "ext"), [("bcc", ".c"), ("bpftrace", ".bt")])
def test_writes_a_template_with_its_name(tmp_path: Path, engine: str, ext: str) -> None:
    path = new_probe.write_probe("myexec", engine, tmp_path)
    assert path == tmp_path / f"myexec{ext}"
    text = path.read_text()
    assert "{{name}}" not in text
    meta = parse_metadata(text, "x")
    assert meta.name == "myexec"
    assert "execve" in meta.description
    assert detect_engine(text) == engine


def test_bpftrace_template_columns_match_its_printf() -> None:
    text = templates.template_text("bpftrace")
    meta = parse_metadata(text, "x")
    fmt = re.search(r'printf\("([^"]*)"', text)
    assert fmt is not None
    assert len(meta.columns) == fmt.group(1).count("%") == fmt.group(1).count("\\t") + 1


def test_bcc_template_struct_fields() -> None:
    text = templates.template_text("bcc")
    struct = re.search(r"struct event \{(.*?)\};", text, re.S)
    assert struct is not None
    names = re.findall(r"\b(\w+)(?:\[\w+\])?;", struct.group(1))
    assert names == ["ts", "pid", "tid", "comm", "filename"]


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    existing = tmp_path / "mine.c"
    existing.write_text("my work\n")
    with pytest.raises(UsageError, match="already exists"):
        new_probe.write_probe("mine", "bcc", tmp_path)
    assert existing.read_text() == "my work\n"


@pytest.mark.parametrize("name", ["", "../x", "a/b", "1abc", "has space", "x" * 65, "-x", "a.b"])
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="not a valid probe name"):
        new_probe.write_probe(name, "bcc", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_dir(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        new_probe.write_probe("ok", "bcc", tmp_path / "missing")
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        new_probe.write_probe("ok", "bcc", f)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["new-probe", "clitest", "--bpftrace", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "clitest.bt").exists()
    assert "clitest.bt" in capsys.readouterr().out
    assert cli.main(["new-probe", "clitest", "--bpftrace", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert cli.main(["new-probe", "bad/name", "--dir", str(tmp_path)]) == 2
    assert "not a valid probe name" in capsys.readouterr().err


def test_template_names() -> None:
    assert templates.kind_of("probe.c") == "bcc"
    assert templates.kind_of("BT") == "bpftrace"
    with pytest.raises(KeyError):
        templates.kind_of("python")
    assert "// name: zz" in templates.template_text("c", "zz")


@pytest.mark.parametrize("engine", ["bcc", "bpftrace"])
def test_words_name_the_real_screen_and_no_test_machine(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from beefine_tui.screens.shell import VIEWS

    labels = {v.label for v in VIEWS}
    cli.main(["new-probe", "w" + engine, f"--{engine}", "--dir", str(tmp_path)])
    printed = capsys.readouterr().out
    text = templates.template_text(engine)
    for words in (printed, text):
        screens = re.findall(r"Load eBPF -> ([A-Z][a-z]+(?: [a-z]+)*)", words)
        assert screens and all(s in labels for s in screens), (screens, sorted(labels))
        assert "test machine" not in words and "this project" not in words
